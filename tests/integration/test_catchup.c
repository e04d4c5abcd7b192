/* test_catchup.c - the detector while the consumer is behind, end to end
 * (real tsmd, Redis, tsm-broker): only the gaps the data shows open windows,
 * each once with the from and to a live run gives, and nothing else opens.
 * Each story checks the exact windows in Redis (P{T}:w:hb, P{T}:w:gw), the
 * exact set of events on the alerts topic, and P alerting.
 *
 * 1. A new consumer group on a topic holding history (wall clock): three
 *    minutes of it, heartbeat 30 s, gateway 12 s (the shape of a half hour
 *    with 300 s / 120 s, scaled down by ten).
 * 2. tsmd stopped for 40 s while the fleet keeps reporting (wall clock).
 * 3. Three instances in one group, a gateway whose relays reach its owner
 *    only through the other two (event clock): the windows of one instance.
 *    Also as history on the wall clock, and with a gateway that never sends
 *    itself (its owner knows it only from the others' relay lines). */
#include "harness.h"

#define MAXW 32

/* One expected window; to < 0 while open. */
typedef struct want_s {
    char tuid[24];
    const char *type; /* "hb" or "gw" */
    long from, to;
} want_t;

static void msg(rd_kafka_t *rk, const char *tuid, const char *gw, long ts)
{
    char json[256];
    int n =
        gw ? snprintf(json, sizeof json,
                      "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld,"
                      "\"tsmGw\":\"%s\"}",
                      tuid, ts, gw)
           : snprintf(json, sizeof json,
                      "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld}", tuid, ts);
    h_produce(rk, "tsm.raw", tuid, json, (size_t)n);
}

static void iso(char *out, size_t cap, long t)
{
    time_t v = (time_t)t;
    struct tm tm;
    gmtime_r(&v, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

/* Checks that the windows under prefix are exactly want[0..n) (things is the
 * whole fleet, every tuid that could have a window), that alerts_topic holds
 * exactly their events, and that P alerting holds exactly the open ones. */
static void expect_exactly(redisContext *c, const char *prefix, const char *bootstrap,
                           const char *alerts_topic, int partitions, const want_t *want, int n,
                           const char *const *things, int nthings)
{
    for (int i = 0; i < nthings; i++)
        for (int k = 0; k < 2; k++) {
            const char *type = k ? "gw" : "hb";
            char got[1024], exp[1024] = "";
            h_windows(c, prefix, things[i], type, got, sizeof got);
            for (int w = 0; w < n; w++) {
                if (strcmp(want[w].tuid, things[i]) != 0 || strcmp(want[w].type, type) != 0)
                    continue;
                size_t len = strlen(exp);
                if (want[w].to >= 0)
                    snprintf(exp + len, sizeof exp - len, "%s%ld:%ld", len ? " " : "", want[w].from,
                             want[w].to);
                else
                    snprintf(exp + len, sizeof exp - len, "%s%ld:", len ? " " : "", want[w].from);
            }
            cr_expect_str_eq(got, exp, "%s %s %s windows \"%s\", expected \"%s\"", prefix,
                             things[i], type, got, exp);
        }
    cr_assert_eq(h_windows_total(c, prefix), n, "%s: %lld windows stored, expected %d", prefix,
                 h_windows_total(c, prefix), n);
    /* The events: one open per window, one closed per closed window. */
    static char got[4 * MAXW][192], exp[4 * MAXW][192];
    int ngot = h_read_alerts(bootstrap, alerts_topic, partitions, got, 4 * MAXW);
    int nexp = 0, nopen = 0;
    for (int w = 0; w < n; w++) {
        char from[32], to[32];
        const char *type = want[w].type[0] == 'h' ? "heartbeat missed" : "gateway connection lost";
        iso(from, sizeof from, want[w].from);
        snprintf(exp[nexp++], 192,
                 "{\"tuid\":\"%s\",\"alert_type\":\"%s\",\"from\":\"%s\",\"to\":null,"
                 "\"state\":\"open\"}",
                 want[w].tuid, type, from);
        if (want[w].to < 0) {
            nopen++;
            continue;
        }
        iso(to, sizeof to, want[w].to);
        snprintf(exp[nexp++], 192,
                 "{\"tuid\":\"%s\",\"alert_type\":\"%s\",\"from\":\"%s\",\"to\":\"%s\","
                 "\"state\":\"closed\"}",
                 want[w].tuid, type, from, to);
    }
    qsort(got, (size_t)ngot, sizeof got[0], cmp_str);
    qsort(exp, (size_t)nexp, sizeof exp[0], cmp_str);
    for (int i = 0; i < ngot; i++)
        cr_log_info("%s event %s", prefix, got[i]);
    cr_assert_eq(ngot, nexp, "%s: %d events on %s, expected %d", prefix, ngot, alerts_topic, nexp);
    for (int i = 0; i < nexp; i++)
        cr_assert_str_eq(got[i], exp[i], "%s event %d", prefix, i);
    cr_assert_eq(h_redis_int(c, "SCARD %salerting", prefix), nopen);
}

static void start(h_tsmd_t *t, const char *bootstrap, const char *prefix, const char *group,
                  const char *alerts, int n, const char *const *settings)
{
    static char g[8][64], a[8][96];
    snprintf(g[n], sizeof g[n], "kafka.group_id=%s", group);
    snprintf(a[n], sizeof a[n], "kafka.alerts_topic=%s", alerts);
    const char *extra[16];
    int k = 0;
    for (; settings[k] && k < 13; k++)
        extra[k] = settings[k];
    extra[k++] = g[n];
    extra[k++] = a[n];
    extra[k] = NULL;
    char log[96];
    snprintf(log, sizeof log, "/tmp/tsmd-catchup-%s%d.log", group, n);
    h_tsmd_start(t, bootstrap, h_redis_port(), prefix, log, extra);
}

/* Counts the producer's rounds since tsmd caught up (*rounds < 0: not yet):
 * ready, and every record up to the last round committed. */
static void live_round(int *rounds, h_tsmd_t *t, const char *bootstrap, const char *group,
                       int parts)
{
    if (*rounds >= 0)
        (*rounds)++;
    else if (h_http(t->http_port, "GET", "/readyz", NULL, NULL, NULL, 0) == 200 &&
             h_uncommitted(bootstrap, group, "tsm.raw", parts) == 0)
        *rounds = 0;
}

/* Sleeps until the monotonic clock reaches at. */
static void sleep_until(double at)
{
    double d = at - h_now();
    if (d > 0) h_sleep_ms((int)(d * 1000));
}

/* ---- 1. history on a new consumer group ---------------------------------- */

#define NSENS 20

Test(catchup, history_on_a_new_group_opens_only_what_the_data_shows, .timeout = 120)
{
    const int parts = 4;
    h_broker_t b;
    h_broker_start(&b, parts);
    cr_assert_eq(h_broker_cmd(&b, "create-topic ca.alerts %d", parts), 0);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "ca:");
    char sensors[NSENS][16];
    const char *things[NSENS + 2] = {"TSGWA", "TSGWB"};
    for (int i = 0; i < NSENS; i++) {
        snprintf(sensors[i], sizeof sensors[i], "TSSN%02d", i + 1);
        things[i + 2] = sensors[i];
    }
    /* Three minutes of history ending now, a round every 5 s: GA and GB
     * report themselves (GB through itself: a gateway with no sensors),
     * S01..S20 through GA. S05 is silent from H+60 to
     * H+105 (45 s: past the heartbeat timeout), S10 from H+120 on (the last
     * 60 s), GB from H+80 to H+100 (20 s: past the gateway timeout, not its
     * heartbeat timeout). */
    rd_kafka_t *rk = h_producer(b.bootstrap);
    long N = (long)time(NULL), H = N - 180;
    for (long t = H; t <= N; t += 5) {
        msg(rk, "TSGWA", NULL, t);
        if (t <= H + 80 || t >= H + 100) msg(rk, "TSGWB", "TSGWB", t);
        for (int i = 0; i < NSENS; i++) {
            if (i == 4 && t > H + 60 && t < H + 105) continue;
            if (i == 9 && t > H + 120) continue;
            msg(rk, sensors[i], "TSGWA", t);
        }
    }
    rd_kafka_flush(rk, 10000);
    static const char *const settings[] = {"detector.heartbeat_timeout=30",
                                           "detector.gateway_timeout=12", NULL};
    h_tsmd_t t = {0};
    start(&t, b.bootstrap, "ca:", "ca", "ca.alerts", 0, settings);
    /* The fleet keeps reporting on the wall clock (S10 stays silent) while
     * tsmd reads the history, and a few rounds after it has caught up. */
    int live_rounds = -1;
    double until = h_now() + 60;
    while (live_rounds < 3 && h_now() < until) {
        live_round(&live_rounds, &t, b.bootstrap, "ca", parts);
        long now = (long)time(NULL);
        msg(rk, "TSGWA", NULL, now);
        msg(rk, "TSGWB", "TSGWB", now);
        for (int i = 0; i < NSENS; i++)
            if (i != 9) msg(rk, sensors[i], "TSGWA", now);
        rd_kafka_flush(rk, 5000);
        h_sleep_ms(2000);
    }
    cr_assert_geq(live_rounds, 3, "tsmd did not catch up (log: %s)", t.proc.log);
    h_wait_committed(b.bootstrap, "ca", "tsm.raw", parts, 30);
    h_sleep_ms(300);
    cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
    const want_t want[] = {{"TSSN05", "hb", H + 60, H + 105},
                           {"TSSN10", "hb", H + 120, -1},
                           {"TSGWB", "gw", H + 80, H + 100}};
    expect_exactly(c, "ca:", b.bootstrap, "ca.alerts", parts, want, 3, things, NSENS + 2);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}

/* ---- 2. an outage of tsmd while the fleet keeps reporting ---------------- */

#define FLEET 12

/* Every message's tsmTs per thing, to derive the windows the data shows. */
typedef struct sent_s {
    long ts[128];
    int n;
} sent_t;

static void note(sent_t *s, long ts)
{
    if (s->n < 128 && (s->n == 0 || s->ts[s->n - 1] != ts)) s->ts[s->n++] = ts;
}

/* Appends the windows the message times show (gaps of at least timeout;
 * the last one open when the silence reaches timeout by now). */
static int windows_of(const sent_t *s, const char *tuid, const char *type, long timeout,
                      want_t *want, int n)
{
    for (int i = 1; i < s->n; i++)
        if (s->ts[i] - s->ts[i - 1] >= timeout && n < MAXW) {
            want[n] = (want_t){.type = type, .from = s->ts[i - 1], .to = s->ts[i]};
            snprintf(want[n++].tuid, sizeof want[0].tuid, "%s", tuid);
        }
    return n;
}

Test(catchup, outage_while_the_fleet_reports_opens_the_gaps_once, .timeout = 180)
{
    const int parts = 4;
    h_broker_t b;
    h_broker_start(&b, parts);
    cr_assert_eq(h_broker_cmd(&b, "create-topic cb.alerts %d", parts), 0);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, "cb:");
    /* G1 with S01..S05, G2 with S06..S10, a round every 2 s. */
    char names[FLEET][16];
    const char *things[FLEET];
    for (int i = 0; i < FLEET; i++) {
        if (i < 2)
            snprintf(names[i], sizeof names[i], "TSGW%d", i + 1);
        else
            snprintf(names[i], sizeof names[i], "TSSN%02d", i - 1);
        things[i] = names[i];
    }
    static sent_t own[FLEET], relayed[2];
    memset(own, 0, sizeof own);
    memset(relayed, 0, sizeof relayed);
    static const char *const settings[] = {"detector.heartbeat_timeout=20",
                                           "detector.gateway_timeout=10", NULL};
    h_tsmd_t t = {0};
    start(&t, b.bootstrap, "cb:", "cb", "cb.alerts", 0, settings);
    h_tsmd_wait_ready(&t, 30);
    rd_kafka_t *rk = h_producer(b.bootstrap);
    /* Rounds 0..3 live; tsmd stopped from round 4 to round 24 (40 s); S01
     * silent rounds 7..18 (26 s), G2 and its sensors rounds 10..16 (16 s). */
    const int stop_at = 4, restart_at = 24;
    double t0 = h_now();
    int live_rounds = -1, r = 0;
    for (; r < 60 && live_rounds < 3; r++) {
        sleep_until(t0 + 2.0 * r);
        if (r > restart_at + 1) live_round(&live_rounds, &t, b.bootstrap, "cb", parts);
        if (r == stop_at) cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
        if (r == restart_at) start(&t, b.bootstrap, "cb:", "cb", "cb.alerts", 1, settings);
        long now = (long)time(NULL);
        for (int i = 0; i < FLEET; i++) {
            bool g2 = i == 1 || i >= 7;
            if (i == 2 && r >= 7 && r <= 18) continue;
            if (g2 && r >= 10 && r <= 16) continue;
            msg(rk, names[i], i < 2 ? NULL : names[g2 ? 1 : 0], now);
            note(&own[i], now);
            note(&relayed[g2], now);
        }
        rd_kafka_flush(rk, 5000);
    }
    cr_assert_geq(live_rounds, 3, "tsmd did not catch up (log: %s)", t.proc.log);
    h_wait_committed(b.bootstrap, "cb", "tsm.raw", parts, 30);
    h_sleep_ms(300);
    cr_assert_eq(h_stop(&t.proc, SIGTERM), 0);
    /* The windows the data shows: S01's and G2's gaps, both closed. */
    want_t want[MAXW];
    int n = 0;
    for (int i = 0; i < FLEET; i++)
        n = windows_of(&own[i], names[i], "hb", 20, want, n);
    for (int g = 0; g < 2; g++)
        n = windows_of(&relayed[g], names[g], "gw", 10, want, n);
    cr_assert_eq(n, 2, "the story shows %d windows, meant 2", n);
    cr_assert_str_eq(want[0].tuid, "TSSN01");
    cr_assert_str_eq(want[1].tuid, "TSGW2");
    expect_exactly(c, "cb:", b.bootstrap, "cb.alerts", parts, want, n, things, FLEET);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}

/* ---- 3. three instances: relays reach the owner through the others ------- */

#define PHASES 14
#define PHASE 100
#define GW_TIMEOUT 60

typedef struct story3_s {
    char g[16], sa[16], sb[16], k[16]; /* K: a thing on G's partition */
    int pg;
} story3_t;

/* Picks tuids so that G and K hash to one partition and SA, SB to one other
 * each: with three partitions and three instances, each instance holds one,
 * so G's owner hears of G's relays only from the other two. */
static void pick(story3_t *s, int parts)
{
    int pa = -1, pb = -1;
    s->k[0] = s->sa[0] = s->sb[0] = 0;
    snprintf(s->g, sizeof s->g, "TSGW01");
    s->pg = h_key_partition(s->g, parts);
    for (int i = 1; i < 1000 && (!s->k[0] || !s->sa[0] || !s->sb[0]); i++) {
        char name[16];
        snprintf(name, sizeof name, "TSSN%03d", i);
        int p = h_key_partition(name, parts);
        if (p == s->pg && !s->k[0])
            snprintf(s->k, sizeof s->k, "%s", name);
        else if (p != s->pg && !s->sa[0])
            snprintf(s->sa, sizeof s->sa, "%s", name), pa = p;
        else if (p != s->pg && p != pa && !s->sb[0])
            snprintf(s->sb, sizeof s->sb, "%s", name), pb = p;
    }
    cr_assert(s->k[0] && s->sa[0] && s->sb[0] && pb >= 0);
}

/* Phase k starts at P = T + 100 k. Even phases: SA relays G at P, SB at P+40,
 * so the next phase's relay comes exactly gateway_timeout after the last one.
 * Odd phases: both at P only (a gap of 100 s, past the timeout). K reports
 * every 20 s and moves the owner's clock. G itself sends once, at T and
 * through itself (so that its owner knows it as a gateway), when announce is
 * set. paced: in time order, slower than the consumer (else all at once). */
static void story3(rd_kafka_t *rk, const story3_t *s, long T, bool announce, bool paced)
{
    if (announce) msg(rk, s->g, s->g, T);
    for (int k = 0; k < PHASES + 1; k++)
        for (int step = 0; step < PHASE; step += 20) {
            long ts = T + (long)k * PHASE + step;
            if (k < PHASES && step == 0) {
                msg(rk, s->sa, s->g, ts);
                if (k % 2) msg(rk, s->sb, s->g, ts);
            }
            if (k < PHASES && k % 2 == 0 && step == 40) msg(rk, s->sb, s->g, ts);
            msg(rk, s->k, NULL, ts);
            if (!paced) continue;
            rd_kafka_flush(rk, 5000);
            h_sleep_ms(250);
        }
    rd_kafka_flush(rk, 5000);
}

static int want3(const story3_t *s, long T, want_t *want)
{
    int n = 0;
    for (int k = 0; k < PHASES; k++) {
        long P = T + (long)k * PHASE, last = k % 2 ? P : P + 40;
        want[n] = (want_t){.type = "gw", .from = last, .to = k + 1 < PHASES ? P + PHASE : -1};
        snprintf(want[n++].tuid, sizeof want[0].tuid, "%s", s->g);
    }
    return n;
}

static void wait_group(h_tsmd_t *t, int n)
{
    for (int i = 0; i < n; i++)
        h_tsmd_wait_ready(&t[i], 30);
    h_sleep_ms(1500); /* a joining member triggers one more rebalance */
    for (int i = 0; i < n; i++)
        h_tsmd_wait_ready(&t[i], 30);
}

/* The story through one instance (group p1) and three (group p3). Event
 * clock: produced live, paced. Wall clock: produced first as history ending
 * two minutes ago, then the instances start (catching up, gateways decided
 * on the horizon over the partitions every instance reports). */
static void three_instances(bool announce, bool wall, const char *p1, const char *p3)
{
    const int parts = 3;
    long T = wall ? (long)time(NULL) - 1600 : (long)time(NULL) / 3600 * 3600 - 10 * 86400;
    story3_t s;
    pick(&s, parts);
    cr_log_info("G %s (partition %d), K %s, SA %s, SB %s", s.g, s.pg, s.k, s.sa, s.sb);
    h_broker_t b;
    h_broker_start(&b, parts);
    char a1[32], a3[32], g1[32], g3[32], pf1[32], pf3[32];
    snprintf(a1, sizeof a1, "%s.alerts", p1);
    snprintf(a3, sizeof a3, "%s.alerts", p3);
    snprintf(g1, sizeof g1, "%s", p1);
    snprintf(g3, sizeof g3, "%s", p3);
    snprintf(pf1, sizeof pf1, "%s:", p1);
    snprintf(pf3, sizeof pf3, "%s:", p3);
    cr_assert_eq(h_broker_cmd(&b, "create-topic %s %d", a1, parts), 0);
    cr_assert_eq(h_broker_cmd(&b, "create-topic %s %d", a3, parts), 0);
    redisContext *c = h_redis(h_redis_port());
    h_redis_clean(c, pf1);
    h_redis_clean(c, pf3);
    /* The event clock follows consumption: every partition's records must
     * reach tsmd in time order, so the mock's fetches answer at once (its
     * empty fetch otherwise waits fetch.wait.max.ms, 500 ms) and the story
     * is produced slower than that. */
    static const char *const event_settings[] = {
        "detector.clock=event", "detector.gateway_timeout=60", "detector.heartbeat_timeout=100000",
        "librdkafka.fetch.wait.max.ms=1", NULL};
    const char *const *settings = wall ? event_settings + 1 : event_settings;
    rd_kafka_t *rk = h_producer(b.bootstrap);
    if (wall) story3(rk, &s, T, announce, false);
    h_tsmd_t one[1], three[3];
    memset(one, 0, sizeof one);
    memset(three, 0, sizeof three);
    start(&one[0], b.bootstrap, pf1, g1, a1, 0, settings);
    for (int i = 0; i < 3; i++)
        start(&three[i], b.bootstrap, pf3, g3, a3, i + 1, settings);
    wait_group(one, 1);
    wait_group(three, 3);
    if (!wall) story3(rk, &s, T, announce, true);
    h_wait_committed(b.bootstrap, g1, "tsm.raw", parts, 60);
    h_wait_committed(b.bootstrap, g3, "tsm.raw", parts, 60);
    h_sleep_ms(wall ? 3000 : 1000); /* partition reports: once a second */
    cr_assert_eq(h_stop(&one[0].proc, SIGTERM), 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq(h_stop(&three[i].proc, SIGTERM), 0);
    want_t want[MAXW];
    int n = want3(&s, T, want);
    const char *things[] = {s.g, s.sa, s.sb, s.k};
    /* The one-instance run first: it is the reference the three must equal. */
    expect_exactly(c, pf1, b.bootstrap, a1, parts, want, n, things, 4);
    expect_exactly(c, pf3, b.bootstrap, a3, parts, want, n, things, 4);
    h_producer_close(rk);
    redisFree(c);
    h_broker_stop(&b);
}

Test(catchup, three_instances_relays_through_others_answer_as_one, .timeout = 180)
{
    three_instances(true, false, "cc1", "cc3");
}

/* The same story as history on new consumer groups, on the wall clock. */
Test(catchup, three_instances_catching_up_answer_as_one, .timeout = 180)
{
    three_instances(true, true, "ce1", "ce3");
}

/* G never sends itself, so its owner hears of it only from the others' relay
 * lines. */
Test(catchup, three_instances_relay_only_gateway_answer_as_one, .timeout = 180)
{
    three_instances(false, false, "cd1", "cd3");
}
