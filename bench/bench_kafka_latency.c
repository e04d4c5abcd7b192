/* bench_kafka_latency.c - the latency floor of the Kafka path: a consumer
 * that decodes nothing and records, for every message, the wall clock at
 * delivery minus the record's timestamp (tsm-sim --record-ts-now).
 *
 * scripts/bench runs it in its own consumer group next to tsmd on the same
 * topic while tsm-sim streams at a fixed rate, so that tsmd's ingest latency
 * (record timestamp to Redis ack) reads against what librdkafka alone sees
 * from the same producer and broker in the same seconds.
 *
 * Every sample is kept (8 bytes each, up to --max-samples) and sorted at the
 * end, so the percentiles are exact, at microsecond resolution of the clock
 * (the record timestamp itself has millisecond resolution).
 *
 * Settings as tsmd's consumer: queued.min.messages=1000000,
 * auto.offset.reset=earliest; fetch.wait.max.ms=1 (the mock broker holds an
 * empty fetch for the whole wait, a real broker does not); -X overrides. */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#define LAT_MAX_X 32

typedef struct lat_opts_s {
    const char *brokers, *bootstrap_file, *topic, *group;
    double duration_s, skip_s, idle_s, slow_ms;
    size_t max_samples;
    bool json;
    const char *x[LAT_MAX_X];
    int nx;
} lat_opts_t;

static volatile sig_atomic_t lat_stop;

static void lat_on_signal(int sig)
{
    lat_stop = sig;
}

static double wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int usage(const char *argv0)
{
    fprintf(
        stderr,
        "usage: %s (--brokers LIST | --bootstrap-file PATH) [--topic tsm.raw]\n"
        "          [--group bench-latency] [--duration SEC (10)] [--skip SEC (1)]\n"
        "          [--idle SEC (3): stop after this long without a message, once one came]\n"
        "          [--max-samples N (20000000)] [-X key=value]... [--json]\n"
        "          [--slow-ms MS: log messages slower than MS on stderr, at most 1 per 10 ms]\n",
        argv0);
    return 2;
}

static int parse_args(lat_opts_t *o, int argc, char **argv)
{
    memset(o, 0, sizeof *o);
    o->topic = "tsm.raw";
    o->group = "bench-latency";
    o->duration_s = 10;
    o->skip_s = 1;
    o->idle_s = 3;
    o->max_samples = 20000000;
    o->slow_ms = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (v == NULL) return -1;
        i++;
        if (strcmp(a, "--brokers") == 0)
            o->brokers = v;
        else if (strcmp(a, "--bootstrap-file") == 0)
            o->bootstrap_file = v;
        else if (strcmp(a, "--topic") == 0)
            o->topic = v;
        else if (strcmp(a, "--group") == 0)
            o->group = v;
        else if (strcmp(a, "--duration") == 0)
            o->duration_s = atof(v);
        else if (strcmp(a, "--skip") == 0)
            o->skip_s = atof(v);
        else if (strcmp(a, "--idle") == 0)
            o->idle_s = atof(v);
        else if (strcmp(a, "--slow-ms") == 0)
            o->slow_ms = atof(v);
        else if (strcmp(a, "--max-samples") == 0)
            o->max_samples = strtoull(v, NULL, 10);
        else if (strcmp(a, "-X") == 0 && o->nx < LAT_MAX_X)
            o->x[o->nx++] = v;
        else
            return -1;
    }
    return (o->brokers || o->bootstrap_file) && o->max_samples > 0 ? 0 : -1;
}

/* Reads the first line of path, waiting up to 30 s for it to appear. */
static char *read_bootstrap(const char *path)
{
    static char line[1024];
    for (int i = 0; i < 300; i++) {
        FILE *f = fopen(path, "r");
        if (f) {
            bool ok = fgets(line, sizeof line, f) != NULL;
            fclose(f);
            if (ok) {
                line[strcspn(line, "\r\n")] = 0;
                return line;
            }
        }
        usleep(100000);
    }
    return NULL;
}

static rd_kafka_t *new_consumer(const lat_opts_t *o, const char *brokers)
{
    static const char *const defaults[][2] = {
        {"queued.min.messages", "1000000"}, {"auto.offset.reset", "earliest"},
        {"fetch.wait.max.ms", "1"},         {"enable.auto.commit", "false"},
        {"enable.partition.eof", "false"},
    };
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    bool ok = rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) == 0 &&
              rd_kafka_conf_set(conf, "group.id", o->group, err, sizeof err) == 0;
    for (size_t i = 0; ok && i < sizeof defaults / sizeof defaults[0]; i++)
        ok = rd_kafka_conf_set(conf, defaults[i][0], defaults[i][1], err, sizeof err) == 0;
    for (int i = 0; ok && i < o->nx; i++) {
        char key[256];
        const char *eq = strchr(o->x[i], '=');
        if (eq == NULL || (size_t)(eq - o->x[i]) >= sizeof key) {
            snprintf(err, sizeof err, "-X %s: want key=value", o->x[i]);
            ok = false;
            break;
        }
        memcpy(key, o->x[i], (size_t)(eq - o->x[i]));
        key[eq - o->x[i]] = 0;
        ok = rd_kafka_conf_set(conf, key, eq + 1, err, sizeof err) == 0;
    }
    if (!ok) {
        fprintf(stderr, "bench_kafka_latency: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) fprintf(stderr, "bench_kafka_latency: %s\n", err);
    return rk;
}

static void log_slow(const rd_kafka_message_t *km, double now_ms, double ms)
{
    time_t sec = (time_t)(now_ms / 1e3);
    struct tm tm;
    char when[32];
    gmtime_r(&sec, &tm);
    strftime(when, sizeof when, "%H:%M:%S", &tm);
    fprintf(stderr, "slow message delivered at %s.%03d partition=%d ms=%.3f\n", when,
            (int)((long long)now_ms % 1000), (int)km->partition, ms);
}

/* Polls until the duration is over (counted from the first message) or the
 * stream stopped; returns the number of samples kept. */
static size_t collect(const lat_opts_t *o, rd_kafka_t *rk, double *samples, uint64_t *seen)
{
    size_t n = 0;
    double first = 0, last = 0, last_slow = 0;
    while (!lat_stop) {
        rd_kafka_message_t *km = rd_kafka_consumer_poll(rk, 100);
        double now = wall_ms();
        if (km == NULL) {
            if (first > 0 && now - last > o->idle_s * 1e3) break;
            continue;
        }
        if (km->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
            int64_t ts = rd_kafka_message_timestamp(km, NULL);
            if (first == 0) first = now;
            last = now;
            (*seen)++;
            if (ts > 0 && now - first >= o->skip_s * 1e3 && n < o->max_samples) {
                samples[n++] = now - (double)ts;
                if (o->slow_ms > 0 && now - (double)ts > o->slow_ms && now - last_slow > 10) {
                    last_slow = now;
                    log_slow(km, now, now - (double)ts);
                }
            }
        }
        rd_kafka_message_destroy(km);
        if (first > 0 && now - first > (o->duration_s + o->skip_s) * 1e3) break;
    }
    return n;
}

static double pct(const double *s, size_t n, double q)
{
    if (n == 0) return 0;
    size_t i = (size_t)(q * (double)n);
    return s[i < n ? i : n - 1];
}

int main(int argc, char **argv)
{
    lat_opts_t o;
    if (parse_args(&o, argc, argv) != 0) return usage(argv[0]);
    const char *brokers = o.brokers ? o.brokers : read_bootstrap(o.bootstrap_file);
    if (brokers == NULL) {
        fprintf(stderr, "bench_kafka_latency: no bootstrap list in %s\n", o.bootstrap_file);
        return 1;
    }
    signal(SIGINT, lat_on_signal);
    signal(SIGTERM, lat_on_signal);
    rd_kafka_t *rk = new_consumer(&o, brokers);
    if (rk == NULL) return 2;
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *subs = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(subs, o.topic, RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(rk, subs);
    rd_kafka_topic_partition_list_destroy(subs);
    double *samples = malloc(o.max_samples * sizeof *samples);
    if (samples == NULL) return 1;
    uint64_t seen = 0;
    size_t n = collect(&o, rk, samples, &seen);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    qsort(samples, n, sizeof *samples, cmp_double);
    double p50 = pct(samples, n, 0.5), p90 = pct(samples, n, 0.9), p99 = pct(samples, n, 0.99),
           p999 = pct(samples, n, 0.999), max = n ? samples[n - 1] : 0;
    if (o.json)
        printf(
            "{\"bench\":\"kafka_latency\",\"messages\":%" PRIu64 ",\"samples\":%zu,"
            "\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
            seen, n, p50, p90, p99, p999, max);
    else
        printf("messages=%" PRIu64 " samples=%zu p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f "
               "p999_ms=%.3f max_ms=%.3f\n",
               seen, n, p50, p90, p99, p999, max);
    free(samples);
    return n > 0 ? 0 : 1;
}
