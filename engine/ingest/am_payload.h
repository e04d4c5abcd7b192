/* am_payload.h - what tsmd hands Prometheus Alertmanager: the alert of a
 *                window (labels, annotation, startsAt) as JSON, the queue
 *                entries kept in Redis for each Alertmanager, and the body of
 *                one POST /api/v2/alerts built from them. docs/ALERTMANAGER.md
 *                gives the shapes.
 * Threads: any; pure functions.
 * Ownership: results go into the caller's buffers (eng_am_buf_t grows).
 * Errors: eng_am_labels_parse() returns -1 with a reason; nothing else fails
 *   (out of memory aborts). */
#ifndef ENG_AM_PAYLOAD_H
#define ENG_AM_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A growing byte buffer. */
typedef struct eng_am_buf_s {
    char *data;
    size_t len, cap;
} eng_am_buf_t;

void eng_am_buf_put(eng_am_buf_t *buf, const void *data, size_t len);
void eng_am_buf_puts(eng_am_buf_t *buf, const char *s);
void eng_am_buf_free(eng_am_buf_t *buf);

/* The static labels of alertmanager.labels, "k=v,..." parsed. */
#define ENG_AM_MAX_LABELS 32
typedef struct eng_am_labels_s {
    char *names[ENG_AM_MAX_LABELS];
    char *values[ENG_AM_MAX_LABELS];
    size_t n;
} eng_am_labels_t;

/* Parses "k=v,k2=v2" (empty: none), judged by cfg_am_labels_check() (label
 * names A-Z a-z 0-9 _, none a built-in label); at most ENG_AM_MAX_LABELS.
 * Returns 0, or -1 with why filled. */
int eng_am_labels_parse(eng_am_labels_t *labels, const char *text, char *why, size_t why_len);
void eng_am_labels_free(eng_am_labels_t *labels);

/* What the alert of one window says. */
typedef struct eng_am_alert_s {
    const char *tuid;
    size_t tuid_len;
    bool gateway_alert;  /* "gateway connection lost" (else "heartbeat missed") */
    const char *group;   /* "unassigned" when none */
    const char *gateway; /* the sensor's parent; NULL or "" for none */
    size_t gateway_len;
    uint32_t from;
} eng_am_alert_t;

/* Appends the alert's JSON without its end: {"labels":{...},"annotations":
 * {"summary":"..."},"startsAt":"..." (no endsAt, no closing brace). */
void eng_am_alert_body(eng_am_buf_t *out, const eng_am_alert_t *alert,
                       const eng_am_labels_t *statics);

/* Formats unix seconds as RFC 3339 UTC ("2026-12-03T10:00:00Z"); returns
 * the length (buf holds 32). */
int eng_am_rfc3339(char *buf, uint32_t t);

/* A queue entry (a member of P{am}:q:ID, whose score is ENQ): a fixed head,
 * then the body. FROM (10 digits) STATE ('a' open, 'b' closed) ENQ (13
 * digits: unix ms when queued, increasing within a process, so the queue is
 * in order of change) then the body, and for a close ,"endsAt":"TO"}. */
#define ENG_AM_HEAD_LEN 24
void eng_am_entry_head(char *head, uint32_t from, bool open, uint64_t enq_ms);
/* Reads the head; returns false when entry is not one. */
bool eng_am_entry_parse(const char *entry, size_t len, uint32_t *from, bool *open,
                        uint64_t *enq_ms);
/* The suffix that ends a closed window's alert: ,"endsAt":"TO"}. Returns its
 * length (buf holds 48). */
int eng_am_ends_suffix(char *buf, uint32_t to);

/* Builds the POST body: a JSON array of the entries' alerts, in order; an
 * open one ends at ends_open (now + 4 resend intervals). An open entry whose
 * close follows in the same list is left out (the window is sent once, with
 * both ends). Returns the number of alerts written. */
size_t eng_am_post_body(eng_am_buf_t *out, const char *const *entries, const size_t *lens, size_t n,
                        uint32_t ends_open);

#endif
