/* metrics.c - the metrics registry of metrics.h: slots assigned from the
 * ENG_METRICS table at init, and the Prometheus text renderer. */
#include "engine/base/metrics.h"

#include "engine/base/log.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

typedef struct metric_def_s {
    const char *name;
    const char *help;
    eng_metric_kind_t kind;
    int threaded;
    unsigned nlabels;
    const char *label_name; /* NULL without labels */
    const char *const *label_values;
} metric_def_t;

static const char *const reason_values[] = {
#define REASON_NAME(id, name) name,
    PROTO_REASONS(REASON_NAME)
#undef REASON_NAME
};
static const char *const window_values[] = {"heartbeat missed", "gateway connection lost"};
static const char *const conn_values[] = {"writes", "api"};
static const char *const amfail_values[] = {"connect",  "timeout",  "tls",  "http_4xx",
                                            "http_5xx", "rejected", "other"};

#define KIND_COUNTER ENG_METRIC_KIND_COUNTER
#define KIND_GAUGE ENG_METRIC_KIND_GAUGE
#define KIND_HISTOGRAM ENG_METRIC_KIND_HISTOGRAM
#define THREADED_THREAD 1
#define THREADED_LOOP 0
#define LABEL_NAME_NONE NULL
#define LABEL_NAME_REASON "reason"
#define LABEL_NAME_WINDOW "type"
#define LABEL_NAME_CONN "connection"
#define LABEL_VALUES_NONE NULL
#define LABEL_VALUES_REASON reason_values
#define LABEL_VALUES_WINDOW window_values
#define LABEL_VALUES_CONN conn_values
#define LABEL_NAME_AMFAIL "reason"
#define LABEL_VALUES_AMFAIL amfail_values

static const metric_def_t defs[ENG_METRIC_COUNT] = {
#define DEF(id, name, kind, thread, labels, help)                                                  \
    {name,                                                                                         \
     help,                                                                                         \
     KIND_##kind,                                                                                  \
     THREADED_##thread,                                                                            \
     ENG_METRICS_LABELS_N_##labels,                                                                \
     LABEL_NAME_##labels,                                                                          \
     LABEL_VALUES_##labels},
    ENG_METRICS(DEF)
#undef DEF
};

static const double bucket_bounds[] = {
#define BOUND(v, s) v,
    ENG_METRICS_BUCKETS(BOUND)
#undef BOUND
};
static const char *const bucket_names[] = {
#define BOUND_NAME(v, s) s,
    ENG_METRICS_BUCKETS(BOUND_NAME)
#undef BOUND_NAME
};

void eng_metrics_init(eng_metrics_t *m)
{
    size_t shared = 0, local = 0, hist = 0;
    memset(m, 0, sizeof *m);
    for (int id = 0; id < ENG_METRIC_COUNT; id++) {
        const metric_def_t *def = &defs[id];
        m->kind[id] = (uint8_t)def->kind;
        m->threaded[id] = (uint8_t)def->threaded;
        m->nlabels[id] = (uint16_t)def->nlabels;
        if (def->kind == ENG_METRIC_KIND_HISTOGRAM) {
            assert(def->nlabels == 1 && "histograms have no labels");
            m->hist_of[id] = (uint8_t)hist++;
            continue;
        }
        if (def->threaded) {
            m->slot[id] = &m->shared[shared];
            shared += def->nlabels;
        } else {
            m->slot[id] = &m->local[local];
            local += def->nlabels;
        }
    }
    assert(shared + local <= ENG_METRICS_NSERIES && hist == ENG_METRICS_NHIST);
}

void eng_metrics_observe(eng_metrics_t *m, eng_metric_t id, double seconds)
{
    assert(m->kind[id] == ENG_METRIC_KIND_HISTOGRAM);
    eng_metrics_hist_t *h = &m->hist[m->hist_of[id]];
    if (!(seconds > 0)) seconds = 0; /* negative (clock skew) and NaN */
    size_t b = 0;
    while (b < ENG_METRICS_NBUCKETS && seconds > bucket_bounds[b])
        b++;
    uint64_t ns = seconds < 1e9 ? (uint64_t)(seconds * 1e9 + 0.5) : UINT64_C(1) << 62;
    uint64_t old = atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
    atomic_store_explicit(&h->bucket[b], old + 1, memory_order_relaxed);
    old = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
    atomic_store_explicit(&h->sum_ns, old + ns, memory_order_relaxed);
}

static uint64_t hist_count(const eng_metrics_hist_t *h)
{
    uint64_t n = 0;
    for (size_t b = 0; b <= ENG_METRICS_NBUCKETS; b++)
        n += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
    return n;
}

uint64_t eng_metrics_get(const eng_metrics_t *m, eng_metric_t id, unsigned label)
{
    assert(id < ENG_METRIC_COUNT && label < m->nlabels[id]);
    if (m->kind[id] == ENG_METRIC_KIND_HISTOGRAM) return hist_count(&m->hist[m->hist_of[id]]);
    return atomic_load_explicit(m->slot[id] + label, memory_order_relaxed);
}

const char *eng_metrics_label(eng_metric_t id, unsigned label)
{
    assert(id < ENG_METRIC_COUNT && label < defs[id].nlabels);
    return defs[id].label_values ? defs[id].label_values[label] : NULL;
}

/* Writes a HELP text, escaping backslash and newline as the format asks. */
static void put_help(FILE *f, const char *name, const char *help)
{
    fprintf(f, "# HELP %s ", name);
    for (const char *p = help; *p; p++) {
        if (*p == '\\')
            fputs("\\\\", f);
        else if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
    fputc('\n', f);
}

/* Writes a label value, escaping backslash, quote and newline. */
static void put_label_value(FILE *f, const char *v)
{
    for (const char *p = v; *p; p++) {
        if (*p == '\\' || *p == '"') fputc('\\', f);
        if (*p == '\n')
            fputs("\\n", f);
        else
            fputc(*p, f);
    }
}

static void render_hist(const eng_metrics_hist_t *h, const char *name, FILE *f)
{
    uint64_t cum = 0;
    for (size_t b = 0; b <= ENG_METRICS_NBUCKETS; b++) {
        cum += atomic_load_explicit(&h->bucket[b], memory_order_relaxed);
        fprintf(f, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name,
                b < ENG_METRICS_NBUCKETS ? bucket_names[b] : "+Inf", cum);
    }
    uint64_t ns = atomic_load_explicit(&h->sum_ns, memory_order_relaxed);
    fprintf(f, "%s_sum %" PRIu64 ".%09" PRIu64 "\n", name, ns / 1000000000u, ns % 1000000000u);
    fprintf(f, "%s_count %" PRIu64 "\n", name, cum);
}

static void render_metric(const eng_metrics_t *m, int id, FILE *f)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram"};
    const metric_def_t *def = &defs[id];
    put_help(f, def->name, def->help);
    fprintf(f, "# TYPE %s %s\n", def->name, type_names[def->kind]);
    if (def->kind == ENG_METRIC_KIND_HISTOGRAM) {
        render_hist(&m->hist[m->hist_of[id]], def->name, f);
        return;
    }
    for (unsigned l = 0; l < def->nlabels; l++) {
        uint64_t v = atomic_load_explicit(m->slot[id] + l, memory_order_relaxed);
        fputs(def->name, f);
        if (def->label_name) {
            fprintf(f, "{%s=\"", def->label_name);
            put_label_value(f, def->label_values[l]);
            fputs("\"}", f);
        }
        if (def->kind == ENG_METRIC_KIND_GAUGE)
            fprintf(f, " %" PRId64 "\n", (int64_t)v);
        else
            fprintf(f, " %" PRIu64 "\n", v);
    }
}

int eng_metrics_render(const eng_metrics_t *m, FILE *f)
{
    for (int id = 0; id < ENG_METRIC_COUNT; id++)
        render_metric(m, id, f);
    return ferror(f) ? -EIO : 0;
}

char *eng_metrics_render_str(const eng_metrics_t *m, size_t *len)
{
    char *buf = NULL;
    size_t size = 0;
    FILE *f = open_memstream(&buf, &size);
    if (!f) ENG_OOM();
    int rc = eng_metrics_render(m, f);
    if (fclose(f) != 0 || rc != 0 || !buf) ENG_OOM();
    *len = size;
    return buf;
}
