/* am_payload.c - Alertmanager alert JSON and queue entries; see am_payload.h. */
#include "engine/ingest/am_payload.h"

#include "config/table.h"
#include "engine/base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

void eng_am_buf_put(eng_am_buf_t *buf, const void *data, size_t len)
{
    if (buf->len + len + 1 > buf->cap) {
        size_t cap = buf->cap ? buf->cap * 2 : 1024;
        while (cap < buf->len + len + 1)
            cap *= 2;
        buf->data = eng_realloc(buf->data, cap);
        buf->cap = cap;
    }
    memcpy(buf->data + buf->len, data, len);
    buf->len += len;
    buf->data[buf->len] = 0;
}

void eng_am_buf_puts(eng_am_buf_t *buf, const char *s)
{
    eng_am_buf_put(buf, s, strlen(s));
}

void eng_am_buf_free(eng_am_buf_t *buf)
{
    free(buf->data);
    *buf = (eng_am_buf_t){0};
}

/* ---- static labels ---- */

/* Splits one name=value (cfg_am_labels_check() has judged the text). */
static void label_add(eng_am_labels_t *labels, const char *p, size_t len)
{
    const char *eq = memchr(p, '=', len);
    if (!eq || labels->n == ENG_AM_MAX_LABELS) return;
    size_t nlen = (size_t)(eq - p);
    labels->names[labels->n] = strndup(p, nlen);
    labels->values[labels->n] = strndup(eq + 1, len - nlen - 1);
    if (!labels->names[labels->n] || !labels->values[labels->n]) ENG_OOM();
    labels->n++;
}

int eng_am_labels_parse(eng_am_labels_t *labels, const char *text, char *why, size_t why_len)
{
    *labels = (eng_am_labels_t){0};
    if (cfg_am_labels_check(text, why, why_len) != 0) return -1;
    for (const char *p = text; *p;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        label_add(labels, p, len);
        if (!comma) break;
        p = comma + 1;
    }
    return 0;
}

void eng_am_labels_free(eng_am_labels_t *labels)
{
    for (size_t i = 0; i < labels->n; i++)
        free(labels->names[i]), free(labels->values[i]);
    labels->n = 0;
}

/* ---- the alert ---- */

/* Appends s as a JSON string (quotes included). */
static void put_json_str(eng_am_buf_t *out, const char *s, size_t len)
{
    eng_am_buf_put(out, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            eng_am_buf_put(out, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            eng_am_buf_put(out, esc, 6);
        } else {
            eng_am_buf_put(out, s + i, 1);
        }
    }
    eng_am_buf_put(out, "\"", 1);
}

static void put_label(eng_am_buf_t *out, const char *name, const char *v, size_t len, bool first)
{
    if (!first) eng_am_buf_put(out, ",", 1);
    put_json_str(out, name, strlen(name));
    eng_am_buf_put(out, ":", 1);
    put_json_str(out, v, len);
}

int eng_am_rfc3339(char *buf, uint32_t t)
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    return (int)strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void eng_am_alert_body(eng_am_buf_t *out, const eng_am_alert_t *a, const eng_am_labels_t *statics)
{
    const char *type = a->gateway_alert ? "gateway connection lost" : "heartbeat missed";
    char since[32];
    eng_am_rfc3339(since, a->from);
    eng_am_buf_puts(out, "{\"labels\":{");
    put_label(out, "alertname", a->gateway_alert ? "GatewayConnectionLost" : "HeartbeatMissed",
              a->gateway_alert ? 21 : 15, true);
    put_label(out, "tuid", a->tuid, a->tuid_len, false);
    put_label(out, "alert_type", type, strlen(type), false);
    put_label(out, "group", a->group, strlen(a->group), false);
    if (a->gateway && a->gateway_len && !a->gateway_alert)
        put_label(out, "gateway", a->gateway, a->gateway_len, false);
    for (size_t i = 0; statics && i < statics->n; i++)
        put_label(out, statics->names[i], statics->values[i], strlen(statics->values[i]), false);
    eng_am_buf_puts(out, "},\"annotations\":{\"summary\":");
    char summary[256];
    int n = a->gateway_alert
                ? snprintf(summary, sizeof summary,
                           "Gateway %.*s has lost its connection: nothing heard from it or "
                           "through it since %s.",
                           (int)a->tuid_len, a->tuid, since)
                : snprintf(summary, sizeof summary, "%.*s missed its heartbeat: silent since %s.",
                           (int)a->tuid_len, a->tuid, since);
    put_json_str(out, summary, (size_t)n < sizeof summary ? (size_t)n : sizeof summary - 1);
    eng_am_buf_puts(out, "},\"startsAt\":\"");
    eng_am_buf_puts(out, since);
    eng_am_buf_puts(out, "\"");
}

/* ---- queue entries ---- */

void eng_am_entry_head(char *head, uint32_t from, bool open, uint64_t enq_ms)
{
    char tmp[ENG_AM_HEAD_LEN + 8];
    snprintf(tmp, sizeof tmp, "%010" PRIu32 "%c%013" PRIu64, from, open ? 'a' : 'b',
             (uint64_t)(enq_ms % 10000000000000ull));
    memcpy(head, tmp, ENG_AM_HEAD_LEN);
}

bool eng_am_entry_parse(const char *entry, size_t len, uint32_t *from, bool *open, uint64_t *enq_ms)
{
    if (len <= ENG_AM_HEAD_LEN || (entry[10] != 'a' && entry[10] != 'b') ||
        entry[ENG_AM_HEAD_LEN] != '{')
        return false;
    uint64_t f = 0, e = 0;
    for (int i = 0; i < 10; i++) {
        if (entry[i] < '0' || entry[i] > '9') return false;
        f = f * 10 + (uint64_t)(entry[i] - '0');
    }
    for (int i = 11; i < ENG_AM_HEAD_LEN; i++) {
        if (entry[i] < '0' || entry[i] > '9') return false;
        e = e * 10 + (uint64_t)(entry[i] - '0');
    }
    *from = (uint32_t)f;
    *open = entry[10] == 'a';
    *enq_ms = e;
    return true;
}

int eng_am_ends_suffix(char *buf, uint32_t to)
{
    char t[32];
    eng_am_rfc3339(t, to);
    return snprintf(buf, 48, ",\"endsAt\":\"%s\"}", t);
}

/* Returns true when entry j is the close of open entry i's window. */
static bool closes(const char *const *e, const size_t *lens, size_t i, size_t j)
{
    size_t body = lens[i] - ENG_AM_HEAD_LEN;
    return e[j][10] == 'b' && memcmp(e[i], e[j], 10) == 0 && lens[j] > lens[i] &&
           memcmp(e[i] + ENG_AM_HEAD_LEN, e[j] + ENG_AM_HEAD_LEN, body) == 0 &&
           e[j][ENG_AM_HEAD_LEN + body] == ',';
}

size_t eng_am_post_body(eng_am_buf_t *out, const char *const *e, const size_t *lens, size_t n,
                        uint32_t ends_open)
{
    char ends[48];
    int elen = eng_am_ends_suffix(ends, ends_open);
    size_t written = 0;
    eng_am_buf_put(out, "[", 1);
    for (size_t i = 0; i < n; i++) {
        uint32_t from;
        bool open;
        uint64_t enq;
        if (!eng_am_entry_parse(e[i], lens[i], &from, &open, &enq)) continue;
        bool superseded = false;
        for (size_t j = i + 1; open && j < n && !superseded; j++)
            superseded = closes(e, lens, i, j);
        if (superseded) continue;
        if (written++) eng_am_buf_put(out, ",", 1);
        eng_am_buf_put(out, e[i] + ENG_AM_HEAD_LEN, lens[i] - ENG_AM_HEAD_LEN);
        if (open) eng_am_buf_put(out, ends, (size_t)elen);
    }
    eng_am_buf_put(out, "]", 1);
    return written;
}
