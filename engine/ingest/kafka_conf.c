/* kafka_conf.c - the librdkafka.* check and librdkafka's log; see kafka_conf.h. */
#include "engine/ingest/kafka_conf.h"

#include "engine/base/log.h"

#include <stdio.h>

int eng_kafka_conf_check(const cfg_t *cfg, cfg_error_cb cb, void *arg)
{
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int bad = 0;
    for (size_t i = 0; i < cfg->librdkafka_len; i++) {
        char why[512], line[CFG_ERR_MAX];
        const cfg_kv_t *kv = &cfg->librdkafka[i];
        if (rd_kafka_conf_set(conf, kv->key, kv->value, why, sizeof why) == RD_KAFKA_CONF_OK)
            continue;
        snprintf(line, sizeof line, "config: librdkafka.%.200s: %.280s", kv->key, why);
        cb(arg, line);
        bad++;
    }
    rd_kafka_conf_destroy(conf);
    return bad;
}

/* librdkafka's levels are syslog's: 0..3 error, 4 warning, 5..6 info, 7 debug. */
static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    eng_log_level_t l = level <= 3   ? ENG_LOG_ERROR
                        : level == 4 ? ENG_LOG_WARN
                        : level <= 6 ? ENG_LOG_INFO
                                     : ENG_LOG_DEBUG;
    ENG_LOG(l, "librdkafka", " facility=%s client=%s text=%s", fac, rk ? rd_kafka_name(rk) : "",
            buf);
}

void eng_kafka_conf_log(rd_kafka_conf_t *conf)
{
    rd_kafka_conf_set_log_cb(conf, on_log);
}
