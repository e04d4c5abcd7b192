/* router.c - path matching against a caller's route table; see router.h. */
#include "engine/http/router.h"
#include "proto/msg.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#define MAX_SEGMENTS 8
#define SEGMENT_MAX 256

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long eng_router_decode(const char *s, size_t len, char *out, size_t cap, bool plus)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len) return -1;
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        } else if (plus && c == '+') {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= cap) return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

/* One path segment, decoded (ok false when its escapes were malformed). */
typedef struct segment_s {
    char text[SEGMENT_MAX];
    size_t len;
    bool ok;
} segment_t;

/* Splits path (after the leading '/') into decoded segments. Returns the
 * count, or -1 for too many. A single trailing '/' is ignored. */
static int split_path(const char *path, size_t len, segment_t *segs)
{
    if (len > 1 && path[len - 1] == '/') len--;
    int n = 0;
    size_t i = 1;
    while (i <= len) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        if (n == MAX_SEGMENTS) return -1;
        long d = eng_router_decode(path + i, j - i, segs[n].text, sizeof segs[n].text, false);
        segs[n].ok = d >= 0;
        segs[n].len = d >= 0 ? (size_t)d : 0;
        if (d < 0) segs[n].text[0] = '\0';
        n++;
        i = j + 1;
    }
    return n;
}

/* Compares the segments with a pattern. Returns the number of literal
 * segments on a match, -1 otherwise. */
static int pattern_match(const char *pattern, const segment_t *segs, int nsegs)
{
    int literals = 0, k = 0;
    const char *p = pattern + 1;
    while (*p || k < nsegs) {
        if (k >= nsegs) return -1;
        const char *end = strchr(p, '/');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        if (p[0] != '{') {
            if (!segs[k].ok || plen != segs[k].len || memcmp(p, segs[k].text, plen) != 0) return -1;
            literals++;
        }
        k++;
        p += plen;
        if (*p == '/') p++;
        if (!*p && k < nsegs) return -1;
    }
    return literals;
}

static const char *method_name(int method)
{
    return http_method_str((enum http_method)method);
}

/* Checks and copies the parameters of a matched pattern. */
static void take_params(const char *pattern, const segment_t *segs, eng_route_match_t *m)
{
    int k = 0;
    for (const char *p = pattern + 1; *p; k++) {
        const char *end = strchr(p, '/');
        size_t plen = end ? (size_t)(end - p) : strlen(p);
        const segment_t *s = &segs[k];
        if (plen == 6 && memcmp(p, "{tuid}", 6) == 0) {
            if (!s->ok || !proto_tuid_valid(s->text, s->len)) {
                m->status = 400;
                m->message = "invalid tuid: 1 to 64 of A-Z a-z 0-9 _ . -";
                return;
            }
            memcpy(m->tuid, s->text, s->len + 1);
        } else if (plen == 9 && memcmp(p, "{groupid}", 9) == 0) {
            if (!s->ok || !eng_router_group_valid(s->text, s->len)) {
                m->status = 400;
                m->message = "invalid group id: 1 to 64 bytes without white space or control "
                             "characters";
                return;
            }
            memcpy(m->group, s->text, s->len + 1);
        }
        p += plen;
        if (*p == '/') p++;
    }
}

/* Strips base from path for a non-root row; NULL when path is not under it. */
static const char *under_base(const char *path, size_t len, const char *base, size_t *rest_len)
{
    size_t blen = base ? strlen(base) : 0;
    if (blen == 0) {
        *rest_len = len;
        return path;
    }
    if (len <= blen || memcmp(path, base, blen) != 0 || path[blen] != '/') return NULL;
    *rest_len = len - blen;
    return path + blen;
}

/* Row i of a table of stride-byte rows. */
static const eng_route_t *row_at(const eng_route_t *table, size_t stride, size_t i)
{
    return (const eng_route_t *)((const char *)table + i * stride);
}

void eng_router_match(const eng_route_t *table, size_t n, size_t stride, const char *base,
                      int method, const char *path, size_t path_len, eng_route_match_t *m)
{
    memset(m, 0, sizeof *m);
    m->index = m->path_index = -1;
    m->status = 404;
    m->message = "no such path";
    if (path_len == 0 || path[0] != '/') return;
    segment_t root_segs[MAX_SEGMENTS], base_segs[MAX_SEGMENTS];
    int n_root = split_path(path, path_len, root_segs);
    size_t rest_len = 0;
    const char *rest = under_base(path, path_len, base, &rest_len);
    int n_base = rest ? split_path(rest, rest_len, base_segs) : -1;
    int best = -1;
    for (size_t i = 0; i < n; i++) {
        const eng_route_t *r = row_at(table, stride, i);
        bool root = r->flags & ENG_ROUTE_ROOT;
        const segment_t *segs = root ? root_segs : base_segs;
        int nsegs = root ? n_root : n_base;
        if (nsegs < 0) continue;
        int lit = pattern_match(r->pattern, segs, nsegs);
        if (lit > best) {
            best = lit;
            m->path_index = (int)i;
        }
    }
    if (m->path_index < 0) return;
    const eng_route_t *row = row_at(table, stride, (size_t)m->path_index);
    m->open = row->flags & ENG_ROUTE_OPEN;
    size_t alen = 0;
    for (size_t i = 0; i < n; i++) {
        const eng_route_t *r = row_at(table, stride, i);
        if (strcmp(r->pattern, row->pattern) != 0 ||
            (r->flags & ENG_ROUTE_ROOT) != (row->flags & ENG_ROUTE_ROOT))
            continue;
        if (r->method == method) m->index = (int)i;
        int w = snprintf(m->allow + alen, sizeof m->allow - alen, "%s%s", alen ? ", " : "",
                         method_name(r->method));
        if (w > 0 && alen + (size_t)w < sizeof m->allow) alen += (size_t)w;
    }
    if (m->index < 0) {
        m->status = 405;
        m->message = "method not allowed on this path";
        return;
    }
    m->status = 0;
    m->message = NULL;
    take_params(row->pattern, (row->flags & ENG_ROUTE_ROOT) ? root_segs : base_segs, m);
}

int eng_router_query(const char *query, const char *name, char *out, size_t cap)
{
    if (!query) return 0;
    size_t nlen = strlen(name);
    const char *p = query;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t plen = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', plen);
        size_t klen = eq ? (size_t)(eq - p) : plen;
        char key[64];
        long kd = eng_router_decode(p, klen, key, sizeof key, true);
        if (kd >= 0 && (size_t)kd == nlen && memcmp(key, name, nlen) == 0) {
            const char *v = eq ? eq + 1 : p + plen;
            size_t vlen = eq ? plen - klen - 1 : 0;
            return eng_router_decode(v, vlen, out, cap, true) < 0 ? -1 : 1;
        }
        p += plen;
        if (*p == '&') p++;
    }
    return 0;
}

/* Decodes one UTF-8 sequence at s (len bytes left). Returns its length and
 * sets *cp, or 0 for an invalid sequence. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC2 ? 2 : 0;
    if (n == 0 || s[0] > 0xF4 || n > len) return 0;
    uint32_t c = s[0] & (0x7F >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = (c << 6) | (s[i] & 0x3F);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < min[n] || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) return 0;
    *cp = c;
    return n;
}

static bool is_space_or_control(uint32_t c)
{
    return c <= 0x20 || (c >= 0x7F && c <= 0xA0) || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
           c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

bool eng_router_group_valid(const char *s, size_t len)
{
    if (len == 0 || len > ENG_ROUTER_GROUP_MAX) return false;
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len;) {
        uint32_t c;
        size_t k = utf8_next(u + i, len - i, &c);
        if (k == 0 || is_space_or_control(c)) return false;
        i += k;
    }
    return true;
}
