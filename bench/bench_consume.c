/* bench_consume.c - the consume-only baseline: how fast librdkafka alone
 * reads a topic from a broker, decoding nothing.
 *
 * scripts/bench compares tsmd's end-to-end rate with this figure. By default
 * it assigns every partition of the topic from the beginning (no group
 * protocol); --group uses a subscription instead. It counts messages until it
 * has seen --messages N, or until nothing arrived for --idle-ms, and prints
 * the rate from the first message to the last. queued.min.messages is
 * raised to 1000000 (librdkafka's default, 100000, measured here at about a
 * fifth of the rate); every setting can be overridden with -X key=value. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "engine/base/log.h"

#define CONSUME_BATCH 4096
#define CONSUME_MAX_X 64

typedef struct consume_opts_s {
    const char *brokers, *bootstrap_file, *topic, *group;
    uint64_t messages;
    double idle_s, wait_s;
    bool json, poll;
    const char *x[CONSUME_MAX_X];
    int nx;
} consume_opts_t;

typedef struct consume_s {
    consume_opts_t opt;
    rd_kafka_t *rk;
    rd_kafka_queue_t *queue;
    uint64_t msgs, bytes, errors;
    double t_start, t_first, t_last;
    int partitions;
} consume_t;

/* Set by SIGINT/SIGTERM; signals are process-wide, so this flag is too. */
static volatile sig_atomic_t consume_stop_signal;

static void consume_on_signal(int sig)
{
    consume_stop_signal = sig;
}

static double consume_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void consume_usage(FILE *out)
{
    fprintf(out,
            "usage: bench_consume [options]\n"
            "  Consume-only baseline: counts the messages of a topic, decoding nothing,\n"
            "  and prints the rate from the first message to the last.\n"
            "options:\n"
            "  --brokers LIST         bootstrap servers host:port,...\n"
            "  --bootstrap-file PATH  read the bootstrap list from this file (waits for it)\n"
            "  --wait SEC             how long to wait for --bootstrap-file (default 30)\n"
            "  --topic NAME           topic (default tsm.raw)\n"
            "  --group ID             subscribe as group ID instead of assigning every\n"
            "                         partition from the beginning\n"
            "  --messages N           stop after N messages (default 0: until idle)\n"
            "  --idle-ms MS           stop after MS without a message (default 2000)\n"
            "  -X key=value           librdkafka consumer setting (repeatable); defaults here:\n"
            "                         queued.min.messages=1000000, auto.offset.reset=earliest,\n"
            "                         enable.auto.commit=false\n"
            "  --poll                 one rd_kafka_consumer_poll() per message, as tsmd\n"
            "                         does, instead of rd_kafka_consume_batch_queue()\n"
            "  --json                 print the result as one JSON object\n"
            "  --help                 this text\n"
            "Exit status: 0 when N messages (or, without --messages, at least one) were\n"
            "read, 1 otherwise, 2 on bad usage.\n");
}

static const struct option consume_long_opts[] = {
    {"brokers", required_argument, 0, 'b'},
    {"bootstrap-file", required_argument, 0, 'f'},
    {"wait", required_argument, 0, 'w'},
    {"topic", required_argument, 0, 't'},
    {"group", required_argument, 0, 'g'},
    {"messages", required_argument, 0, 'n'},
    {"idle-ms", required_argument, 0, 'i'},
    {"json", no_argument, 0, 'j'},
    {"poll", no_argument, 0, 'p'},
    {"help", no_argument, 0, 'h'},
    {0, 0, 0, 0},
};

/* Applies one option; returns false on a bad value. */
static bool consume_apply(consume_opts_t *opt, int c, const char *arg)
{
    char *end = NULL;
    errno = 0;
    // clang-format off
    switch (c) {
    case 'b': opt->brokers = arg; return true;
    case 'f': opt->bootstrap_file = arg; return true;
    case 't': opt->topic = arg; return true;
    case 'g': opt->group = arg; return true;
    case 'j': opt->json = true; return true;
    case 'p': opt->poll = true; return true;
    case 'w': opt->wait_s = strtod(arg, &end); break;
    case 'n': opt->messages = strtoull(arg, &end, 10); break;
    case 'i': opt->idle_s = strtod(arg, &end) / 1000.0; break;
    case 'X':
        if (opt->nx == CONSUME_MAX_X || strchr(arg, '=') == NULL) return false;
        opt->x[opt->nx++] = arg;
        return true;
    default: return false;
    }
    // clang-format on
    return errno == 0 && end != arg && *end == '\0';
}

static int consume_parse_args(consume_opts_t *opt, int argc, char **argv)
{
    int c;
    while ((c = getopt_long(argc, argv, "X:h", consume_long_opts, NULL)) != -1) {
        if (c == 'h') {
            consume_usage(stdout);
            exit(0);
        }
        if (c == '?') {
            consume_usage(stderr);
            return -1;
        }
        if (!consume_apply(opt, c, optarg)) {
            fprintf(stderr, "bench_consume: bad option value '%s'\n", optarg);
            return -1;
        }
    }
    if (optind != argc || (opt->brokers == NULL) == (opt->bootstrap_file == NULL)) {
        fprintf(stderr, "bench_consume: give exactly one of --brokers and --bootstrap-file\n");
        return -1;
    }
    return 0;
}

/* Reads the first line of the bootstrap file, waiting for it to appear.
 * Returns a heap string or NULL after wait_s seconds. */
static char *consume_read_bootstrap(const char *path, double wait_s)
{
    double until = consume_now() + wait_s;
    char line[4096];
    do {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            bool ok = fgets(line, sizeof(line), f) != NULL;
            fclose(f);
            line[strcspn(line, "\r\n")] = '\0';
            if (ok && line[0] != '\0') return eng_strdup(line);
        }
        usleep(50000);
    } while (consume_now() < until && !consume_stop_signal);
    return NULL;
}

static int consume_conf_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK) return 0;
    fprintf(stderr, "bench_consume: %s=%s: %s\n", key, val, errstr);
    return -1;
}

static int consume_new(consume_t *cons, const char *brokers)
{
    const char *defaults[][2] = {
        {"bootstrap.servers", brokers},
        {"group.id", cons->opt.group ? cons->opt.group : "bench_consume"},
        {"queued.min.messages", "1000000"},
        {"auto.offset.reset", "earliest"},
        {"enable.auto.commit", "false"},
        {"enable.partition.eof", "false"},
        {"log_level", "4"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = consume_conf_set(conf, defaults[i][0], defaults[i][1]);
    for (int i = 0; rc == 0 && i < cons->opt.nx; i++) {
        char key[256];
        const char *eq = strchr(cons->opt.x[i], '=');
        snprintf(key, sizeof(key), "%.*s", (int)(eq - cons->opt.x[i]), cons->opt.x[i]);
        rc = consume_conf_set(conf, key, eq + 1);
    }
    char errstr[512];
    if (rc == 0) cons->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
    if (rc != 0 || cons->rk == NULL) {
        if (rc == 0)
            fprintf(stderr, "bench_consume: %s\n", errstr);
        else
            rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_poll_set_consumer(cons->rk);
    cons->queue = rd_kafka_queue_get_consumer(cons->rk);
    return 0;
}

/* Assigns every partition of the topic from the beginning, or subscribes. */
static int consume_start(consume_t *cons)
{
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(64);
    rd_kafka_resp_err_t err;
    if (cons->opt.group != NULL) {
        rd_kafka_topic_partition_list_add(list, cons->opt.topic, RD_KAFKA_PARTITION_UA);
        err = rd_kafka_subscribe(cons->rk, list);
    } else {
        const rd_kafka_metadata_t *md = NULL;
        rd_kafka_topic_t *rkt = rd_kafka_topic_new(cons->rk, cons->opt.topic, NULL);
        err = rd_kafka_metadata(cons->rk, 0, rkt, &md, 10000);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR && md->topic_cnt == 1) err = md->topics[0].err;
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            cons->partitions = md->topics[0].partition_cnt;
            for (int p = 0; p < cons->partitions; p++)
                rd_kafka_topic_partition_list_add(list, cons->opt.topic, p)->offset =
                    RD_KAFKA_OFFSET_BEGINNING;
            err = rd_kafka_assign(cons->rk, list);
        }
        if (md != NULL) rd_kafka_metadata_destroy(md);
        rd_kafka_topic_destroy(rkt);
    }
    rd_kafka_topic_partition_list_destroy(list);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
        ENG_ERROR("cannot start consuming", " topic=%s err=\"%s\"", cons->opt.topic,
                  rd_kafka_err2str(err));
        return -1;
    }
    return 0;
}

static void consume_progress(const consume_t *cons, double now, uint64_t prev, double dt)
{
    ENG_INFO("progress", " messages=%" PRIu64 " rate=%.0f errors=%" PRIu64, cons->msgs,
             dt > 0 ? (double)(cons->msgs - prev) / dt : 0.0, cons->errors);
    (void)now;
}

static void consume_loop(consume_t *cons)
{
    rd_kafka_message_t *batch[CONSUME_BATCH];
    double last_progress = consume_now(), last_seen = last_progress;
    uint64_t prev = 0;
    /* Before the first message, allow time for connecting and fetching. */
    double first_idle = cons->opt.idle_s > 10 ? cons->opt.idle_s : 10;
    while (!consume_stop_signal && (cons->opt.messages == 0 || cons->msgs < cons->opt.messages)) {
        ssize_t n;
        if (cons->opt.poll) {
            batch[0] = rd_kafka_consumer_poll(cons->rk, 100);
            n = batch[0] != NULL;
        } else {
            n = rd_kafka_consume_batch_queue(cons->queue, 100, batch, CONSUME_BATCH);
        }
        double now = consume_now();
        for (ssize_t i = 0; i < n; i++) {
            if (batch[i]->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
                cons->msgs++;
                cons->bytes += batch[i]->len;
            } else if (cons->errors++ < 10) {
                ENG_WARN("consume error", " err=\"%s\"", rd_kafka_message_errstr(batch[i]));
            }
            rd_kafka_message_destroy(batch[i]);
        }
        if (n > 0 && cons->msgs > 0) {
            if (cons->t_first == 0) cons->t_first = now;
            cons->t_last = now;
            last_seen = now;
        }
        if (now - last_seen > (cons->msgs ? cons->opt.idle_s : first_idle)) break;
        if (now - last_progress >= 1.0) {
            consume_progress(cons, now, prev, now - last_progress);
            prev = cons->msgs;
            last_progress = now;
        }
    }
}

static void consume_report(const consume_t *cons)
{
    double secs = cons->t_last - cons->t_first;
    double rate = secs > 0 ? (double)cons->msgs / secs : 0;
    double mbs = secs > 0 ? (double)cons->bytes / secs / 1e6 : 0;
    double total = cons->t_last > 0 ? cons->t_last - cons->t_start : 0;
    if (cons->opt.json)
        printf("{\"messages\":%" PRIu64 ",\"bytes\":%" PRIu64 ",\"errors\":%" PRIu64
               ",\"seconds\":%.3f,\"seconds_from_start\":%.3f,\"msgs_per_sec\":%.0f,"
               "\"mb_per_sec\":%.1f}\n",
               cons->msgs, cons->bytes, cons->errors, secs, total, rate, mbs);
    else
        printf("messages=%" PRIu64 " bytes=%" PRIu64 " errors=%" PRIu64
               " seconds=%.3f seconds_from_start=%.3f msgs_per_sec=%.0f mb_per_sec=%.1f\n",
               cons->msgs, cons->bytes, cons->errors, secs, total, rate, mbs);
}

int main(int argc, char **argv)
{
    consume_t cons = {.opt = {.topic = "tsm.raw", .idle_s = 2.0, .wait_s = 30}};
    if (consume_parse_args(&cons.opt, argc, argv) != 0) return 2;
    signal(SIGINT, consume_on_signal);
    signal(SIGTERM, consume_on_signal);
    char *brokers = cons.opt.brokers
                        ? eng_strdup(cons.opt.brokers)
                        : consume_read_bootstrap(cons.opt.bootstrap_file, cons.opt.wait_s);
    if (brokers == NULL) {
        ENG_ERROR("no bootstrap list", " file=%s", cons.opt.bootstrap_file);
        return 1;
    }
    int rc = consume_new(&cons, brokers);
    free(brokers);
    if (rc != 0) return 1;
    cons.t_start = consume_now();
    if (consume_start(&cons) != 0) return 1;
    consume_loop(&cons);
    consume_report(&cons);
    ENG_INFO("done", " messages=%" PRIu64 " partitions=%d", cons.msgs, cons.partitions);
    rd_kafka_queue_destroy(cons.queue);
    if (cons.opt.group != NULL) rd_kafka_consumer_close(cons.rk);
    rd_kafka_destroy(cons.rk);
    bool ok = cons.opt.messages ? cons.msgs >= cons.opt.messages : cons.msgs > 0;
    return ok ? 0 : 1;
}
