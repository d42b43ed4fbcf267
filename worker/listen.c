/*
 * The listener thread: LISTEN on a connection of its own and wake idle
 * senders when an import, approval, resume or retry NOTIFYs. Senders
 * also poll, so a notification lost to an outage only delays work; after
 * every reconnection the listener wakes them once in case one was lost.
 */
#include <poll.h>

#include "core/log.h"
#include "db/conn.h"
#include "queue/job.h"
#include "worker/internal.h"

enum { WAIT_MS = 500 }; /* how often the stop level is looked at */

static bool start_listening(PGconn *conn)
{
    return worker_db_exec(conn, "listen " QUEUE_NOTIFY_CHANNEL,
                          "listen for new work") == PAYQ_OK;
}

/* Waits for input; true when notifications arrived. Breaks on loss. */
static bool drain_notifications(PGconn *conn)
{
    struct pollfd pfd = { .fd = PQsocket(conn), .events = POLLIN };
    PGnotify *note;
    bool any = false;

    if (pfd.fd < 0 || poll(&pfd, 1, WAIT_MS) < 0)
        return false;
    if (pfd.revents != 0 && PQconsumeInput(conn) == 0)
        return false; /* PQstatus now tells the loop to reconnect */
    while ((note = PQnotifies(conn)) != NULL) {
        any = true;
        PQfreemem(note);
    }
    return any;
}

void *worker_listen_main(void *arg)
{
    struct worker_pool *pool = arg;
    PGconn *conn = NULL;
    bool listening = false;

    if (!pool->s.notify)
        return NULL;
    while (worker_stop_level(pool) == WORKER_RUNNING) {
        if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
            listening = false;
        if (worker_db_ensure(pool, "listener", &conn, WORKER_DRAINING) !=
            PAYQ_OK)
            break;
        if (!listening) {
            listening = start_listening(conn);
            if (!listening) {
                worker_sleep(pool, 1000, WORKER_DRAINING, false);
                continue;
            }
            worker_wake_all(pool);
        }
        if (drain_notifications(conn))
            worker_wake_all(pool);
    }
    db_conn_close(conn);
    return NULL;
}
