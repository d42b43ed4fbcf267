/*
 * What every HTTP server of payq shares: the ADDR:PORT of its --listen
 * flag, and the routing of libmicrohttpd's own messages into the log.
 */
#ifndef PAYQ_CORE_LISTEN_H
#define PAYQ_CORE_LISTEN_H

#include <stdarg.h>
#include <stdbool.h>

#include <netinet/in.h>

/* Longest "ADDR:PORT" accepted; a dotted quad and port need 21 bytes. */
#define LISTEN_TEXT_MAX 64

/*
 * Fills addr from "ADDR:PORT": ADDR an IPv4 address or "localhost", PORT
 * 0 to 65535 in digits only (0: any free port). false when it is not one.
 */
bool listen_parse(const char *text, struct sockaddr_in *addr);

/*
 * A libmicrohttpd logger (MHD_OPTION_EXTERNAL_LOGGER); ctx is the
 * server's name (a static string). A client's own misbehaviour (hanging
 * up, a port scan) is logged at debug, anything else at warn.
 */
void listen_log_mhd(void *ctx, const char *fmt, va_list ap);

#endif
