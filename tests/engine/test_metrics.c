/* test_metrics.c - the metrics registry: every line of the rendering is valid
 * Prometheus text exposition format, every metric of the table appears with
 * its HELP and TYPE, values and labels land where they should, histogram
 * buckets are cumulative, and counters added from two threads sum exactly. */
#include "engine/metrics.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tests/config/source_dir.h"

static eng_metrics_t metrics; /* large and aligned: static rather than on the stack */

static char *render(size_t *len)
{
    char *text = eng_metrics_render_str(&metrics, len);
    cr_assert_eq(strlen(text), *len);
    return text;
}

/* Returns the value of the sample line starting with "series " in text. */
static double sample(const char *text, const char *series)
{
    char needle[256];
    snprintf(needle, sizeof needle, "\n%s ", series);
    const char *at = strstr(text, needle);
    cr_assert_not_null(at, "no sample %s in:\n%s", series, text);
    return strtod(at + strlen(needle), NULL);
}

/* Skips a metric name; returns the end, or NULL when there is none. */
static const char *metric_name(const char *p)
{
    if (!(isalpha((unsigned char)*p) || *p == '_' || *p == ':')) return NULL;
    while (isalnum((unsigned char)*p) || *p == '_' || *p == ':')
        p++;
    return p;
}

/* Skips {k="v",...}; returns the end, or NULL when malformed. */
static const char *labels(const char *p)
{
    if (*p != '{') return p;
    for (p++;;) {
        const char *e = metric_name(p);
        if (!e || e[0] != '=' || e[1] != '"') return NULL;
        for (p = e + 2; *p != '"'; p++) {
            if (*p == 0 || *p == '\n') return NULL;
            if (*p == '\\' && (p[1] == '\\' || p[1] == '"' || p[1] == 'n'))
                p++;
            else if (*p == '\\')
                return NULL;
        }
        p++;
        if (*p == '}') return p + 1;
        if (*p != ',') return NULL;
        p++;
    }
}

/* Checks one line of the exposition format; counts TYPE lines. */
static void check_line(const char *line, size_t *types)
{
    if (strncmp(line, "# HELP ", 7) == 0) {
        const char *e = metric_name(line + 7);
        cr_assert(e && *e == ' ' && e[1] != 0, "bad HELP line: %s", line);
        return;
    }
    if (strncmp(line, "# TYPE ", 7) == 0) {
        const char *e = metric_name(line + 7);
        cr_assert(e && *e == ' ', "bad TYPE line: %s", line);
        cr_assert(!strcmp(e + 1, "counter") || !strcmp(e + 1, "gauge") ||
                      !strcmp(e + 1, "histogram"),
                  "bad type: %s", line);
        (*types)++;
        return;
    }
    const char *e = metric_name(line);
    cr_assert_not_null(e, "bad metric name: %s", line);
    e = labels(e);
    cr_assert(e && *e == ' ', "bad labels: %s", line);
    char *end;
    strtod(e + 1, &end);
    cr_assert(end != e + 1 && *end == 0, "bad value: %s", line);
}

Test(metrics, rendering_is_exposition_format_with_every_metric)
{
    eng_metrics_init(&metrics);
    eng_metrics_set(&metrics, ENG_METRIC_CONSUMER_LAG, 0, -3);
    eng_metrics_observe(&metrics, ENG_METRIC_INGEST_LATENCY, 0.002);
    size_t len;
    char *text = render(&len);
    cr_assert(len > 0 && text[len - 1] == '\n', "the text ends with a newline");
    size_t types = 0, lines = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        check_line(line, &types);
        lines++;
    }
    cr_assert_eq(types, ENG_METRIC_COUNT, "one TYPE line per metric");
    cr_assert_gt(lines, 3 * ENG_METRIC_COUNT);
    free(text);
}

Test(metrics, counters_and_gauges_render_with_their_labels)
{
    eng_metrics_init(&metrics);
    eng_metrics_add(&metrics, ENG_METRIC_MESSAGES_REJECTED, PROTO_REASON_BAD_JSON, 3);
    eng_metrics_add(&metrics, ENG_METRIC_MESSAGES_REJECTED, PROTO_REASON_TOO_DEEP, 1);
    eng_metrics_inc(&metrics, ENG_METRIC_REDIS_WRITES);
    eng_metrics_inc(&metrics, ENG_METRIC_REDIS_WRITES);
    eng_metrics_set(&metrics, ENG_METRIC_OPEN_WINDOWS, ENG_METRICS_WINDOW_GATEWAY, 5);
    eng_metrics_set(&metrics, ENG_METRIC_KAFKA_PAUSED, 0, 1);
    eng_metrics_set(&metrics, ENG_METRIC_CONSUMER_LAG, 0, -2);
    eng_metrics_set_counter(&metrics, ENG_METRIC_OFFSETS_COMMITTED, 0, 12345678901ull);
    size_t len;
    char *text = render(&len);
    cr_assert_eq(sample(text, "tsmd_messages_rejected_total{reason=\"bad_json\"}"), 3);
    cr_assert_eq(sample(text, "tsmd_messages_rejected_total{reason=\"too_deep\"}"), 1);
    cr_assert_eq(sample(text, "tsmd_messages_rejected_total{reason=\"empty\"}"), 0);
    cr_assert_eq(sample(text, "tsmd_redis_writes_total"), 2);
    cr_assert_eq(sample(text, "tsmd_open_windows{type=\"gateway connection lost\"}"), 5);
    cr_assert_eq(sample(text, "tsmd_open_windows{type=\"heartbeat missed\"}"), 0);
    cr_assert_eq(sample(text, "tsmd_kafka_paused"), 1);
    cr_assert_eq(sample(text, "tsmd_offsets_committed_total"), 12345678901.0);
    cr_assert_eq(sample(text, "tsmd_consumer_lag"), -2, "a gauge may go negative");
    cr_assert_not_null(strstr(text, "# TYPE tsmd_messages_rejected_total counter\n"));
    cr_assert_not_null(strstr(text, "# TYPE tsmd_open_windows gauge\n"));
    cr_assert_not_null(strstr(text, "# HELP tsmd_redis_writes_total "));
    /* Every rejection reason of proto/msg.h has its own series. */
    for (unsigned r = 0; r < PROTO_REASON_COUNT; r++) {
        char series[128];
        snprintf(series, sizeof series, "tsmd_messages_rejected_total{reason=\"%s\"}",
                 proto_reason_name((proto_reason_t)r));
        cr_assert_str_eq(eng_metrics_label(ENG_METRIC_MESSAGES_REJECTED, r),
                         proto_reason_name((proto_reason_t)r));
        (void)sample(text, series);
    }
    cr_assert_eq(eng_metrics_get(&metrics, ENG_METRIC_REDIS_WRITES, 0), 2);
    free(text);
}

Test(metrics, histogram_buckets_are_cumulative)
{
    eng_metrics_init(&metrics);
    const double obs[] = {0.00001, 0.00005, 0.003, 0.003, 0.7, 20, -1};
    for (size_t i = 0; i < sizeof obs / sizeof obs[0]; i++)
        eng_metrics_observe(&metrics, ENG_METRIC_INGEST_LATENCY, obs[i]);
    size_t len;
    char *text = render(&len);
    const char *h = "tsmd_ingest_latency_seconds";
    char series[128];
    snprintf(series, sizeof series, "%s_bucket{le=\"0.00005\"}", h);
    cr_assert_eq(sample(text, series), 3, "le is inclusive; a negative value counts as 0");
    snprintf(series, sizeof series, "%s_bucket{le=\"0.0025\"}", h);
    cr_assert_eq(sample(text, series), 3);
    snprintf(series, sizeof series, "%s_bucket{le=\"0.005\"}", h);
    cr_assert_eq(sample(text, series), 5);
    snprintf(series, sizeof series, "%s_bucket{le=\"1\"}", h);
    cr_assert_eq(sample(text, series), 6);
    snprintf(series, sizeof series, "%s_bucket{le=\"10\"}", h);
    cr_assert_eq(sample(text, series), 6);
    snprintf(series, sizeof series, "%s_bucket{le=\"+Inf\"}", h);
    cr_assert_eq(sample(text, series), 7);
    snprintf(series, sizeof series, "%s_count", h);
    cr_assert_eq(sample(text, series), 7);
    snprintf(series, sizeof series, "%s_sum", h);
    cr_assert_float_eq(sample(text, series), 20.70606, 1e-6);
    /* Walk its bucket lines: le ascends, counts never decrease. */
    double last_le = -1, last_n = 0;
    size_t buckets = 0;
    const char *b = "tsmd_ingest_latency_seconds_bucket{le=\"";
    for (const char *p = strstr(text, b); p; p = strstr(p + 1, b)) {
        const char *q = p + strlen(b);
        double le = strncmp(q, "+Inf", 4) == 0 ? 1e300 : strtod(q, NULL);
        double n = strtod(strchr(q, ' ') + 1, NULL);
        cr_assert_gt(le, last_le);
        cr_assert_geq(n, last_n, "bucket le=%g has %g, below the previous %g", le, n, last_n);
        last_le = le;
        last_n = n;
        buckets++;
    }
    cr_assert_eq(buckets, ENG_METRICS_NBUCKETS + 1);
    cr_assert_eq(eng_metrics_get(&metrics, ENG_METRIC_INGEST_LATENCY, 0), 7);
    free(text);
}

#define ADDS_PER_THREAD 4000000

static pthread_barrier_t start;

static void *adder(void *arg)
{
    unsigned reason = *(unsigned *)arg;
    pthread_barrier_wait(&start);
    for (int i = 0; i < ADDS_PER_THREAD; i++) {
        eng_metrics_inc(&metrics, ENG_METRIC_MESSAGES_CONSUMED);
        eng_metrics_add(&metrics, ENG_METRIC_MESSAGES_REJECTED, reason, 2);
    }
    return NULL;
}

Test(metrics, thread_counters_added_from_two_threads_sum_exactly)
{
    eng_metrics_init(&metrics);
    pthread_t a, b;
    pthread_barrier_init(&start, NULL, 2);
    unsigned ra = PROTO_REASON_BAD_JSON, rb = PROTO_REASON_BAD_JSON;
    cr_assert_eq(pthread_create(&a, NULL, adder, &ra), 0);
    cr_assert_eq(pthread_create(&b, NULL, adder, &rb), 0);
    /* The loop thread keeps updating its own metrics meanwhile. */
    for (int i = 0; i < ADDS_PER_THREAD; i++)
        eng_metrics_inc(&metrics, ENG_METRIC_REDIS_WRITES);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    pthread_barrier_destroy(&start);
    uint64_t consumed = eng_metrics_get(&metrics, ENG_METRIC_MESSAGES_CONSUMED, 0);
    uint64_t rejected =
        eng_metrics_get(&metrics, ENG_METRIC_MESSAGES_REJECTED, PROTO_REASON_BAD_JSON);
    uint64_t writes = eng_metrics_get(&metrics, ENG_METRIC_REDIS_WRITES, 0);
    cr_assert_eq(consumed, 2 * ADDS_PER_THREAD, "consumed %llu, expected %d",
                 (unsigned long long)consumed, 2 * ADDS_PER_THREAD);
    cr_assert_eq(rejected, 4 * ADDS_PER_THREAD, "rejected %llu, expected %d",
                 (unsigned long long)rejected, 4 * ADDS_PER_THREAD);
    cr_assert_eq(writes, ADDS_PER_THREAD, "writes %llu", (unsigned long long)writes);
    cr_assert_eq(eng_metrics_get(&metrics, ENG_METRIC_MESSAGES_REJECTED, PROTO_REASON_EMPTY), 0);
}

/* docs/METRICS.md names every metric of the table (the HTTP ones are written
 * by api_ops.c and listed there by hand). */
Test(metrics, every_metric_is_documented)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    cr_assert(source_dir(dir, sizeof dir), "source tree not found (TSMD_SOURCE_DIR)");
    snprintf(path, sizeof path, "%s/docs/METRICS.md", dir);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[n] = 0;
    eng_metrics_init(&metrics);
    size_t len;
    char *text = render(&len);
    size_t named = 0;
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# TYPE ", 7) != 0) continue;
        char name[128], quoted[132];
        cr_assert_eq(sscanf(line + 7, "%127s", name), 1);
        snprintf(quoted, sizeof quoted, "`%s`", name);
        cr_expect_not_null(strstr(doc, quoted), "%s is not in docs/METRICS.md", name);
        named++;
    }
    cr_assert_eq(named, ENG_METRIC_COUNT);
    free(text);
}
