/* test_cluster_ledger.c - a batch split over cluster nodes is acknowledged
 * as a whole only when every node acknowledged its part, batches come out
 * in order, a failure on one node resends that node's later parts too (and
 * nothing of the other nodes), MOVED and ASK re-route only what was not yet
 * acknowledged, and WAIT's verdict counts as part of the writes. No server:
 * the tests play the nodes' replies. */
#include "engine/redis/cluster_ledger.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int16_t owner[ENG_SLOTS];

/* Three masters: 0 serves 0..5460, 1 serves 5461..10922, 2 the rest. */
static void three_nodes(void)
{
    for (int s = 0; s < ENG_SLOTS; s++)
        owner[s] = (int16_t)(s <= 5460 ? 0 : s <= 10922 ? 1 : 2);
}

/* A key whose slot node serves: tsm:{tN}:thing for the first such N. */
static void key_on(char *buf, size_t cap, int node, int nth)
{
    for (int i = 0;; i++) {
        snprintf(buf, cap, "tsm:{t%d}:thing", i);
        if (owner[eng_cluster_key_slot(buf, strlen(buf))] == node && nth-- == 0) return;
    }
}

/* HSET key v value: value tells the commands apart. */
static void hset(eng_batch_t *b, int node, int nth, int value)
{
    char key[64];
    key_on(key, sizeof key, node, nth);
    eng_batch_cmd(b, 4);
    eng_batch_arg_str(b, "HSET");
    eng_batch_arg_str(b, key);
    eng_batch_arg_str(b, "v");
    eng_batch_arg_i64(b, value);
}

static void publish(eng_batch_t *b)
{
    eng_batch_cmd(b, 3);
    eng_batch_arg_str(b, "PUBLISH");
    eng_batch_arg_str(b, "tsm:alerts");
    eng_batch_arg_str(b, "{}");
}

/* The value (last argument) of command i of part. */
static int part_value(const eng_ledger_part_t *part, uint32_t i, bool *asking)
{
    const char *cmd;
    size_t len = eng_ledger_part_cmd(part, i, &cmd, asking);
    const char *end = cmd + len - 2, *p = end;
    while (p > cmd && p[-1] != '\n')
        p--;
    if (memcmp(cmd + len - 4, "{}", 2) == 0) return -1; /* PUBLISH */
    return atoi(p);
}

/* Answers every command of part (and its WAIT) with result. */
static void answer(eng_ledger_t *l, eng_ledger_part_t *part, eng_ledger_result_t result)
{
    uint32_t n = part->n + (l->wait ? 1 : 0);
    for (uint32_t i = 0; i < n; i++)
        eng_ledger_reply(l, part, result, -1);
}

/* Acknowledges the last part of b, which must then come out, and closes both. */
static void finish(eng_ledger_t *l, eng_ledger_part_t *part, eng_batch_t *b)
{
    answer(l, part, ENG_LEDGER_OK);
    cr_expect_eq(eng_ledger_pop(l), b);
    cr_expect_eq(eng_ledger_count(l), 0);
    eng_batch_close(b);
    eng_ledger_close(l);
}

Test(cluster_ledger, splits_a_batch_per_node_keeping_order)
{
    three_nodes();
    eng_ledger_t l;
    eng_batch_t b;
    eng_ledger_init(&l, false);
    eng_batch_init(&b);
    hset(&b, 0, 0, 10);
    hset(&b, 1, 0, 11);
    publish(&b); /* goes with the write before it, on node 1 */
    hset(&b, 2, 0, 12);
    hset(&b, 0, 1, 13);
    eng_ledger_add(&l, &b, owner, 0);
    eng_ledger_part_t *p0 = eng_ledger_next(&l, 0), *p1 = eng_ledger_next(&l, 1),
                      *p2 = eng_ledger_next(&l, 2);
    cr_assert(p0 && p1 && p2);
    bool asking;
    cr_expect_eq(p0->n, 2);
    cr_expect_eq(part_value(p0, 0, &asking), 10);
    cr_expect_eq(part_value(p0, 1, &asking), 13);
    cr_expect_not(asking);
    cr_expect_eq(p1->n, 2);
    cr_expect_eq(part_value(p1, 0, &asking), 11);
    cr_expect_eq(part_value(p1, 1, &asking), -1);
    cr_expect_eq(p2->n, 1);
    cr_expect_null(eng_ledger_next(&l, 0), "one part per node and batch");
    /* acknowledged only when every node acknowledged its part */
    answer(&l, p0, ENG_LEDGER_OK);
    answer(&l, p2, ENG_LEDGER_OK);
    cr_expect_null(eng_ledger_pop(&l));
    eng_ledger_reply(&l, p1, ENG_LEDGER_OK, -1);
    cr_expect_null(eng_ledger_pop(&l));
    eng_ledger_reply(&l, p1, ENG_LEDGER_OK, -1);
    cr_expect_eq(eng_ledger_pop(&l), &b);
    cr_expect_eq(eng_ledger_count(&l), 0);
    cr_expect(eng_ledger_settled(&l));
    eng_batch_close(&b);
    eng_ledger_close(&l);
}

Test(cluster_ledger, batches_come_out_in_order)
{
    three_nodes();
    eng_ledger_t l;
    eng_batch_t b[3];
    eng_ledger_init(&l, false);
    for (int i = 0; i < 3; i++) {
        eng_batch_init(&b[i]);
        hset(&b[i], 0, 0, i);
        hset(&b[i], 1, 0, i);
    }
    eng_batch_t empty;
    eng_batch_init(&empty);
    for (int i = 0; i < 3; i++)
        eng_ledger_add(&l, &b[i], owner, 0);
    eng_ledger_add(&l, &empty, owner, 0);
    cr_expect(eng_ledger_full(&l));
    eng_ledger_part_t *a[3][2];
    for (int i = 0; i < 3; i++) {
        a[i][0] = eng_ledger_next(&l, 0);
        a[i][1] = eng_ledger_next(&l, 1);
        cr_assert(a[i][0] && a[i][1]);
        bool asking;
        cr_expect_eq(part_value(a[i][0], 0, &asking), i, "node 0 sends in batch order");
    }
    /* node 1 is fast, node 0 slow: nothing is acked before batch 0 is */
    for (int i = 0; i < 3; i++)
        answer(&l, a[i][1], ENG_LEDGER_OK);
    answer(&l, a[1][0], ENG_LEDGER_OK); /* (a real node answers in order; the ledger need not) */
    cr_expect_null(eng_ledger_pop(&l));
    answer(&l, a[0][0], ENG_LEDGER_OK);
    cr_expect_eq(eng_ledger_pop(&l), &b[0]);
    cr_expect_eq(eng_ledger_pop(&l), &b[1]);
    cr_expect_null(eng_ledger_pop(&l));
    answer(&l, a[2][0], ENG_LEDGER_OK);
    cr_expect_eq(eng_ledger_pop(&l), &b[2]);
    cr_expect_eq(eng_ledger_pop(&l), &empty, "a batch without commands is acked in its turn");
    for (int i = 0; i < 3; i++)
        eng_batch_close(&b[i]);
    eng_batch_close(&empty);
    eng_ledger_close(&l);
}

Test(cluster_ledger, an_error_resends_that_node_from_the_failed_part_on)
{
    three_nodes();
    eng_ledger_t l;
    eng_batch_t b[3];
    eng_ledger_init(&l, false);
    for (int i = 0; i < 3; i++) {
        eng_batch_init(&b[i]);
        hset(&b[i], 0, 0, 100 + i);
        hset(&b[i], 1, 0, 200 + i);
        eng_ledger_add(&l, &b[i], owner, 0);
    }
    eng_ledger_part_t *n0[3], *n1[3];
    for (int i = 0; i < 3; i++)
        n0[i] = eng_ledger_next(&l, 0), n1[i] = eng_ledger_next(&l, 1);
    /* node 1: batch 0 ok, batch 1 refused (OOM), batch 2 ok after it */
    answer(&l, n1[0], ENG_LEDGER_OK);
    answer(&l, n1[1], ENG_LEDGER_ERROR);
    cr_expect(eng_ledger_node_failed(&l, 1));
    cr_expect_not(eng_ledger_node_idle(&l, 1));
    answer(&l, n1[2], ENG_LEDGER_OK);
    for (int i = 0; i < 3; i++)
        answer(&l, n0[i], ENG_LEDGER_OK);
    cr_expect_eq(eng_ledger_pop(&l), &b[0]);
    cr_expect_null(eng_ledger_pop(&l));
    cr_expect(eng_ledger_node_idle(&l, 1));
    cr_expect_null(eng_ledger_next(&l, 1), "nothing goes to a failed node before its retry");
    cr_expect_null(eng_ledger_next(&l, 0), "node 0's parts were acknowledged: not resent");
    eng_ledger_node_retry(&l, 1);
    /* both the refused part and the later one that succeeded, in order */
    eng_ledger_part_t *r1 = eng_ledger_next(&l, 1), *r2 = eng_ledger_next(&l, 1);
    cr_assert(r1 && r2);
    bool asking;
    cr_expect_eq(part_value(r1, 0, &asking), 201);
    cr_expect_eq(part_value(r2, 0, &asking), 202);
    cr_expect_null(eng_ledger_next(&l, 1));
    answer(&l, r1, ENG_LEDGER_OK);
    answer(&l, r2, ENG_LEDGER_OK);
    cr_expect_eq(eng_ledger_pop(&l), &b[1]);
    cr_expect_eq(eng_ledger_pop(&l), &b[2]);
    for (int i = 0; i < 3; i++)
        eng_batch_close(&b[i]);
    eng_ledger_close(&l);
}

Test(cluster_ledger, a_lost_connection_resends_its_parts)
{
    three_nodes();
    eng_ledger_t l;
    eng_batch_t b;
    eng_ledger_init(&l, false);
    eng_batch_init(&b);
    hset(&b, 2, 0, 1);
    hset(&b, 2, 1, 2);
    eng_ledger_add(&l, &b, owner, 0);
    eng_ledger_part_t *p = eng_ledger_next(&l, 2);
    eng_ledger_reply(&l, p, ENG_LEDGER_OK, -1);
    eng_ledger_reply(&l, p, ENG_LEDGER_LOST, -1); /* the connection dropped */
    cr_expect(eng_ledger_node_idle(&l, 2));
    cr_expect_null(eng_ledger_pop(&l));
    eng_ledger_node_retry(&l, 2);
    p = eng_ledger_next(&l, 2);
    cr_assert_not_null(p);
    cr_expect_eq(p->n, 2, "the whole part again: its first write may be lost too");
    finish(&l, p, &b);
}

Test(cluster_ledger, moved_reroutes_what_was_not_acknowledged)
{
    three_nodes();
    eng_ledger_t l;
    eng_batch_t b;
    eng_ledger_init(&l, false);
    eng_batch_init(&b);
    hset(&b, 0, 0, 1);
    hset(&b, 1, 0, 2);
    publish(&b);
    hset(&b, 2, 0, 3);
    eng_ledger_add(&l, &b, owner, 0);
    eng_ledger_part_t *p0 = eng_ledger_next(&l, 0), *p1 = eng_ledger_next(&l, 1),
                      *p2 = eng_ledger_next(&l, 2);
    answer(&l, p0, ENG_LEDGER_OK);
    /* node 1's slot moved to node 2: MOVED for its write, and the PUBLISH
     * after it still answered */
    eng_ledger_reply(&l, p1, ENG_LEDGER_MOVED, -1);
    cr_expect(eng_ledger_needs(&l) & ENG_LEDGER_NEED_MAP);
    eng_ledger_stall(&l);
    eng_ledger_reply(&l, p1, ENG_LEDGER_OK, -1);
    cr_expect_not(eng_ledger_settled(&l), "node 2 still owes its reply");
    answer(&l, p2, ENG_LEDGER_OK);
    cr_expect(eng_ledger_settled(&l));
    cr_expect_null(eng_ledger_next(&l, 1), "stalled until the rebuild");
    for (int s = 5461; s <= 10922; s++)
        owner[s] = 2;
    eng_ledger_rebuild(&l, owner, 0);
    cr_expect_eq(eng_ledger_needs(&l), 0);
    cr_expect_null(eng_ledger_next(&l, 0));
    cr_expect_null(eng_ledger_next(&l, 1));
    eng_ledger_part_t *r = eng_ledger_next(&l, 2);
    cr_assert_not_null(r);
    bool asking;
    cr_expect_eq(r->n, 2, "the moved write and its PUBLISH, not node 2's acknowledged write");
    cr_expect_eq(part_value(r, 0, &asking), 2);
    cr_expect_eq(part_value(r, 1, &asking), -1);
    finish(&l, r, &b);
}

Test(cluster_ledger, ask_sends_one_command_once_to_the_importing_node)
{
    three_nodes();
    eng_ledger_t l;
    eng_batch_t b;
    eng_ledger_init(&l, false);
    eng_batch_init(&b);
    hset(&b, 0, 0, 1); /* its key was migrated to node 1 */
    hset(&b, 0, 1, 2);
    eng_ledger_add(&l, &b, owner, 0);
    eng_ledger_part_t *p = eng_ledger_next(&l, 0);
    eng_ledger_reply(&l, p, ENG_LEDGER_ASK, 1);
    eng_ledger_reply(&l, p, ENG_LEDGER_OK, -1);
    cr_expect(eng_ledger_needs(&l) & ENG_LEDGER_NEED_REBUILD);
    cr_expect_not(eng_ledger_needs(&l) & ENG_LEDGER_NEED_MAP);
    eng_ledger_stall(&l);
    eng_ledger_rebuild(&l, owner, 0); /* the map is unchanged */
    eng_ledger_part_t *a = eng_ledger_next(&l, 1), *rest = eng_ledger_next(&l, 0);
    cr_assert(a && rest);
    bool asking;
    cr_expect_eq(a->n, 1);
    cr_expect_eq(part_value(a, 0, &asking), 1);
    cr_expect(asking, "ASKING goes before it");
    cr_expect_eq(rest->n, 1, "the other key stays with node 0, resent after the failure");
    cr_expect_eq(part_value(rest, 0, &asking), 2);
    cr_expect_not(asking);
    /* the importing node answers MOVED after all (the migration ended): the
     * command goes back to the map, without ASKING */
    eng_ledger_reply(&l, a, ENG_LEDGER_MOVED, -1);
    answer(&l, rest, ENG_LEDGER_OK);
    eng_ledger_stall(&l);
    for (int s = 0; s <= 5460; s++)
        owner[s] = 1;
    eng_ledger_rebuild(&l, owner, 0);
    a = eng_ledger_next(&l, 1);
    cr_assert_not_null(a);
    cr_expect_eq(a->n, 1);
    part_value(a, 0, &asking);
    cr_expect_not(asking);
    finish(&l, a, &b);
}

Test(cluster_ledger, wait_verdict_is_part_of_the_ack)
{
    three_nodes();
    eng_ledger_t l;
    eng_batch_t b;
    eng_ledger_init(&l, true);
    eng_batch_init(&b);
    hset(&b, 0, 0, 1);
    hset(&b, 1, 0, 2);
    eng_ledger_add(&l, &b, owner, 0);
    eng_ledger_part_t *p0 = eng_ledger_next(&l, 0), *p1 = eng_ledger_next(&l, 1);
    eng_ledger_reply(&l, p0, ENG_LEDGER_OK, -1); /* the write */
    cr_expect_not(eng_ledger_node_idle(&l, 0), "its WAIT is still due");
    eng_ledger_reply(&l, p0, ENG_LEDGER_OK, -1); /* WAIT: enough replicas */
    eng_ledger_reply(&l, p1, ENG_LEDGER_OK, -1);
    eng_ledger_reply(&l, p1, ENG_LEDGER_ERROR, -1); /* WAIT: too few replicas in time */
    cr_expect_null(eng_ledger_pop(&l));
    eng_ledger_node_retry(&l, 1);
    p1 = eng_ledger_next(&l, 1);
    cr_assert_not_null(p1);
    cr_expect_eq(p1->n, 1, "the write again, then WAIT again");
    finish(&l, p1, &b);
}

Test(cluster_ledger, unserved_slots_go_to_the_fallback)
{
    three_nodes();
    for (int s = 0; s <= 5460; s++)
        owner[s] = -1; /* node 0 died, no replica promoted yet */
    eng_ledger_t l;
    eng_batch_t b;
    char key[64];
    eng_ledger_init(&l, false);
    eng_batch_init(&b);
    for (int s = 0; s <= 5460; s++)
        owner[s] = 0;
    key_on(key, sizeof key, 0, 0);
    for (int s = 0; s <= 5460; s++)
        owner[s] = -1;
    eng_batch_cmd(&b, 2);
    eng_batch_arg_str(&b, "DEL");
    eng_batch_arg_str(&b, key);
    eng_ledger_add(&l, &b, owner, 2);
    eng_ledger_part_t *p = eng_ledger_next(&l, 2);
    cr_assert_not_null(p, "sent to the fallback, which will redirect or refuse it");
    finish(&l, p, &b);
}
