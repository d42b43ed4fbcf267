/*
 * A datagram socket standing in for systemd's $NOTIFY_SOCKET, to read
 * what a daemon under test tells systemd (READY=1, WATCHDOG=1...).
 */
#ifndef PAYQ_TESTS_NOTIFY_H
#define PAYQ_TESTS_NOTIFY_H

struct testnotify {
    int fd;
    char dir[64];
    char path[96]; /* for NOTIFY_SOCKET= */
};

/* Binds a fresh socket in a new directory under /tmp. */
void testnotify_open(struct testnotify *ns);

/* Reads datagrams until one holds want; fails after 10 s of silence. */
void testnotify_expect(struct testnotify *ns, const char *want);

/* Closes the socket and removes it and its directory. */
void testnotify_close(struct testnotify *ns);

#endif
