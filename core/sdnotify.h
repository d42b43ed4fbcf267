/*
 * systemd's service notification protocol, without libsystemd.
 *
 * A unit with Type=notify starts us with NOTIFY_SOCKET naming an AF_UNIX
 * datagram socket; each notification is one datagram of "KEY=value"
 * lines: READY=1 once serving, STOPPING=1 when shutting down, WATCHDOG=1
 * as a keep-alive, STATUS=... as free text for `systemctl status`. With
 * WatchdogSec= set, systemd also passes WATCHDOG_USEC and restarts a
 * service that stays silent for that long.
 *
 * Outside systemd (NOTIFY_SOCKET unset) every call is a harmless no-op,
 * so callers notify unconditionally.
 */
#ifndef PAYQ_CORE_SDNOTIFY_H
#define PAYQ_CORE_SDNOTIFY_H

#include "core/err.h"

/*
 * Sends state (e.g. "READY=1", "STOPPING=1", "WATCHDOG=1", "STATUS=...";
 * several may be joined with '\n') to $NOTIFY_SOCKET as one datagram on
 * an AF_UNIX SOCK_DGRAM socket; a leading '@' means the abstract
 * namespace. Returns PAYQ_OK and does nothing when NOTIFY_SOCKET is unset
 * or empty; PAYQ_ERR_IO when sending fails; PAYQ_ERR_CONFIG when the
 * socket's name is too long or neither a path nor an '@' name. Failures
 * are logged at warn the first time only, since watchdog pings repeat
 * every few seconds. Thread-safe, provided no thread changes the
 * environment meanwhile.
 */
PAYQ_MUST_USE enum payq_err sdnotify_send(const char *state);

/*
 * The watchdog interval systemd asks for: WATCHDOG_USEC in microseconds,
 * when it is a positive number and WATCHDOG_PID is unset or equals
 * getpid() (a child that inherited the variables must not ping for its
 * parent). Returns 0 when there is no watchdog or either variable is
 * malformed. Callers ping with "WATCHDOG=1" at half the interval, as
 * systemd recommends. Any thread.
 */
long long sdnotify_watchdog_usec(void);

#endif
