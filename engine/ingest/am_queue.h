/* am_queue.h - the delivery state of one Alertmanager URL, as a pure state
 *              machine: the changes wait in Redis (P{am}:q:ID, in order of
 *              change); the queue holds at most one batch of them in memory,
 *              posts it, retries it with backoff until it is accepted, and
 *              only then removes it from Redis and reads the next. Open
 *              windows are re-sent (a refresh) only when no change is
 *              waiting, so a refresh never overtakes a close. The driver
 *              (alertmanager.c) does the reads and POSTs the queue asks for.
 * Threads: loop thread only (no I/O, no clock: times are passed in).
 * Ownership: the queue owns copies of the entries it holds.
 * Errors: none; out of memory aborts. */
#ifndef ENG_AM_QUEUE_H
#define ENG_AM_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENG_AMQ_BATCH 500          /* entries per read and per POST */
#define ENG_AMQ_BACKOFF_MIN_MS 500 /* first retry after a failure */
#define ENG_AMQ_BACKOFF_MAX_MS 30000

typedef enum eng_amq_action_e {
    ENG_AMQ_NONE, /* nothing to do until an event */
    ENG_AMQ_WAIT, /* a retry is due in *wait_ms */
    ENG_AMQ_READ, /* ZREM the delivered entries (eng_amq_delivered), read the next batch */
    ENG_AMQ_POST, /* POST the batch held (eng_amq_entries) */
    ENG_AMQ_SCAN  /* read the next page of open windows for a refresh */
} eng_amq_action_t;

typedef struct eng_amq_s {
    bool busy;         /* a read or POST is outstanding */
    bool dirty;        /* Redis may hold changes not yet read */
    bool refresh_due;  /* open windows are to be re-sent */
    bool scanning;     /* a refresh is under way (cursor) */
    bool up;           /* the last POST was accepted */
    bool ever_posted;  /* a POST was answered at least once */
    bool holding;      /* entries hold a batch not yet accepted */
    uint32_t failures; /* POSTs failed in a row */
    uint64_t retry_at_ms;
    uint64_t down_since_ms;
    char cursor[32]; /* HSCAN cursor of the refresh */
    /* entries held: the batch being delivered, or the one just delivered
     * (to remove from Redis before the next read) */
    char **entries;
    size_t *lens;
    size_t n, cap;
    bool delivered; /* entries were accepted: ZREM them at the next READ */
    uint64_t depth; /* entries in Redis at the last read */
    uint64_t oldest_enq_ms;
} eng_amq_t;

void eng_amq_init(eng_amq_t *q);
void eng_amq_free(eng_amq_t *q);

/* Changes were written to Redis (a batch with some was acknowledged). */
void eng_amq_changed(eng_amq_t *q);
/* The resend interval passed: re-send the open windows. */
void eng_amq_refresh(eng_amq_t *q);

/* What to do now; the caller does it and reports with the calls below. */
eng_amq_action_t eng_amq_next(eng_amq_t *q, uint64_t now_ms, uint64_t *wait_ms);

/* READ answered: the first n entries in order (copied), and the queue's
 * length in Redis. */
void eng_amq_read_done(eng_amq_t *q, const char *const *entries, const size_t *lens, size_t n,
                       uint64_t depth);
/* The read failed (Redis away): retried after a backoff. */
void eng_amq_read_failed(eng_amq_t *q, uint64_t now_ms);
/* SCAN answered: next is the cursor ("0": the refresh is complete). */
void eng_amq_scan_done(eng_amq_t *q, const char *next);
/* A POST (of the batch or of a refresh page) was answered. ok: accepted.
 * Returns +1 when Alertmanager came back (ok after failures), -1 when it
 * went away (the first failure), else 0. A refresh page that failed is not
 * retried: the whole refresh runs again once Alertmanager is back. */
int eng_amq_post_done(eng_amq_t *q, bool ok, bool refresh, uint64_t now_ms);
/* A POST Alertmanager refused as malformed (400, 422): retrying cannot help,
 * so the batch counts as delivered (and is logged by the caller). */
void eng_amq_post_rejected(eng_amq_t *q);

/* The backoff after `failures` failures in a row. */
uint64_t eng_amq_backoff_ms(uint32_t failures);

#endif
