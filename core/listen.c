/* The --listen address and libmicrohttpd's messages; see listen.h. */
#include "core/listen.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/log.h"

/*
 * Notes of libmicrohttpd about a client's own misbehaviour: a port scan
 * or a load balancer's TCP check makes them, and nobody need act on them.
 */
static const char *const CLIENT_NOTES[] = {
    "Connection was closed by remote side",
    "The connection was forcibly closed by remote peer",
    "Connection socket is closed when reading request",
    "Too large value of 'Content-Length' header",
};

static bool client_note(const char *text)
{
    size_t i;

    for (i = 0; i < sizeof(CLIENT_NOTES) / sizeof(CLIENT_NOTES[0]); i++)
        if (strncmp(text, CLIENT_NOTES[i], strlen(CLIENT_NOTES[i])) == 0)
            return true;
    return false;
}

/* libmicrohttpd's own messages, as lines of the log module. */
void listen_log_mhd(void *ctx, const char *fmt, va_list ap)
{
    char text[256];

    vsnprintf(text, sizeof(text), fmt, ap);
    text[strcspn(text, "\n")] = '\0';
    if (client_note(text))
        log_debug("libmicrohttpd", LOG_STR("server", (const char *)ctx),
                  LOG_STR("detail", text));
    else
        log_warn("libmicrohttpd", LOG_STR("server", (const char *)ctx),
                 LOG_STR("detail", text));
}

/* Parses a decimal port, 0 to 65535: digits only, no sign or space. */
static bool parse_port(const char *text, unsigned *port)
{
    unsigned long value = 0;
    size_t i;

    for (i = 0; text[i] != '\0'; i++) {
        if (text[i] < '0' || text[i] > '9' || i >= 5)
            return false;
        value = value * 10 + (unsigned long)(text[i] - '0');
    }
    if (i == 0 || value > 65535)
        return false;
    *port = (unsigned)value;
    return true;
}

/* Fills addr from "ADDR:PORT"; false when it is not one. */
bool listen_parse(const char *listen, struct sockaddr_in *addr)
{
    char host[LISTEN_TEXT_MAX + 1];
    const char *colon;
    unsigned port;
    size_t len;

    if (listen == NULL || strlen(listen) > LISTEN_TEXT_MAX)
        return false;
    colon = strrchr(listen, ':');
    if (colon == NULL || !parse_port(colon + 1, &port))
        return false;
    len = (size_t)(colon - listen);
    memcpy(host, listen, len);
    host[len] = '\0';

    memset(addr, 0, sizeof(*addr));
    addr->sin_family = AF_INET;
    addr->sin_port = htons((unsigned short)port);
    if (strcmp(host, "localhost") == 0)
        addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    else if (inet_pton(AF_INET, host, &addr->sin_addr) != 1)
        return false;
    return true;
}
