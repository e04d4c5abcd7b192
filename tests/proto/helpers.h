/* helpers.h - shared by the proto tests: a sink that records what
 * proto_decode() delivered, with each body converted to JSON text.
 * Threads: tests run with --jobs 1; the recorder is one static per test binary.
 * Ownership: the recorder owns copies of everything it records.
 * Errors: none; a failed conversion is recorded as the JSON text "!". */
#ifndef TESTS_PROTO_HELPERS_H
#define TESTS_PROTO_HELPERS_H

#include "proto/mpjson.h"
#include "proto/msg.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define GOT_MAX 64
#define KAFKA_TS_MS 1700000000999LL /* what a record without tsmTs falls back to */

typedef struct got_s {
    int nmsg, nrej;
    proto_msg_t msg[GOT_MAX];
    char *json[GOT_MAX]; /* the body as a JSON object */
    proto_reason_t rej[GOT_MAX];
    int order[2 * GOT_MAX]; /* 'm' or 'r' per delivery, in delivery order */
    int norder;
} got_t;

static got_t got;
static proto_decoder_t *dec;

static inline void got_reset(void)
{
    for (int i = 0; i < got.nmsg; i++)
        free(got.json[i]);
    memset(&got, 0, sizeof got);
}

static void got_msg(void *arg, const proto_msg_t *msg)
{
    (void)arg;
    cr_assert_lt(got.nmsg, GOT_MAX);
    proto_buf_t buf = PROTO_BUF_INIT;
    if (proto_mpjson_append_pairs(&buf, msg->body, msg->body_len, msg->nfields) < 0)
        proto_buf_puts(&buf, "!");
    proto_buf_putc(&buf, '\0');
    got.json[got.nmsg] = buf.data;
    got.msg[got.nmsg++] = *msg;
    got.order[got.norder++] = 'm';
}

static void got_reject(void *arg, proto_reason_t reason)
{
    (void)arg;
    cr_assert_lt(got.nrej, GOT_MAX);
    got.rej[got.nrej++] = reason;
    got.order[got.norder++] = 'r';
}

static const proto_sink_t got_sink = {got_msg, got_reject, NULL};

static inline void setup(void)
{
    dec = proto_decoder_new();
}

static inline void teardown(void)
{
    got_reset();
    proto_decoder_free(dec);
    dec = NULL;
}

/* Decodes buf[0..len) afresh; returns proto_decode()'s result. */
static inline int decode_n(const void *buf, size_t len)
{
    got_reset();
    int n = proto_decode(dec, buf, len, KAFKA_TS_MS, &got_sink);
    cr_assert_eq(n, got.nmsg, "returned %d but delivered %d", n, got.nmsg);
    return n;
}

static inline int decode(const char *text)
{
    return decode_n(text, strlen(text));
}

/* Asserts that the record was rejected whole, once, for `reason`. */
#define assert_rejected(reason)                                                                    \
    do {                                                                                           \
        cr_assert_eq(got.nmsg, 0, "expected no message, got %d", got.nmsg);                        \
        cr_assert_eq(got.nrej, 1, "expected one rejection, got %d", got.nrej);                     \
        cr_assert_str_eq(proto_reason_name(got.rej[0]), proto_reason_name(reason));                \
    } while (0)

/* Asserts that the record gave exactly one message whose body is `body_json`. */
#define assert_one_msg(body_json)                                                                  \
    do {                                                                                           \
        cr_assert_eq(got.nrej, 0, "unexpected rejection: %s",                                      \
                     got.nrej ? proto_reason_name(got.rej[0]) : "");                               \
        cr_assert_eq(got.nmsg, 1, "expected one message, got %d", got.nmsg);                       \
        cr_assert_str_eq(got.json[0], body_json);                                                  \
    } while (0)

/* The source tree: $TSMD_SOURCE_DIR, else the first parent of the working
 * directory that holds proto/msg.h. Returns a static string. */
static inline const char *source_dir(void)
{
    static char dir[4096];
    const char *env = getenv("TSMD_SOURCE_DIR");
    if (env != NULL && *env != '\0') return env;
    cr_assert_not_null(getcwd(dir, sizeof dir - 32));
    for (;;) {
        char probe[4200];
        struct stat st;
        snprintf(probe, sizeof probe, "%s/proto/msg.h", dir);
        if (stat(probe, &st) == 0) return dir;
        char *slash = strrchr(dir, '/');
        cr_assert_not_null(slash, "proto/msg.h not found above the working directory");
        if (slash == dir) {
            cr_assert(strcmp(dir, "/") != 0, "proto/msg.h not found; set TSMD_SOURCE_DIR");
            dir[1] = '\0';
        } else {
            *slash = '\0';
        }
    }
}

#endif
