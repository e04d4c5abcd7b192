/* test_am_queue.c - one Alertmanager URL's delivery (am_queue.h) without a
 * server: what the sender does after each answer, so that changes go in
 * order, are removed from Redis only once accepted, are retried with
 * backoff, and refreshes never overtake them. */
#include "engine/ingest/am_queue.h"

#include <criterion/criterion.h>
#include <string.h>

static eng_amq_t q;

static void setup(void)
{
    eng_amq_init(&q);
}

static void teardown(void)
{
    eng_amq_free(&q);
}

static eng_amq_action_t next(uint64_t now)
{
    uint64_t wait = 0;
    return eng_amq_next(&q, now, &wait);
}

static void read(const char *a, const char *b)
{
    const char *e[] = {a, b};
    size_t l[] = {a ? strlen(a) : 0, b ? strlen(b) : 0};
    eng_amq_read_done(&q, e, l, (size_t)(a != NULL) + (b != NULL), 2);
}

TestSuite(am_queue, .init = setup, .fini = teardown);

Test(am_queue, reads_what_an_earlier_run_left_first)
{
    cr_assert_eq(next(0), ENG_AMQ_READ, "at start the queue in Redis is read");
    cr_assert_eq(next(0), ENG_AMQ_NONE, "one request at a time");
}

Test(am_queue, entries_are_removed_only_after_they_were_accepted)
{
    next(0);
    read("open", "close");
    cr_assert_eq(next(0), ENG_AMQ_POST);
    cr_assert_eq(eng_amq_post_done(&q, false, false, 1000), -1, "first failure: went away");
    cr_assert(!q.delivered, "a failed batch is not removed");
    uint64_t wait = 0;
    cr_assert_eq(eng_amq_next(&q, 1000, &wait), ENG_AMQ_WAIT);
    cr_assert_eq(wait, ENG_AMQ_BACKOFF_MIN_MS);
    eng_amq_changed(&q); /* more changes meanwhile: still the same batch first */
    cr_assert_eq(next(1000 + wait), ENG_AMQ_POST, "the same batch is retried before any read");
    cr_assert_eq(q.n, 2);
    cr_assert_str_eq(q.entries[0], "open");
    cr_assert_eq(eng_amq_post_done(&q, true, false, 2000), 1, "accepted after failures: back");
    cr_assert(q.delivered);
    cr_assert_eq(next(2000), ENG_AMQ_READ, "then removed and the next batch read");
    read(NULL, NULL);
    cr_assert(!q.delivered && q.n == 0);
}

Test(am_queue, backoff_doubles_up_to_its_cap)
{
    cr_assert_eq(eng_amq_backoff_ms(1), ENG_AMQ_BACKOFF_MIN_MS);
    cr_assert_eq(eng_amq_backoff_ms(2), 2 * ENG_AMQ_BACKOFF_MIN_MS);
    cr_assert_eq(eng_amq_backoff_ms(3), 4 * ENG_AMQ_BACKOFF_MIN_MS);
    cr_assert_eq(eng_amq_backoff_ms(100), ENG_AMQ_BACKOFF_MAX_MS);
    next(0);
    read("a", NULL);
    uint64_t now = 0;
    for (int i = 1; i <= 3; i++) {
        cr_assert_eq(next(now), ENG_AMQ_POST);
        cr_assert_eq(eng_amq_post_done(&q, false, false, now), i == 1 ? -1 : 0,
                     "only the first failure in a row is news");
        now = q.retry_at_ms;
    }
    cr_assert_eq(q.failures, 3);
}

Test(am_queue, refresh_waits_until_no_change_is_waiting)
{
    next(0);
    read("close", NULL);
    eng_amq_refresh(&q);
    cr_assert_eq(next(0), ENG_AMQ_POST, "the waiting change goes before the refresh");
    eng_amq_post_done(&q, true, false, 0);
    cr_assert_eq(next(0), ENG_AMQ_READ, "and is removed, and the queue read to its end");
    read(NULL, NULL);
    cr_assert_eq(next(0), ENG_AMQ_SCAN, "only then the open windows are re-sent");
    eng_amq_scan_done(&q, "17");
    eng_amq_changed(&q);
    cr_assert_eq(next(0), ENG_AMQ_READ, "a change arriving mid-refresh goes first");
    read(NULL, NULL);
    cr_assert_eq(next(0), ENG_AMQ_SCAN, "then the refresh goes on where it was");
    cr_assert_str_eq(q.cursor, "17");
    eng_amq_scan_done(&q, "0");
    cr_assert_eq(next(0), ENG_AMQ_NONE, "cursor 0: the refresh is complete");
}

Test(am_queue, coming_back_re_sends_the_open_windows)
{
    next(0);
    read("a", NULL);
    next(0);
    eng_amq_post_done(&q, false, false, 0);
    cr_assert(!q.refresh_due);
    next(q.retry_at_ms);
    eng_amq_post_done(&q, true, false, q.retry_at_ms);
    cr_assert(q.refresh_due, "Alertmanager may have let our alerts expire while away");
}

Test(am_queue, failed_refresh_page_is_not_retried_and_malformed_batch_is_dropped)
{
    next(0);
    read(NULL, NULL);
    eng_amq_refresh(&q);
    cr_assert_eq(next(0), ENG_AMQ_SCAN);
    eng_amq_scan_done(&q, "5");
    q.busy = true; /* the refresh page's POST */
    eng_amq_post_done(&q, false, true, 0);
    cr_assert(!q.scanning, "the refresh stops; it runs again once Alertmanager is back");
    eng_amq_changed(&q);
    cr_assert_eq(next(q.retry_at_ms), ENG_AMQ_READ);
    read("bad", NULL);
    cr_assert_eq(next(q.retry_at_ms), ENG_AMQ_POST);
    eng_amq_post_rejected(&q);
    cr_assert(q.delivered, "a batch Alertmanager refuses as malformed cannot block the queue");
}

Test(am_queue, read_failure_retries_the_read)
{
    next(0);
    eng_amq_read_failed(&q, 0);
    uint64_t wait = 0;
    cr_assert_eq(eng_amq_next(&q, 0, &wait), ENG_AMQ_WAIT);
    cr_assert_eq(next(wait), ENG_AMQ_READ);
}
