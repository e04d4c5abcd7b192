/* bench_sim.c - tsm-sim: produces a simulated tsm fleet to a Kafka broker.
 *
 * N sensors (TSSN + 13 digits) report through M gateways (TSGW + 13 digits).
 * Each thing reports on its own schedule (sensors every --sensor-period,
 * gateways every --gateway-period, +-10% jitter); what a report is follows
 * --sensor-mix / --gateway-mix: battery heartbeats (1110 batl), environment
 * (12100 temp/hum), versions (1100 swVersion), gateway heartbeats (1110) and
 * locations (1210 lat/lon). Things go silent for --outage seconds so that
 * about --silent-frac of them are silent at any time; the sensors of a silent
 * gateway are silent with it; a thing coming back first sends tsmEv 18
 * (network disconnected) without tsmTs. Sensors sometimes move to another
 * gateway (--move-frac). A few records are malformed (--bad-frac), duplicated
 * (--dup-frac) or carry an old tsmTs (--late-frac). Records are keyed by
 * tsmTuid (with --array N, by the first message's tsmTuid).
 *
 * Clock: simulated by default; the schedule runs from --start-ts in steps of
 * --step seconds, tsmTs is the event's simulated time and the Kafka record
 * timestamp is that time too (so tsmEv 18 messages resolve identically on
 * replay). --realtime paces the schedule on the wall clock and stamps now.
 *
 * Reproducibility: every decision comes from one PRNG seeded by --seed, in
 * generation order, and nothing depends on timing, so the same seed and the
 * same generation options give a byte-identical sequence of keys, values and
 * timestamps (except with --realtime, --record-ts-now or --duration);
 * --rate, --brokers, --topic, -X, --expect and --dry-run do not change it.
 * Per partition, Kafka keeps that order unless a produce is retried after a
 * broker failure (use -X enable.idempotence=true).
 *
 * --expect FILE writes one TSV line per message produced; its header comment
 * documents the columns. --dry-run generates without Kafka. Options live in
 * sim_opts.h (one table row each), the JSON/MessagePack writer in
 * sim_encode.h; docs/TOOLS.md is the user's guide. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "bench/sim_encode.h"
#include "bench/sim_opts.h"
#include "engine/base/log.h"

enum sim_kind_e {
    SIM_BATT, /* sensor 1110: batl */
    SIM_ENV,  /* sensor 12100: temp, hum */
    SIM_VER,  /* 1100: swVersion */
    SIM_GWHB, /* gateway 1110 heartbeat */
    SIM_LOC,  /* gateway 1210: lat, lon */
    SIM_EV18, /* 1110 tsmEv 18 without tsmTs */
};

/* Malformed records: one defect each, and the reason tsmd should count. */
#define SIM_BADS(X)                                                                                \
    X(TRUNC, "bad_json", "bad_msgpack")                                                            \
    X(TRAILING, "bad_json", "bad_msgpack")                                                         \
    X(MISSING, "missing_field", "missing_field")                                                   \
    X(TUID_SPACE, "bad_tuid", "bad_tuid")                                                          \
    X(TUID_LONG, "bad_tuid", "bad_tuid")                                                           \
    X(DEEP, "too_deep", "too_deep")                                                                \
    X(NOT_OBJECT, "not_object", "not_object")                                                      \
    X(BAD_FIELD, "bad_field", "bad_field")                                                         \
    X(BAD_NUMBER, "bad_number", "bad_number")                                                      \
    X(DUP_KEY, "duplicate_key", "duplicate_key")                                                   \
    X(EMPTY, "empty", "empty")

enum sim_bad_e {
#define SIM_BAD_ENUM(id, json, mp) SIM_BAD_##id,
    SIM_BADS(SIM_BAD_ENUM)
#undef SIM_BAD_ENUM
        SIM_BAD_COUNT
};

static const char *const sim_bad_reason[2][SIM_BAD_COUNT] = {
#define SIM_BAD_JSON(id, json, mp) json,
#define SIM_BAD_MP(id, json, mp) mp,
    {SIM_BADS(SIM_BAD_JSON)},
    {SIM_BADS(SIM_BAD_MP)},
#undef SIM_BAD_JSON
#undef SIM_BAD_MP
};

static const char *const sim_versions[] = {"3.1.4", "3.2.0", "3.2.1", "3.3.0", "3.4.2"};
#define SIM_NVERSIONS (sizeof(sim_versions) / sizeof(sim_versions[0]))

typedef struct sim_thing_s {
    uint32_t gw;           /* sensors: index (among things) of their gateway */
    uint32_t silent_until; /* simulated seconds since start; silent before it */
    uint8_t batl, ver, offline;
} sim_thing_t;

/* One message being emitted, the fields the expect file records. */
typedef struct sim_msg_s {
    char tuid[72], gw[20];
    const char *ver, *reason; /* static strings or NULL */
    int64_t ts_ms;            /* -1: no tsmTs */
    int id, ev, batl;
    int64_t lat, lon; /* micro-degrees */
    bool has_loc;
} sim_msg_t;

typedef struct sim_stats_s {
    uint64_t messages, records, bad, dups, late, ev18, silent_skips, moves, bytes;
    uint64_t delivered, failed, queue_full;
} sim_stats_t;

typedef struct sim_s {
    sim_opts_t opt;
    uint64_t rng;
    uint32_t nthings;
    sim_thing_t *things;
    uint64_t *heap; /* (due_ms << 24) | thing, min-heap */
    uint32_t heap_len;
    int64_t start_ms, step_ms, now_ms; /* simulated clock: ms since start_ms */
    double pout_s, pout_g;             /* per-report probability to start an outage */
    sim_out_t rec;                     /* the record being built */
    sim_msg_t *pending;                /* its messages, for the expect file */
    uint32_t rec_msgs;
    bool rec_dup;
    size_t rec_arr_at;
    int64_t rec_ts_ms;
    char rec_key[96];
    size_t rec_key_len;
    FILE *expect;
    rd_kafka_t *rk;
    rd_kafka_topic_t *rkt;
    sim_stats_t st;
    double t0, last_progress;
    uint64_t last_progress_msgs;
} sim_t;

/* Set by SIGINT/SIGTERM; signals are process-wide, so this flag is too. */
static volatile sig_atomic_t sim_stop_signal;

static void sim_on_signal(int sig)
{
    sim_stop_signal = sig;
}

static double sim_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* splitmix64: small, fast, and identical on every platform. */
static uint64_t sim_rand(sim_t *sim)
{
    uint64_t z = (sim->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double sim_unit(sim_t *sim)
{
    return (double)(sim_rand(sim) >> 11) * (1.0 / 9007199254740992.0);
}

static int64_t sim_range(sim_t *sim, int64_t lo, int64_t hi)
{
    return lo + (int64_t)(sim_rand(sim) % (uint64_t)(hi - lo + 1));
}

/* ---- messages -------------------------------------------------------------- */

static void sim_tuid(char out[18], bool gateway, uint32_t n)
{
    snprintf(out, 18, "%s%013" PRIu32, gateway ? "TSGW" : "TSSN", n + 1);
}

static bool sim_is_sensor(const sim_t *sim, uint32_t idx)
{
    return idx < sim->opt.sensors;
}

static void sim_thing_tuid(const sim_t *sim, uint32_t idx, char out[18])
{
    if (sim_is_sensor(sim, idx))
        sim_tuid(out, false, idx);
    else
        sim_tuid(out, true, idx - sim->opt.sensors);
}

/* A gateway's home, derived from its index so that it needs no storage. */
static void sim_gw_home(const sim_t *sim, uint32_t idx, int64_t *lat, int64_t *lon)
{
    uint64_t h = (sim->opt.seed ^ 0x5851f42d4c957f2dull) + idx * 0x9e3779b97f4a7c15ull;
    h = (h ^ (h >> 31)) * 0xbf58476d1ce4e5b9ull;
    *lat = 45000000 + (int64_t)(h % 15000000);
    *lon = 5000000 + (int64_t)((h >> 32) % 20000000);
}

static void sim_head(sim_t *sim, sim_out_t *o, const sim_msg_t *m)
{
    out_key(o, "tsmId");
    out_int(o, m->id);
    out_key(o, "tsmEv");
    out_int(o, m->ev);
    out_key(o, "tsmTuid");
    out_str(o, m->tuid, strlen(m->tuid));
    if (m->gw[0] != '\0') {
        out_key(o, "tsmGw");
        out_str(o, m->gw, strlen(m->gw));
    }
    if (m->ts_ms >= 0) {
        out_key(o, "tsmTs");
        out_ts(o, m->ts_ms);
    }
    (void)sim;
}

/* Writes the payload fields of a valid message of kind `kind`. */
static void sim_body(sim_t *sim, sim_out_t *o, int kind, sim_msg_t *m, uint32_t idx)
{
    switch (kind) {
    case SIM_BATT:
        out_kv_int(o, "batl", m->batl);
        out_kv_int(o, "rssi", sim_range(sim, -110, -40));
        out_kv_fixed(o, "snr", sim_range(sim, -50, 120), 1);
        out_kv_fixed(o, "devTemp", sim_range(sim, -100, 450), 1);
        break;
    case SIM_ENV:
        out_kv_fixed(o, "temp", sim_range(sim, -100, 350), 1);
        out_kv_fixed(o, "hum", sim_range(sim, 200, 900), 1);
        out_kv_fixed(o, "pres", sim_range(sim, 9800, 10400), 1);
        out_kv_int(o, "lux", sim_range(sim, 0, 20000));
        break;
    case SIM_VER:
        out_kv_str(o, "swVersion", m->ver);
        out_kv_str(o, "hwVersion", sim_is_sensor(sim, idx) ? "B2" : "G1");
        break;
    case SIM_GWHB:
        out_kv_int(o, "uptime", sim->now_ms / 1000 - (int64_t)sim->things[idx].silent_until);
        out_kv_fixed(o, "load", sim_range(sim, 0, 400), 2);
        out_kv_int(o, "rssi", sim_range(sim, -90, -40));
        out_kv_int(o, "memFree", sim_range(sim, 20000, 500000));
        break;
    case SIM_LOC:
        out_kv_fixed(o, "lat", m->lat, 6);
        out_kv_fixed(o, "lon", m->lon, 6);
        out_kv_fixed(o, "alt", sim_range(sim, 0, 3000), 1);
        out_kv_int(o, "sats", sim_range(sim, 4, 14));
        break;
    case SIM_EV18:
        out_kv_str(o, "cause", "network");
        break;
    }
    if (sim->opt.pad) {
        char pad[256];
        memset(pad, 'x', sizeof(pad));
        out_key(o, "pad");
        out_str(o, pad, sim->opt.pad);
    }
}

/* ---- malformed records ----------------------------------------------------- */

static void sim_bad_map(sim_out_t *o, int bad, sim_msg_t *m)
{
    size_t at = out_map(o);
    if (bad == SIM_BAD_BAD_FIELD) {
        out_key(o, "tsmId");
        out_str(o, "1110", 4);
        m->id = -1;
    } else if (bad != SIM_BAD_MISSING) {
        out_key(o, "tsmId");
        out_int(o, m->id);
    }
    out_key(o, "tsmEv");
    out_int(o, m->ev);
    out_key(o, "tsmTuid");
    out_str(o, m->tuid, strlen(m->tuid));
    out_key(o, "tsmTs");
    out_ts(o, m->ts_ms);
    if (bad == SIM_BAD_DUP_KEY) {
        out_key(o, "tsmEv");
        out_int(o, m->ev + 1);
    }
    out_key(o, "batl");
    if (bad == SIM_BAD_BAD_NUMBER) {
        if (o->mp) {
            out_byte(o, 0xcb); /* float64 NaN */
            out_be(o, 0x7ff8000000000000ull, 8);
        } else {
            out_bytes(o, "1e999", 5);
        }
    } else {
        out_int(o, m->batl);
    }
    if (bad == SIM_BAD_DEEP) {
        out_key(o, "deep");
        for (int i = 0; i < 20; i++)
            out_byte(o, o->mp ? 0x91 : '[');
        out_int(o, 1);
        if (!o->mp)
            for (int i = 0; i < 20; i++)
                out_byte(o, ']');
    }
    out_map_end(o, at);
}

/* Builds one malformed record into o; fills m for the expect file. */
static void sim_bad(sim_out_t *o, int bad, sim_msg_t *m)
{
    if (bad == SIM_BAD_TUID_SPACE) {
        m->tuid[4] = ' ';
    } else if (bad == SIM_BAD_TUID_LONG) {
        memset(m->tuid + 17, '7', 48);
        m->tuid[65] = '\0';
    }
    m->gw[0] = '\0';
    m->has_loc = false;
    m->ver = NULL;
    m->reason = sim_bad_reason[o->mp][bad];
    if (bad == SIM_BAD_EMPTY) return;
    if (bad == SIM_BAD_NOT_OBJECT) {
        if (o->mp) {
            out_byte(o, 0x91);
            out_int(o, 42);
        } else {
            out_bytes(o, "[42]", 4);
        }
        return;
    }
    sim_bad_map(o, bad, m);
    if (bad == SIM_BAD_TRUNC) o->len /= 2;
    if (bad == SIM_BAD_TRAILING) out_bytes(o, o->mp ? "\xc0" : "}x", o->mp ? 1 : 2);
}

/* ---- records and Kafka ---------------------------------------------------- */

static void sim_dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *msg, void *opaque)
{
    sim_t *sim = opaque;
    (void)rk;
    if (msg->err == RD_KAFKA_RESP_ERR_NO_ERROR) {
        sim->st.delivered++;
        return;
    }
    if (sim->st.failed++ < 10)
        ENG_WARN("delivery failed", " err=\"%s\" partition=%d", rd_kafka_err2str(msg->err),
                 (int)msg->partition);
}

static void sim_produce(sim_t *sim, const void *val, size_t len)
{
    sim->st.records++;
    sim->st.bytes += len;
    if (sim->rk == NULL) { /* --dry-run */
        sim->st.delivered++;
        return;
    }
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            sim->rk, RD_KAFKA_V_RKT(sim->rkt), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(sim->rec_key, sim->rec_key_len), RD_KAFKA_V_VALUE((void *)val, len),
            RD_KAFKA_V_TIMESTAMP(sim->rec_ts_ms), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR) break;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            if (sim->st.failed++ < 10)
                ENG_WARN("produce failed", " err=\"%s\"", rd_kafka_err2str(err));
            return;
        }
        sim->st.queue_full++;
        rd_kafka_poll(sim->rk, 5);
    }
    if ((sim->st.records & 1023) == 0) rd_kafka_poll(sim->rk, 0);
}

static void sim_expect_line(sim_t *sim, uint64_t rec, const sim_msg_t *m, bool dup)
{
    char ts[32] = "-", lat[24] = "-", lon[24] = "-", batl[16] = "-";
    if (m->ts_ms >= 0)
        snprintf(ts, sizeof(ts), m->ts_ms % 1000 ? "%" PRId64 ".%03d" : "%" PRId64, m->ts_ms / 1000,
                 (int)(m->ts_ms % 1000));
    if (m->has_loc) {
        snprintf(lat, sizeof(lat), "%" PRId64 ".%06d", m->lat / 1000000, (int)(m->lat % 1000000));
        snprintf(lon, sizeof(lon), "%" PRId64 ".%06d", m->lon / 1000000, (int)(m->lon % 1000000));
    }
    if (m->batl >= 0) snprintf(batl, sizeof(batl), "%d", m->batl);
    fprintf(sim->expect,
            "%" PRIu64 "\t%.*s\t%" PRId64 "\t%s\t%s\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\n", rec,
            (int)sim->rec_key_len, sim->rec_key, sim->rec_ts_ms, m->tuid, ts, m->id, m->ev,
            m->gw[0] ? m->gw : "-", batl, lat, lon, m->ver ? m->ver : "-", m->reason == NULL,
            m->reason ? m->reason : "-", dup);
}

static void sim_expect_header(sim_t *sim, int argc, char **argv)
{
    FILE *f = sim->expect;
    fprintf(f,
            "# tsm-sim expect v1: one line per tsm message produced, in production order.\n"
            "# Columns, tab-separated, '-' when absent:\n"
            "#  rec       record number, 0-based, in production order (a duplicate is a record)\n"
            "#  key       the record's key\n"
            "#  kafka_ts  the record's timestamp in ms (set by tsm-sim)\n"
            "#  tuid      tsmTuid as sent\n"
            "#  ts        tsmTs as sent, seconds; '-' for tsmEv 18 without tsmTs, whose\n"
            "#            time is then floor(kafka_ts / 1000)\n"
            "#  id ev     tsmId, tsmEv (id -1: sent as a string, or absent when invalid)\n"
            "#  gw        tsmGw\n"
            "#  batl lat lon ver   batl, lat, lon, swVersion as sent\n"
            "#  valid     1: tsmd must accept it; 0: tsmd must reject it\n"
            "#  reason    the rejection reason tsmd should count (metric label), '-' if valid\n"
            "#  dup       1: this record is an exact copy of the previous record\n"
            "# A malformed message is always alone in its record, even with --array.\n"
            "# args:");
    for (int i = 1; i < argc; i++)
        fprintf(f, " %s", argv[i]);
    fprintf(
        f,
        "\n# rec\tkey\tkafka_ts\ttuid\tts\tid\tev\tgw\tbatl\tlat\tlon\tver\tvalid\treason\tdup\n");
}

/* Sends the record being built (if any), twice when it was drawn as a
 * duplicate, and writes its expect lines. */
static void sim_flush(sim_t *sim)
{
    if (sim->rec_msgs == 0) return;
    sim_out_t *o = &sim->rec;
    if (sim->opt.array && sim->pending[0].reason == NULL) {
        if (o->mp) {
            o->p[1] = (uint8_t)(sim->rec_msgs >> 8);
            o->p[2] = (uint8_t)sim->rec_msgs;
        } else {
            out_byte(o, ']');
        }
    }
    for (int copy = 0; copy <= (int)sim->rec_dup; copy++) {
        if (sim->expect)
            for (uint32_t i = 0; i < sim->rec_msgs; i++)
                sim_expect_line(sim, sim->st.records, &sim->pending[i], copy);
        sim_produce(sim, o->p, o->len);
    }
    sim->st.dups += sim->rec_dup;
    o->len = 0;
    sim->rec_msgs = 0;
}

/* Starts a record unless one is open (a malformed message always gets its
 * own record). Returns the slot for the message. */
static sim_msg_t *sim_record_add(sim_t *sim, const sim_msg_t *m, int64_t event_ms, bool alone)
{
    if (alone) sim_flush(sim);
    if (sim->rec_msgs == 0) {
        sim->rec_key_len = strlen(m->tuid);
        memcpy(sim->rec_key, m->tuid, sim->rec_key_len);
        sim->rec_ts_ms = sim->opt.record_ts_now ? (int64_t)(sim_wall() * 1000) : event_ms;
        sim->rec_dup = sim->opt.dup_frac > 0 && sim_unit(sim) < sim->opt.dup_frac;
        sim->rec.len = 0;
        if (sim->opt.array && !alone) {
            if (sim->rec.mp) {
                out_byte(&sim->rec, 0xdc); /* array16; the count is patched at flush */
                out_be(&sim->rec, 0, 2);
            } else {
                out_byte(&sim->rec, '[');
            }
        }
    }
    sim->pending[sim->rec_msgs] = *m;
    return &sim->pending[sim->rec_msgs++];
}

/* ---- the fleet -------------------------------------------------------------- */

static uint64_t sim_key(int64_t due_ms, uint32_t idx)
{
    return ((uint64_t)due_ms << 24) | idx;
}

static void sim_heap_down(sim_t *sim, uint32_t i)
{
    uint64_t *h = sim->heap;
    uint64_t v = h[i];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= sim->heap_len) break;
        if (c + 1 < sim->heap_len && h[c + 1] < h[c]) c++;
        if (h[c] >= v) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static int64_t sim_quantize(const sim_t *sim, int64_t ms)
{
    return (ms + sim->step_ms - 1) / sim->step_ms * sim->step_ms;
}

/* The next report of a thing after `due`: one period, +-10% jitter. */
static int64_t sim_next_due(sim_t *sim, uint32_t idx, int64_t due)
{
    double period = sim_is_sensor(sim, idx) ? sim->opt.sensor_period : sim->opt.gateway_period;
    int64_t next =
        sim_quantize(sim, due + (int64_t)(period * 1000.0 * (0.9 + 0.2 * sim_unit(sim))));
    return next > due ? next : due + sim->step_ms;
}

/* Decides what thing idx does at its report time `due`: returns the kind of
 * message it sends, or -1 when it stays silent; sets *next to its next
 * report time. */
static int sim_decide(sim_t *sim, uint32_t idx, int64_t due, int64_t *next)
{
    sim_thing_t *t = &sim->things[idx];
    bool sensor = sim_is_sensor(sim, idx);
    *next = sim_next_due(sim, idx, due);
    if (sensor && sim->opt.gateways && sim->things[t->gw].silent_until * 1000ll > due) {
        t->offline = 1; /* its gateway is silent, so is it */
        sim->st.silent_skips++;
        return -1;
    }
    if (sim_unit(sim) < (sensor ? sim->pout_s : sim->pout_g)) {
        int64_t len = (int64_t)(sim->opt.outage * 1000.0 * (0.75 + 0.5 * sim_unit(sim)));
        *next = sim_quantize(sim, due + len);
        t->silent_until = (uint32_t)(*next / 1000);
        t->offline = 1;
        return -1;
    }
    if (t->offline) {
        t->offline = 0;
        return SIM_EV18;
    }
    if (sensor && sim->opt.gateways > 1 && sim_unit(sim) < sim->opt.move_frac) {
        uint32_t g = (uint32_t)(sim_rand(sim) % (sim->opt.gateways - 1));
        uint32_t cur = t->gw - sim->opt.sensors;
        t->gw = sim->opt.sensors + (g >= cur ? g + 1 : g);
        sim->st.moves++;
    }
    const double *mix = sensor ? sim->opt.mix_s : sim->opt.mix_g;
    double r = sim_unit(sim) * (mix[0] + mix[1] + mix[2]);
    if (r < mix[0]) return sensor ? SIM_BATT : SIM_GWHB;
    if (r < mix[0] + mix[1]) return sensor ? SIM_ENV : SIM_LOC;
    return SIM_VER;
}

/* Fills the expect fields of a message of `kind` and moves the thing's
 * battery, version and position along. */
static void sim_fill(sim_t *sim, uint32_t idx, int kind, sim_msg_t *m)
{
    sim_thing_t *t = &sim->things[idx];
    sim_thing_tuid(sim, idx, m->tuid);
    if (sim_is_sensor(sim, idx) && sim->opt.gateways) sim_thing_tuid(sim, t->gw, m->gw);
    m->id = kind == SIM_ENV ? 12100 : kind == SIM_VER ? 1100 : kind == SIM_LOC ? 1210 : 1110;
    m->ev = kind == SIM_EV18 ? 18 : kind == SIM_VER ? 2 : 10;
    m->batl = -1;
    if (kind == SIM_BATT) {
        if (sim_unit(sim) < 0.05 && --t->batl < 5) t->batl = 100; /* battery swapped */
        m->batl = t->batl;
    } else if (kind == SIM_VER) {
        if (sim_unit(sim) < 0.2 && t->ver + 1u < SIM_NVERSIONS) t->ver++;
        m->ver = sim_versions[t->ver];
    } else if (kind == SIM_LOC) {
        sim_gw_home(sim, idx, &m->lat, &m->lon);
        m->lat += sim_range(sim, -50, 50);
        m->lon += sim_range(sim, -50, 50);
        m->has_loc = true;
    } else if (kind == SIM_EV18) {
        m->ts_ms = -1;
        sim->st.ev18++;
    }
}

static void sim_emit(sim_t *sim, uint32_t idx, int kind, int64_t event_ms)
{
    sim_msg_t m = {.ts_ms = event_ms};
    sim_fill(sim, idx, kind, &m);
    sim_out_t *o = &sim->rec;
    if (sim->opt.bad_frac > 0 && sim_unit(sim) < sim->opt.bad_frac) {
        int bad = (int)(sim_rand(sim) % SIM_BAD_COUNT);
        if (m.ts_ms < 0) m.ts_ms = event_ms;
        if (m.batl < 0) m.batl = 50;
        sim_msg_t *slot = sim_record_add(sim, &m, event_ms, true);
        sim_bad(o, bad, slot);
        sim->rec_key_len = strlen(slot->tuid);
        memcpy(sim->rec_key, slot->tuid, sim->rec_key_len);
        sim->st.bad++;
        sim_flush(sim);
        return;
    }
    if (sim->opt.late_frac > 0 && m.ts_ms >= 0 && sim_unit(sim) < sim->opt.late_frac) {
        double period = sim_is_sensor(sim, idx) ? sim->opt.sensor_period : sim->opt.gateway_period;
        m.ts_ms -= sim_range(sim, 1, 1 + (int64_t)(2 * period)) * 1000;
        if (m.ts_ms < 0) m.ts_ms = 0;
        sim->st.late++;
    }
    sim_msg_t *slot = sim_record_add(sim, &m, event_ms, false);
    size_t at = out_map(o);
    sim_head(sim, o, slot);
    sim_body(sim, o, kind, slot, idx);
    out_map_end(o, at);
    if (sim->rec_msgs >= (sim->opt.array ? sim->opt.array : 1)) sim_flush(sim);
}

static void sim_fleet_init(sim_t *sim)
{
    const sim_opts_t *opt = &sim->opt;
    sim->nthings = opt->sensors + opt->gateways;
    sim->things = eng_calloc(sim->nthings, sizeof(*sim->things));
    sim->heap = eng_malloc(sizeof(*sim->heap) * sim->nthings);
    for (uint32_t i = 0; i < sim->nthings; i++) {
        sim_thing_t *t = &sim->things[i];
        bool sensor = sim_is_sensor(sim, i);
        t->gw =
            sensor && opt->gateways ? opt->sensors + (uint32_t)(sim_rand(sim) % opt->gateways) : 0;
        t->batl = (uint8_t)sim_range(sim, 40, 100);
        t->ver = (uint8_t)(sim_rand(sim) % (SIM_NVERSIONS - 1));
        double period = sensor ? opt->sensor_period : opt->gateway_period;
        int64_t due = sim_quantize(sim, (int64_t)(sim_unit(sim) * period * 1000.0));
        sim->heap[i] = sim_key(due, i);
    }
    sim->heap_len = sim->nthings;
    for (uint32_t i = sim->nthings / 2 + 1; i-- > 0;)
        sim_heap_down(sim, i);
    /* Chance per report to start an outage such that, in the steady state,
     * about silent_frac of the things are silent: F = pD / (pD + (1-p)P). */
    double f = opt->silent_frac, d = opt->outage;
    sim->pout_s = f > 0 ? f * opt->sensor_period / (d * (1 - f) + f * opt->sensor_period) : 0;
    sim->pout_g = f > 0 ? f * opt->gateway_period / (d * (1 - f) + f * opt->gateway_period) : 0;
    sim->pending = eng_calloc(opt->array ? opt->array : 1, sizeof(*sim->pending));
    sim->rec.mp = opt->msgpack;
}

/* ---- pacing, progress and the main loop ------------------------------------ */

static void sim_progress(sim_t *sim, double now, bool final)
{
    double dt = now - sim->last_progress;
    double rate = dt > 0 ? (double)(sim->st.messages - sim->last_progress_msgs) / dt : 0;
    if (final) {
        dt = now - sim->t0;
        rate = dt > 0 ? (double)sim->st.messages / dt : 0;
    }
    ENG_INFO(final ? "done" : "progress",
             " messages=%" PRIu64 " records=%" PRIu64 " rate=%.0f delivered=%" PRIu64
             " failed=%" PRIu64 " bad=%" PRIu64 " dups=%" PRIu64 " late=%" PRIu64 " ev18=%" PRIu64
             " moves=%" PRIu64 " bytes=%" PRIu64 " sim_ts=%" PRId64 " seconds=%.2f",
             sim->st.messages, sim->st.records, rate, sim->st.delivered, sim->st.failed,
             sim->st.bad, sim->st.dups, sim->st.late, sim->st.ev18, sim->st.moves, sim->st.bytes,
             (sim->start_ms + sim->now_ms) / 1000, now - sim->t0);
    sim->last_progress = now;
    sim->last_progress_msgs = sim->st.messages;
}

/* Sleeps, serving delivery reports meanwhile. */
static void sim_sleep(sim_t *sim, double seconds)
{
    int ms = (int)(seconds * 1000.0);
    ms = ms > 100 ? 100 : ms < 1 ? 1 : ms;
    if (sim->rk != NULL)
        rd_kafka_poll(sim->rk, ms);
    else
        usleep((useconds_t)ms * 1000);
}

/* Keeps to --rate, prints progress once a second, checks --duration.
 * Returns false when it is time to stop. */
static bool sim_pace(sim_t *sim)
{
    uint64_t n = sim->st.messages;
    bool slow = sim->opt.rate > 0 && sim->opt.rate < 100000;
    if (!slow && (n & 255) != 0) return true;
    double now = sim_wall();
    while (sim->opt.rate > 0 && !sim_stop_signal) {
        double ahead = sim->t0 + (double)n / sim->opt.rate - now;
        if (ahead < 0.001) break;
        sim_sleep(sim, ahead);
        now = sim_wall();
    }
    if (now - sim->last_progress >= 1.0) sim_progress(sim, now, false);
    return !(sim->opt.duration > 0 && now - sim->t0 >= sim->opt.duration);
}

/* With --realtime, waits until the wall clock reaches due. Returns false
 * when a signal or --duration ends the wait. */
static bool sim_wait_due(sim_t *sim, int64_t due)
{
    for (;;) {
        double now = sim_wall();
        double wait = (double)(sim->start_ms + due) / 1000.0 - now;
        if (now - sim->last_progress >= 1.0) sim_progress(sim, now, false);
        if (sim_stop_signal || (sim->opt.duration > 0 && now - sim->t0 >= sim->opt.duration))
            return false;
        if (wait <= 0) return true;
        sim_sleep(sim, wait);
    }
}

static void sim_run(sim_t *sim)
{
    const sim_opts_t *opt = &sim->opt;
    int64_t sim_end = opt->sim_duration > 0 ? (int64_t)(opt->sim_duration * 1000.0) : INT64_MAX;
    while (!sim_stop_signal && (opt->messages == 0 || sim->st.messages < opt->messages)) {
        int64_t due = (int64_t)(sim->heap[0] >> 24);
        uint32_t idx = (uint32_t)(sim->heap[0] & 0xffffff);
        if (due >= sim_end) break;
        if (opt->realtime && !sim_wait_due(sim, due)) break;
        sim->now_ms = due;
        int64_t next;
        int kind = sim_decide(sim, idx, due, &next);
        sim->heap[0] = sim_key(next, idx);
        sim_heap_down(sim, 0);
        if (kind < 0) continue;
        int64_t event_ms = sim->start_ms + due;
        if (opt->realtime) {
            int64_t wall_ms = (int64_t)(sim_wall() * 1000.0);
            event_ms = wall_ms / sim->step_ms * sim->step_ms;
        }
        sim_emit(sim, idx, kind, event_ms);
        sim->st.messages++;
        if (!sim_pace(sim)) break;
    }
    sim_flush(sim);
}

/* Reads the first line of the bootstrap file, waiting for it to appear.
 * Returns a heap string or NULL after wait_s seconds. */
static char *sim_read_bootstrap(const char *path, double wait_s)
{
    double until = sim_wall() + wait_s;
    char line[4096];
    do {
        FILE *f = fopen(path, "r");
        if (f != NULL) {
            bool ok = fgets(line, sizeof(line), f) != NULL;
            fclose(f);
            line[strcspn(line, "\r\n")] = '\0';
            if (ok && line[0] != '\0') return eng_strdup(line);
        }
        if (!sim_stop_signal) usleep(50000);
    } while (sim_wall() < until && !sim_stop_signal);
    return NULL;
}

static int sim_conf_set(rd_kafka_conf_t *conf, const char *key, const char *val)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, val, errstr, sizeof(errstr)) == RD_KAFKA_CONF_OK) return 0;
    fprintf(stderr, "tsm-sim: %s=%s: %s\n", key, val, errstr);
    return -1;
}

static int sim_producer_new(sim_t *sim, const char *brokers, const sim_args_t *args)
{
    static const char *const defaults[][2] = {
        {"linger.ms", "5"},
        {"batch.num.messages", "100000"},
        {"batch.size", "4000000"},
        {"queue.buffering.max.messages", "2000000"},
        {"queue.buffering.max.kbytes", "2097152"},
        {"log_level", "4"},
    };
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    char errstr[512];
    int rc = sim_conf_set(conf, "bootstrap.servers", brokers);
    for (size_t i = 0; rc == 0 && i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rc = sim_conf_set(conf, defaults[i][0], defaults[i][1]);
    for (int i = 0; rc == 0 && i < args->nx; i++) {
        char key[256];
        const char *eq = strchr(args->x[i], '=');
        snprintf(key, sizeof(key), "%.*s", (int)(eq - args->x[i]), args->x[i]);
        rc = sim_conf_set(conf, key, eq + 1);
    }
    if (rc != 0) {
        rd_kafka_conf_destroy(conf);
        return -1;
    }
    rd_kafka_conf_set_dr_msg_cb(conf, sim_dr_cb);
    rd_kafka_conf_set_opaque(conf, sim);
    sim->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (sim->rk == NULL) {
        fprintf(stderr, "tsm-sim: %s\n", errstr);
        return -1;
    }
    sim->rkt = rd_kafka_topic_new(sim->rk, sim->opt.topic, NULL);
    return 0;
}

static void sim_print_json(const sim_t *sim, double seconds)
{
    printf("{\"messages\":%" PRIu64 ",\"records\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"delivered\":%" PRIu64 ",\"failed\":%" PRIu64 ",\"bad\":%" PRIu64 ",\"dups\":%" PRIu64
           ",\"late\":%" PRIu64 ",\"ev18\":%" PRIu64 ",\"seconds\":%.3f,\"msgs_per_sec\":%.0f}\n",
           sim->st.messages, sim->st.records, sim->st.bytes, sim->st.delivered, sim->st.failed,
           sim->st.bad, sim->st.dups, sim->st.late, sim->st.ev18, seconds,
           seconds > 0 ? (double)sim->st.messages / seconds : 0.0);
}

static int sim_start(sim_t *sim, const sim_args_t *args, int argc, char **argv)
{
    char *brokers = sim->opt.dry_run ? NULL
                    : sim->opt.brokers
                        ? eng_strdup(sim->opt.brokers)
                        : sim_read_bootstrap(sim->opt.bootstrap_file, sim->opt.wait_s);
    if (brokers == NULL && !sim->opt.dry_run) {
        ENG_ERROR("no bootstrap list", " file=%s", sim->opt.bootstrap_file);
        return -1;
    }
    int rc = sim->opt.dry_run ? 0 : sim_producer_new(sim, brokers, args);
    free(brokers);
    if (rc != 0) return -1;
    if (sim->opt.expect_path != NULL) {
        sim->expect = fopen(sim->opt.expect_path, "w");
        if (sim->expect == NULL) {
            ENG_ERROR("cannot write expect file", " path=%s err=\"%s\"", sim->opt.expect_path,
                      strerror(errno));
            return -1;
        }
        sim_expect_header(sim, argc, argv);
    }
    sim->rng = sim->opt.seed;
    sim->step_ms = (int64_t)(sim->opt.step * 1000.0 + 0.5);
    sim->start_ms = (int64_t)(sim->opt.start_ts * 1000.0 + 0.5);
    if (sim->opt.realtime) sim->start_ms = (int64_t)(sim_wall() * 1000.0);
    sim_fleet_init(sim);
    return 0;
}

int main(int argc, char **argv)
{
    sim_t sim = {0};
    sim_args_t args = {0};
    sim_defaults(&sim.opt);
    if (sim_parse_args(&sim.opt, &args, argc, argv) != 0 || sim_check_opts(&sim.opt) != 0) return 2;
    signal(SIGINT, sim_on_signal);
    signal(SIGTERM, sim_on_signal);
    if (sim_start(&sim, &args, argc, argv) != 0) return 1;
    ENG_INFO("producing",
             " topic=%s sensors=%" PRIu32 " gateways=%" PRIu32 " format=%s seed=%" PRIu64
             " messages=%" PRIu64 " start_ts=%" PRId64,
             sim.opt.topic, sim.opt.sensors, sim.opt.gateways, sim.opt.format, sim.opt.seed,
             sim.opt.messages, sim.start_ms / 1000);
    sim.t0 = sim.last_progress = sim_wall();
    sim_run(&sim);
    if (sim.rk != NULL && rd_kafka_flush(sim.rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR) {
        int left = rd_kafka_outq_len(sim.rk);
        ENG_ERROR("flush timed out", " undelivered=%d", left);
        sim.st.failed += (uint64_t)left;
    }
    double now = sim_wall();
    sim_progress(&sim, now, true);
    if (args.json) sim_print_json(&sim, now - sim.t0);
    if (sim.expect != NULL && fclose(sim.expect) != 0) {
        ENG_ERROR("expect file write failed", " path=%s", sim.opt.expect_path);
        sim.st.failed++;
    }
    if (sim.rk != NULL) {
        rd_kafka_topic_destroy(sim.rkt);
        rd_kafka_destroy(sim.rk);
    }
    free(sim.things);
    free(sim.heap);
    free(sim.pending);
    free(sim.rec.p);
    return sim.st.failed ? 1 : 0;
}
