/* sim_opts.h - tsm-sim's options: one table row per option (name, type,
 * field, bounds, doc) that drives both parsing and --help.
 * Threads: main thread only, before producing.
 * Ownership: string options point into argv.
 * Errors: sim_parse_args/sim_check_opts print the problem and return -1. */
#ifndef BENCH_SIM_OPTS_H
#define BENCH_SIM_OPTS_H

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/base/log.h"

#define SIM_THINGS_MAX ((1u << 24) - 1) /* heap keys pack the thing index in 24 bits */
#define SIM_DEFAULT_START 1767225600    /* 2026-01-01T00:00:00Z */

typedef struct sim_opts_s {
    const char *brokers, *bootstrap_file, *topic, *expect_path, *format;
    double wait_s;
    uint32_t sensors, gateways;
    double sensor_period, gateway_period; /* seconds */
    double mix_s[3];                      /* batt, env, ver */
    double mix_g[3];                      /* hb, loc, ver */
    double silent_frac, outage, move_frac, bad_frac, dup_frac, late_frac;
    bool msgpack, realtime, record_ts_now, dry_run;
    uint32_t array, pad;
    double rate, duration, sim_duration, start_ts, step;
    uint64_t messages, seed;
} sim_opts_t;

enum sim_opt_type_e { SIM_STR, SIM_U32, SIM_U64, SIM_DBL, SIM_FLAG, SIM_MIX };

typedef struct sim_opt_row_s {
    const char *name;
    int type;
    size_t offset;
    double min, max;
    const char *doc;
} sim_opt_row_t;

#define SIM_OPT(name, type, field, min, max, doc)                                                  \
    {                                                                                              \
        name, type, offsetof(sim_opts_t, field), min, max, doc                                     \
    }

/* Every option: one row, which also generates --help. */
static const sim_opt_row_t sim_opt_table[] = {
    SIM_OPT("brokers", SIM_STR, brokers, 0, 0, "bootstrap servers host:port,..."),
    SIM_OPT("bootstrap-file", SIM_STR, bootstrap_file, 0, 0,
            "read the bootstrap list from this file (waits for it)"),
    SIM_OPT("wait", SIM_DBL, wait_s, 0, 3600, "seconds to wait for --bootstrap-file [30]"),
    SIM_OPT("topic", SIM_STR, topic, 0, 0, "topic [tsm.raw]"),
    SIM_OPT("sensors", SIM_U32, sensors, 0, SIM_THINGS_MAX, "sensors [1000]"),
    SIM_OPT("gateways", SIM_U32, gateways, 0, SIM_THINGS_MAX, "gateways [20]"),
    SIM_OPT("sensor-period", SIM_DBL, sensor_period, 0.001, 1e9,
            "seconds between a sensor's reports [900]"),
    SIM_OPT("gateway-period", SIM_DBL, gateway_period, 0.001, 1e9,
            "seconds between a gateway's reports [60]"),
    SIM_OPT("sensor-mix", SIM_MIX, mix_s, 0, 0,
            "weights of sensor reports batt=W,env=W,ver=W [1,3,0.02]"),
    SIM_OPT("gateway-mix", SIM_MIX, mix_g, 0, 0,
            "weights of gateway reports hb=W,loc=W,ver=W [1,0.05,0.002]"),
    SIM_OPT("silent-frac", SIM_DBL, silent_frac, 0, 0.99,
            "fraction of things silent at any time [0.01]"),
    SIM_OPT("outage", SIM_DBL, outage, 1, 1e9, "mean length of a silence, seconds (+-25%) [14400]"),
    SIM_OPT("move-frac", SIM_DBL, move_frac, 0, 1,
            "chance per sensor report to move to another gateway [0.002]"),
    SIM_OPT("bad-frac", SIM_DBL, bad_frac, 0, 1, "fraction of malformed messages [0.001]"),
    SIM_OPT("dup-frac", SIM_DBL, dup_frac, 0, 1, "fraction of records sent twice [0.001]"),
    SIM_OPT("late-frac", SIM_DBL, late_frac, 0, 1,
            "fraction of messages with an old tsmTs [0.001]"),
    SIM_OPT("format", SIM_STR, format, 0, 0, "json or msgpack [json]"),
    SIM_OPT("array", SIM_U32, array, 0, 65535,
            "N messages per record as an array (0: plain objects) [0]"),
    SIM_OPT("pad", SIM_U32, pad, 0, 255, "add a \"pad\" field of N bytes to every message [0]"),
    SIM_OPT("rate", SIM_DBL, rate, 0, 1e9, "messages per second, 0 as fast as possible [0]"),
    SIM_OPT("messages", SIM_U64, messages, 0, 1e15, "messages to generate, 0 no limit [100000]"),
    SIM_OPT("duration", SIM_DBL, duration, 0, 1e9,
            "stop after this many wall-clock seconds [0: no limit]"),
    SIM_OPT("sim-duration", SIM_DBL, sim_duration, 0, 1e12,
            "stop after this many simulated seconds [0: no limit]"),
    SIM_OPT("start-ts", SIM_DBL, start_ts, 0, 4e9,
            "simulated clock start, unix seconds [1767225600]"),
    SIM_OPT("step", SIM_DBL, step, 0.001, 86400,
            "clock resolution, seconds: tsmTs are multiples of it [1]"),
    SIM_OPT("realtime", SIM_FLAG, realtime, 0, 0,
            "run the schedule on the wall clock, tsmTs = now"),
    SIM_OPT("dry-run", SIM_FLAG, dry_run, 0, 0,
            "generate (and write --expect) without Kafka: the generator's speed"),
    SIM_OPT("record-ts-now", SIM_FLAG, record_ts_now, 0, 0,
            "Kafka record timestamp = wall clock (for latency)"),
    SIM_OPT("seed", SIM_U64, seed, 0, 1.8e19, "PRNG seed [1]"),
    SIM_OPT("expect", SIM_STR, expect_path, 0, 0, "write the expect TSV (see its header) here"),
};
#define SIM_NOPTS (sizeof(sim_opt_table) / sizeof(sim_opt_table[0]))

static const char *const sim_mix_names[2][3] = {{"batt", "env", "ver"}, {"hb", "loc", "ver"}};

static inline bool sim_parse_mix(const char *arg, double *mix, const char *const names[3])
{
    char *copy = eng_strdup(arg), *save = NULL;
    int pos = 0;
    bool ok = true;
    for (char *tok = strtok_r(copy, ",", &save); tok && ok;
         tok = strtok_r(NULL, ",", &save), pos++) {
        char *eq = strchr(tok, '='), *end;
        int slot = pos;
        if (eq != NULL) {
            *eq = '\0';
            for (slot = 0; slot < 3 && strcmp(tok, names[slot]) != 0; slot++) {
            }
            tok = eq + 1;
        }
        double w = strtod(tok, &end);
        ok = slot < 3 && end != tok && *end == '\0' && w >= 0;
        if (ok) mix[slot] = w;
    }
    free(copy);
    return ok && mix[0] + mix[1] + mix[2] > 0;
}

static inline bool sim_parse_value(sim_opts_t *opt, const sim_opt_row_t *row, const char *arg)
{
    char *base = (char *)opt + row->offset, *end = NULL;
    if (row->type == SIM_STR) {
        *(const char **)base = arg;
        return true;
    }
    if (row->type == SIM_FLAG) {
        *(bool *)base = true;
        return true;
    }
    if (row->type == SIM_MIX)
        return sim_parse_mix(arg, (double *)base,
                             sim_mix_names[row->offset != offsetof(sim_opts_t, mix_s)]);
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end != '\0' || v < row->min || v > row->max) return false;
    if (row->type == SIM_DBL) {
        *(double *)base = v;
    } else {
        unsigned long long u = strtoull(arg, &end, 10);
        if (*end != '\0') return false;
        if (row->type == SIM_U32)
            *(uint32_t *)base = (uint32_t)u;
        else
            *(uint64_t *)base = (uint64_t)u;
    }
    return true;
}

static inline void sim_usage(FILE *out)
{
    fprintf(out, "usage: tsm-sim [options]\n"
                 "  Produces a simulated tsm fleet to Kafka (see docs/TOOLS.md).\n"
                 "  The same --seed and generation options give the same records, byte for byte.\n"
                 "options:\n");
    for (size_t i = 0; i < SIM_NOPTS; i++)
        fprintf(out, "  --%-16s %s %s\n", sim_opt_table[i].name,
                sim_opt_table[i].type == SIM_FLAG ? "   " : "ARG", sim_opt_table[i].doc);
    fprintf(out, "  -X key=value         librdkafka producer setting (repeatable)\n"
                 "  --json               print a JSON summary on stdout at the end\n"
                 "  --help               this text\n"
                 "Exit status: 0 when every record was delivered, 1 otherwise, 2 on bad usage.\n");
}

typedef struct sim_args_s {
    const char *x[64];
    int nx;
    bool json;
} sim_args_t;

static inline int sim_parse_args(sim_opts_t *opt, sim_args_t *args, int argc, char **argv)
{
    struct option lopts[SIM_NOPTS + 3];
    for (size_t i = 0; i < SIM_NOPTS; i++)
        lopts[i] = (struct option){
            sim_opt_table[i].name,
            sim_opt_table[i].type == SIM_FLAG ? no_argument : required_argument, 0, (int)(256 + i)};
    lopts[SIM_NOPTS] = (struct option){"json", no_argument, 0, 'j'};
    lopts[SIM_NOPTS + 1] = (struct option){"help", no_argument, 0, 'h'};
    lopts[SIM_NOPTS + 2] = (struct option){0, 0, 0, 0};
    int c;
    while ((c = getopt_long(argc, argv, "X:h", lopts, NULL)) != -1) {
        if (c == 'h') {
            sim_usage(stdout);
            exit(0);
        } else if (c == 'j') {
            args->json = true;
        } else if (c == 'X' && args->nx < 64 && strchr(optarg, '=')) {
            args->x[args->nx++] = optarg;
        } else if (c >= 256 &&
                   !sim_parse_value(opt, &sim_opt_table[c - 256], optarg ? optarg : "")) {
            fprintf(stderr, "tsm-sim: bad value '%s' for --%s\n", optarg,
                    sim_opt_table[c - 256].name);
            return -1;
        } else if (c < 256) {
            sim_usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tsm-sim: unexpected argument '%s'\n", argv[optind]);
        return -1;
    }
    return 0;
}

static inline int sim_check_opts(sim_opts_t *opt)
{
    if (strcmp(opt->format, "json") != 0 && strcmp(opt->format, "msgpack") != 0) {
        fprintf(stderr, "tsm-sim: --format must be json or msgpack\n");
        return -1;
    }
    opt->msgpack = opt->format[0] == 'm';
    if (opt->sensors + (uint64_t)opt->gateways == 0 ||
        opt->sensors + (uint64_t)opt->gateways > SIM_THINGS_MAX) {
        fprintf(stderr, "tsm-sim: sensors + gateways must be 1..%u\n", SIM_THINGS_MAX);
        return -1;
    }
    if (!opt->dry_run && (opt->brokers == NULL) == (opt->bootstrap_file == NULL)) {
        fprintf(stderr, "tsm-sim: give exactly one of --brokers and --bootstrap-file\n");
        return -1;
    }
    if (opt->realtime) opt->record_ts_now = true;
    return 0;
}

static inline void sim_defaults(sim_opts_t *opt)
{
    *opt = (sim_opts_t){
        .topic = "tsm.raw",
        .format = "json",
        .wait_s = 30,
        .sensors = 1000,
        .gateways = 20,
        .sensor_period = 900,
        .gateway_period = 60,
        .mix_s = {1, 3, 0.02},
        .mix_g = {1, 0.05, 0.002},
        .silent_frac = 0.01,
        .outage = 14400,
        .move_frac = 0.002,
        .bad_frac = 0.001,
        .dup_frac = 0.001,
        .late_frac = 0.001,
        .messages = 100000,
        .start_ts = SIM_DEFAULT_START,
        .step = 1,
        .seed = 1,
    };
}

#endif
