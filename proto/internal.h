/* internal.h - what the codecs of proto/ share: the decoder, the duplicate-key
 *   check, the message builder that applies the rules of CONTRACT.md section 2,
 *   and UTF-8 validation. Not for use outside proto/.
 * Threads: everything here belongs to the thread that owns the decoder.
 * Ownership: the decoder owns the body scratch, the key stack and the JSON parser.
 * Errors: reported as proto_reason_t values; PROTO_REASON_COUNT means "fine". */
#ifndef PROTO_INTERNAL_H
#define PROTO_INTERNAL_H

#include "proto/buf.h"
#include "proto/msg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define PROTO_OK PROTO_REASON_COUNT

/* Objects with more keys than this are checked for duplicates by sorting their
 * keys (n log n, immune to hash flooding) instead of comparing them pairwise. */
#define PROTO_KEYS_LINEAR 16

typedef struct proto_key_s {
    const char *p;
    size_t len;
    uint64_t tag; /* length and three bytes: most unequal keys differ here */
} proto_key_t;

typedef struct proto_json_s proto_json_t;

struct proto_decoder_s {
    proto_buf_t body;  /* the bodies of the current record, back to back */
    proto_key_t *keys; /* a stack: the keys of every object being walked */
    size_t nkeys, keys_cap;
    proto_json_t *json; /* simdjson parser and padded input copy */
};

/* The key stack: an object's keys live in [base, nkeys) while it is walked;
 * nested objects push above it and pop back before the parent resumes. */
static inline size_t proto__keys_open(proto_decoder_t *dec)
{
    return dec->nkeys;
}
/* Pushes a key; returns false when a pairwise check already found it among the
 * object's first PROTO_KEYS_LINEAR keys. */
bool proto__keys_add(proto_decoder_t *dec, size_t base, const char *p, size_t len);
/* Finishes the object: pops its keys and returns false when two were equal
 * (the check for objects too large for the pairwise one). */
bool proto__keys_close(proto_decoder_t *dec, size_t base);

/* A top-level field's value as the builder sees it. */
typedef enum proto_vkind_e {
    PROTO_V_OTHER, /* bool, array, object */
    PROTO_V_NULL,
    PROTO_V_INT,    /* fits int64 */
    PROTO_V_UINT,   /* above INT64_MAX */
    PROTO_V_DOUBLE, /* a number with a fraction or an exponent, or a float */
    PROTO_V_STR
} proto_vkind_t;

typedef struct proto_value_s {
    proto_vkind_t kind;
    int64_t i;
    uint64_t u;
    double d;
    const char *s; /* STR: the string's bytes (in the input or the parser) */
    size_t len;
    size_t body_off; /* STR: where its bytes were packed in dec->body */
} proto_value_t;

/* One message being built: fields are captured as the codec packs them. */
typedef struct proto_build_s {
    proto_msg_t msg;
    size_t start;       /* offset of the message's body in dec->body */
    size_t ver_off;     /* offset of swVersion's bytes in dec->body */
    uint32_t seen;      /* internal PROTO_SEEN_* bits */
    proto_reason_t bad; /* first field rule broken, or PROTO_OK */
} proto_build_t;

/* Starts a message whose body begins at the current end of dec->body. */
void proto__build_start(proto_decoder_t *dec, proto_build_t *build);
/* Applies the field rules to one top-level field (already packed). */
void proto__build_field(proto_build_t *build, const char *key, size_t key_len,
                        const proto_value_t *value);
/* Checks the required fields, appends tsmTs from the Kafka timestamp when it
 * was missing, and delivers the message to the sink, or rolls the body back
 * and rejects it. Returns 1 when delivered, 0 when rejected. A codec that
 * found a structural error passes it as reason (else PROTO_OK). */
int proto__build_finish(proto_decoder_t *dec, proto_build_t *build, proto_reason_t reason,
                        int64_t kafka_ts_ms, const proto_sink_t *sink);

/* Tells the sink a record or an element was rejected. */
void proto__reject(const proto_sink_t *sink, proto_reason_t reason);

/* A MessagePack header, as read by proto__mp_head(). */
typedef enum proto_mp_type_e {
    PROTO_MP_NIL,
    PROTO_MP_BOOL,
    PROTO_MP_UINT,
    PROTO_MP_INT,
    PROTO_MP_F32,
    PROTO_MP_F64,
    PROTO_MP_STR,
    PROTO_MP_BIN,
    PROTO_MP_EXT,
    PROTO_MP_ARRAY,
    PROTO_MP_MAP,
} proto_mp_type_t;

typedef struct proto_mp_head_s {
    proto_mp_type_t type;
    size_t size; /* bytes of the header, including a number's value */
    uint64_t n;  /* STR/BIN/EXT: payload bytes; ARRAY/MAP: count; UINT/BOOL: value */
    int64_t i;   /* INT: value */
    double d;    /* F32/F64: value */
} proto_mp_head_t;

/* Reads the header at p (p < end); returns false when it is 0xc1 or it, or
 * its str/bin/ext payload, runs past end. */
bool proto__mp_head(const uint8_t *p, const uint8_t *end, proto_mp_head_t *h);
/* Returns the end of the one MessagePack object at p, or NULL when it is
 * truncated or holds 0xc1. Iterative (no recursion, any depth). */
const uint8_t *proto__mp_skim(const uint8_t *p, const uint8_t *end);

/* Returns true when s[0..len) is well-formed UTF-8 (no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool proto_utf8_valid(const char *s, size_t len);
/* Returns PROTO_OK for well-formed UTF-8 without NUL, else PROTO_REASON_BAD_UTF8
 * or PROTO_REASON_NUL_CHAR: the check of every MessagePack str. */
proto_reason_t proto__str_check(const char *s, size_t len);

/* Returns true when s[0..len) holds a NUL byte; inline and branch-light, as
 * tsm strings are short (memchr's call costs more than the scan). */
static inline bool proto__has_nul(const char *s, size_t len)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, s + i, 8);
        if ((w - ones) & ~w & highs) return true;
    }
    for (; i < len; i++)
        if (s[i] == '\0') return true;
    return false;
}

/* The codecs. Each takes a non-empty record of at most PROTO_MAX_RECORD bytes
 * whose first (JSON: first non-blank) byte selected it, reports through the
 * sink and returns the number of valid messages. */
proto_json_t *proto__json_new(void);
void proto__json_free(proto_json_t *json);
int proto__json_decode(proto_decoder_t *dec, const char *buf, size_t len, int64_t kafka_ts_ms,
                       const proto_sink_t *sink);
int proto__mp_decode(proto_decoder_t *dec, const uint8_t *buf, size_t len, int64_t kafka_ts_ms,
                     const proto_sink_t *sink);

#ifdef __cplusplus
}
#endif

#endif
