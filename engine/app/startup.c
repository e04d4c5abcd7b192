/* startup.c - version, config check, log level and start-up line; see startup.h. */
#include "engine/app/startup.h"

#include "engine/ingest/kafka_conf.h"
#include "engine/base/log.h"
#include "engine/base/version.h"

#include <string.h>

void eng_startup_version(FILE *f)
{
    fprintf(f, "tsmd %s (commit %s)\n", TSMD_VERSION, TSMD_COMMIT);
}

static void print_line(void *arg, const char *line)
{
    fprintf(arg, "tsmd: %s\n", line);
}

int eng_startup_check(const char *path, char *const *envp, char *const *sets, size_t nsets)
{
    cfg_t cfg;
    int bad = cfg_check(&cfg, path, envp, sets, nsets, print_line, stderr);
    bad += eng_kafka_conf_check(&cfg, print_line, stderr);
    cfg_free(&cfg);
    if (bad) return 2;
    printf("config ok\n");
    return 0;
}

static void log_line(void *arg, const char *line)
{
    (void)arg;
    ENG_ERROR("bad setting", " error=%s", line);
}

int eng_startup_check_kafka(const cfg_t *cfg)
{
    return eng_kafka_conf_check(cfg, log_line, NULL) ? 2 : 0;
}

void eng_startup_log_level(const cfg_t *cfg)
{
    eng_log_level_t level;
    if (eng_log_level_parse(cfg->log_level, &level) == 0) atomic_store(&eng_log_min, level);
}

typedef struct pairs_s {
    char *buf;
    size_t len, cap;
} pairs_t;

static void add_pair(void *arg, const char *key, const char *value, bool secret)
{
    pairs_t *p = arg;
    char q[8400];
    eng_log_quote(q, sizeof q, secret && value[0] ? "***" : value);
    size_t need = 1 + strlen(key) + 1 + strlen(q);
    if (p->len + need + 1 > p->cap) {
        p->cap = (p->len + need + 1) * 2;
        p->buf = eng_realloc(p->buf, p->cap);
    }
    p->len += (size_t)snprintf(p->buf + p->len, p->cap - p->len, " %s=%s", key, q);
}

void eng_startup_log(const cfg_t *cfg)
{
    pairs_t p = {eng_calloc(1, 1), 0, 1};
    cfg_each(cfg, add_pair, &p);
    ENG_INFO("starting", " version=%s commit=%s%s", TSMD_VERSION, TSMD_COMMIT, p.buf);
    free(p.buf);
    if (strcmp(cfg->kafka_brokers, "embedded") == 0)
        ENG_WARN("embedded kafka broker in use", " reason=%s hint=%s",
                 "kafka.brokers is embedded (the default)",
                 "for development only: nothing is consumed from a real cluster; set "
                 "kafka.brokers (TSMD_KAFKA_BROKERS) to host:port,...");
}
