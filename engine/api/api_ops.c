/* api_ops.c - GET /healthz, /readyz, /metrics, /status, and the API's own metrics
 * (requests by route and status, a latency histogram per route). */
#include "engine/api/internal.h"
#include "engine/base/log.h"

#include <http_parser.h>
#include <string.h>

static const double bucket_le[ENG_API_NBUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                   0.1,    0.25,  0.5,    1,     2.5,  5,     10};

static int status_index(int status)
{
    int i = 0;
#define STATUS_INDEX(s)                                                                            \
    if (status == (s)) return i;                                                                   \
    i++;
    ENG_API_STATUSES(STATUS_INDEX)
#undef STATUS_INDEX
    return ENG_API_NSTATUS - 1;
}

static int status_at(int index)
{
    static const int statuses[] = {
#define STATUS_VALUE(s) s,
        ENG_API_STATUSES(STATUS_VALUE)
#undef STATUS_VALUE
    };
    return index < (int)(sizeof statuses / sizeof statuses[0]) ? statuses[index] : 0;
}

void eng_api_metrics_record(eng_api_t *api, int route, int status, uint64_t ns)
{
    if (route < 0 || (size_t)route >= api->nroutes) route = (int)api->nroutes - 1;
    api->counts[route][status_index(status)]++;
    double sec = (double)ns / 1e9;
    int b = 0;
    while (b < ENG_API_NBUCKETS && sec > bucket_le[b])
        b++;
    api->hist[route][b]++;
    api->sum[route] += sec;
}

/* Writes the labels of one route row: method="GET",route="/things/{tuid}". */
static void route_labels(const eng_api_t *api, size_t r, char *out, size_t cap)
{
    size_t n;
    const eng_api_route_t *table = eng_api_routes(&n);
    if (r + 1 == api->nroutes || r >= n) {
        snprintf(out, cap, "method=\"\",route=\"unmatched\"");
        return;
    }
    snprintf(out, cap, "method=\"%s\",route=\"%s\"",
             http_method_str((enum http_method)table[r].route.method), table[r].route.pattern);
}

static void write_requests(eng_api_t *api, eng_http_buf_t *out)
{
    char labels[160];
    eng_http_buf_printf(out, "# HELP tsmd_http_requests_total HTTP requests answered by the API, "
                             "by route and status.\n# TYPE tsmd_http_requests_total counter\n");
    for (size_t r = 0; r < api->nroutes; r++) {
        route_labels(api, r, labels, sizeof labels);
        for (int s = 0; s < ENG_API_NSTATUS; s++) {
            if (!api->counts[r][s]) continue;
            char st[16];
            if (status_at(s))
                snprintf(st, sizeof st, "%d", status_at(s));
            else
                snprintf(st, sizeof st, "other");
            eng_http_buf_printf(out, "tsmd_http_requests_total{%s,status=\"%s\"} %llu\n", labels,
                                st, (unsigned long long)api->counts[r][s]);
        }
    }
}

static void write_latency(eng_api_t *api, eng_http_buf_t *out)
{
    char labels[160];
    eng_http_buf_printf(out, "# HELP tsmd_http_request_duration_seconds Time from a complete "
                             "request to its answer.\n"
                             "# TYPE tsmd_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < api->nroutes; r++) {
        uint64_t total = 0;
        for (int b = 0; b <= ENG_API_NBUCKETS; b++)
            total += api->hist[r][b];
        if (!total) continue;
        route_labels(api, r, labels, sizeof labels);
        uint64_t cum = 0;
        for (int b = 0; b < ENG_API_NBUCKETS; b++) {
            cum += api->hist[r][b];
            eng_http_buf_printf(out,
                                "tsmd_http_request_duration_seconds_bucket{%s,le=\"%g\"} %llu\n",
                                labels, bucket_le[b], (unsigned long long)cum);
        }
        eng_http_buf_printf(out,
                            "tsmd_http_request_duration_seconds_bucket{%s,le=\"+Inf\"} %llu\n"
                            "tsmd_http_request_duration_seconds_sum{%s} %.6f\n"
                            "tsmd_http_request_duration_seconds_count{%s} %llu\n",
                            labels, (unsigned long long)total, labels, api->sum[r], labels,
                            (unsigned long long)total);
    }
}

void eng_api_metrics_write(eng_api_t *api, eng_http_buf_t *out)
{
    write_requests(api, out);
    write_latency(api, out);
    eng_http_stats_t zero = {0};
    const eng_http_stats_t *st = api->http ? eng_http_server_stats(api->http) : &zero;
    eng_http_buf_printf(
        out,
        "# HELP tsmd_http_connections Open HTTP connections.\n# TYPE tsmd_http_connections gauge\n"
        "tsmd_http_connections %llu\n"
        "# HELP tsmd_http_connections_total HTTP connections by outcome.\n"
        "# TYPE tsmd_http_connections_total counter\n"
        "tsmd_http_connections_total{outcome=\"accepted\"} %llu\n"
        "tsmd_http_connections_total{outcome=\"refused\"} %llu\n"
        "tsmd_http_connections_total{outcome=\"timed_out\"} %llu\n"
        "# HELP tsmd_http_bad_requests_total Requests refused by the HTTP adapter itself "
        "(malformed, head over 8 KiB, body over the limit).\n"
        "# TYPE tsmd_http_bad_requests_total counter\ntsmd_http_bad_requests_total %llu\n",
        (unsigned long long)st->open, (unsigned long long)st->accepted,
        (unsigned long long)st->refused, (unsigned long long)st->timed_out,
        (unsigned long long)st->parse_errors);
}

void eng_api_ops_healthz(eng_api_call_t *call)
{
    eng_api_reply(call, json_pack("{s:s}", "status", "ok"));
}

void eng_api_ops_readyz(eng_api_call_t *call)
{
    eng_api_t *api = call->api;
    const char *why = NULL;
    if (!eng_api_redis_up(api)) {
        eng_api_error(call, 503, "Redis is not connected");
        return;
    }
    if (api->hooks.ready && !api->hooks.ready(api->hooks.arg, &why)) {
        eng_api_error(call, 503, why ? why : "the engine is not ready");
        return;
    }
    eng_api_reply(call, json_pack("{s:b}", "ready", 1));
}

void eng_api_ops_status(eng_api_call_t *call)
{
    eng_api_t *api = call->api;
    json_t *status = api->hooks.status ? api->hooks.status(api->hooks.arg) : json_object();
    json_object_set_new(status, "redis_api", json_boolean(eng_api_redis_up(api)));
    eng_api_reply(call, status);
}

void eng_api_ops_metrics(eng_api_call_t *call)
{
    eng_api_t *api = call->api;
    eng_http_buf_t out = {0};
    eng_api_metrics_write(api, &out);
    if (api->hooks.metrics) api->hooks.metrics(api->hooks.arg, &out);
    eng_api_respond(call, 200, "text/plain; version=0.0.4; charset=utf-8", out.data ? out.data : "",
                    out.len);
    eng_http_buf_free(&out);
}
