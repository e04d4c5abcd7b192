/* test_reload.c - SIGHUP's parts without a daemon: the diff of two settings
 * (live ones applied, the others reported as needing a restart) and the
 * detector taking new timeouts, PREFIX ones included, on things it tracks. */
#include "engine/model/detector.h"
#include "engine/app/reload.h"

#include <criterion/criterion.h>
#include <string.h>

static cfg_t loaded(char *const *sets, size_t n)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, n, err), 0, "%s", err);
    return cfg;
}

Test(reload, live_and_restart_settings_are_told_apart)
{
    char *a[] = {"detector.heartbeat_timeout=600", "redis.password=old"};
    char *b[] = {"detector.heartbeat_timeout=300",
                 "detector.heartbeat_timeout.TSGW=60",
                 "log.level=debug",
                 "redis.port=6380",
                 "redis.password=new",
                 "librdkafka.fetch.max.bytes=1000000"};
    cfg_t started = loaded(a, 2), next = loaded(b, 6);
    eng_reload_diff_t diff;
    eng_reload_diff(&started, &started, &next, &diff);
    cr_assert(diff.detector);
    cr_assert(diff.log_level);
    cr_assert_eq(diff.applied, 3, "heartbeat_timeout, its TSGW prefix, log.level");
    cr_assert_eq(diff.restart, 3, "redis.port, redis.password, the librdkafka property");
    /* Reloading the same again changes nothing live; the restart ones are
     * still pending against the settings the process started with. */
    eng_reload_diff(&started, &next, &next, &diff);
    cr_assert(!diff.detector && !diff.log_level);
    cr_assert_eq(diff.applied, 0);
    cr_assert_eq(diff.restart, 3);
    /* Back to the started values: nothing needs a restart any more, and the
     * removed prefix counts as a live change. */
    eng_reload_diff(&started, &next, &started, &diff);
    cr_assert_eq(diff.restart, 0);
    cr_assert(diff.detector);
    cfg_free(&started);
    cfg_free(&next);
}

static unsigned opened;
static void on_window(void *arg, const eng_window_t *win)
{
    (void)arg;
    if (win->open) opened++;
}

static void heard(eng_detector_t *det, const char *tuid, uint32_t ts)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.tuid_len = (uint8_t)strlen(tuid);
    memcpy(msg.tuid, tuid, msg.tuid_len);
    msg.ts = msg.ts_sec = ts;
    eng_detector_observe(det, &msg, 0, NULL);
}

Test(reload, detector_takes_shorter_and_longer_timeouts_live)
{
    eng_things_t *things = eng_things_new();
    eng_detector_conf_t conf = {.inhibit_by_gateway = true,
                                .heartbeat_timeout = 1000,
                                .gateway_timeout = 1000,
                                .max_clock_skew = 300};
    eng_detector_cb_t cb = {on_window, NULL};
    eng_detector_t *det = eng_detector_new(things, &conf, &cb);
    const uint32_t t0 = 100000;
    eng_detector_tick(det, t0);
    heard(det, "TSSN01", t0);
    heard(det, "TSGW01", t0);
    heard(det, "TSXX01", t0);
    eng_detector_tick(det, t0 + 200);
    cr_assert_eq(opened, 0);
    /* Shorter, with a prefix: TSGW01 is already past its new deadline. */
    cfg_prefix_timeout_t prefixes[] = {{"TSGW", 100}};
    conf.prefixes = prefixes;
    conf.nprefixes = 1;
    conf.heartbeat_timeout = 5000;
    eng_detector_set_timeouts(det, &conf);
    cr_assert_eq(opened, 1, "TSGW01 opens at once under its new 100 s");
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 1);
    /* The others moved to 5000 s: nothing at 1000 s any more. */
    eng_detector_tick(det, t0 + 1500);
    cr_assert_eq(opened, 1);
    /* Shorter again for everyone: both open at the next tick. */
    conf.heartbeat_timeout = 1200;
    eng_detector_set_timeouts(det, &conf);
    eng_detector_tick(det, t0 + 1501);
    cr_assert_eq(opened, 3);
    uint64_t o, c;
    eng_detector_window_counts(det, ENG_ALERT_HEARTBEAT, &o, &c);
    cr_assert_eq(o, 3);
    cr_assert_eq(c, 0);
    eng_detector_free(det);
    eng_things_free(things);
}
