/* json.cpp - the JSON codec: simdjson's DOM parser (strict RFC 8259: UTF-8,
 * numbers that fit 64 bits, no trailing content) plus the checks simdjson does
 * not make (duplicate keys, \u0000, depth 16), converting the DOM to the
 * MessagePack body. The only C++ in tsmd; everything it exports is C. */
#include "proto/build.h"
#include "proto/codec.h"

#include <simdjson.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

struct proto_json_s {
    simdjson::dom::parser parser{PROTO_MAX_RECORD};
    char *pad = nullptr; /* the record, copied with SIMDJSON_PADDING readable bytes after it */
    size_t pad_cap = 0;
};

[[noreturn]] static void oom(int line)
{
    fprintf(stderr, "%s:%d: out of memory\n", __FILE__, line);
    abort();
}

proto_json_t *proto__json_new(void)
{
    proto_json_t *json = new (std::nothrow) proto_json_t;
    if (json == nullptr) oom(__LINE__);
    return json;
}

void proto__json_free(proto_json_t *json)
{
    if (json == nullptr) return;
    free(json->pad);
    delete json;
}

namespace
{

proto_reason_t reason_of(simdjson::error_code err)
{
    switch (err) {
    case simdjson::NUMBER_ERROR:
    case simdjson::NUMBER_OUT_OF_RANGE:
        return PROTO_REASON_BAD_NUMBER; /* 1e999, 2^64 */
    case simdjson::UTF8_ERROR:
        return PROTO_REASON_BAD_UTF8;
    case simdjson::DEPTH_ERROR:
        return PROTO_REASON_TOO_DEEP; /* over the parser's 1024 */
    case simdjson::CAPACITY:
        return PROTO_REASON_TOO_LARGE;
    case simdjson::EMPTY:
        return PROTO_REASON_EMPTY;
    case simdjson::MEMALLOC:
        oom(__LINE__);
    default:
        return PROTO_REASON_BAD_JSON; /* structure, atoms (NaN), strings, trailing */
    }
}

proto_reason_t pack_value(proto_decoder_t *dec, element elem, int level, proto_value_t *top);

proto_reason_t pack_string(proto_decoder_t *dec, std::string_view s)
{
    /* \u0000 decodes to a NUL byte that C consumers of the body would cut at. */
    if (proto__has_nul(s.data(), s.size())) return PROTO_REASON_NUL_CHAR;
    proto_mp_put_str(&dec->body, s.data(), s.size());
    return PROTO_OK;
}

/* Packs the pairs of an object at nesting level `level` (no map header) and,
 * for a message (build != NULL), applies the field rules to each. */
proto_reason_t pack_pairs(proto_decoder_t *dec, object obj, int level, proto_build_t *build)
{
    size_t base = proto__keys_open(dec);
    proto_reason_t reason = PROTO_OK;
    for (simdjson::dom::key_value_pair field : obj) {
        if (!proto__keys_add(dec, base, field.key.data(), field.key.size())) {
            reason = PROTO_REASON_DUPLICATE_KEY;
            break;
        }
        reason = pack_string(dec, field.key);
        if (reason != PROTO_OK) break;
        proto_value_t value;
        reason = pack_value(dec, field.value, level, build ? &value : nullptr);
        if (reason != PROTO_OK) break;
        if (build) proto__build_field(build, field.key.data(), field.key.size(), &value);
    }
    if (reason != PROTO_OK) {
        dec->nkeys = base;
        return reason;
    }
    return proto__keys_close(dec, base) ? PROTO_OK : PROTO_REASON_DUPLICATE_KEY;
}

/* Packs a value found inside a container of level `level`. */
proto_reason_t pack_value(proto_decoder_t *dec, element elem, int level, proto_value_t *top)
{
    proto_value_t scratch;
    proto_value_t *v = top ? top : &scratch;
    v->kind = PROTO_V_OTHER;
    switch (elem.type()) {
    case element_type::ARRAY: {
        if (level + 1 > PROTO_MAX_DEPTH) return PROTO_REASON_TOO_DEEP;
        array arr = elem.get_array().value_unsafe();
        proto_mp_put_array(&dec->body, (uint32_t)arr.size());
        for (element child : arr) {
            proto_reason_t reason = pack_value(dec, child, level + 1, nullptr);
            if (reason != PROTO_OK) return reason;
        }
        return PROTO_OK;
    }
    case element_type::OBJECT: {
        if (level + 1 > PROTO_MAX_DEPTH) return PROTO_REASON_TOO_DEEP;
        object obj = elem.get_object().value_unsafe();
        proto_mp_put_map(&dec->body, (uint32_t)obj.size());
        return pack_pairs(dec, obj, level + 1, nullptr);
    }
    case element_type::INT64:
        v->kind = PROTO_V_INT;
        v->i = elem.get_int64().value_unsafe();
        proto_mp_put_int(&dec->body, v->i);
        return PROTO_OK;
    case element_type::UINT64:
        v->kind = PROTO_V_UINT;
        v->u = elem.get_uint64().value_unsafe();
        proto_mp_put_uint(&dec->body, v->u);
        return PROTO_OK;
    case element_type::DOUBLE:
        v->kind = PROTO_V_DOUBLE;
        v->d = elem.get_double().value_unsafe();
        proto_mp_put_double(&dec->body, v->d);
        return PROTO_OK;
    case element_type::STRING: {
        std::string_view s = elem.get_string().value_unsafe();
        v->kind = PROTO_V_STR;
        v->s = s.data();
        v->len = s.size();
        proto_reason_t reason = pack_string(dec, s);
        v->body_off = dec->body.len - s.size();
        return reason;
    }
    case element_type::BOOL:
        proto_mp_put_bool(&dec->body, elem.get_bool().value_unsafe());
        return PROTO_OK;
    case element_type::NULL_VALUE:
        v->kind = PROTO_V_NULL;
        proto_mp_put_nil(&dec->body);
        return PROTO_OK;
    }
    return PROTO_REASON_BAD_JSON;
}

/* One message: an object at `level` (1 alone, 2 inside a top-level array). */
int decode_message(proto_decoder_t *dec, element elem, int level, int64_t kafka_ts_ms,
                   const proto_sink_t *sink)
{
    object obj;
    if (elem.get(obj) != simdjson::SUCCESS) {
        proto__reject(sink, PROTO_REASON_NOT_OBJECT);
        return 0;
    }
    proto_build_t build;
    proto__build_start(dec, &build);
    proto_reason_t reason =
        level > PROTO_MAX_DEPTH ? PROTO_REASON_TOO_DEEP : pack_pairs(dec, obj, level, &build);
    return proto__build_finish(dec, &build, reason, kafka_ts_ms, sink);
}

/* Copies the record where simdjson may read SIMDJSON_PADDING bytes past it. */
const uint8_t *padded(proto_json_t *json, const char *buf, size_t len)
{
    size_t need = len + simdjson::SIMDJSON_PADDING;
    if (json->pad_cap < need) {
        size_t cap = json->pad_cap ? json->pad_cap : 4096;
        while (cap < need)
            cap *= 2;
        char *pad = static_cast<char *>(realloc(json->pad, cap));
        if (pad == nullptr) oom(__LINE__);
        json->pad = pad;
        json->pad_cap = cap;
    }
    memcpy(json->pad, buf, len);
    memset(json->pad + len, 0, simdjson::SIMDJSON_PADDING);
    return reinterpret_cast<const uint8_t *>(json->pad);
}

} // namespace

int proto__json_decode(proto_decoder_t *dec, const char *buf, size_t len, int64_t kafka_ts_ms,
                       const proto_sink_t *sink)
{
    proto_json_t *json = dec->json;
    element root;
    simdjson::error_code err = json->parser.parse(padded(json, buf, len), len, false).get(root);
    if (err != simdjson::SUCCESS) {
        proto__reject(sink, reason_of(err));
        return 0;
    }
    if (root.type() != element_type::ARRAY) return decode_message(dec, root, 1, kafka_ts_ms, sink);
    array arr = root.get_array().value_unsafe();
    if (arr.size() == 0) {
        proto__reject(sink, PROTO_REASON_EMPTY); /* a record that holds no message */
        return 0;
    }
    int n = 0;
    for (element elem : arr)
        n += decode_message(dec, elem, 2, kafka_ts_ms, sink);
    return n;
}
