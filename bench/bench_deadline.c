/* bench_deadline.c - memory per tracked thing and cost per update and per
 * expiry of the detector's deadline structure (things table + heaps), at 1
 * and 10 million things. Prints a table, or with --json one JSON object on
 * stdout for the bench harness.
 *
 * Fleet: sensors TSSN + 13 digits behind gateways TSGW + 13 digits (one per
 * 500 sensors), as tsm-sim names them. Phases per size:
 *   insert: one message per sensor (first sight: table add + heap push);
 *   update: as many messages again to uniformly random known sensors with
 *           later times (hash lookup, newest-state merge, lazy deadline: O(1));
 *   expiry: one tick past every deadline; every sensor and gateway opens a
 *           window (pop, lazy re-key when the key moved, callback). */
#include "engine/base/heap.h"
#include "engine/model/detector.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define T0 1700000000u
#define PER_GATEWAY 500u

typedef struct result_s {
    uint32_t things; /* sensors + gateways */
    uint32_t gateways;
    double rss_bytes_per_thing;
    double struct_bytes_per_thing;
    double ns_insert, ns_update, ns_expiry, ns_format;
    uint64_t windows;
} result_t;

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* Resident set size in bytes, from /proc/self/statm. */
static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, resident = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &resident) != 2) resident = 0;
        fclose(f);
    }
    return (size_t)resident * 4096u;
}

/* Writes prefix + 13 digits of n into out[0..17). */
static void format_tuid(char out[17], const char *prefix, uint32_t n)
{
    memcpy(out, prefix, 4);
    for (int i = 16; i >= 4; i--) {
        out[i] = (char)('0' + n % 10);
        n /= 10;
    }
}

static void fill(proto_msg_t *msg, uint32_t sensor, uint32_t ts)
{
    format_tuid(msg->tuid, "TSSN", sensor + 1);
    format_tuid(msg->gw, "TSGW", sensor / PER_GATEWAY + 1);
    msg->ts_sec = ts;
    msg->ts = ts;
}

static uint64_t rng = 88172645463325252ull;

static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

static void count_window(void *arg, const eng_window_t *win)
{
    (void)win;
    (*(uint64_t *)arg)++;
}

/* Update phase: known sensors at random, later times; then what making the
 * messages alone costs. */
static void measure_updates(eng_detector_t *det, proto_msg_t *msg, uint32_t sensors, result_t *res)
{
    double t = now_ns();
    for (uint32_t i = 0; i < sensors; i++) {
        fill(msg, rnd(sensors), T0 + 3600 + i / (sensors / 3600 + 1));
        eng_detector_observe(det, msg, 0, NULL);
    }
    res->ns_update = (now_ns() - t) / sensors;
    volatile char sink = 0;
    t = now_ns();
    for (uint32_t i = 0; i < sensors; i++) {
        fill(msg, rnd(sensors), T0 + i);
        sink ^= msg->tuid[16];
    }
    res->ns_format = (now_ns() - t) / sensors;
    (void)sink;
}

static result_t run(uint32_t sensors)
{
    result_t res = {0};
    uint64_t windows = 0;
    size_t rss0 = rss_bytes();
    eng_things_t *things = eng_things_new();
    eng_detector_conf_t conf = {
        .inhibit_by_gateway = false, /* so that every thing's expiry opens a window */
        .heartbeat_timeout = 10800,
        .gateway_timeout = 600,
        .max_clock_skew = 100000000,
    };
    eng_detector_cb_t cb = {count_window, &windows};
    eng_detector_t *det = eng_detector_new(things, &conf, &cb);
    eng_detector_tick(det, T0);

    proto_msg_t msg;
    memset(&msg, 0, sizeof msg);
    msg.tuid_len = 17;
    msg.gw_len = 17;
    msg.flags = PROTO_HAS_GW | PROTO_HAS_BATL;

    double t = now_ns();
    for (uint32_t i = 0; i < sensors; i++) {
        fill(&msg, i, T0 + rnd(3600));
        eng_detector_observe(det, &msg, (uint16_t)(i & 7), NULL);
    }
    res.ns_insert = (now_ns() - t) / sensors;
    res.things = eng_things_count(things);
    res.gateways = res.things - sensors;
    size_t rss1 = rss_bytes();
    res.rss_bytes_per_thing = (double)(rss1 - rss0) / res.things;
    res.struct_bytes_per_thing =
        (double)(eng_things_bytes(things) + eng_detector_bytes(det)) / res.things;

    measure_updates(det, &msg, sensors, &res);

    t = now_ns();
    eng_detector_tick(det, T0 + 7200 + 10800);
    double dt = now_ns() - t;
    res.windows = windows;
    res.ns_expiry = windows ? dt / (double)windows : 0;

    eng_detector_free(det);
    eng_things_free(things);
    return res;
}

int main(int argc, char **argv)
{
    bool json = false;
    uint32_t sizes[4] = {1000000, 10000000};
    size_t nsizes = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            json = true;
        } else if (strcmp(argv[i], "--things") == 0 && i + 1 < argc) {
            sizes[0] = (uint32_t)strtoul(argv[++i], NULL, 10);
            nsizes = 1;
        } else {
            fprintf(stderr, "usage: %s [--json] [--things N]\n", argv[0]);
            return 2;
        }
    }
    result_t res[4];
    for (size_t i = 0; i < nsizes; i++)
        res[i] = run(sizes[i]);

    if (json) {
        printf("{\"bench\":\"deadline\",\"sizeof_thing\":%zu,\"sizeof_gateway\":%zu,"
               "\"sizeof_heap_entry\":%zu,\"runs\":[",
               sizeof(eng_thing_t), sizeof(eng_gateway_t), sizeof(eng_heap_entry_t));
        for (size_t i = 0; i < nsizes; i++)
            printf("%s{\"things\":%" PRIu32 ",\"gateways\":%" PRIu32
                   ",\"rss_bytes_per_thing\":%.1f,\"struct_bytes_per_thing\":%.1f,"
                   "\"ns_per_insert\":%.1f,\"ns_per_update\":%.1f,\"ns_per_expiry\":%.1f,"
                   "\"ns_format_overhead\":%.1f,\"windows\":%" PRIu64 "}",
                   i ? "," : "", res[i].things, res[i].gateways, res[i].rss_bytes_per_thing,
                   res[i].struct_bytes_per_thing, res[i].ns_insert, res[i].ns_update,
                   res[i].ns_expiry, res[i].ns_format, res[i].windows);
        printf("]}\n");
        return 0;
    }
    printf("record %zu B, gateway entry %zu B, heap entry %zu B, hash slot 4 B, tuid 17 B\n",
           sizeof(eng_thing_t), sizeof(eng_gateway_t), sizeof(eng_heap_entry_t));
    printf("%10s %8s %9s %9s %10s %10s %10s %8s\n", "things", "gateways", "B/thing", "B/struct",
           "ns/insert", "ns/update", "ns/expiry", "ns/fmt");
    for (size_t i = 0; i < nsizes; i++)
        printf("%10" PRIu32 " %8" PRIu32 " %9.1f %9.1f %10.1f %10.1f %10.1f %8.1f\n", res[i].things,
               res[i].gateways, res[i].rss_bytes_per_thing, res[i].struct_bytes_per_thing,
               res[i].ns_insert, res[i].ns_update, res[i].ns_expiry, res[i].ns_format);
    printf("B/thing: RSS growth / things after the insert phase; B/struct: capacity of the\n"
           "arrays; ns/update and ns/insert include ns/fmt (making the test message).\n");
    return 0;
}
