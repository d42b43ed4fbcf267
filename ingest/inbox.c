/*
 * Inbox scanning. Each scan lists the directory, updates what it knows of
 * each file (size, modification time, since when unchanged) and takes the
 * files that have settled, one at a time, in name order of discovery.
 * Moving a file out of the inbox happens only after its import committed
 * (or was refused), so a crash leaves the file in place to be seen again.
 *
 * What becomes of a file after its import:
 *   committed, or committed before a crash stopped the move: imported/;
 *   refused for what it holds (PAYQ_ERR_DATA, the database's refusals
 *   included) or unreadable: rejected/, with NAME.errors;
 *   anything else (the database unreachable or failing, memory, a move
 *   that failed): left in place, tried again after a growing delay,
 *   while the other files go on. The watch itself never stops for a file.
 */
/* realpath() is an X/Open interface, beyond _POSIX_C_SOURCE. */
#define _XOPEN_SOURCE 700

#include "ingest/inbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/mem.h"

enum {
    NAME_MAX_KEPT = 255,
    DIR_MAX = 3072, /* leaves room in PATH_MAX for subdir, name, suffix */
    RECONNECT_MAX_S = 30,
    RETRY_MAX_S = 60, /* longest wait before a failed file is tried again */
};

struct tracked {
    char name[NAME_MAX_KEPT + 1];
    off_t size;
    struct timespec mtime;
    time_t unchanged_since; /* monotonic seconds */
    time_t retry_at;        /* not taken again before (monotonic s) */
    int retry_s;            /* the next wait after a failure */
    bool used;
    bool seen; /* listed by the current scan */
};

struct inbox {
    char dir[DIR_MAX];
    struct ingest_options opts;
    int settle_s;
    struct tracked files[INBOX_FILES_MAX];
};

static time_t now_s(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec;
}

static bool has_suffix(const char *name, const char *suffix)
{
    size_t n = strlen(name);
    size_t s = strlen(suffix);

    return n >= s && strcmp(name + n - s, suffix) == 0;
}

/* Names a writer is still working on, by the usual conventions. */
static bool name_is_partial(const char *name)
{
    return name[0] == '.' || has_suffix(name, ".tmp") ||
           has_suffix(name, ".part") || strlen(name) > NAME_MAX_KEPT;
}

static enum payq_err make_subdir(const char *dir, const char *sub)
{
    char path[PATH_MAX];

    snprintf(path, sizeof(path), "%s/%s", dir, sub);
    if (mkdir(path, 0750) == 0 || errno == EEXIST)
        return PAYQ_OK;
    log_error("cannot create inbox directory", LOG_STR("dir", path),
              LOG_STR("reason", strerror(errno)));
    return PAYQ_ERR_IO;
}

enum payq_err inbox_create(const char *dir, const struct ingest_options *opts,
                           int settle_s, struct inbox **out)
{
    char real[PATH_MAX];
    struct inbox *box;
    enum payq_err err;

    *out = NULL;
    err = make_subdir(dir, "imported");
    if (err == PAYQ_OK)
        err = make_subdir(dir, "rejected");
    if (err != PAYQ_OK)
        return err;
    box = mem_calloc(1, sizeof(*box));
    if (box == NULL)
        return PAYQ_ERR_NOMEM;
    /*
     * File names are recorded as DIR/NAME: the canonical DIR, so that a
     * restart with another spelling of it still recognises its files.
     */
    if (realpath(dir, real) == NULL) {
        log_error("cannot use the inbox directory", LOG_STR("dir", dir),
                  LOG_STR("reason", strerror(errno)));
        mem_free(box);
        return PAYQ_ERR_CONFIG;
    }
    if (strlen(real) >= DIR_MAX) {
        log_error("inbox path is too long", LOG_STR("dir", real),
                  LOG_INT("max", DIR_MAX - 1));
        mem_free(box);
        return PAYQ_ERR_CONFIG;
    }
    memcpy(box->dir, real, strlen(real) + 1);
    box->opts = *opts;
    box->opts.progress = false;
    box->opts.errors_shown = LLONG_MAX; /* the .errors file lists all */
    box->settle_s = settle_s;
    *out = box;
    return PAYQ_OK;
}

void inbox_destroy(struct inbox *box)
{
    mem_free(box);
}

static struct tracked *find_or_add(struct inbox *box, const char *name)
{
    struct tracked *free_slot = NULL;
    size_t i;

    for (i = 0; i < INBOX_FILES_MAX; i++) {
        if (box->files[i].used && strcmp(box->files[i].name, name) == 0)
            return &box->files[i];
        if (!box->files[i].used && free_slot == NULL)
            free_slot = &box->files[i];
    }
    if (free_slot != NULL) {
        memset(free_slot, 0, sizeof(*free_slot));
        snprintf(free_slot->name, sizeof(free_slot->name), "%s", name);
        free_slot->used = true;
        free_slot->size = -1;
    }
    return free_slot;
}

/* Records what a listing shows of one entry. */
static void observe(struct inbox *box, int dirfd, const char *name)
{
    struct stat st;
    struct tracked *t;

    if (name_is_partial(name) ||
        fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
        !S_ISREG(st.st_mode))
        return;
    t = find_or_add(box, name);
    if (t == NULL)
        return; /* too many at once: a later scan takes it */
    t->seen = true;
    if (t->size != st.st_size || t->mtime.tv_sec != st.st_mtim.tv_sec ||
        t->mtime.tv_nsec != st.st_mtim.tv_nsec) {
        t->size = st.st_size;
        t->mtime = st.st_mtim;
        t->unchanged_since = now_s();
        t->retry_at = 0; /* new content: no reason to wait */
        t->retry_s = 0;
    }
}

static enum payq_err list_dir(struct inbox *box)
{
    DIR *d = opendir(box->dir);
    struct dirent *e;
    size_t i;

    if (d == NULL) {
        log_error("cannot read the inbox", LOG_STR("dir", box->dir),
                  LOG_STR("reason", strerror(errno)));
        return PAYQ_ERR_IO;
    }
    for (i = 0; i < INBOX_FILES_MAX; i++)
        box->files[i].seen = false;
    while ((e = readdir(d)) != NULL)
        observe(box, dirfd(d), e->d_name);
    closedir(d);
    for (i = 0; i < INBOX_FILES_MAX; i++)
        if (!box->files[i].seen)
            box->files[i].used = false;
    return PAYQ_OK;
}

/*
 * Moves DIR/name to DIR/sub/name, or DIR/sub/name.N when that exists:
 * an earlier file of the same name is never overwritten.
 */
static enum payq_err move_to(const struct inbox *box, const char *name,
                             const char *sub, char *dest, size_t size)
{
    char from[PATH_MAX];
    int n;

    snprintf(from, sizeof(from), "%s/%s", box->dir, name);
    snprintf(dest, size, "%s/%s/%s", box->dir, sub, name);
    for (n = 1; access(dest, F_OK) == 0 && n < 1000; n++)
        snprintf(dest, size, "%s/%s/%s.%d", box->dir, sub, name, n);
    if (rename(from, dest) == 0)
        return PAYQ_OK;
    log_error("cannot move an inbox file", LOG_STR("file", from),
              LOG_STR("to", dest), LOG_STR("reason", strerror(errno)));
    return PAYQ_ERR_IO;
}

/*
 * Copies the problems (a temporary file: a file of a million bad rows
 * has a million lines of them) beside the rejected file, via a temporary
 * name.
 */
static void write_errors(const char *dest, FILE *problems)
{
    char tmp[PATH_MAX + 16];
    char final[PATH_MAX + 16];
    char chunk[8192];
    size_t n;
    FILE *f;

    snprintf(tmp, sizeof(tmp), "%s.errors.tmp", dest);
    snprintf(final, sizeof(final), "%s.errors", dest);
    f = fopen(tmp, "w");
    if (f == NULL)
        return;
    rewind(problems);
    while ((n = fread(chunk, 1, sizeof(chunk), problems)) > 0)
        fwrite(chunk, 1, n, f);
    if (fclose(f) == 0)
        rename(tmp, final);
}

static enum payq_err reject_file(struct inbox *box, const char *name,
                                 FILE *problems)
{
    char dest[PATH_MAX];
    enum payq_err err = move_to(box, name, "rejected", dest, sizeof(dest));

    if (err != PAYQ_OK)
        return err;
    write_errors(dest, problems);
    log_warn("inbox file rejected", LOG_STR("file", dest));
    return PAYQ_OK;
}

/*
 * What to do with a file after its import returned err. Returns PAYQ_OK
 * when the file has left the inbox, else why it stays.
 */
static enum payq_err settle_file(struct inbox *box, const char *name,
                                 enum payq_err err,
                                 const struct ingest_result *res,
                                 FILE *problems, int *imported)
{
    char dest[PATH_MAX];

    if (err == PAYQ_OK) {
        (*imported)++;
        log_info("inbox file imported", LOG_STR("file", name),
                 LOG_INT("batch", res->batch_id),
                 LOG_INT("accepted", res->accepted),
                 LOG_INT("rejected", res->rejected));
        return move_to(box, name, "imported", dest, sizeof(dest));
    }
    /* Imported by us before a crash stopped the move: only move it. */
    if (err == PAYQ_ERR_DATA && res->earlier_same_path) {
        log_info("inbox file was already imported; moving it",
                 LOG_STR("file", name), LOG_INT("batch", res->earlier_batch));
        return move_to(box, name, "imported", dest, sizeof(dest));
    }
    if (err == PAYQ_ERR_DATA || err == PAYQ_ERR_IO)
        return reject_file(box, name, problems);
    return err; /* the database, say: the file waits for a retry */
}

/* The file stays: it is taken again after a delay that doubles. */
static void retry_later(struct tracked *t, enum payq_err err)
{
    if (t->retry_s <= 0)
        t->retry_s = 1;
    log_warn("inbox file left for later", LOG_STR("file", t->name),
             LOG_STR("reason", payq_err_str(err)),
             LOG_INT("retry_in_s", t->retry_s));
    t->retry_at = now_s() + t->retry_s;
    t->retry_s = t->retry_s * 2 > RETRY_MAX_S ? RETRY_MAX_S : t->retry_s * 2;
}

/*
 * Imports one settled file and moves it. Returns PAYQ_ERR_DB_CONNECT
 * when the connection is lost (the scan stops there), else PAYQ_OK: a
 * file that could not be settled waits for its retry.
 */
static enum payq_err take_file(struct inbox *box, PGconn *conn,
                               struct tracked *t, int *imported)
{
    char path[PATH_MAX];
    struct ingest_options opts = box->opts;
    struct ingest_result res;
    enum payq_err err;

    snprintf(path, sizeof(path), "%s/%s", box->dir, t->name);
    opts.report = tmpfile();
    if (opts.report == NULL) {
        retry_later(t, PAYQ_ERR_IO);
        return PAYQ_OK;
    }
    err = ingest_import_file(conn, path, &opts, &res);
    if (err == PAYQ_ERR_IO && access(path, F_OK) != 0)
        err = PAYQ_OK; /* vanished: nothing to do */
    else
        err = settle_file(box, t->name, err, &res, opts.report, imported);
    fclose(opts.report);
    if (err == PAYQ_OK) {
        t->used = false;
        return PAYQ_OK;
    }
    retry_later(t, err);
    return PQstatus(conn) == CONNECTION_OK ? PAYQ_OK : PAYQ_ERR_DB_CONNECT;
}

enum payq_err inbox_scan(struct inbox *box, PGconn *conn, int *imported)
{
    time_t now = now_s();
    enum payq_err err = list_dir(box);
    size_t i;

    *imported = 0;
    for (i = 0; err == PAYQ_OK && i < INBOX_FILES_MAX; i++) {
        struct tracked *t = &box->files[i];

        if (t->used && now - t->unchanged_since >= box->settle_s &&
            now >= t->retry_at)
            err = take_file(box, conn, t, imported);
    }
    return err;
}

/* Sleeps up to seconds, waking early when *stop is set. */
static void nap(int seconds, volatile sig_atomic_t *stop)
{
    int i;

    for (i = 0; i < seconds * 10 && !*stop; i++) {
        struct timespec tenth = { 0, 100 * 1000 * 1000 };

        nanosleep(&tenth, NULL);
    }
}

/* Doubles a wait, up to RECONNECT_MAX_S. */
static int longer(int backoff)
{
    return backoff * 2 > RECONNECT_MAX_S ? RECONNECT_MAX_S : backoff * 2;
}

enum payq_err inbox_watch(struct inbox *box, PGconn *conn,
                          volatile sig_atomic_t *stop)
{
    int backoff = 1;
    int imported;

    log_info("watching the inbox", LOG_STR("dir", box->dir),
             LOG_INT("settle_s", box->settle_s));
    while (!*stop) {
        enum payq_err err = inbox_scan(box, conn, &imported);

        if (err == PAYQ_ERR_DB_CONNECT || PQstatus(conn) != CONNECTION_OK) {
            log_warn("database connection lost; reconnecting",
                     LOG_INT("retry_in_s", backoff));
            nap(backoff, stop);
            PQreset(conn);
            backoff = longer(backoff);
            continue;
        }
        if (err != PAYQ_OK) {
            /* The directory itself (already logged): wait, look again. */
            nap(backoff, stop);
            backoff = longer(backoff);
            continue;
        }
        backoff = 1;
        nap(1, stop);
    }
    log_info("inbox watch stopped", LOG_STR("dir", box->dir));
    return PAYQ_OK;
}
