/* test_detector.c - CONTRACT section 3 with a fake clock and no Redis: every
 * row of the table in both clocks, inhibition, status gating, skew, prefixes,
 * out-of-order and duplicate messages, restore, partition drop, replay, and
 * catching up (each partition judged on its own clock until its end). */
#include "engine/model/detector.h"

#include "engine/model/catchup.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 10000u /* a start time; timeouts below are small so windows read easily */
#define HB 100u
#define GW 10u
#define SKEW 300u

/* Every window event as one line "TUID hb|gw open|close FROM TO|-". */
typedef struct log_s {
    char *buf;
    size_t len, cap;
    unsigned opens, closes;
    char alerting[64]; /* '1' / '0' per event: win->alerting, the first 63 */
    size_t nalerting;
} log_t;

static log_t events;
static eng_things_t *things;
static eng_detector_t *det;

static void on_window(void *arg, const eng_window_t *win)
{
    log_t *log = arg;
    char line[160];
    int n;
    if (win->open)
        n = snprintf(line, sizeof line, "%.*s %s open %" PRIu32 " -\n", (int)win->tuid_len,
                     win->tuid, win->type == ENG_ALERT_HEARTBEAT ? "hb" : "gw", win->from);
    else
        n = snprintf(line, sizeof line, "%.*s %s close %" PRIu32 " %" PRIu32 "\n",
                     (int)win->tuid_len, win->tuid, win->type == ENG_ALERT_HEARTBEAT ? "hb" : "gw",
                     win->from, win->to);
    if (log->len + (size_t)n + 1 > log->cap) {
        log->cap = (log->cap + (size_t)n + 1) * 2;
        log->buf = realloc(log->buf, log->cap);
    }
    memcpy(log->buf + log->len, line, (size_t)n + 1);
    log->len += (size_t)n;
    if (win->open)
        log->opens++;
    else
        log->closes++;
    if (log->nalerting < sizeof log->alerting - 1)
        log->alerting[log->nalerting++] = win->alerting ? '1' : '0';
}

/* A detector with a heartbeat timeout of hb seconds, the wall clock at T0. */
static void start_hb(bool event_clock, bool inhibit, uint32_t hb,
                     const cfg_prefix_timeout_t *prefixes, size_t nprefixes)
{
    free(events.buf);
    events = (log_t){0};
    things = eng_things_new();
    eng_detector_conf_t conf = {
        .event_clock = event_clock,
        .inhibit_by_gateway = inhibit,
        .heartbeat_timeout = hb,
        .gateway_timeout = GW,
        .max_clock_skew = SKEW,
        .prefixes = prefixes,
        .nprefixes = nprefixes,
    };
    eng_detector_cb_t cb = {on_window, &events};
    det = eng_detector_new(things, &conf, &cb);
    eng_detector_tick(det, T0);
}

static void start(bool event_clock, bool inhibit, const cfg_prefix_timeout_t *prefixes,
                  size_t nprefixes)
{
    start_hb(event_clock, inhibit, HB, prefixes, nprefixes);
}

static void stop(void)
{
    eng_detector_free(det);
    eng_things_free(things);
    det = NULL;
    things = NULL;
}

/* Returns what was logged since the last call, and forgets it. */
static const char *taken(void)
{
    static char out[65536];
    size_t n = events.len < sizeof out - 1 ? events.len : sizeof out - 1;
    memcpy(out, events.buf ? events.buf : "", n);
    out[n] = '\0';
    events.len = 0;
    return out;
}

#define EXPECT(str) cr_assert_str_eq(taken(), str)

/* Sends tuid's message (relayed by gw when not NULL) at ts on partition part. */
static uint32_t send_on(uint16_t part, const char *tuid, uint32_t ts, const char *gw)
{
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.tuid_len = (uint8_t)strlen(tuid);
    memcpy(msg.tuid, tuid, msg.tuid_len);
    if (gw) {
        msg.gw_len = (uint8_t)strlen(gw);
        memcpy(msg.gw, gw, msg.gw_len);
        msg.flags |= PROTO_HAS_GW;
    }
    msg.ts = ts;
    msg.ts_sec = ts;
    return eng_detector_observe(det, &msg, part, NULL);
}

static uint32_t send(const char *tuid, uint32_t ts, const char *gw)
{
    return send_on(0, tuid, ts, gw);
}

/* Moves the active clock to t: the wall clock in wall mode; in event mode a
 * message from a bystander thing at t (which itself never alerts: retired). */
static void advance(bool event_clock, uint32_t t)
{
    if (!event_clock) {
        eng_detector_tick(det, t);
        return;
    }
    uint32_t idx = eng_things_add(things, "CLOCK", 5, 0, NULL);
    eng_detector_set_status(det, idx, ENG_STATUS_RETIRED, 1);
    eng_detector_tick(det, t);
    send("CLOCK", t, NULL);
}

static uint32_t idx_of(const char *tuid)
{
    return eng_things_get(things, tuid, strlen(tuid));
}

static void set_status(const char *tuid, eng_status_t status, uint32_t at)
{
    uint32_t idx = eng_things_add(things, tuid, strlen(tuid), ENG_PART_NONE, NULL);
    eng_detector_set_status(det, idx, status, at);
}

/* ---- the table, row "heartbeat missed" ---------------------------------- */

static void row_heartbeat(bool event_clock)
{
    start(event_clock, true, NULL, 0);
    send("S1", T0, NULL);
    advance(event_clock, T0 + HB - 1);
    EXPECT("");
    advance(event_clock, T0 + HB);
    EXPECT("S1 hb open 10000 -\n");
    cr_assert(eng_detector_alerting(det, idx_of("S1")));
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 1);
    advance(event_clock, T0 + 140);
    EXPECT("");
    send("S1", T0 + 150, NULL);
    EXPECT("S1 hb close 10000 10150\n");
    cr_assert(!eng_detector_alerting(det, idx_of("S1")));
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 0);
    stop();
}

Test(detector, heartbeat_row_wall_clock)
{
    row_heartbeat(false);
}

Test(detector, heartbeat_row_event_clock)
{
    row_heartbeat(true);
}

static void row_never_heard(bool event_clock)
{
    start(event_clock, true, NULL, 0);
    set_status("S1", ENG_STATUS_INSTALLED, T0 + 5);
    advance(event_clock, T0 + 5 + HB - 1);
    EXPECT("");
    advance(event_clock, T0 + 5 + HB);
    EXPECT("S1 hb open 0 -\n");
    send("S1", T0 + 400, NULL);
    EXPECT("S1 hb close 0 10400\n");
    stop();
}

Test(detector, never_heard_installed_opens_from_1970_wall_clock)
{
    row_never_heard(false);
}

Test(detector, never_heard_installed_opens_from_1970_event_clock)
{
    row_never_heard(true);
}

static void row_heard_none_status_only(bool event_clock)
{
    /* No status and never heard: not monitored, however long. */
    start(event_clock, true, NULL, 0);
    eng_things_add(things, "S9", 2, 0, NULL);
    advance(event_clock, T0 + 100 * HB);
    EXPECT("");
    stop();
}

Test(detector, unknown_never_heard_thing_is_not_monitored_wall)
{
    row_heard_none_status_only(false);
}

Test(detector, unknown_never_heard_thing_is_not_monitored_event)
{
    row_heard_none_status_only(true);
}

/* ---- the table, row "gateway connection lost" ---------------------------- */

static void row_gateway(bool event_clock)
{
    start(event_clock, true, NULL, 0);
    send("S1", T0, "G1");
    advance(event_clock, T0 + GW - 1);
    EXPECT("");
    advance(event_clock, T0 + GW);
    EXPECT("G1 gw open 10000 -\n");
    /* A message relayed by G1 closes it at its tsmTs. */
    send("S2", T0 + 30, "G1");
    EXPECT("G1 gw close 10000 10030\n");
    advance(event_clock, T0 + 30 + GW);
    EXPECT("G1 gw open 10030 -\n");
    /* So does a message from G1 itself. */
    send("G1", T0 + 45, NULL);
    EXPECT("G1 gw close 10030 10045\n");
    stop();
}

Test(detector, gateway_row_wall_clock)
{
    row_gateway(false);
}

Test(detector, gateway_row_event_clock)
{
    row_gateway(true);
}

static void relay_only_gateway(bool event_clock)
{
    /* G1 only relays: no "heartbeat missed", though it is silent as tsmTuid. */
    start(event_clock, false, NULL, 0);
    for (uint32_t t = 0; t <= 3 * HB; t += 5) {
        eng_detector_tick(det, T0 + t);
        send("S1", T0 + t, "G1");
    }
    EXPECT("");
    /* Installed, it gets one, from 1970 (never heard), at I + timeout. */
    set_status("G1", ENG_STATUS_INSTALLED, T0 + 3 * HB);
    for (uint32_t t = 3 * HB + 5; t < 4 * HB; t += 5) {
        eng_detector_tick(det, T0 + t);
        send("S1", T0 + t, "G1");
    }
    EXPECT("");
    eng_detector_tick(det, T0 + 4 * HB);
    send("S1", T0 + 4 * HB, "G1");
    EXPECT("G1 hb open 0 -\n");
    stop();
}

Test(detector, relay_only_gateway_no_heartbeat_unless_installed_wall)
{
    relay_only_gateway(false);
}

Test(detector, relay_only_gateway_no_heartbeat_unless_installed_event)
{
    relay_only_gateway(true);
}

/* ---- installation status gating ----------------------------------------- */

static void not_monitored(eng_status_t status, bool event_clock)
{
    start(event_clock, false, NULL, 0);
    set_status("S1", status, T0);
    set_status("G1", status, T0);
    send("S1", T0, "G1");
    advance(event_clock, T0 + 10 * HB);
    EXPECT("");
    stop();
}

Test(detector, new_uninstalled_quarantine_retired_are_not_monitored)
{
    eng_status_t statuses[] = {ENG_STATUS_NEW, ENG_STATUS_UNINSTALLED, ENG_STATUS_QUARANTINE,
                               ENG_STATUS_RETIRED};
    for (int clock = 0; clock < 2; clock++)
        for (size_t i = 0; i < 4; i++)
            not_monitored(statuses[i], clock);
}

static void status_closes(bool event_clock)
{
    start(event_clock, true, NULL, 0);
    send("S1", T0, NULL);
    advance(event_clock, T0 + HB);
    EXPECT("S1 hb open 10000 -\n");
    set_status("S1", ENG_STATUS_UNINSTALLED, T0 + 130);
    EXPECT("S1 hb close 10000 10130\n");
    cr_assert(!eng_detector_alerting(det, idx_of("S1")));
    /* Installed again, still silent: the deadline has passed, it opens at once. */
    set_status("S1", ENG_STATUS_INSTALLED, T0 + 140);
    EXPECT("S1 hb open 10000 -\n");
    /* A stale change (older than the one held) is ignored. */
    cr_assert(!eng_detector_set_status(det, idx_of("S1"), ENG_STATUS_RETIRED, T0 + 139));
    EXPECT("");
    stop();
}

Test(detector, status_change_closes_window_at_its_time_wall)
{
    status_closes(false);
}

Test(detector, status_change_closes_window_at_its_time_event)
{
    status_closes(true);
}

Test(detector, status_close_never_before_from)
{
    /* heard(T) up to max_clock_skew ahead of the wall clock: a status change
     * at the wall clock closes at from, not before. */
    start(false, true, NULL, 0);
    set_status("S1", ENG_STATUS_INSTALLED, T0);
    send("S1", T0 + 200, NULL); /* within the skew: counts as sent */
    eng_detector_tick(det, T0 + 200 + HB);
    EXPECT("S1 hb open 10200 -\n");
    /* Stamped before from (a peer instance's change arriving late). */
    cr_assert(eng_detector_set_status(det, idx_of("S1"), ENG_STATUS_RETIRED, T0 + 150));
    EXPECT("S1 hb close 10200 10200\n");
    stop();
}

Test(detector, status_on_gateway_closes_and_releases_children)
{
    start(false, true, NULL, 0);
    send("S1", T0, "G1");
    eng_detector_tick(det, T0 + HB);
    EXPECT("G1 gw open 10000 -\n");
    set_status("G1", ENG_STATUS_RETIRED, T0 + 120);
    EXPECT("G1 gw close 10000 10120\nS1 hb open 10000 -\n");
    /* Retired: it does not open again. */
    eng_detector_tick(det, T0 + 10 * HB);
    EXPECT("");
    stop();
}

Test(detector, installed_never_heard_clock_restarts_with_new_status_time)
{
    start(false, true, NULL, 0);
    set_status("S1", ENG_STATUS_INSTALLED, T0);
    set_status("S1", ENG_STATUS_INSTALLED, T0 + 50); /* a later install moves I */
    eng_detector_tick(det, T0 + HB);
    EXPECT("");
    eng_detector_tick(det, T0 + 50 + HB);
    EXPECT("S1 hb open 0 -\n");
    stop();
}

/* ---- skew ----------------------------------------------------------------- */

static void future_timestamp(bool event_clock)
{
    start(event_clock, true, NULL, 0);
    /* 10 years ahead: counts as the wall clock's now (T0). */
    uint32_t idx = send("S1", T0 + 315360000u, NULL);
    cr_assert_eq(eng_things_at(things, idx)->heard, T0);
    if (event_clock)
        cr_assert_eq(eng_detector_now(det), T0, "event clock moved to %u", eng_detector_now(det));
    advance(event_clock, T0 + HB);
    EXPECT("S1 hb open 10000 -\n");
    send("S1", T0 + 315360000u, NULL); /* the wall clock now: T0 + HB */
    EXPECT("S1 hb close 10000 10100\n");
    /* Within the skew it counts as sent. */
    send("S2", T0 + HB + SKEW, NULL);
    cr_assert_eq(eng_things_at(things, idx_of("S2"))->heard, T0 + HB + SKEW);
    if (event_clock) cr_assert_eq(eng_detector_now(det), T0 + HB + SKEW);
    stop();
}

Test(detector, future_timestamp_counts_as_wall_now_wall_clock)
{
    future_timestamp(false);
}

Test(detector, future_timestamp_counts_as_wall_now_event_clock)
{
    future_timestamp(true);
}

/* ---- per-prefix timeouts -------------------------------------------------- */

Test(detector, longest_prefix_wins)
{
    cfg_prefix_timeout_t prefixes[] = {{"TSGW", 50}, {"TSGWX", 20}, {"TS", 70}};
    for (int clock = 0; clock < 2; clock++) {
        start(clock, true, prefixes, 3);
        send("TSGWX1", T0, NULL);
        send("TSGW1", T0, NULL);
        send("TSSN1", T0, NULL);
        send("OTHER", T0, NULL);
        cr_assert_eq(eng_detector_timeout(det, idx_of("TSGWX1")), 20);
        cr_assert_eq(eng_detector_timeout(det, idx_of("TSGW1")), 50);
        cr_assert_eq(eng_detector_timeout(det, idx_of("TSSN1")), 70);
        cr_assert_eq(eng_detector_timeout(det, idx_of("OTHER")), HB);
        advance(clock, T0 + 19);
        EXPECT("");
        advance(clock, T0 + 20);
        EXPECT("TSGWX1 hb open 10000 -\n");
        advance(clock, T0 + 50);
        EXPECT("TSGW1 hb open 10000 -\n");
        advance(clock, T0 + 70);
        EXPECT("TSSN1 hb open 10000 -\n");
        advance(clock, T0 + HB);
        EXPECT("OTHER hb open 10000 -\n");
        stop();
    }
}

/* ---- inhibition ----------------------------------------------------------- */

/* G1 with sensors S1..S3 (the story of docs/DETECTOR.md). */
static void outage(bool event_clock, bool inhibit)
{
    start(event_clock, inhibit, NULL, 0);
    send("S1", T0, "G1");
    send("S2", T0, "G1");
    send("S3", T0, "G1");
    advance(event_clock, T0 + GW);
    EXPECT("G1 gw open 10000 -\n");
    advance(event_clock, T0 + HB);
    if (inhibit) {
        EXPECT(""); /* held back by G1's open window */
        cr_assert(!eng_detector_alerting(det, idx_of("S2")));
    } else {
        EXPECT("S1 hb open 10000 -\nS2 hb open 10000 -\nS3 hb open 10000 -\n");
    }
    /* G1 is back with S1's message; S2 and S3 are still silent. */
    send("S1", T0 + 200, "G1");
    if (inhibit)
        EXPECT("G1 gw close 10000 10200\nS3 hb open 10000 -\nS2 hb open 10000 -\n");
    else
        EXPECT("S1 hb close 10000 10200\nG1 gw close 10000 10200\n");
    send("S2", T0 + 205, "G1");
    EXPECT("S2 hb close 10000 10205\n");
    stop();
}

Test(detector, inhibition_on_one_alert_per_outage_wall)
{
    outage(false, true);
}

Test(detector, inhibition_on_one_alert_per_outage_event)
{
    outage(true, true);
}

Test(detector, inhibition_off_both_open_wall)
{
    outage(false, false);
}

Test(detector, inhibition_off_both_open_event)
{
    outage(true, false);
}

static void sensor_moves(bool event_clock)
{
    start(event_clock, true, NULL, 0);
    send("S1", T0, "G1");
    send("S2", T0, "G1");
    send("S3", T0 + 95, "G2");
    advance(event_clock, T0 + HB);
    EXPECT("G1 gw open 10000 -\n"); /* S1, S2 held back */
    advance(event_clock, T0 + 110);
    EXPECT("G2 gw open 10095 -\n");
    /* S1 moves to G2 during G1's outage: heard again, no window. */
    send("S1", T0 + 110, "G2");
    EXPECT("G2 gw close 10095 10110\n");
    /* G1 comes back through S2 (S2 leaves the list): nobody left to open. */
    send("S2", T0 + 115, "G1");
    EXPECT("G1 gw close 10000 10115\n");
    advance(event_clock, T0 + 110 + GW);
    EXPECT("G2 gw open 10110 -\n");
    advance(event_clock, T0 + 110 + HB);
    EXPECT("G1 gw open 10115 -\n"); /* S1 (and S3) held back by G2, S1's new parent */
    send("S3", T0 + 300, "G2");
    EXPECT("G2 gw close 10110 10300\nS1 hb open 10110 -\n");
    stop();
}

Test(detector, sensor_moves_to_another_gateway_during_outage_wall)
{
    sensor_moves(false);
}

Test(detector, sensor_moves_to_another_gateway_during_outage_event)
{
    sensor_moves(true);
}

Test(detector, gateway_and_sensor_due_same_second_gateway_first)
{
    /* With a prefix timeout equal to the gateway timeout both fall due in the
     * same second: the gateway opens first, so the sensor is held back. */
    cfg_prefix_timeout_t prefixes[] = {{"S", GW}};
    for (int clock = 0; clock < 2; clock++) {
        start(clock, true, prefixes, 1);
        send("S1", T0, "G1");
        advance(clock, T0 + GW);
        EXPECT("G1 gw open 10000 -\n");
        stop();
    }
}

/* ---- bursts, duplicates, out of order ------------------------------------ */

static void burst(bool event_clock)
{
    start(event_clock, false, NULL, 0);
    send("S1", T0, "G1");
    for (int i = 0; i < 50; i++)
        send("S1", T0, "G1"); /* same second */
    advance(event_clock, T0 + HB);
    for (int i = 0; i < 20; i++)
        advance(event_clock, T0 + HB);
    EXPECT("G1 gw open 10000 -\nS1 hb open 10000 -\n");
    for (int i = 0; i < 50; i++)
        send("S1", T0 + 150, "G1");
    EXPECT("S1 hb close 10000 10150\nG1 gw close 10000 10150\n");
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 0);
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_GATEWAY), 0);
    stop();
}

Test(detector, one_window_per_tuid_and_type_under_bursts_wall)
{
    burst(false);
}

Test(detector, one_window_per_tuid_and_type_under_bursts_event)
{
    burst(true);
}

static void late_messages(bool event_clock)
{
    start(event_clock, true, NULL, 0);
    send("S1", T0 + 50, NULL);
    send("S1", T0 + 10, NULL); /* late: liveness does not move back */
    cr_assert_eq(eng_things_at(things, idx_of("S1"))->heard, T0 + 50);
    advance(event_clock, T0 + 10 + HB);
    EXPECT("");
    advance(event_clock, T0 + 50 + HB);
    EXPECT("S1 hb open 10050 -\n");
    /* A redelivered newest message (ts == from) or an older one does not
     * close the window: it is no sign of life after from. */
    send("S1", T0 + 50, NULL);
    send("S1", T0 + 20, NULL);
    EXPECT("");
    cr_assert(eng_detector_alerting(det, idx_of("S1")));
    send("S1", T0 + 51, NULL);
    EXPECT("S1 hb close 10050 10051\n");
    stop();
}

Test(detector, out_of_order_and_duplicate_messages_wall)
{
    late_messages(false);
}

Test(detector, out_of_order_and_duplicate_messages_event)
{
    late_messages(true);
}

Test(detector, event_clock_message_past_deadline_opens_then_closes)
{
    /* The clock reaches S1's deadline with S1's own late message: the gap was
     * real, so the window [heard, ts] is recorded (fire before apply). */
    start(true, true, NULL, 0);
    send("S1", T0, NULL);
    send("S1", T0 + HB + 5, NULL);
    EXPECT("S1 hb open 10000 -\nS1 hb close 10000 10105\n");
    /* A late message of a new thing whose deadline is already behind the
     * clock opens at once (fire after apply). */
    send("S2", T0 + 1, NULL);
    EXPECT("S2 hb open 10001 -\n");
    stop();
}

Test(detector, observe_reports_changed_fields)
{
    start(true, true, NULL, 0);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    strcpy(msg.tuid, "S1");
    msg.tuid_len = 2;
    strcpy(msg.gw, "G1");
    msg.gw_len = 2;
    msg.flags = PROTO_HAS_GW | PROTO_HAS_BATL;
    msg.ts_sec = T0 + 5;
    eng_detector_obs_t obs;
    eng_detector_observe(det, &msg, 3, &obs);
    cr_assert_eq(obs.changed, ENG_CHANGED_TS | ENG_CHANGED_GW | ENG_CHANGED_BATL);
    cr_assert_eq(obs.ts, T0 + 5);
    cr_assert_eq(obs.gw, idx_of("G1"));
    cr_assert_eq(eng_things_at(things, idx_of("S1"))->part, 3);
    msg.ts_sec = T0 + 1; /* older: nothing changes */
    eng_detector_observe(det, &msg, 3, &obs);
    cr_assert_eq(obs.changed, 0);
    stop();
}

/* ---- restore and drop ----------------------------------------------------- */

Test(detector, restore_open_window_emits_nothing_and_closes_with_its_from)
{
    start(false, true, NULL, 0);
    eng_detector_restore_t r = {.tuid = "S1",
                                .len = 2,
                                .part = 0,
                                .heard = true,
                                .timestamp = T0 + 7,
                                .hb_open = true,
                                .hb_from = T0};
    eng_detector_restore_thing(det, &r);
    eng_detector_tick(det, T0 + 60);
    EXPECT("");
    cr_assert(eng_detector_alerting(det, idx_of("S1")));
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 1);
    /* The redelivered closing message (its close was not acknowledged). */
    send("S1", T0 + 7, NULL);
    EXPECT("S1 hb close 10000 10007\n");
    stop();
}

Test(detector, restore_past_deadline_opens_at_next_tick)
{
    /* tsmd was down from T0 + 50 to T0 + 500: the outage implies windows. */
    start(false, true, NULL, 0);
    eng_detector_restore_t r = {.tuid = "S1",
                                .len = 2,
                                .heard = true,
                                .timestamp = T0,
                                .gateway = "G1",
                                .gateway_len = 2,
                                .t_gw = T0};
    eng_detector_restore_thing(det, &r);
    eng_detector_restore_t s = {
        .tuid = "S2", .len = 2, .status = ENG_STATUS_INSTALLED, .status_at = T0 - 5};
    eng_detector_restore_thing(det, &s);
    eng_detector_restore_gateway(det, "G1", 2, 1, T0 + 40, false, 0);
    EXPECT("");
    eng_detector_tick(det, T0 + 500);
    EXPECT("G1 gw open 10040 -\nS2 hb open 0 -\n"); /* S1 held back by G1 */
    send("S9", T0 + 501, "G1");
    EXPECT("G1 gw close 10040 10501\nS1 hb open 10000 -\n");
    stop();
}

Test(detector, restore_open_gateway_window_keeps_inhibiting)
{
    start(false, true, NULL, 0);
    eng_detector_restore_gateway(det, "G1", 2, 1, T0 + 9, true, T0);
    eng_detector_restore_t r = {.tuid = "S1",
                                .len = 2,
                                .heard = true,
                                .timestamp = T0,
                                .gateway = "G1",
                                .gateway_len = 2,
                                .t_gw = T0};
    eng_detector_restore_thing(det, &r);
    eng_detector_tick(det, T0 + 2 * HB);
    EXPECT("");
    send("G1", T0 + 300, NULL);
    EXPECT("G1 gw close 10000 10300\nS1 hb open 10000 -\n");
    stop();
}

Test(detector, drop_partition_forgets_things_without_events)
{
    start(false, true, NULL, 0);
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    const char *tuids[] = {"A1", "A2", "B1", "B2"};
    for (int i = 0; i < 4; i++) {
        strcpy(msg.tuid, tuids[i]);
        msg.tuid_len = 2;
        strcpy(msg.gw, i < 2 ? "GA" : "GB");
        msg.gw_len = 2;
        msg.flags = PROTO_HAS_GW;
        msg.ts_sec = T0;
        eng_detector_observe(det, &msg, i < 2 ? 1 : 2, NULL);
    }
    send("GA", T0, NULL); /* GA sends itself on partition 0 */
    eng_detector_tick(det, T0 + HB);
    /* A1, A2 held back by GA, B1, B2 by GB; GA's own heartbeat has no parent. */
    EXPECT("GA gw open 10000 -\nGB gw open 10000 -\nGA hb open 10000 -\n");
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_GATEWAY), 2);
    cr_assert_eq(eng_detector_drop_partition(det, 2), 2);
    EXPECT("");
    cr_assert_eq(idx_of("B1"), ENG_THING_NONE);
    cr_assert_eq(idx_of("B2"), ENG_THING_NONE);
    cr_assert_neq(idx_of("A1"), ENG_THING_NONE);
    cr_assert_neq(idx_of("GB"), ENG_THING_NONE); /* known only through tsmGw */
    cr_assert_eq(eng_detector_drop_partition(det, 2), 0);
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 1);
    /* Dropping GA's own partition (0): its open windows are forgotten (the
     * new owner restores them) and its sensors lose their parent. */
    eng_detector_tick(det, T0 + 2 * HB);
    uint32_t dropped = eng_detector_drop_partition(det, 0);
    cr_assert_eq(dropped, 1);
    cr_assert_eq(idx_of("GA"), ENG_THING_NONE);
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 0);
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_GATEWAY), 1);
    cr_assert_eq(eng_things_at(things, idx_of("A1"))->parent, ENG_THING_NONE);
    eng_detector_tick(det, T0 + 2 * HB + 1);
    EXPECT("A1 hb open 10000 -\nA2 hb open 10000 -\n");
    stop();
}

/* ---- replay: same input, same windows ------------------------------------- */

typedef struct rng_s {
    uint64_t s;
} rng_t;

static uint32_t rnd(rng_t *r, uint32_t n)
{
    r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)((r->s >> 33) % n);
}

/* A seeded fleet: 60 sensors, 4 gateways, messages a little out of order,
 * silences, moves, duplicates, future stamps and status changes. Returns the
 * event log. */
static char *replay(bool event_clock, uint64_t seed)
{
    start(event_clock, true, NULL, 0);
    rng_t r = {seed};
    uint32_t t = T0;
    char tuid[16], gw[16];
    for (int i = 0; i < 20000; i++) {
        t += rnd(&r, 3);
        snprintf(tuid, sizeof tuid, "S%02u", rnd(&r, 60));
        unsigned g = rnd(&r, 4);
        if (g == 3 && (t / 500) % 3 == 0) g = 2; /* G3 silent a third of the time */
        snprintf(gw, sizeof gw, "G%u", g);
        if (tuid[2] == '7' && (t / 700) % 2) continue; /* some sensors silent */
        uint32_t ts = t - rnd(&r, 20);
        if (rnd(&r, 500) == 0) ts += 100000; /* a wrong device clock */
        if (rnd(&r, 400) == 0) {
            set_status(tuid, (eng_status_t)(1 + rnd(&r, 5)), t);
            continue;
        }
        eng_detector_tick(det, t);
        send(tuid, ts, rnd(&r, 10) ? gw : NULL);
        if (rnd(&r, 10) == 0) send(tuid, ts, gw); /* duplicate */
    }
    eng_detector_tick(det, t + 10 * HB);
    /* Invariant: every (tuid, type) alternates open, close. */
    cr_assert_eq(events.opens - events.closes, eng_detector_open_count(det, ENG_ALERT_HEARTBEAT) +
                                                   eng_detector_open_count(det, ENG_ALERT_GATEWAY));
    char *out = strdup(events.buf ? events.buf : "");
    stop();
    return out;
}

static void check_alternation(const char *log)
{
    /* For each (tuid, type): open, close, open, ... never two opens in a row,
     * and a close carries the from of its open with to >= from. */
    char key[64][2][8];
    char state[64][2][24];
    int nkeys = 0;
    const char *p = log;
    char tuid[16], type[4], what[8], to[16];
    unsigned from;
    int n;
    while (sscanf(p, "%15s %3s %7s %u %15s%n", tuid, type, what, &from, to, &n) == 5) {
        p += n;
        while (*p == '\n')
            p++;
        int t = type[0] == 'g', k;
        for (k = 0; k < nkeys && strcmp(key[k][0], tuid); k++) {
        }
        if (k == nkeys) {
            cr_assert(nkeys < 64);
            strcpy(key[nkeys][0], tuid);
            state[nkeys][0][0] = state[nkeys][1][0] = '\0';
            nkeys++;
        }
        if (what[0] == 'o') {
            cr_assert_eq(state[k][t][0], '\0', "%s %s opened twice", tuid, type);
            snprintf(state[k][t], sizeof state[k][t], "%u", from);
        } else {
            cr_assert_neq(state[k][t][0], '\0', "%s %s closed while not open", tuid, type);
            cr_assert_eq((unsigned)atoi(state[k][t]), from);
            cr_assert_geq(strtoul(to, NULL, 10), from);
            state[k][t][0] = '\0';
        }
    }
    cr_assert_eq(*p, '\0');
}

Test(detector, event_clock_replay_gives_identical_windows)
{
    char *a = replay(true, 42);
    char *b = replay(true, 42);
    cr_assert_gt(strlen(a), 100, "the fleet story should open windows");
    cr_assert_str_eq(a, b);
    check_alternation(a);
    free(a);
    free(b);
}

Test(detector, wall_clock_fleet_windows_alternate)
{
    char *a = replay(false, 7);
    cr_assert_gt(strlen(a), 100);
    check_alternation(a);
    free(a);
}

/* ---- many things: every deadline fires once, in order --------------------- */

static uint32_t last_from;
static unsigned fired;

static void on_window_order(void *arg, const eng_window_t *win)
{
    (void)arg;
    cr_assert(win->open);
    cr_assert_geq(win->from, last_from, "deadline out of order");
    last_from = win->from;
    fired++;
}

Test(detector, one_million_things_fire_once_in_order)
{
    eng_things_t *ts = eng_things_new();
    eng_detector_conf_t conf = {
        .heartbeat_timeout = HB, .gateway_timeout = GW, .max_clock_skew = 1000000};
    eng_detector_cb_t cb = {on_window_order, NULL};
    eng_detector_t *d = eng_detector_new(ts, &conf, &cb);
    eng_detector_tick(d, T0);
    rng_t r = {1};
    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    const uint32_t n = 1000000;
    for (uint32_t i = 0; i < n; i++) {
        msg.tuid_len = (uint8_t)snprintf(msg.tuid, sizeof msg.tuid, "TSSN%013u", i);
        msg.ts_sec = T0 + rnd(&r, 100000);
        eng_detector_observe(d, &msg, 0, NULL);
        if (i % 3 == 0) { /* a later message: the lazy key moves */
            msg.ts_sec += rnd(&r, 1000);
            eng_detector_observe(d, &msg, 0, NULL);
        }
    }
    last_from = 0;
    fired = 0;
    for (uint32_t t = T0; t <= T0 + 102000; t += 97)
        eng_detector_tick(d, t);
    cr_assert_eq(fired, n);
    cr_assert_eq(eng_detector_open_count(d, ENG_ALERT_HEARTBEAT), n);
    cr_assert_eq(eng_detector_scheduled(d), 0);
    eng_detector_free(d);
    eng_things_free(ts);
}

/* ---- more edges ------------------------------------------------------------ */

Test(detector, held_back_child_with_status_change_does_not_open_later)
{
    start(false, true, NULL, 0);
    send("S1", T0, "G1");
    send("S2", T0, "G1");
    eng_detector_tick(det, T0 + HB);
    EXPECT("G1 gw open 10000 -\n");
    set_status("S1", ENG_STATUS_QUARANTINE, T0 + 110); /* held back: nothing to close */
    EXPECT("");
    send("S3", T0 + 120, "G1");
    EXPECT("G1 gw close 10000 10120\nS2 hb open 10000 -\n");
    stop();
}

Test(detector, gateway_relaying_itself_is_one_alert)
{
    /* Gateways often put their own tuid in tsmGw: G1 is then its own parent. */
    for (int clock = 0; clock < 2; clock++) {
        start(clock, true, NULL, 0);
        send("G1", T0, "G1");
        advance(clock, T0 + HB);
        EXPECT("G1 gw open 10000 -\n"); /* its heartbeat is held back by itself */
        send("G1", T0 + 150, "G1");
        EXPECT("G1 gw close 10000 10150\n");
        stop();
    }
}

Test(detector, event_clock_restore_raises_clock_and_fires_at_next_tick)
{
    start(true, true, NULL, 0);
    eng_detector_restore_t a = {.tuid = "S1", .len = 2, .heard = true, .timestamp = T0};
    eng_detector_restore_t b = {.tuid = "S2", .len = 2, .heard = true, .timestamp = T0 + 150};
    eng_detector_restore_thing(det, &a);
    eng_detector_restore_thing(det, &b);
    cr_assert_eq(eng_detector_now(det), T0 + 150);
    EXPECT("");
    eng_detector_tick(det, T0 + 151);
    EXPECT("S1 hb open 10000 -\n");
    stop();
}

Test(detector, restore_merges_with_memory_and_keeps_newest)
{
    start(false, true, NULL, 0);
    send("S1", T0 + 50, "G1");
    eng_detector_restore_t r = {.tuid = "S1",
                                .len = 2,
                                .heard = true,
                                .timestamp = T0,
                                .gateway = "G2",
                                .gateway_len = 2,
                                .t_gw = T0,
                                .status = ENG_STATUS_INSTALLED,
                                .status_at = T0 - 100};
    uint32_t idx = eng_detector_restore_thing(det, &r);
    const eng_thing_t *th = eng_things_at(things, idx);
    cr_assert_eq(th->heard, T0 + 50);
    cr_assert_eq(th->parent, idx_of("G1"), "the newer parent stays");
    cr_assert_eq(th->status, ENG_STATUS_INSTALLED);
    stop();
}

Test(detector, window_event_reports_alerting_after_the_event)
{
    start(false, false, NULL, 0);
    send("G1", T0, "G1");
    eng_detector_tick(det, T0 + HB);
    /* G1: gw open (alerting), hb open (alerting); then one message closes
     * both: the first close still alerting, the second not. */
    cr_assert(eng_detector_alerting(det, idx_of("G1")));
    cr_assert(eng_detector_is_open(det, idx_of("G1"), ENG_ALERT_GATEWAY));
    cr_assert(eng_detector_is_open(det, idx_of("G1"), ENG_ALERT_HEARTBEAT));
    send("G1", T0 + 120, NULL);
    EXPECT("G1 gw open 10000 -\nG1 hb open 10000 -\nG1 hb close 10000 10120\n"
           "G1 gw close 10000 10120\n");
    cr_assert_str_eq(events.alerting, "1110");
    cr_assert(!eng_detector_alerting(det, idx_of("G1")));
    stop();
}

Test(detector, first_late_message_moves_installed_deadline_earlier)
{
    /* Installed at T0 + 50, never heard: deadline T0 + 50 + HB. Its first
     * message is late (tsmTs T0): heard = T0 and the deadline moves earlier
     * to T0 + HB (a decrease-key in the heap). */
    for (int clock = 0; clock < 2; clock++) {
        start(clock, true, NULL, 0);
        set_status("S1", ENG_STATUS_INSTALLED, T0 + 50);
        advance(clock, T0 + 60);
        send("S1", T0, NULL);
        advance(clock, T0 + HB - 1);
        EXPECT("");
        advance(clock, T0 + HB);
        EXPECT("S1 hb open 10000 -\n");
        stop();
    }
}

/* ---- catching up: each partition judged on its own clock ------------------ */

#define WALL (T0 + 100000u) /* the wall clock while old records are read */

static uint32_t restore_heard(const char *tuid, uint16_t part, uint32_t ts)
{
    eng_detector_restore_t r = {
        .tuid = tuid, .len = strlen(tuid), .part = part, .heard = true, .timestamp = ts};
    return eng_detector_restore_thing(det, &r);
}

Test(detector, backlog_opens_only_the_gaps_in_the_data_then_overdue_at_live)
{
    start(false, true, NULL, 0);
    eng_detector_tick(det, WALL);
    eng_detector_part_assign(det, 1);
    /* R1 comes back from Redis on assignment, heard long before the wall
     * clock: not judged before its partition's backlog is read. */
    restore_heard("R1", 1, T0 - 50);
    eng_detector_tick(det, WALL);
    EXPECT("");
    /* The backlog: S1 and R1 every 10 s, S2 silent from T0+200 to T0+350,
     * S3 silent from T0+450 on. */
    for (uint32_t t = T0; t <= T0 + 500; t += 10) {
        send_on(1, "S1", t, NULL);
        send_on(1, "R1", t, NULL);
        if (t <= T0 + 200 || t >= T0 + 350) send_on(1, "S2", t, NULL);
        if (t <= T0 + 450) send_on(1, "S3", t, NULL);
        if (t % 100 == 0) eng_detector_tick(det, WALL + (t - T0) / 100);
    }
    /* S2's gap opened when the partition's time reached T0+300, and its next
     * message closed it: one window, as a live run would have given. */
    EXPECT("S2 hb open 10200 -\nS2 hb close 10200 10350\n");
    cr_assert_eq(eng_catchup_state(eng_detector_catchup(det), 1), ENG_PART_BEHIND);
    cr_assert_eq(eng_catchup_etime(eng_detector_catchup(det), 1), T0 + 500);
    /* The end of the partition: the wall clock takes over, and whatever is
     * overdue opens at once with from = heard, in deadline order. */
    eng_detector_part_live(det, 1, true);
    EXPECT("S3 hb open 10450 -\nR1 hb open 10500 -\nS1 hb open 10500 -\n"
           "S2 hb open 10500 -\n");
    cr_assert_eq(eng_detector_open_count(det, ENG_ALERT_HEARTBEAT), 4);
    stop();
}

Test(detector, quiet_partition_is_judged_on_the_wall_clock_while_another_is_behind)
{
    start(false, true, NULL, 0);
    eng_detector_tick(det, WALL);
    eng_detector_part_assign(det, 1);
    eng_detector_part_assign(det, 2);
    /* Partition 2 holds no backlog: Q1 restored, then its end at once. */
    restore_heard("Q1", 2, WALL - 150);
    eng_detector_tick(det, WALL);
    EXPECT("");
    eng_detector_part_live(det, 2, true);
    EXPECT("Q1 hb open 109850 -\n"); /* overdue on the wall clock: at once */
    send_on(2, "Q2", WALL, NULL);
    /* Partition 1 is busy with old records meanwhile. */
    for (uint32_t t = T0; t <= T0 + 200; t += 10) {
        send_on(1, "B1", t, NULL);
        eng_detector_tick(det, WALL + (t - T0) / 4);
    }
    EXPECT("");
    eng_detector_tick(det, WALL + HB);
    EXPECT("Q2 hb open 110000 -\n");
    cr_assert_eq(eng_catchup_state(eng_detector_catchup(det), 1), ENG_PART_BEHIND);
    cr_assert(!eng_detector_alerting(det, idx_of("B1")));
    stop();
}

Test(detector, revoke_during_backlog_emits_nothing_and_releases_the_horizon)
{
    start(false, true, NULL, 0);
    eng_detector_tick(det, WALL);
    eng_detector_part_assign(det, 1);
    eng_detector_part_assign(det, 2);
    /* Partition 2 read first: B1 relays G with a 50 s gap (T0+200..T0+250).
     * Partition 1 has not been read, so the horizon is 0 and G's relays wait
     * as runs. */
    for (uint32_t t = T0; t <= T0 + 400; t += 5)
        if (t <= T0 + 200 || t >= T0 + 250) send_on(2, "B1", t, "G");
    cr_assert_eq(eng_detector_horizon(det), 0);
    /* Partition 1 read up to T0+100: the horizon follows it. */
    for (uint32_t t = T0; t <= T0 + 100; t += 5)
        send_on(1, "A1", t, "G");
    cr_assert_eq(eng_detector_horizon(det), T0 + 100);
    EXPECT("");
    /* Revoked in the middle of its backlog: no events, its things are
     * forgotten, and it no longer holds the horizon back. */
    cr_assert_eq(eng_detector_drop_partition(det, 1), 1);
    EXPECT("");
    cr_assert_eq(eng_catchup_state(eng_detector_catchup(det), 1), ENG_PART_UNTRACKED);
    cr_assert_eq(eng_detector_horizon(det), T0 + 400);
    eng_detector_tick(det, WALL + 1);
    EXPECT("G gw open 10200 -\nG gw close 10200 10250\n");
    cr_assert_eq(idx_of("A1"), ENG_THING_NONE);
    stop();
}

/* The relays of G: SA on partition 1 every 4 s, SB on partition 2 every 6 s,
 * from T0 to T0+300; both silent from T0+100 to T0+150 and from T0+220 to
 * T0+232 (the gaps G's data shows, each at least GW). */
static bool sa_up(uint32_t t)
{
    return !(t > T0 + 100 && t < T0 + 160) && !(t > T0 + 220 && t < T0 + 232);
}

static bool sb_up(uint32_t t)
{
    return !(t > T0 + 90 && t < T0 + 150) && !(t > T0 + 200 && t < T0 + 240);
}

/* Reads the two partitions one after the other or interleaved in time;
 * returns the log up to the end of both, and sets *at_live to what the end
 * of the partitions opened. */
static char *two_partition_relays(bool sequential, char **at_live)
{
    start(false, true, NULL, 0);
    eng_detector_tick(det, WALL);
    eng_detector_part_assign(det, 1);
    eng_detector_part_assign(det, 2);
    if (sequential) {
        for (uint32_t t = T0; t <= T0 + 300; t += 4)
            if (sa_up(t)) send_on(1, "SA", t, "G");
        for (uint32_t t = T0; t <= T0 + 300; t += 6)
            if (sb_up(t)) send_on(2, "SB", t, "G");
    } else {
        for (uint32_t t = T0; t <= T0 + 300; t++) {
            if ((t - T0) % 4 == 0 && sa_up(t)) send_on(1, "SA", t, "G");
            if ((t - T0) % 6 == 0 && sb_up(t)) send_on(2, "SB", t, "G");
        }
    }
    char *log = strdup(taken());
    eng_detector_part_live(det, 1, true);
    eng_detector_part_live(det, 2, true);
    *at_live = strdup(taken());
    stop();
    return log;
}

Test(detector, relays_read_partition_after_partition_equal_interleaved)
{
    char *live_seq, *live_mix;
    char *seq = two_partition_relays(true, &live_seq);
    char *mix = two_partition_relays(false, &live_mix);
    const char *want = "G gw open 10100 -\nG gw close 10100 10150\n"
                       "G gw open 10220 -\nG gw close 10220 10232\n";
    cr_assert_str_eq(mix, want);
    cr_assert_str_eq(seq, want);
    cr_assert_str_eq(live_seq, live_mix);
    cr_assert(strstr(live_seq, "G gw open 10300 -\n"), "at live: \"%s\"", live_seq);
    free(seq);
    free(mix);
    free(live_seq);
    free(live_mix);
}

/* G and its sensors are all silent at the end of both partitions. A live run
 * opens G first (its deadline T0+310 comes before the sensors' T0+400) and
 * holds SA and SB back: one alert. When partition 1 reaches its end first, SA
 * is judged on the wall clock while the horizon (partition 2, still behind)
 * has not decided G yet: SA must wait for that decision, not open on its own. */
Test(detector, inhibition_holds_when_partitions_catch_up_one_by_one)
{
    char *live;
    free(two_partition_relays(true, &live));
    cr_assert_str_eq(live, "G gw open 10300 -\n",
                     "the sensors are held back by G's window; got \"%s\"", live);
    free(live);
}

/* Wall clock: a partition behind, judged on its event time; event clock: the
 * same records. */
static const bool both_clocks[] = {false, true};

ParameterizedTestParameters(detector, own_message_at_or_past_deadline_opens_and_closes)
{
    return cr_make_param_array(bool, both_clocks, 2);
}

ParameterizedTest(const bool *event_clock, detector,
                  own_message_at_or_past_deadline_opens_and_closes)
{
    start(*event_clock, true, NULL, 0);
    eng_detector_tick(det, WALL);
    if (!*event_clock) eng_detector_part_assign(det, 3);
    /* L alone on its partition: nothing else moves the clock between its
     * messages, so each message moves it first and then closes what opened. */
    send_on(3, "L", T0, NULL);
    send_on(3, "L", T0 + HB, NULL); /* exactly at the deadline */
    EXPECT("L hb open 10000 -\nL hb close 10000 10100\n");
    send_on(3, "L", T0 + HB + 150, NULL); /* past it */
    EXPECT("L hb open 10100 -\nL hb close 10100 10250\n");
    /* The same for a gateway relayed by S, at and past gateway_timeout. */
    send_on(3, "S", T0 + 300, "G");
    send_on(3, "S", T0 + 300 + GW, "G");
    send_on(3, "S", T0 + 300 + GW + 25, "G");
    EXPECT("G gw open 10300 -\nG gw close 10300 10310\nG gw open 10310 -\n"
           "G gw close 10310 10335\n");
    stop();
}

/* ---- heartbeat_timeout 0: the alert is off -------------------------------- */

ParameterizedTestParameters(detector, heartbeat_timeout_zero_turns_the_alert_off)
{
    return cr_make_param_array(bool, both_clocks, 2);
}

ParameterizedTest(const bool *event_clock, detector, heartbeat_timeout_zero_turns_the_alert_off)
{
    /* Default 0, prefix TSGW 50: only the TSGW things are watched. */
    cfg_prefix_timeout_t gw_only[] = {{.prefix = "TSGW", .seconds = 50}};
    start_hb(*event_clock, true, 0, gw_only, 1);
    send("EV1", T0, NULL);
    send("TSGW1", T0, NULL);
    advance(*event_clock, T0 + 10 * HB);
    EXPECT("TSGW1 hb open 10000 -\n");
    stop();
    /* Default HB, prefix EV 0: event-driven devices are never due; the rest are. */
    cfg_prefix_timeout_t ev_off[] = {{.prefix = "EV", .seconds = 0}};
    start_hb(*event_clock, true, HB, ev_off, 1);
    send("EV1", T0, NULL);
    send("S1", T0, NULL);
    set_status("EV2", ENG_STATUS_INSTALLED, T0);
    advance(*event_clock, T0 + 10 * HB);
    EXPECT("S1 hb open 10000 -\n");
    cr_assert_eq(eng_detector_scheduled(det), 0);
    stop();
}
