/* bench_ingest_probe.c - tsmd's ingest latency at microsecond resolution, by
 * probing: produce one tsm message, then watch Redis until tsmd's write of it
 * is there; repeat. Every probe is one exact sample (kept and sorted, so the
 * percentiles are exact), where tsmd's own tsmd_ingest_latency_seconds
 * histogram has millisecond record timestamps and buckets of 1, 2.5, 5, 10,
 * 25 ms...
 *
 * A probe is a battery report of one of --tuids things TSPB + 13 digits,
 * {"tsmId":1110,"tsmEv":10,"tsmTuid":T,"tsmTs":now,"batl":V}, with V changing
 * from one probe of T to the next, produced with linger.ms=0 and the record
 * timestamp of the moment it is handed to librdkafka. The probe is done when
 * HGET P{T}:thing battery_level returns V (polled every --poll-us). What it
 * measures is the time from the record timestamp to the write being visible
 * in Redis: tsmd's latency minus the half round trip of the acknowledgement.
 * One probe is in flight at a time, one every --interval-ms at most, while
 * another load (tsm-sim --rate) runs on the same topic.
 *
 * Output: one line key=value, or with --json one JSON object on stdout; each
 * probe slower than --slow-ms is logged on stderr with its time, to line up
 * with tsmd's log. */
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct probe_opts_s {
    const char *brokers, *bootstrap_file, *topic, *prefix, *redis_host;
    int redis_port;
    double duration_s, interval_ms, timeout_s;
    uint32_t tuids, poll_us;
    double slow_ms;
    bool json;
} probe_opts_t;

typedef struct probe_stats_s {
    double *samples_ms;
    size_t n, cap;
    uint64_t timeouts;
} probe_stats_t;

static double wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s (--brokers LIST | --bootstrap-file PATH) [--topic tsm.raw]\n"
            "          [--redis-host 127.0.0.1] [--redis-port 6379] [--prefix tsm:]\n"
            "          [--duration SEC (5)] [--interval-ms MS (5)] [--tuids N (16)]\n"
            "          [--poll-us US (100)] [--timeout SEC (5)] [--slow-ms MS (50)] [--json]\n"
            "  a probe slower than --slow-ms is logged on stderr with its wall-clock time\n",
            argv0);
    return 2;
}

static int parse_args(probe_opts_t *o, int argc, char **argv)
{
    *o = (probe_opts_t){NULL, NULL, "tsm.raw", "tsm:", "127.0.0.1", 6379, 5,
                        5,    5,    16,        100,    50,          false};
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
        else if (strcmp(a, "--prefix") == 0)
            o->prefix = v;
        else if (strcmp(a, "--redis-host") == 0)
            o->redis_host = v;
        else if (strcmp(a, "--redis-port") == 0)
            o->redis_port = atoi(v);
        else if (strcmp(a, "--duration") == 0)
            o->duration_s = atof(v);
        else if (strcmp(a, "--interval-ms") == 0)
            o->interval_ms = atof(v);
        else if (strcmp(a, "--timeout") == 0)
            o->timeout_s = atof(v);
        else if (strcmp(a, "--tuids") == 0)
            o->tuids = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--poll-us") == 0)
            o->poll_us = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--slow-ms") == 0)
            o->slow_ms = atof(v);
        else
            return -1;
    }
    if (o->tuids == 0 || o->tuids > 1000 || o->duration_s <= 0) return -1;
    return o->brokers || o->bootstrap_file ? 0 : -1;
}

static const char *read_bootstrap(const char *path)
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

static rd_kafka_t *new_producer(const char *brokers)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", brokers, err, sizeof err) != 0 ||
        rd_kafka_conf_set(conf, "linger.ms", "0", err, sizeof err) != 0) {
        fprintf(stderr, "bench_ingest_probe: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return NULL;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
    if (rk == NULL) fprintf(stderr, "bench_ingest_probe: %s\n", err);
    return rk;
}

/* Polls HGET key battery_level until it reads want; returns the wall clock
 * (us) when it did, or 0 on timeout or a Redis failure. */
static double wait_visible(redisContext *c, const char *key, double want, double deadline_us,
                           uint32_t poll_us)
{
    for (;;) {
        redisReply *r = redisCommand(c, "HGET %s battery_level", key);
        double now = wall_us();
        if (r == NULL) return 0;
        bool seen = r->type == REDIS_REPLY_STRING && strtod(r->str, NULL) == want;
        freeReplyObject(r);
        if (seen) return now;
        if (now > deadline_us) return 0;
        usleep(poll_us);
    }
}

static void add_sample(probe_stats_t *st, double ms)
{
    if (st->n == st->cap) {
        st->cap = st->cap ? st->cap * 2 : 4096;
        st->samples_ms = realloc(st->samples_ms, st->cap * sizeof *st->samples_ms);
        if (st->samples_ms == NULL) abort();
    }
    st->samples_ms[st->n++] = ms;
}

/* One probe: produce, then wait for it in Redis. */
static int probe_once(const probe_opts_t *o, rd_kafka_t *rk, redisContext *c, uint64_t seq,
                      probe_stats_t *st)
{
    char tuid[18], key[128], body[256];
    uint32_t t = (uint32_t)(seq % o->tuids);
    snprintf(tuid, sizeof tuid, "TSPB%013" PRIu32, t);
    snprintf(key, sizeof key, "%s{%s}:thing", o->prefix, tuid);
    /* V differs from this tuid's previous probe (seq - tuids). */
    double v = (double)((seq / o->tuids) % 100);
    int len =
        snprintf(body, sizeof body,
                 "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld,\"batl\":%.0f}",
                 tuid, (long)time(NULL), v);
    double t0 = wall_us();
    rd_kafka_resp_err_t err = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(o->topic), RD_KAFKA_V_KEY(tuid, 17),
        RD_KAFKA_V_VALUE(body, (size_t)len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_TIMESTAMP((int64_t)(t0 / 1000)), RD_KAFKA_V_END);
    if (err) {
        fprintf(stderr, "bench_ingest_probe: produce: %s\n", rd_kafka_err2str(err));
        return -1;
    }
    rd_kafka_poll(rk, 0);
    double t1 = wait_visible(c, key, v, t0 + o->timeout_s * 1e6, o->poll_us);
    if (c->err) return -1;
    if (t1 == 0)
        st->timeouts++;
    else
        add_sample(st, (t1 - t0) / 1000.0);
    if (t1 == 0 || (t1 - t0) / 1000.0 > o->slow_ms) {
        time_t sec = (time_t)(t0 / 1e6);
        struct tm tm;
        char when[32];
        gmtime_r(&sec, &tm);
        strftime(when, sizeof when, "%H:%M:%S", &tm);
        fprintf(stderr, "slow probe at %s.%03d tuid=%s ms=%.3f%s\n", when,
                (int)((long long)(t0 / 1000) % 1000), tuid, t1 ? (t1 - t0) / 1000.0 : -1,
                t1 ? "" : " (timeout)");
    }
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const probe_stats_t *st, double q)
{
    if (st->n == 0) return 0;
    size_t i = (size_t)(q * (double)st->n);
    return st->samples_ms[i < st->n ? i : st->n - 1];
}

static void report(const probe_opts_t *o, probe_stats_t *st)
{
    qsort(st->samples_ms, st->n, sizeof *st->samples_ms, cmp_double);
    double max = st->n ? st->samples_ms[st->n - 1] : 0;
    if (o->json)
        printf("{\"bench\":\"ingest_probe\",\"probes\":%zu,\"timeouts\":%" PRIu64
               ",\"p50_ms\":%.3f,"
               "\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
               st->n, st->timeouts, pct(st, 0.5), pct(st, 0.9), pct(st, 0.99), pct(st, 0.999), max);
    else
        printf("probes=%zu timeouts=%" PRIu64 " p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f p999_ms=%.3f "
               "max_ms=%.3f\n",
               st->n, st->timeouts, pct(st, 0.5), pct(st, 0.9), pct(st, 0.99), pct(st, 0.999), max);
}

int main(int argc, char **argv)
{
    probe_opts_t o;
    if (parse_args(&o, argc, argv) != 0) return usage(argv[0]);
    const char *brokers = o.brokers ? o.brokers : read_bootstrap(o.bootstrap_file);
    if (brokers == NULL) return 1;
    rd_kafka_t *rk = new_producer(brokers);
    redisContext *c = redisConnect(o.redis_host, o.redis_port);
    if (rk == NULL || c == NULL || c->err) {
        fprintf(stderr, "bench_ingest_probe: cannot start (redis: %s)\n", c ? c->errstr : "-");
        return 1;
    }
    probe_stats_t st = {0};
    double end = wall_us() + o.duration_s * 1e6;
    int rc = 0;
    for (uint64_t seq = 0; wall_us() < end; seq++) {
        double next = wall_us() + o.interval_ms * 1e3;
        if (probe_once(&o, rk, c, seq, &st) != 0) {
            rc = 1;
            break;
        }
        double now = wall_us();
        if (now < next) usleep((useconds_t)(next - now));
    }
    rd_kafka_flush(rk, 2000);
    rd_kafka_destroy(rk);
    redisFree(c);
    report(&o, &st);
    free(st.samples_ms);
    return rc != 0 || st.n == 0 ? 1 : 0;
}
