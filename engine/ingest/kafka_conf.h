/* kafka_conf.h - what every librdkafka configuration of tsmd shares: the
 *                check of the librdkafka.* settings before anything starts,
 *                and librdkafka's own log lines routed into tsmd's logfmt.
 * Threads: eng_kafka_conf_check() on the main thread; the log callback runs
 *   on librdkafka's threads and only writes a line.
 * Ownership: the check builds and destroys a throwaway configuration; nothing
 *   is kept.
 * Errors: eng_kafka_conf_check() returns the number of refused settings and
 *   hands one line per refusal to its callback. */
#ifndef ENG_KAFKA_CONF_H
#define ENG_KAFKA_CONF_H

#include "config/config.h"

#include <librdkafka/rdkafka.h>

/* Applies every librdkafka.* setting of cfg to a configuration that is never
 * used (no handle, no connection), and reports each one librdkafka refuses
 * as "config: librdkafka.KEY: WHY". Returns the number refused. */
int eng_kafka_conf_check(const cfg_t *cfg, cfg_error_cb cb, void *arg);

/* Routes librdkafka's log of the handle made from conf into tsmd's log:
 * msg="librdkafka" with its facility, client name and text as values. */
void eng_kafka_conf_log(rd_kafka_conf_t *conf);

#endif
