/* app.c - the daemon's wiring and shutdown order; see app.h.
 *
 * Shutdown (SIGTERM/SIGINT): the consumer thread leaves the group, which
 * revokes its partitions; ingest answers the revoke only after Redis
 * acknowledged every message pushed before it, then the thread commits and
 * exits. Then the API stops, then the Redis connection closes. A guard timer
 * makes sure the process exits within 10 s even when Redis is away (what was
 * not acknowledged was not committed, so it is redone at the next start). */
#include "engine/app/app.h"

#include "engine/api/api.h"
#include "engine/app/app_metrics.h"
#include "engine/app/cli_client.h"
#include "engine/app/startup.h"
#include "engine/app/status.h"
#include "engine/base/log.h"
#include "engine/ingest/alertmanager.h"
#include "engine/ingest/ingest.h"
#include "engine/ingest/kafka.h"
#include "engine/ingest/peers.h"
#include "engine/ingest/store.h"
#include "engine/model/detector.h"
#include "engine/model/things.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define RING_BYTES (32u << 20) /* holds 16 MiB records: well over the 1 MiB limit */
#define SHUTDOWN_GUARD_MS 9000

typedef struct app_s {
    uv_loop_t loop;
    const cfg_t *cfg;
    uint8_t *ring_buf;
    eng_ring_t ring;
    uv_async_t wake;
    uv_signal_t sigterm, sigint, sighup;
    const eng_reload_src_t *reload_src;
    cfg_t *live_cfg; /* the settings of the last SIGHUP (NULL: cfg) */
    uv_timer_t tick, guard;
    eng_things_t *things;
    eng_detector_t *det;
    eng_kafka_t *kafka;
    eng_store_t *store;
    eng_ingest_t *ingest;
    eng_api_t *api;
    eng_peers_t *peers;
    eng_am_t *am; /* NULL without alertmanager.url */
    eng_app_metrics_t metrics;
    bool stopping;
    bool embedded; /* kafka.brokers = embedded */
} app_t;

static void on_wake(uv_async_t *async)
{
    app_t *app = async->data;
    eng_ingest_drain(app->ingest);
}

static void on_tick(uv_timer_t *timer)
{
    app_t *app = timer->data;
    eng_ingest_tick(app->ingest);
}

static void close_handles(app_t *app)
{
    uv_close((uv_handle_t *)&app->wake, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sighup, NULL);
    uv_close((uv_handle_t *)&app->tick, NULL);
    uv_close((uv_handle_t *)&app->guard, NULL);
}

static void on_api_stopped(void *arg)
{
    app_t *app = arg;
    if (app->am) eng_am_stop(app->am);
    eng_store_stop(app->store);
    eng_peers_stop(app->peers);
    app->peers = NULL;
    close_handles(app);
    ENG_INFO("stopped", "%s", "");
}

static void on_kafka_stopped(void *arg)
{
    app_t *app = arg;
    eng_api_stop(app->api, on_api_stopped, app);
}

static void on_guard(uv_timer_t *timer)
{
    app_t *app = timer->data;
    ENG_WARN("shutdown taking too long", " action=\"releasing unacknowledged work\"");
    /* Releases a revoke waiting for Redis; its offsets were never stored. */
    eng_ingest_abandon(app->ingest);
    uv_timer_start(&app->guard, on_guard, 200, 0);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    app_t *app = sig->data;
    if (app->stopping) return;
    app->stopping = true;
    ENG_INFO("shutting down", " signal=%d", signum);
    uv_timer_start(&app->guard, on_guard, SHUTDOWN_GUARD_MS, 0);
    eng_kafka_stop(app->kafka, on_kafka_stopped, app);
}

/* SIGHUP: reads the settings again and applies the live ones; the others
 * keep their running values (each change is logged). Never stops. */
static void on_sighup(uv_signal_t *sig, int signum)
{
    app_t *app = sig->data;
    (void)signum;
    if (app->stopping) return;
    ENG_INFO("reloading settings", " signal=%d", signum);
    cfg_t *next = eng_reload_read(app->reload_src);
    if (next == NULL) return;
    const cfg_t *live = app->live_cfg ? app->live_cfg : app->cfg;
    eng_reload_diff_t diff;
    eng_reload_diff(app->cfg, live, next, &diff);
    if (diff.log_level) eng_startup_log_level(next);
    if (diff.detector) {
        eng_detector_conf_t dconf;
        eng_detector_conf_from_cfg(&dconf, next);
        eng_detector_set_timeouts(app->det, &dconf);
    }
    if (app->am) eng_am_reload(app->am, next);
    if (app->live_cfg) cfg_free(app->live_cfg);
    free(app->live_cfg);
    app->live_cfg = next;
    ENG_INFO("settings reloaded", " applied=%u need_restart=%u", diff.applied, diff.restart);
}

/* ---- hooks the API calls ---- */

static void hook_status(void *arg, const char *tuid, const char *status, uint32_t at)
{
    app_t *app = arg;
    eng_ingest_set_status(app->ingest, tuid, status, at);
}

static void hook_group(void *arg, const char *tuid, const char *group)
{
    app_t *app = arg;
    eng_ingest_set_group(app->ingest, tuid, group);
}

static int hook_produce(void *arg, const char *tuid, const char *const *payloads,
                        const size_t *lens, size_t n, void (*done)(void *ctx, int ok), void *ctx)
{
    app_t *app = arg;
    return eng_kafka_produce_commands(app->kafka, tuid, payloads, lens, n, done, ctx);
}

/* Ready means the API can answer: its Redis connection (checked by /readyz)
 * and not shutting down. The consumer's state (partitions assigned,
 * restoring, catching up, paused, lag) is in /status and /metrics and does
 * not take the API out of a load balancer. */
static bool hook_ready(void *arg, const char **why)
{
    app_t *app = arg;
    if (app->stopping) return *why = "shutting down", false;
    return true;
}

static eng_status_src_t status_src(const app_t *app)
{
    return (eng_status_src_t){app->kafka, app->ingest,   app->det,
                              app->store, app->embedded, app->stopping};
}

static json_t *hook_engine_status(void *arg)
{
    app_t *app = arg;
    eng_status_src_t src = status_src(app);
    return eng_app_status(&src);
}

static void hook_metrics(void *arg, eng_http_buf_t *out)
{
    app_t *app = arg;
    if (app->am) eng_am_sync_metrics(app->am, &app->metrics.reg);
    eng_app_metrics_render(&app->metrics, out);
    eng_status_src_t src = status_src(app);
    eng_app_status_metrics(&src, out);
}

static void on_rtt(void *arg, double seconds)
{
    app_t *app = arg;
    eng_app_metrics_observe_rtt(&app->metrics, seconds);
}

static void on_latency(void *arg, double seconds)
{
    app_t *app = arg;
    eng_app_metrics_observe(&app->metrics, seconds);
}

/* ---- start-up ---- */

static int app_init(app_t *app, const cfg_t *cfg)
{
    app->cfg = cfg;
    app->embedded = strcmp(cfg->kafka_brokers, "embedded") == 0;
    if (uv_loop_init(&app->loop) != 0) return -1;
    app->ring_buf = aligned_alloc(64, RING_BYTES);
    if (app->ring_buf == NULL) ENG_OOM();
    eng_ring_init(&app->ring, app->ring_buf, RING_BYTES);
    uv_async_init(&app->loop, &app->wake, on_wake);
    app->wake.data = app;
    uv_signal_init(&app->loop, &app->sigterm);
    uv_signal_init(&app->loop, &app->sigint);
    uv_signal_init(&app->loop, &app->sighup);
    app->sigterm.data = app->sigint.data = app->sighup.data = app;
    uv_signal_start(&app->sighup, on_sighup, SIGHUP); /* runs once the loop does */
    uv_timer_init(&app->loop, &app->tick);
    uv_timer_init(&app->loop, &app->guard);
    app->tick.data = app->guard.data = app;

    app->things = eng_things_new();
    app->kafka = eng_kafka_new(&app->loop, cfg, &app->ring, &app->wake);
    if (app->kafka == NULL) return -1;
    app->ingest = eng_ingest_new(&app->loop, cfg, &app->ring, app->kafka, app->things);
    app->store =
        eng_store_new(&app->loop, cfg, eng_ingest_on_ack, eng_ingest_on_ready, app->ingest);
    eng_ingest_set_store(app->ingest, app->store);
    eng_detector_conf_t dconf;
    eng_detector_conf_from_cfg(&dconf, cfg);
    eng_detector_cb_t dcb = {eng_ingest_on_window, app->ingest};
    app->det = eng_detector_new(app->things, &dconf, &dcb);
    eng_detector_tick(app->det, (uint32_t)time(NULL));
    eng_ingest_set_detector(app->ingest, app->det);
    eng_ingest_set_latency_cb(app->ingest, on_latency, app);

    eng_api_hooks_t hooks = {.arg = app,
                             .on_status = hook_status,
                             .on_group = hook_group,
                             .produce_commands = hook_produce,
                             .ready = hook_ready,
                             .status = hook_engine_status,
                             .metrics = hook_metrics};
    app->api = eng_api_new(&app->loop, cfg, &hooks);
    app->peers = eng_peers_new(&app->loop, cfg, app->ingest);
    eng_app_metrics_init(&app->metrics, &app->ring, app->kafka, app->store, app->ingest, app->det,
                         app->things);
    eng_app_metrics_set_api(&app->metrics, app->api, strcmp(cfg->kafka_brokers, "embedded") == 0);
    eng_store_set_rtt_cb(app->store, on_rtt, app);
    if (eng_am_new(&app->am, &app->loop, cfg, app->store, app->det, app->things,
                   &app->metrics.reg) != 0)
        return -1;
    eng_ingest_set_am(app->ingest, app->am);
    if (eng_auth_bootstrap(cfg) != 0) return -1;
    return 0;
}

static int app_start(app_t *app)
{
    if (eng_api_start(app->api) != 0) return -1;
    eng_store_start(app->store);
    eng_peers_start(app->peers);
    if (app->am) eng_am_start(app->am);
    if (eng_kafka_start(app->kafka) != 0) return -1;
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_timer_start(&app->tick, on_tick, 1000, 1000);
    return 0;
}

static void app_free(app_t *app)
{
    /* Delivery reports of the last alert events run here, while the outbox
     * still exists; what they would delete stays in P outbox and is resent
     * at the next start (at least once). */
    if (app->kafka) eng_kafka_flush(app->kafka, 2000);
    if (app->api) eng_api_free(app->api);
    if (app->store) eng_store_free(app->store);
    if (app->ingest) eng_ingest_close(app->ingest);
    uv_run(&app->loop, UV_RUN_DEFAULT); /* runs the close callbacks */
    if (app->kafka) eng_kafka_free(app->kafka);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    if (app->ingest) eng_ingest_free(app->ingest);
    if (app->am) eng_am_free(app->am);
    if (app->det) eng_detector_free(app->det);
    if (app->things) eng_things_free(app->things);
    uv_loop_close(&app->loop);
    free(app->ring_buf);
    if (app->live_cfg) cfg_free(app->live_cfg);
    free(app->live_cfg);
}

/* Raises the soft limit on open files to the hard one when it is below what
 * the HTTP adapter may hold (ENG_HTTP_MAX_CONNS) plus the Redis, Kafka and
 * log descriptors: with the common default of 1024, accept() would fail with
 * EMFILE long before the adapter's own limit. */
static void raise_nofile(void)
{
    struct rlimit rl;
    const rlim_t want = ENG_HTTP_MAX_CONNS + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want) return;
    rlim_t before = rl.rlim_cur;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (rl.rlim_cur <= before || setrlimit(RLIMIT_NOFILE, &rl) != 0) {
        ENG_WARN("open file limit low", " limit=%llu wanted=%llu", (unsigned long long)before,
                 (unsigned long long)want);
        return;
    }
    ENG_INFO("open file limit raised", " from=%llu to=%llu", (unsigned long long)before,
             (unsigned long long)rl.rlim_cur);
}

int eng_app_run(const cfg_t *cfg, const eng_reload_src_t *src)
{
    app_t *app = eng_calloc(1, sizeof *app);
    app->reload_src = src;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGHUP, SIG_IGN); /* until the loop's handler is in place */
    raise_nofile();
    int status = 1;
    if (app_init(app, cfg) != 0 || app_start(app) != 0) {
        ENG_ERROR("start-up failed", "%s", "");
        if (app->kafka) {
            eng_kafka_stop(app->kafka, NULL, NULL);
        }
        exit(1);
    }
    uv_run(&app->loop, UV_RUN_DEFAULT);
    status = 0;
    app_free(app);
    free(app);
    return status;
}
