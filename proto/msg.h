/* msg.h - the decoded tsm message record and the record decoder interface.
 * Threads: a proto_decoder_t belongs to one thread; records are plain data.
 * Ownership: the decoder owns its scratch buffer; a record's body points into
 *   it and stays valid until the next proto_decode() on the same decoder.
 * Errors: proto_decode() reports every message and every rejected element
 *   through the sink; it never fails otherwise (out of memory aborts). */
#ifndef PROTO_MSG_H
#define PROTO_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_TUID_MAX 64
#define PROTO_MAX_DEPTH 16
#define PROTO_MAX_RECORD (1024 * 1024)

/* Why a record or an array element was skipped; the name is the metric label
 * tsmd_messages_rejected_total{reason="..."}. */
#define PROTO_REASONS(X)                                                                           \
    X(EMPTY, "empty")                 /* NULL or zero-length value */                              \
    X(TOO_LARGE, "too_large")         /* value over 1 MiB */                                       \
    X(BAD_FORMAT, "bad_format")       /* first byte is neither JSON nor MessagePack */             \
    X(BAD_JSON, "bad_json")           /* syntax error, truncation, trailing garbage, NaN */        \
    X(BAD_MSGPACK, "bad_msgpack")     /* truncated or malformed MessagePack, trailing bytes */     \
    X(BAD_UTF8, "bad_utf8")           /* a string that is not valid UTF-8 */                       \
    X(BAD_NUMBER, "bad_number")       /* 1e999, 2^64, NaN, Infinity: not representable */          \
    X(NUL_CHAR, "nul_char")           /* \u0000 inside a key or a string */                        \
    X(DUPLICATE_KEY, "duplicate_key") /* the same key twice in one object */                       \
    X(TOO_DEEP, "too_deep")           /* nesting deeper than 16 levels */                          \
    X(NOT_OBJECT, "not_object")       /* a message (or array element) that is not an object */     \
    X(BAD_KEY, "bad_key")             /* a MessagePack map key that is not a string */             \
    X(MISSING_FIELD, "missing_field") /* tsmId, tsmEv or tsmTuid absent */                         \
    X(BAD_FIELD, "bad_field")         /* tsmId/tsmEv not integers, tsmTs not a number, ... */      \
    X(BAD_TUID, "bad_tuid")           /* tsmTuid empty, over 64 or outside A-Za-z0-9_.- */         \
    X(BAD_GATEWAY, "bad_gateway")     /* tsmGw breaking the tuid rule */                           \
    X(BAD_TIMESTAMP, "bad_timestamp") /* tsmTs negative or past 2106 (not a u32 second) */

typedef enum proto_reason_e {
#define PROTO_REASON_ENUM(id, name) PROTO_REASON_##id,
    PROTO_REASONS(PROTO_REASON_ENUM)
#undef PROTO_REASON_ENUM
        PROTO_REASON_COUNT
} proto_reason_t;

/* Returns the static metric label of a reason ("bad_json", ...). */
const char *proto_reason_name(proto_reason_t reason);

enum {
    PROTO_HAS_GW = 1 << 0,       /* tsmGw present */
    PROTO_HAS_BATL = 1 << 1,     /* batl present and a number */
    PROTO_HAS_LOC = 1 << 2,      /* lat and lon both present and numbers */
    PROTO_HAS_VER = 1 << 3,      /* swVersion present and a string */
    PROTO_TS_FROM_KAFKA = 1 << 4 /* tsmTs was missing: ts is the record's timestamp */
};

/* One valid tsm message. Strings are not NUL-terminated beyond their length
 * except tuid and gw, which are. */
typedef struct proto_msg_s {
    int64_t tsm_id;
    int64_t tsm_ev;
    double ts;       /* tsmTs as it came (seconds, may have a fraction) */
    uint32_t ts_sec; /* tsmTs without its fraction: what the detector uses */
    uint32_t flags;  /* PROTO_HAS_* */
    double batl, lat, lon;
    uint8_t tuid_len, gw_len;
    char tuid[PROTO_TUID_MAX + 1];
    char gw[PROTO_TUID_MAX + 1];
    const char *ver; /* swVersion bytes, inside body */
    uint32_t ver_len;
    /* Every field of the message as it came, as MessagePack key/value pairs
     * without the map header (so that the engine can append
     * deploymentGroupId); nfields pairs. A missing tsmTs is added here as the
     * record's timestamp in whole seconds. */
    const uint8_t *body;
    uint32_t body_len;
    uint32_t nfields;
} proto_msg_t;

/* Where proto_decode() delivers its results, in input order. */
typedef struct proto_sink_s {
    void (*on_msg)(void *arg, const proto_msg_t *msg);
    void (*on_reject)(void *arg, proto_reason_t reason);
    void *arg;
} proto_sink_t;

typedef struct proto_decoder_s proto_decoder_t;

/* Returns a new decoder (aborts on out of memory). Any thread. */
proto_decoder_t *proto_decoder_new(void);
void proto_decoder_free(proto_decoder_t *dec);

/* Decodes one Kafka record value: a JSON object, a JSON array of objects, a
 * MessagePack map or array of maps, recognised from the first byte.
 * kafka_ts_ms is the record's timestamp, used when tsmTs is missing.
 * Calls sink->on_msg once per valid message and sink->on_reject once per
 * rejected element (or once for a record rejected whole). Returns the number
 * of valid messages. */
int proto_decode(proto_decoder_t *dec, const void *buf, size_t len, int64_t kafka_ts_ms,
                 const proto_sink_t *sink);

/* Returns true when s[0..len) is a valid tuid: 1..64 of A-Z a-z 0-9 _ . - */
bool proto_tuid_valid(const char *s, size_t len);

#ifdef __cplusplus
}
#endif

#endif
