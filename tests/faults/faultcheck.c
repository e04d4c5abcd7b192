/* faultcheck.c - the fault suite's checker: compares what Redis and Kafka hold
 * after a scenario with what tsm-sim's expect file implies.
 *
 *   tsmd-faultcheck lag --brokers BS --group G [--topic T]
 *       prints the records not yet committed by G (sum over partitions of
 *       high watermark - committed offset), or -1 when unreadable.
 *   tsmd-faultcheck check --expect FILE --redis-port P --prefix PFX
 *       [--ref-prefix REF] --brokers BS --group G [--topic T]
 *       [--messages-per-thing N] [--name NAME] [--rss-kb K] [--rss-limit-kb L]
 *       [--recover-s S] [--verbose]
 *       checks, and prints one line:
 *       NAME PASS|FAIL messages=M lost=L duplicated=D state_differing=S
 *       windows=N windows_differing=W alerting_differing=A uncommitted=U peak_rss_kb=K
 *       recover_s=S
 *   - history: for every thing, the scores of P{T}:msgs against the tsmTs of
 *     the distinct valid messages the expect file lists (dup rows are copies),
 *     the newest N when more; lost = expected and missing, duplicated =
 *     present beyond what was sent;
 *   - state: timestamp, gateway_tuid, battery_level, version, lat/lon of
 *     P{T}:thing against the newest message carrying each;
 *   - windows: P{T}:w:hb and P{T}:w:gw (members and scores) and the alerting
 *     SET against the same keys under REF (a clean run of the same input with
 *     detector.clock=event), when --ref-prefix is given;
 *   - offsets: committed at the high watermark of every partition of T;
 *   - memory: the peak RSS the runner measured, against the limit.
 * Exit status 0 when everything matches, 1 otherwise, 2 on bad usage. */
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TUID_MAX 72
#define FIELD_MAX 64

typedef struct thing_s {
    char tuid[TUID_MAX];
    bool used;
    long long *ts; /* tsmTs (seconds) of the distinct valid messages */
    size_t nts, cap;
    long long t_max;
    long long t_gw, t_batl, t_ver, t_loc;
    char gw[FIELD_MAX], batl[FIELD_MAX], ver[FIELD_MAX], lat[FIELD_MAX], lon[FIELD_MAX];
} thing_t;

typedef struct opts_s {
    const char *cmd, *expect, *prefix, *ref, *brokers, *group, *topic, *name;
    int redis_port;
    long long per_thing, rss_kb, rss_limit_kb;
    double recover_s;
    bool verbose;
} opts_t;

typedef struct table_s {
    thing_t *slots;
    size_t cap, n;
} table_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (uint8_t)*s) * 1099511628211ull;
    return h;
}

static thing_t *table_get(table_t *t, const char *tuid)
{
    if ((t->n + 1) * 2 > t->cap) {
        table_t bigger = {calloc(t->cap ? t->cap * 2 : 1024, sizeof(thing_t)),
                          t->cap ? t->cap * 2 : 1024, 0};
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slots[i].used) continue;
            size_t j = hash_str(t->slots[i].tuid) & (bigger.cap - 1);
            while (bigger.slots[j].used)
                j = (j + 1) & (bigger.cap - 1);
            bigger.slots[j] = t->slots[i];
            bigger.n++;
        }
        free(t->slots);
        *t = bigger;
    }
    size_t j = hash_str(tuid) & (t->cap - 1);
    while (t->slots[j].used && strcmp(t->slots[j].tuid, tuid) != 0)
        j = (j + 1) & (t->cap - 1);
    thing_t *th = &t->slots[j];
    if (!th->used) {
        th->used = true;
        snprintf(th->tuid, sizeof th->tuid, "%s", tuid);
        th->t_max = th->t_gw = th->t_batl = th->t_ver = th->t_loc = -1;
        t->n++;
    }
    return th;
}

static void newest(long long ts, long long *t_field, char *dst, const char *val)
{
    if (strcmp(val, "-") == 0 || ts < *t_field) return;
    *t_field = ts;
    snprintf(dst, FIELD_MAX, "%s", val);
}

/* Reads the expect TSV into t. Returns the number of distinct valid
 * messages, or -1. */
static long long load_expect(const char *path, table_t *t)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        perror(path);
        return -1;
    }
    char line[2048];
    long long total = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || line[0] == '\n') continue;
        line[strcspn(line, "\r\n")] = 0;
        char *col[16] = {0};
        int n = 0;
        for (char *p = line, *tab; n < 16; p = tab + 1) {
            col[n++] = p;
            if ((tab = strchr(p, '\t')) == NULL) break;
            *tab = 0;
        }
        if (n < 15 || strcmp(col[12], "1") != 0 || strcmp(col[14], "1") == 0) continue;
        long long ts =
            strcmp(col[4], "-") == 0 ? atoll(col[2]) / 1000 : (long long)floor(atof(col[4]));
        thing_t *th = table_get(t, col[3]);
        if (th->nts == th->cap) {
            th->cap = th->cap ? th->cap * 2 : 16;
            th->ts = realloc(th->ts, th->cap * sizeof *th->ts);
        }
        th->ts[th->nts++] = ts;
        total++;
        if (ts >= th->t_max) th->t_max = ts;
        newest(ts, &th->t_gw, th->gw, col[7]);
        newest(ts, &th->t_batl, th->batl, col[8]);
        newest(ts, &th->t_ver, th->ver, col[11]);
        if (strcmp(col[9], "-") != 0 && strcmp(col[10], "-") != 0 && ts >= th->t_loc) {
            th->t_loc = ts;
            snprintf(th->lat, FIELD_MAX, "%s", col[9]);
            snprintf(th->lon, FIELD_MAX, "%s", col[10]);
        }
        if (strcmp(col[7], "-") != 0) table_get(t, col[7]); /* gateways have windows too */
    }
    fclose(f);
    return total;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return (x > y) - (x < y);
}

/* Compares the history of one thing; adds to lost and dup. */
static void check_history(redisContext *c, const opts_t *o, thing_t *th, long long *lost,
                          long long *dup)
{
    qsort(th->ts, th->nts, sizeof *th->ts, cmp_ll);
    size_t from = 0;
    if (o->per_thing >= 0 && th->nts > (size_t)o->per_thing) from = th->nts - (size_t)o->per_thing;
    redisReply *r = redisCommand(c, "ZRANGE %s{%s}:msgs 0 -1 WITHSCORES", o->prefix, th->tuid);
    size_t ngot = r && r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
    long long *got = calloc(ngot + 1, sizeof *got);
    for (size_t i = 0; i < ngot; i++)
        got[i] = (long long)floor(atof(r->element[2 * i + 1]->str));
    qsort(got, ngot, sizeof *got, cmp_ll);
    /* Merge the two sorted lists of seconds. */
    size_t i = from, j = 0;
    long long l = 0, d = 0;
    while (i < th->nts || j < ngot) {
        if (j == ngot || (i < th->nts && th->ts[i] < got[j]))
            l++, i++;
        else if (i == th->nts || got[j] < th->ts[i])
            d++, j++;
        else
            i++, j++;
    }
    if ((l || d) && o->verbose)
        fprintf(stderr, "history %s: expected %zu, holds %zu (lost %lld, extra %lld)\n", th->tuid,
                th->nts - from, ngot, l, d);
    *lost += l;
    *dup += d;
    free(got);
    if (r) freeReplyObject(r);
}

static bool field_differs(redisContext *c, const opts_t *o, const thing_t *th, const char *field,
                          const char *want, bool numeric)
{
    redisReply *r = redisCommand(c, "HGET %s{%s}:thing %s", o->prefix, th->tuid, field);
    const char *got = r && r->type == REDIS_REPLY_STRING ? r->str : NULL;
    bool differs =
        got == NULL || (numeric ? fabs(atof(got) - atof(want)) > 1e-6 : strcmp(got, want) != 0);
    if (differs && o->verbose)
        fprintf(stderr, "state %s: %s is %s, expected %s\n", th->tuid, field, got ? got : "(none)",
                want);
    if (r) freeReplyObject(r);
    return differs;
}

static long long check_state(redisContext *c, const opts_t *o, const thing_t *th)
{
    if (th->nts == 0) return 0;
    char ts[32];
    snprintf(ts, sizeof ts, "%lld", th->t_max);
    long long n = field_differs(c, o, th, "timestamp", ts, true);
    if (th->t_gw >= 0) n += field_differs(c, o, th, "gateway_tuid", th->gw, false);
    if (th->t_batl >= 0) n += field_differs(c, o, th, "battery_level", th->batl, true);
    if (th->t_ver >= 0) n += field_differs(c, o, th, "version", th->ver, false);
    if (th->t_loc >= 0) {
        n += field_differs(c, o, th, "lat", th->lat, true);
        n += field_differs(c, o, th, "lon", th->lon, true);
    }
    return n;
}

/* Returns "member=score,..." of a ZSET (malloc'ed). */
static char *zset_text(redisContext *c, const char *prefix, const char *tuid, const char *kind)
{
    redisReply *r = redisCommand(c, "ZRANGE %s{%s}:w:%s 0 -1 WITHSCORES", prefix, tuid, kind);
    size_t cap = 64, len = 0;
    char *s = calloc(cap, 1);
    for (size_t i = 0; r && r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
        size_t need = len + strlen(r->element[i]->str) + strlen(r->element[i + 1]->str) + 4;
        if (need > cap) s = realloc(s, cap = need * 2);
        len += (size_t)sprintf(s + len, "%s=%s,", r->element[i]->str, r->element[i + 1]->str);
    }
    if (r) freeReplyObject(r);
    return s;
}

static long long check_windows(redisContext *c, const opts_t *o, const thing_t *th, long long *nwin)
{
    long long n = 0;
    static const char *const kinds[] = {"hb", "gw"};
    for (int k = 0; k < 2; k++) {
        char *a = zset_text(c, o->prefix, th->tuid, kinds[k]);
        char *b = zset_text(c, o->ref, th->tuid, kinds[k]);
        for (const char *p = b; (p = strchr(p, ',')) != NULL; p++)
            (*nwin)++;
        if (strcmp(a, b) != 0) {
            n++;
            if (o->verbose)
                fprintf(stderr, "windows %s w:%s: [%s] reference [%s]\n", th->tuid, kinds[k], a, b);
        }
        free(a);
        free(b);
    }
    return n;
}

static bool is_member(redisContext *c, const char *prefix, const char *tuid)
{
    redisReply *r = redisCommand(c, "SISMEMBER %salerting %s", prefix, tuid);
    bool yes = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r) freeReplyObject(r);
    return yes;
}

static long long scard(redisContext *c, const char *prefix)
{
    redisReply *r = redisCommand(c, "SCARD %salerting", prefix);
    long long n = r && r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    if (r) freeReplyObject(r);
    return n;
}

/* Records of topic not committed by group; -1 when unreadable. */
static long long uncommitted(const opts_t *o)
{
    char err[256];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", o->brokers, err, sizeof err) != 0 ||
        rd_kafka_conf_set(conf, "group.id", o->group, err, sizeof err) != 0 ||
        rd_kafka_conf_set(conf, "log_level", "0", err, sizeof err) != 0) {
        fprintf(stderr, "kafka: %s\n", err);
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, err, sizeof err);
    if (rk == NULL) return -1;
    long long left = -1;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    const rd_kafka_metadata_t *md = NULL;
    if (rd_kafka_metadata(rk, 0, rkt, &md, 5000) == 0 && md->topic_cnt == 1 &&
        md->topics[0].partition_cnt > 0) {
        int np = md->topics[0].partition_cnt;
        rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(np);
        for (int i = 0; i < np; i++)
            rd_kafka_topic_partition_list_add(parts, o->topic, i);
        if (rd_kafka_committed(rk, parts, 5000) == 0) {
            left = 0;
            for (int i = 0; i < np; i++) {
                int64_t lo, hi;
                if (rd_kafka_query_watermark_offsets(rk, o->topic, i, &lo, &hi, 5000) != 0) {
                    left = -1;
                    break;
                }
                int64_t c = parts->elems[i].offset;
                left += hi - (c < 0 ? lo : c);
            }
        }
        rd_kafka_topic_partition_list_destroy(parts);
    }
    if (md) rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    return left;
}

static int usage(void)
{
    fputs(
        "usage: tsmd-faultcheck lag --brokers BS --group G [--topic T]\n"
        "       tsmd-faultcheck check --expect FILE --redis-port P --prefix PFX [--ref-prefix R]\n"
        "         --brokers BS --group G [--topic T] [--messages-per-thing N] [--name S]\n"
        "         [--rss-kb K] [--rss-limit-kb L] [--recover-s S] [--verbose]\n",
        stderr);
    return 2;
}

static int parse(int argc, char **argv, opts_t *o)
{
    *o = (opts_t){.topic = "tsm.raw",
                  .name = "scenario",
                  .per_thing = -1,
                  .rss_kb = -1,
                  .rss_limit_kb = -1,
                  .recover_s = -1};
    if (argc < 2) return -1;
    o->cmd = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *k = argv[i];
        if (strcmp(k, "--verbose") == 0) {
            o->verbose = true;
            continue;
        }
        if (i + 1 >= argc) return -1;
        const char *v = argv[++i];
        if (strcmp(k, "--expect") == 0)
            o->expect = v;
        else if (strcmp(k, "--prefix") == 0)
            o->prefix = v;
        else if (strcmp(k, "--ref-prefix") == 0)
            o->ref = v;
        else if (strcmp(k, "--brokers") == 0)
            o->brokers = v;
        else if (strcmp(k, "--group") == 0)
            o->group = v;
        else if (strcmp(k, "--topic") == 0)
            o->topic = v;
        else if (strcmp(k, "--name") == 0)
            o->name = v;
        else if (strcmp(k, "--redis-port") == 0)
            o->redis_port = atoi(v);
        else if (strcmp(k, "--messages-per-thing") == 0)
            o->per_thing = atoll(v);
        else if (strcmp(k, "--rss-kb") == 0)
            o->rss_kb = atoll(v);
        else if (strcmp(k, "--rss-limit-kb") == 0)
            o->rss_limit_kb = atoll(v);
        else if (strcmp(k, "--recover-s") == 0)
            o->recover_s = atof(v);
        else
            return -1;
    }
    if (o->brokers == NULL || o->group == NULL) return -1;
    if (strcmp(o->cmd, "check") == 0 && (o->expect == NULL || o->prefix == NULL || !o->redis_port))
        return -1;
    return 0;
}

static int check(const opts_t *o)
{
    table_t t = {0};
    long long total = load_expect(o->expect, &t);
    if (total < 0) return 2;
    redisContext *c = redisConnect("127.0.0.1", o->redis_port);
    if (c == NULL || c->err) {
        fprintf(stderr, "redis on port %d: %s\n", o->redis_port, c ? c->errstr : "no memory");
        return 2;
    }
    long long lost = 0, dup = 0, state = 0, windows = 0, alerting = 0, nwin = 0;
    for (size_t i = 0; i < t.cap; i++) {
        thing_t *th = &t.slots[i];
        if (!th->used) continue;
        check_history(c, o, th, &lost, &dup);
        state += check_state(c, o, th);
        if (o->ref) {
            windows += check_windows(c, o, th, &nwin);
            bool a = is_member(c, o->prefix, th->tuid), b = is_member(c, o->ref, th->tuid);
            if (a != b) {
                alerting++;
                if (o->verbose) fprintf(stderr, "alerting %s: %d, reference %d\n", th->tuid, a, b);
            }
        }
    }
    /* A tuid alerting that the input never named would be missed above. */
    if (o->ref && scard(c, o->prefix) != scard(c, o->ref)) alerting++;
    long long left = uncommitted(o);
    bool rss_ok = o->rss_limit_kb < 0 || (o->rss_kb > 0 && o->rss_kb <= o->rss_limit_kb);
    bool pass =
        lost == 0 && dup == 0 && state == 0 && windows == 0 && alerting == 0 && left == 0 && rss_ok;
    char win[160] = "windows=unchecked";
    if (o->ref)
        snprintf(win, sizeof win, "windows=%lld windows_differing=%lld alerting_differing=%lld",
                 nwin, windows, alerting);
    printf("%-22s %s messages=%lld lost=%lld duplicated=%lld state_differing=%lld %s "
           "uncommitted=%lld peak_rss_kb=%lld recover_s=%.1f\n",
           o->name, pass ? "PASS" : "FAIL", total, lost, dup, state, win, left, o->rss_kb,
           o->recover_s);
    redisFree(c);
    for (size_t i = 0; i < t.cap; i++)
        free(t.slots[i].ts);
    free(t.slots);
    return pass ? 0 : 1;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse(argc, argv, &o) != 0) return usage();
    if (strcmp(o.cmd, "lag") == 0) {
        printf("%lld\n", uncommitted(&o));
        return 0;
    }
    if (strcmp(o.cmd, "check") == 0) return check(&o);
    return usage();
}
