/* member.c - the compact history member and its reading back; see member.h
 * and docs/REDIS.md for the format.
 *
 *   member = 0x01 entry*
 *   entry  = name value
 *          | 0x10              tsmTuid, the tuid of the key
 *          | 0x11 str          deploymentGroupId (last; absent = "unassigned")
 *   name   = 0x00..0x0f        a name of the dictionary below
 *          | 0x20..0x7f        a name of (byte - 0x20) bytes, which follow
 *          | 0x1f str          a longer name
 *   value  = a MessagePack value other than bin and ext, as it came
 *          | 0xc4..0xc9 / 0xd4..0xd7 varint
 *                              the float64 nearest m / 10^e, e = 0..5 / 6..9,
 *                              m zigzag LEB128
 *          | 0xd8 byte prefix varint
 *                              a str: prefix (byte >> 4 bytes), then the
 *                              number in (byte & 15) + 4 decimal digits
 *
 * The value codes are MessagePack's bin and ext headers, which a stored
 * message never holds. */
#include "proto/member.h"
#include "proto/mphead.h"

#include <math.h>
#include <string.h>

#define TUID_CODE 0x10
#define GROUP_CODE 0x11
#define LONG_NAME 0x1f
#define SHORT_NAME 0x20
#define SHORT_NAME_MAX (0x7f - SHORT_NAME)
#define DIGITS_CODE 0xd8
#define DIGITS_MIN 4
#define DIGITS_MAX 19
#define PREFIX_MAX 15
#define DECIMAL_EXP_MAX 9
/* A scaled float is written only while its zigzag fits 7 LEB128 bytes, so
 * that it is always shorter than the 9 bytes of a float64. */
#define DECIMAL_LIMIT ((double)(1ull << 48))

/* The names with a one-byte code: the tsm header fields. Stored data depends
 * on this order: names are only ever added at the end (at most 16). */
static const char *const dict[] = {"tsmId", "tsmEv", "tsmTuid", "tsmTs",     "tsmGw",
                                   "batl",  "lat",   "lon",     "swVersion", "deploymentGroupId"};
#define DICT_N (sizeof dict / sizeof *dict)
static const char group_key[] = "deploymentGroupId";

static const double pow10[DECIMAL_EXP_MAX + 1] = {1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9};

static uint8_t decimal_code(int e)
{
    return (uint8_t)(e <= 5 ? 0xc4 + e : 0xd4 + (e - 6));
}

/* The exponent of a decimal value code, or -1 when c is not one. */
static int decimal_exp(uint8_t c)
{
    if (c >= 0xc4 && c <= 0xc9) return c - 0xc4;
    if (c >= 0xd4 && c <= 0xd7) return c - 0xd4 + 6;
    return -1;
}

static void put_byte(proto_buf_t *out, uint8_t c)
{
    proto_buf_putc(out, (char)c);
}

static void put_varint(proto_buf_t *out, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        tmp[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        if (v) tmp[n] |= 0x80;
        n++;
    } while (v);
    proto_buf_append(out, tmp, n);
}

/* Reads a LEB128 number; NULL when it runs past end or over 64 bits. */
static const uint8_t *get_varint(const uint8_t *p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (unsigned shift = 0; p < end && shift < 64; shift += 7) {
        uint8_t c = *p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return p;
    }
    return NULL;
}

/* The smallest e with m / 10^e exactly d (bit for bit, so -0.0 never
 * matches), or -1. */
static int decimal_of(double d, int64_t *m)
{
    for (int e = 0; e <= DECIMAL_EXP_MAX; e++) {
        double s = d * pow10[e];
        if (!(fabs(s) < DECIMAL_LIMIT)) return -1;
        *m = (int64_t)nearbyint(s);
        double back = (double)*m / pow10[e];
        if (memcmp(&back, &d, sizeof d) == 0) return e;
    }
    return -1;
}

/* Writes a str value: as prefix + number when it ends in 4..19 digits after
 * at most 15 other bytes, else as it came (the MessagePack at raw). */
static void put_str_value(proto_buf_t *out, const uint8_t *raw, size_t raw_len, const char *s,
                          size_t len)
{
    size_t plen = len;
    while (plen > 0 && s[plen - 1] >= '0' && s[plen - 1] <= '9')
        plen--;
    size_t ndig = len - plen;
    if (ndig < DIGITS_MIN || ndig > DIGITS_MAX || plen > PREFIX_MAX) {
        proto_buf_append(out, raw, raw_len);
        return;
    }
    uint64_t v = 0;
    for (size_t i = plen; i < len; i++)
        v = v * 10 + (uint64_t)(s[i] - '0');
    put_byte(out, DIGITS_CODE);
    put_byte(out, (uint8_t)(plen << 4 | (ndig - DIGITS_MIN)));
    proto_buf_append(out, s, plen);
    put_varint(out, v);
}

static void put_name(proto_buf_t *out, const char *k, size_t klen)
{
    for (size_t i = 0; i < DICT_N; i++)
        if (strlen(dict[i]) == klen && memcmp(dict[i], k, klen) == 0) {
            put_byte(out, (uint8_t)i);
            return;
        }
    if (klen <= SHORT_NAME_MAX) {
        put_byte(out, (uint8_t)(SHORT_NAME + klen));
        proto_buf_append(out, k, klen);
    } else {
        put_byte(out, LONG_NAME);
        proto_mp_put_str(out, k, klen);
    }
}

/* Writes one field (name and value at p); returns the end of its value, or
 * NULL for what the compact format cannot hold. */
static const uint8_t *put_field(proto_buf_t *out, const proto_msg_t *msg, const uint8_t *p,
                                const uint8_t *end)
{
    proto_mp_head_t kh, vh;
    if (p >= end || !proto__mp_head(p, end, &kh) || kh.type != PROTO_MP_STR) return NULL;
    const char *k = (const char *)p + kh.size;
    p += kh.size + kh.n;
    const uint8_t *vend = proto__mp_skim(p, end);
    if (vend == NULL || !proto__mp_head(p, end, &vh)) return NULL;
    if (vh.type == PROTO_MP_BIN || vh.type == PROTO_MP_EXT) return NULL;
    const char *s = (const char *)p + vh.size;
    if (kh.n == 7 && memcmp(k, "tsmTuid", 7) == 0 && vh.type == PROTO_MP_STR &&
        vh.n == msg->tuid_len && memcmp(s, msg->tuid, vh.n) == 0) {
        put_byte(out, TUID_CODE);
        return vend;
    }
    put_name(out, k, (size_t)kh.n);
    int64_t m;
    int e = vh.type == PROTO_MP_F64 ? decimal_of(vh.d, &m) : -1;
    if (e >= 0) {
        put_byte(out, decimal_code(e));
        put_varint(out, ((uint64_t)m << 1) ^ (uint64_t)(m >> 63));
    } else if (vh.type == PROTO_MP_STR) {
        put_str_value(out, p, (size_t)(vend - p), s, (size_t)vh.n);
    } else {
        proto_buf_append(out, p, (size_t)(vend - p));
    }
    return vend;
}

/* The earlier format: the message as a MessagePack map plus the group. */
static void put_map_form(proto_buf_t *out, const proto_msg_t *msg, const char *group,
                         size_t group_len)
{
    proto_mp_put_map(out, msg->nfields + 1);
    proto_buf_append(out, msg->body, msg->body_len);
    proto_mp_put_str_pair(out, group_key, sizeof group_key - 1, group, group_len);
}

void proto_member_encode(proto_buf_t *out, const proto_msg_t *msg, const char *group,
                         size_t group_len)
{
    size_t mark = out->len;
    const uint8_t *p = msg->body, *end = msg->body + msg->body_len;
    put_byte(out, PROTO_MEMBER_V1);
    for (uint32_t i = 0; i < msg->nfields && p != NULL; i++)
        p = put_field(out, msg, p, end);
    if (p != end) {
        out->len = mark;
        put_map_form(out, msg, group, group_len);
        return;
    }
    if (group_len != sizeof PROTO_MEMBER_NO_GROUP - 1 ||
        memcmp(group, PROTO_MEMBER_NO_GROUP, group_len) != 0) {
        put_byte(out, GROUP_CODE);
        proto_mp_put_str(out, group, group_len);
    }
}

/* ---- reading ---- */

typedef struct reader_s {
    const uint8_t *p, *end;
    const char *tuid;
    size_t tuid_len;
    proto_buf_t *out; /* NULL: only count and check the entries */
} reader_t;

static void emit_str(reader_t *r, const char *s, size_t len)
{
    if (r->out) proto_mp_put_str(r->out, s, len);
}

/* A MessagePack str at r->p, copied as it is. */
static int copy_str(reader_t *r)
{
    proto_mp_head_t h;
    if (r->p >= r->end || !proto__mp_head(r->p, r->end, &h) || h.type != PROTO_MP_STR) return -1;
    size_t n = h.size + (size_t)h.n;
    if (r->out) proto_buf_append(r->out, r->p, n);
    r->p += n;
    return 0;
}

static int read_name(reader_t *r, uint8_t c)
{
    if (c < DICT_N) {
        emit_str(r, dict[c], strlen(dict[c]));
        return 0;
    }
    if (c == LONG_NAME) return copy_str(r);
    if (c < SHORT_NAME || c > SHORT_NAME + SHORT_NAME_MAX) return -1;
    size_t n = (size_t)(c - SHORT_NAME);
    if ((size_t)(r->end - r->p) < n) return -1;
    emit_str(r, (const char *)r->p, n);
    r->p += n;
    return 0;
}

static int read_digits(reader_t *r)
{
    if (r->p >= r->end) return -1;
    size_t plen = *r->p >> 4, ndig = (size_t)(*r->p & 15) + DIGITS_MIN;
    r->p++;
    if ((size_t)(r->end - r->p) < plen) return -1;
    const uint8_t *prefix = r->p;
    uint64_t v;
    if ((r->p = get_varint(r->p + plen, r->end, &v)) == NULL) return -1;
    char s[PREFIX_MAX + DIGITS_MAX];
    memcpy(s, prefix, plen);
    for (size_t i = ndig; i > 0; i--, v /= 10)
        s[plen + i - 1] = (char)('0' + v % 10);
    if (v != 0) return -1; /* more digits than it says */
    emit_str(r, s, plen + ndig);
    return 0;
}

static int read_value(reader_t *r)
{
    if (r->p >= r->end) return -1;
    uint8_t c = *r->p;
    int e = decimal_exp(c);
    if (e >= 0) {
        uint64_t zz;
        if ((r->p = get_varint(r->p + 1, r->end, &zz)) == NULL) return -1;
        int64_t m = (int64_t)(zz >> 1) ^ -(int64_t)(zz & 1);
        if (r->out) proto_mp_put_double(r->out, (double)m / pow10[e]);
        return 0;
    }
    if (c == DIGITS_CODE) {
        r->p++;
        return read_digits(r);
    }
    proto_mp_head_t h;
    const uint8_t *vend = proto__mp_skim(r->p, r->end);
    if (vend == NULL || !proto__mp_head(r->p, r->end, &h)) return -1;
    if (h.type == PROTO_MP_BIN || h.type == PROTO_MP_EXT) return -1;
    if (r->out) proto_buf_append(r->out, r->p, (size_t)(vend - r->p));
    r->p = vend;
    return 0;
}

/* Reads every entry after the version byte; returns how many pairs the map
 * has (the group included), or -1. */
static long read_entries(reader_t *r)
{
    long n = 0;
    bool group = false;
    while (r->p < r->end) {
        if (group) return -1; /* the group is the last entry */
        uint8_t c = *r->p++;
        n++;
        if (c == TUID_CODE) {
            emit_str(r, "tsmTuid", 7);
            emit_str(r, r->tuid, r->tuid_len);
            continue;
        }
        if (c == GROUP_CODE) {
            emit_str(r, group_key, sizeof group_key - 1);
            if (copy_str(r) < 0) return -1;
            group = true;
            continue;
        }
        if (read_name(r, c) < 0 || read_value(r) < 0) return -1;
    }
    if (!group) {
        emit_str(r, group_key, sizeof group_key - 1);
        emit_str(r, PROTO_MEMBER_NO_GROUP, sizeof PROTO_MEMBER_NO_GROUP - 1);
        n++;
    }
    return n;
}

int proto_member_to_msgpack(proto_buf_t *out, const void *member, size_t len, const char *tuid,
                            size_t tuid_len)
{
    const uint8_t *m = member, *end = m + len;
    if (member == NULL || len == 0) return -1;
    if ((m[0] & 0xf0) == 0x80 || m[0] == 0xde || m[0] == 0xdf) { /* the earlier format */
        if (proto__mp_skim(m, end) != end) return -1;
        proto_buf_append(out, m, len);
        return 0;
    }
    if (m[0] != PROTO_MEMBER_V1) return -1;
    reader_t r = {m + 1, end, tuid, tuid_len, NULL};
    long n = read_entries(&r);
    if (n < 0) return -1;
    proto_mp_put_map(out, (uint32_t)n);
    r = (reader_t){m + 1, end, tuid, tuid_len, out};
    read_entries(&r);
    return 0;
}
