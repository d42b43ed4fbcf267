/*
 * Configuration loading. Every failure is logged here, where the name of
 * the offending flag, variable or file is known; values are never logged,
 * since some of them are secrets.
 */
#include "core/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/buf.h"
#include "core/mem.h"

void config_init(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->log_level = LOG_LEVEL_INFO;
    cfg->min_amount = CONFIG_MIN_AMOUNT_DEFAULT;
    cfg->max_amount = CONFIG_MAX_AMOUNT_DEFAULT;
}

/* Replaces *slot with a copy of value (NULL clears it). */
static enum payq_err set_string(char **slot, const char *value)
{
    char *copy = NULL;

    if (value != NULL) {
        copy = mem_strdup(value);
        if (copy == NULL)
            return PAYQ_ERR_NOMEM;
    }
    mem_free_secret(*slot);
    *slot = copy;
    return PAYQ_OK;
}

static const char *env_nonempty(const char *name)
{
    const char *value = getenv(name);

    return value != NULL && value[0] != '\0' ? value : NULL;
}

static enum payq_err load_log_level(struct config *cfg, const char *flag)
{
    const char *text = flag != NULL ? flag : env_nonempty("PAYQ_LOG_LEVEL");
    const char *origin = flag != NULL ? "--log-level" : "PAYQ_LOG_LEVEL";

    if (text == NULL)
        return PAYQ_OK;
    if (log_level_parse(text, &cfg->log_level) != PAYQ_OK) {
        log_error("invalid log level: use error, warn, info or debug",
                  LOG_STR("setting", origin), LOG_STR("value", text));
        return PAYQ_ERR_CONFIG;
    }
    return PAYQ_OK;
}

static enum payq_err load_database_url(struct config *cfg, const char *flag)
{
    const char *url = flag != NULL ? flag : env_nonempty("DATABASE_URL");

    return set_string(&cfg->database_url, url);
}

/* A whole number of francs from name, if set: digits only, >= 1. */
static enum payq_err load_amount(const char *name, long long *out)
{
    const char *text = env_nonempty(name);
    long long value = 0;
    const char *p;

    if (text == NULL)
        return PAYQ_OK;
    for (p = text; *p >= '0' && *p <= '9' && value < 1000000000000LL; p++)
        value = value * 10 + (*p - '0');
    if (*p != '\0' || value < 1) {
        log_error("invalid amount bound: use a whole number of francs "
                  "from 1 to 999,999,999,999 without separators",
                  LOG_STR("setting", name), LOG_STR("value", text));
        return PAYQ_ERR_CONFIG;
    }
    *out = value;
    return PAYQ_OK;
}

static enum payq_err load_amount_bounds(struct config *cfg)
{
    enum payq_err err = load_amount("PAYQ_MIN_AMOUNT", &cfg->min_amount);

    if (err == PAYQ_OK)
        err = load_amount("PAYQ_MAX_AMOUNT", &cfg->max_amount);
    if (err == PAYQ_OK && cfg->min_amount > cfg->max_amount) {
        log_error("PAYQ_MIN_AMOUNT is above PAYQ_MAX_AMOUNT",
                  LOG_INT("min", cfg->min_amount),
                  LOG_INT("max", cfg->max_amount));
        err = PAYQ_ERR_CONFIG;
    }
    return err;
}

/* Credentials from PAYQ_USERNAME, PAYQ_PASSWORD and PAYQ_KEY, if any. */
static enum payq_err load_credentials_env(struct config *cfg)
{
    struct config_credentials *creds = &cfg->credentials;
    enum payq_err err;

    err = set_string(&creds->username, env_nonempty("PAYQ_USERNAME"));
    if (err == PAYQ_OK)
        err = set_string(&creds->password, env_nonempty("PAYQ_PASSWORD"));
    if (err == PAYQ_OK)
        err = set_string(&creds->key, env_nonempty("PAYQ_KEY"));
    if (err == PAYQ_OK && (creds->username || creds->password || creds->key))
        err = set_string(&cfg->credentials_source, "environment");
    return err;
}

static enum payq_err load_credentials(struct config *cfg, const char *file)
{
    enum payq_err err;

    if (file == NULL)
        return load_credentials_env(cfg);
    err = config_read_credentials(&cfg->credentials, file);
    if (err == PAYQ_OK)
        err = set_string(&cfg->credentials_source, file);
    return err;
}

enum payq_err config_load(struct config *cfg, const struct config_flags *flags)
{
    static const struct config_flags no_flags;
    enum payq_err err;

    if (flags == NULL)
        flags = &no_flags;
    err = load_log_level(cfg, flags->log_level);
    if (err == PAYQ_OK)
        err = load_database_url(cfg, flags->database_url);
    if (err == PAYQ_OK)
        err = load_amount_bounds(cfg);
    if (err == PAYQ_OK)
        err = load_credentials(cfg, flags->credentials_file);
    if (err == PAYQ_OK) {
        log_secret_add(cfg->credentials.password);
        log_secret_add(cfg->credentials.key);
    }
    if (err == PAYQ_ERR_NOMEM)
        log_error("cannot load configuration", LOG_ERR(err));
    return err;
}

/* Opens path and checks that only its owner may use it. */
static enum payq_err credentials_open(const char *path, int *fd_out)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);

    if (fd < 0) {
        log_error("cannot open credentials file", LOG_STR("file", path),
                  LOG_STR("reason", strerror(errno)));
        return PAYQ_ERR_CONFIG;
    }
    /* fstat on the open descriptor: the file checked is the file read. */
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        log_error("credentials file is not a regular file",
                  LOG_STR("file", path));
        close(fd);
        return PAYQ_ERR_CONFIG;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        log_error("credentials file may be read by group or others; "
                  "refusing it (chmod 600 it)",
                  LOG_STR("file", path));
        close(fd);
        return PAYQ_ERR_CONFIG;
    }
    *fd_out = fd;
    return PAYQ_OK;
}

static enum payq_err credentials_slurp(int fd, const char *path,
                                       struct buf *text)
{
    char chunk[512];
    ssize_t n;

    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            log_error("cannot read credentials file", LOG_STR("file", path),
                      LOG_STR("reason", strerror(errno)));
            return PAYQ_ERR_CONFIG;
        }
        if (buf_append(text, chunk, (size_t)n) != PAYQ_OK) {
            log_error("credentials file is too large", LOG_STR("file", path),
                      LOG_INT("max_bytes", CONFIG_CREDENTIALS_MAX));
            return PAYQ_ERR_CONFIG;
        }
    }
    return PAYQ_OK;
}

static char *trim(char *s)
{
    char *end;

    while (*s == ' ' || *s == '\t')
        s++;
    end = s + strlen(s);
    while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
        *--end = '\0';
    return s;
}

/* Maps a name in the file to the credential it sets, or NULL. */
static char **credentials_slot(struct config_credentials *creds,
                               const char *name)
{
    if (strcmp(name, "username") == 0 || strcmp(name, "PAYQ_USERNAME") == 0)
        return &creds->username;
    if (strcmp(name, "password") == 0 || strcmp(name, "PAYQ_PASSWORD") == 0)
        return &creds->password;
    if (strcmp(name, "key") == 0 || strcmp(name, "PAYQ_KEY") == 0)
        return &creds->key;
    return NULL;
}

static enum payq_err credentials_parse_line(struct config_credentials *creds,
                                            char *line, const char *path,
                                            int line_no)
{
    char *eq;
    char **slot;
    char *value;

    line = trim(line);
    if (line[0] == '\0' || line[0] == '#')
        return PAYQ_OK;
    eq = strchr(line, '=');
    if (eq == NULL) {
        log_error("credentials file line is not name=value",
                  LOG_STR("file", path), LOG_INT("line", line_no));
        return PAYQ_ERR_CONFIG;
    }
    *eq = '\0';
    slot = credentials_slot(creds, trim(line));
    if (slot == NULL) {
        log_error("credentials file names an unknown setting; use "
                  "username, password or key",
                  LOG_STR("file", path), LOG_INT("line", line_no));
        return PAYQ_ERR_CONFIG;
    }
    value = trim(eq + 1);
    return set_string(slot, value[0] != '\0' ? value : NULL);
}

static enum payq_err credentials_parse(struct config_credentials *creds,
                                       char *text, const char *path)
{
    char *line = text;
    int line_no = 0;
    enum payq_err err = PAYQ_OK;

    while (err == PAYQ_OK && line != NULL) {
        char *next = strchr(line, '\n');

        if (next != NULL)
            *next++ = '\0';
        line_no++;
        err = credentials_parse_line(creds, line, path, line_no);
        line = next;
    }
    return err;
}

enum payq_err config_read_credentials(struct config_credentials *creds,
                                      const char *path)
{
    struct config_credentials read = { NULL, NULL, NULL };
    struct buf text;
    int fd = -1;
    enum payq_err err;

    buf_init(&text, CONFIG_CREDENTIALS_MAX);
    err = credentials_open(path, &fd);
    if (err != PAYQ_OK)
        goto out;
    err = credentials_slurp(fd, path, &text);
    if (err != PAYQ_OK)
        goto out;
    if (memchr(buf_str(&text), '\0', text.len) != NULL) {
        log_error("credentials file holds a NUL byte", LOG_STR("file", path));
        err = PAYQ_ERR_CONFIG;
        goto out;
    }
    err = credentials_parse(&read, text.data != NULL ? text.data : "", path);
    if (err != PAYQ_OK)
        goto out;
    if (read.username == NULL || read.password == NULL || read.key == NULL) {
        log_error("credentials file must set username, password and key",
                  LOG_STR("file", path));
        err = PAYQ_ERR_CONFIG;
        goto out;
    }
    config_credentials_cleanup(creds);
    *creds = read;
    read = (struct config_credentials){ NULL, NULL, NULL };

out:
    if (fd >= 0)
        close(fd);
    if (text.data != NULL)
        memset(text.data, 0, text.len);
    buf_cleanup(&text);
    config_credentials_cleanup(&read);
    return err;
}

enum payq_err config_require_credentials(const struct config *cfg)
{
    const struct config_credentials *creds = &cfg->credentials;

    if (creds->username != NULL && creds->password != NULL &&
        creds->key != NULL)
        return PAYQ_OK;
    log_error("provider credentials are incomplete: set PAYQ_USERNAME, "
              "PAYQ_PASSWORD and PAYQ_KEY, or pass --credentials FILE",
              LOG_INT("username_set", creds->username != NULL),
              LOG_INT("password_set", creds->password != NULL),
              LOG_INT("key_set", creds->key != NULL));
    return PAYQ_ERR_CONFIG;
}

void config_credentials_cleanup(struct config_credentials *creds)
{
    mem_free_secret(creds->username);
    mem_free_secret(creds->password);
    mem_free_secret(creds->key);
    creds->username = creds->password = creds->key = NULL;
}

void config_cleanup(struct config *cfg)
{
    mem_free_secret(cfg->database_url);
    config_credentials_cleanup(&cfg->credentials);
    mem_free(cfg->credentials_source);
    config_init(cfg);
}
