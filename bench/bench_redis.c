/* bench_redis.c - the Redis write baseline: how fast one connection gets the
 * command mix tsmd sends per message acknowledged, pipelined as tsmd does it.
 *
 * Per message, exactly what engine/ingest/ingest.c writes for a thing seen before
 * (its batches coalesce per thing, so with 100,000 things and batches of a
 * few thousand messages almost every message is its own thing in a batch):
 *   HSET  P{T}:thing timestamp TS [battery_level V t_batl TS]   (batt 1 : env 3)
 *   ZADD  P{T}:msgs TS <MEMBER>                  (history on; ~150 bytes)
 *   ZREMRANGEBYRANK P{T}:msgs 0 -(KEEP+1)        (history on, 1 message in
 *                                                --trim-every: tsmd trims lazily,
 *                                                TRIM_PERIOD 8 in engine/ingest/ingest.c)
 * Commands are formatted with the engine's own eng_batch_* (same RESP bytes),
 * batches of --batch messages go out on one connection and the replies of a
 * batch are read once the next one is out: two batches in flight, as the
 * store (engine/ingest/store.c).
 * What is not in the mix: the first sight of a thing (SADD part set, part
 * field), window events and the per-batch ZADD GT of gateways; scripts/bench
 * reports tsmd's own commands per message next to this figure.
 *
 * Output: one line key=value, or with --json one JSON object on stdout. */
#include "engine/redis/batch.h"
#include "engine/redis/keys.h"

#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct redis_opts_s {
    const char *host, *prefix;
    int port;
    uint32_t things, batch, member_bytes, keep, trim_every;
    uint64_t messages;
    bool history, json;
} redis_opts_t;

typedef struct redis_result_s {
    uint64_t messages, commands, errors;
    double seconds;
} redis_result_t;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--host H] [--port P] [--prefix tsm:] [--things N (100000)]\n"
            "          [--messages N (1000000)] [--batch N (1024)] [--member-bytes N (150)]\n"
            "          [--keep N (100)] [--trim-every N (8)] [--no-history] [--json]\n",
            argv0);
    return 2;
}

static int parse_args(redis_opts_t *o, int argc, char **argv)
{
    *o = (redis_opts_t){"127.0.0.1", "tsm:", 6379, 100000, 1024, 150, 100, 8, 1000000, true, false};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--json") == 0) {
            o->json = true;
            continue;
        }
        if (strcmp(a, "--no-history") == 0) {
            o->history = false;
            continue;
        }
        if (v == NULL) return -1;
        i++;
        if (strcmp(a, "--host") == 0)
            o->host = v;
        else if (strcmp(a, "--prefix") == 0)
            o->prefix = v;
        else if (strcmp(a, "--port") == 0)
            o->port = atoi(v);
        else if (strcmp(a, "--things") == 0)
            o->things = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--messages") == 0)
            o->messages = strtoull(v, NULL, 10);
        else if (strcmp(a, "--batch") == 0)
            o->batch = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--member-bytes") == 0)
            o->member_bytes = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--keep") == 0)
            o->keep = (uint32_t)strtoul(v, NULL, 10);
        else if (strcmp(a, "--trim-every") == 0)
            o->trim_every = (uint32_t)strtoul(v, NULL, 10);
        else
            return -1;
    }
    if (o->things == 0 || o->batch == 0 || o->trim_every == 0 || o->messages == 0 ||
        o->member_bytes < 32 || o->member_bytes > 4096)
        return -1;
    return 0;
}

/* Message i: thing, time and whether it is a battery report. The things are
 * visited in a fixed pseudo-random order so that consecutive messages hit
 * different keys, as a fleet does. */
static void message_of(const redis_opts_t *o, uint64_t i, char tuid[18], uint32_t *ts, bool *batt)
{
    uint32_t thing = (uint32_t)((i * 2654435761u) % o->things);
    snprintf(tuid, 18, "TSSN%013" PRIu32, thing);
    *ts = 1767225600u + (uint32_t)(i / o->things) * 900u + thing % 900u;
    *batt = (i & 3) == 0;
}

/* A MessagePack-like member of member_bytes, unique per message. */
static void fill_member(char *member, uint32_t len, uint64_t i, const char *tuid)
{
    memset(member, 'x', len);
    int n = snprintf(member, len, "\x89\xa5tsmId\xcd\x2f\x44\xa7tsmTuid\xb1%s#%" PRIu64, tuid, i);
    if (n > 0 && (uint32_t)n < len) member[n] = '|';
}

static void append_message(const redis_opts_t *o, eng_batch_t *b, uint64_t i, char *member)
{
    char tuid[18];
    uint32_t ts;
    bool batt;
    message_of(o, i, tuid, &ts, &batt);
    eng_batch_cmd(b, batt ? 8 : 4);
    eng_batch_arg_str(b, "HSET");
    eng_key_thing(b, o->prefix, tuid, 17, ENG_KEY_THING);
    eng_batch_arg_str(b, "timestamp"), eng_batch_arg_i64(b, ts);
    if (batt) {
        eng_batch_arg_str(b, "battery_level"), eng_batch_arg_f64(b, (double)(i % 101));
        eng_batch_arg_str(b, "t_batl"), eng_batch_arg_i64(b, ts);
    }
    if (!o->history) return;
    fill_member(member, o->member_bytes, i, tuid);
    eng_batch_cmd(b, 4);
    eng_batch_arg_str(b, "ZADD");
    eng_key_thing(b, o->prefix, tuid, 17, ENG_KEY_MSGS);
    eng_batch_arg_f64(b, ts);
    eng_batch_arg(b, member, o->member_bytes);
    if (i % o->trim_every != 0) return;
    eng_batch_cmd(b, 4);
    eng_batch_arg_str(b, "ZREMRANGEBYRANK");
    eng_key_thing(b, o->prefix, tuid, 17, ENG_KEY_MSGS);
    eng_batch_arg_i64(b, 0);
    eng_batch_arg_i64(b, -(int64_t)o->keep - 1);
}

/* Writes every command of b. Returns 0, or -1 when the connection failed. */
static int send_batch(redisContext *c, const eng_batch_t *b)
{
    for (uint32_t k = 0; k < b->ncmds; k++) {
        const char *cmd;
        size_t len = eng_batch_get_cmd(b, k, &cmd);
        if (redisAppendFormattedCommand(c, cmd, len) != REDIS_OK) return -1;
    }
    int done = 0;
    while (!done)
        if (redisBufferWrite(c, &done) != REDIS_OK) return -1;
    return 0;
}

/* Reads n replies. Returns the error replies among them, or -1 when the
 * connection failed. */
static int64_t read_replies(redisContext *c, uint32_t n)
{
    int64_t errors = 0;
    for (uint32_t k = 0; k < n; k++) {
        redisReply *reply;
        if (redisGetReply(c, (void **)&reply) != REDIS_OK) return -1;
        if (reply->type == REDIS_REPLY_ERROR) errors++;
        freeReplyObject(reply);
    }
    return errors;
}

static int run(const redis_opts_t *o, redisContext *c, redis_result_t *res)
{
    eng_batch_t b[2];
    char *member = malloc(o->member_bytes);
    if (member == NULL) return -1;
    eng_batch_init(&b[0]);
    eng_batch_init(&b[1]);
    int rc = 0, cur = 0;
    uint32_t prev = 0; /* commands of the batch in flight before b[cur] */
    double t0 = mono_s();
    for (uint64_t i = 0; i < o->messages || prev > 0; cur ^= 1) {
        eng_batch_reset(&b[cur]);
        for (uint32_t k = 0; k < o->batch && i < o->messages; k++, i++)
            append_message(o, &b[cur], i, member);
        int64_t errors = 0;
        if (send_batch(c, &b[cur]) != 0 || (errors = read_replies(c, prev)) < 0) {
            fprintf(stderr, "bench_redis: connection failed: %s\n", c->errstr);
            rc = -1;
            break;
        }
        res->errors += (uint64_t)errors;
        res->commands += prev;
        prev = b[cur].ncmds;
        res->messages = i;
    }
    res->seconds = mono_s() - t0;
    eng_batch_close(&b[0]);
    eng_batch_close(&b[1]);
    free(member);
    return rc;
}

int main(int argc, char **argv)
{
    redis_opts_t o;
    if (parse_args(&o, argc, argv) != 0) return usage(argv[0]);
    redisContext *c = redisConnect(o.host, o.port);
    if (c == NULL || c->err) {
        fprintf(stderr, "bench_redis: cannot connect to %s:%d: %s\n", o.host, o.port,
                c ? c->errstr : "out of memory");
        return 1;
    }
    redis_result_t res = {0};
    int rc = run(&o, c, &res);
    redisFree(c);
    if (rc != 0) return 1;
    double mps = res.messages / res.seconds, cps = res.commands / res.seconds;
    char mix[64];
    if (o.history)
        snprintf(mix, sizeof mix, "HSET+ZADD+ZREMRANGEBYRANK/%" PRIu32, o.trim_every);
    else
        snprintf(mix, sizeof mix, "HSET");
    if (o.json)
        printf("{\"bench\":\"redis\",\"mix\":\"%s\",\"things\":%" PRIu32 ",\"batch\":%" PRIu32
               ",\"member_bytes\":%" PRIu32 ",\"messages\":%" PRIu64 ",\"commands\":%" PRIu64
               ",\"errors\":%" PRIu64 ",\"seconds\":%.3f,\"msgs_per_sec\":%.0f,"
               "\"cmds_per_sec\":%.0f}\n",
               mix, o.things, o.batch, o.member_bytes, res.messages, res.commands, res.errors,
               res.seconds, mps, cps);
    else
        printf("mix=%s things=%" PRIu32 " batch=%" PRIu32 " messages=%" PRIu64 " commands=%" PRIu64
               " errors=%" PRIu64 " seconds=%.3f msgs_per_sec=%.0f"
               " cmds_per_sec=%.0f\n",
               mix, o.things, o.batch, res.messages, res.commands, res.errors, res.seconds, mps,
               cps);
    return res.errors ? 1 : 0;
}
