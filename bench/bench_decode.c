/* bench_decode.c - decode throughput of one core: proto_decode() on a typical
 * tsm message as JSON and as MessagePack, a 10-message JSON batch, and
 * jansson's strict parse of the same JSON for comparison.
 * Usage: bench_decode [N [CASE]]   N records per case (default 2000000);
 * CASE json, msgpack, batch or jansson runs that one alone (for a profiler). */
#include "proto/buf.h"
#include "proto/msg.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define VARIANTS 1024 /* distinct records, so the branch predictor cannot learn one */

typedef struct bench_s {
    char *rec[VARIANTS];
    size_t len[VARIANTS];
    size_t bytes; /* total over the variants */
    long msgs, rejects;
    double checksum;
} bench_t;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_msg(void *arg, const proto_msg_t *msg)
{
    bench_t *bench = arg;
    bench->msgs++;
    bench->checksum += msg->ts + msg->body_len;
}

static void on_reject(void *arg, proto_reason_t reason)
{
    (void)reason;
    ((bench_t *)arg)->rejects++;
}

static void make_json(bench_t *bench, int batch)
{
    bench->bytes = 0;
    for (int v = 0; v < VARIANTS; v++) {
        char text[4096];
        size_t n = 0;
        if (batch > 1) text[n++] = '[';
        for (int i = 0; i < batch; i++) {
            n += (size_t)snprintf(text + n, sizeof text - n,
                                  "%s{\"tsmId\":12100,\"tsmEv\":10,\"tsmTs\":%d,\"tsmTuid\":"
                                  "\"XXXX03X2Z7416%04d\",\"tsmGw\":\"XXXX00X1O73360355\","
                                  "\"temp\":%d.%d,\"hum\":%d,\"batl\":%d}",
                                  i ? "," : "", 1559638241 + v * 60 + i, v, 15 + v % 10, v % 10,
                                  30 + v % 50, 100 - v % 30);
        }
        if (batch > 1) text[n++] = ']';
        bench->rec[v] = malloc(n);
        memcpy(bench->rec[v], text, n);
        bench->len[v] = n;
        bench->bytes += n;
    }
}

/* The MessagePack variant of each JSON record: a map header plus the body. */
static void on_msg_pack(void *arg, const proto_msg_t *msg)
{
    proto_buf_t *buf = arg;
    proto_mp_put_map(buf, msg->nfields);
    proto_buf_append(buf, msg->body, msg->body_len);
}

static void make_msgpack(bench_t *bench, const bench_t *json)
{
    proto_decoder_t *dec = proto_decoder_new();
    bench->bytes = 0;
    for (int v = 0; v < VARIANTS; v++) {
        proto_buf_t buf = PROTO_BUF_INIT;
        proto_sink_t sink = {on_msg_pack, NULL, &buf};
        proto_decode(dec, json->rec[v], json->len[v], 0, &sink);
        bench->rec[v] = buf.data;
        bench->len[v] = buf.len;
        bench->bytes += buf.len;
    }
    proto_decoder_free(dec);
}

static void report(const char *name, const bench_t *bench, long records, long msgs, double secs)
{
    printf("%-34s %5zu B/record  %9.0f msgs/s  %6.1f ns/msg  %6.1f MB/s  (%ld records, %.2f s)\n",
           name, bench->bytes / VARIANTS, (double)msgs / secs, secs * 1e9 / (double)msgs,
           (double)bench->bytes / VARIANTS * (double)records / secs / 1e6, records, secs);
}

static void run_proto(const char *name, bench_t *bench, long n)
{
    proto_decoder_t *dec = proto_decoder_new();
    proto_sink_t sink = {on_msg, on_reject, bench};
    for (int v = 0; v < VARIANTS; v++)
        proto_decode(dec, bench->rec[v], bench->len[v], 0, &sink);
    bench->msgs = bench->rejects = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        int v = (int)(i & (VARIANTS - 1));
        proto_decode(dec, bench->rec[v], bench->len[v], 0, &sink);
    }
    double secs = now_s() - t0;
    proto_decoder_free(dec);
    if (bench->rejects) {
        fprintf(stderr, "%s: %ld records rejected\n", name, bench->rejects);
        exit(1);
    }
    report(name, bench, n, bench->msgs, secs);
}

/* jansson, as strict as it goes (duplicate keys rejected), walking the fields
 * the way a decoder must; no MessagePack body is produced. */
static void run_jansson(const char *name, bench_t *bench, long n)
{
    long msgs = 0;
    double checksum = 0;
    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        int v = (int)(i & (VARIANTS - 1));
        json_error_t err;
        json_t *root = json_loadb(bench->rec[v], bench->len[v], JSON_REJECT_DUPLICATES, &err);
        if (root == NULL) {
            fprintf(stderr, "jansson: %s\n", err.text);
            exit(1);
        }
        const char *key;
        json_t *value;
        json_object_foreach(root, key, value)
        {
            if (json_is_number(value)) checksum += json_number_value(value);
        }
        json_decref(root);
        msgs++;
    }
    double secs = now_s() - t0;
    bench->checksum += checksum;
    report(name, bench, n, msgs, secs);
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 2000000;
    if (n <= 0) {
        fprintf(stderr, "usage: %s [N [json|msgpack|batch|jansson]]\n", argv[0]);
        return 2;
    }
    static bench_t json, msgpack, batch;
    make_json(&json, 1);
    make_msgpack(&msgpack, &json);
    make_json(&batch, 10);
    printf("sample: %.*s\n", (int)json.len[0], json.rec[0]);
    const char *only = argc > 2 ? argv[2] : "";
#define WANT(name) (!*only || strcmp(only, name) == 0)
    if (WANT("json")) run_proto("proto_decode JSON object", &json, n);
    if (WANT("msgpack")) run_proto("proto_decode MessagePack map", &msgpack, n);
    if (WANT("batch")) run_proto("proto_decode JSON array of 10", &batch, n / 10);
    if (WANT("jansson")) run_jansson("jansson parse only (comparison)", &json, n);
    for (int v = 0; v < VARIANTS; v++) {
        free(json.rec[v]);
        free(msgpack.rec[v]);
        free(batch.rec[v]);
    }
    return json.checksum + msgpack.checksum + batch.checksum > 0 ? 0 : 1;
}
