/* test_store.c - the Redis write connection against a fake server on a
 * thread: a connection reset while a batch is being written is noticed at
 * once (not by the 5 s reply watchdog) and the batch is acknowledged after
 * the reconnect; /readyz's reason follows the connection. Against the real
 * redis-server of the test script: two batches in flight, the first refused,
 * are acked in order and the later batch's write is the one that stays. */
#include "engine/ingest/store.h"

#include <criterion/criterion.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

typedef struct fake_s {
    int listen_fd, port;
    int resets; /* connections still to reset at their first write after SELECT */
    pthread_t thread;
} fake_t;

/* Answers +OK to every command (a '*' at the start of a line: the tests send
 * no argument that starts a line with it); resets the connection instead at
 * the first command after SELECT while resets are due. */
static void serve(fake_t *f, int fd)
{
    char buf[65536];
    bool selected = false;
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        int cmds = 0;
        for (ssize_t i = 0; i < n; i++)
            if (buf[i] == '*' && (i == 0 || buf[i - 1] == '\n')) cmds++;
        if (selected && f->resets > 0) {
            f->resets--;
            struct linger lg = {1, 0}; /* close with RST */
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
            break;
        }
        if (memmem(buf, (size_t)n, "SELECT", 6)) selected = true;
        for (int i = 0; i < cmds; i++)
            if (write(fd, "+OK\r\n", 5) != 5) break;
    }
    close(fd);
}

static void *fake_main(void *arg)
{
    fake_t *f = arg;
    int fd;
    while ((fd = accept(f->listen_fd, NULL, NULL)) >= 0)
        serve(f, fd);
    return NULL;
}

static void fake_start(fake_t *f, int resets)
{
    f->resets = resets;
    f->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    cr_assert_eq(bind(f->listen_fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(listen(f->listen_fd, 8), 0);
    getsockname(f->listen_fd, (struct sockaddr *)&a, &len);
    f->port = ntohs(a.sin_port);
    pthread_create(&f->thread, NULL, fake_main, f);
}

typedef struct seen_s {
    int ready, acked;
} seen_t;

static void on_ack(void *arg, eng_batch_t *batch)
{
    (void)batch;
    ((seen_t *)arg)->acked++;
}

static void on_ready(void *arg)
{
    ((seen_t *)arg)->ready++;
}

/* Runs the loop until *flag reaches want or max_ms of loop time passed. */
static void run_until(uv_loop_t *loop, const int *flag, int want, uint64_t max_ms)
{
    uv_update_time(loop);
    uint64_t until = uv_now(loop) + max_ms;
    while (*flag < want && uv_now(loop) < until)
        uv_run(loop, UV_RUN_ONCE);
}

Test(store, reset_during_a_write_is_noticed_without_the_watchdog, .timeout = 30)
{
    fake_t fake;
    fake_start(&fake, 1);
    cfg_t cfg;
    cr_assert_eq(cfg_init_defaults(&cfg), 0);
    cfg.redis_port = fake.port;
    uv_loop_t loop;
    uv_loop_init(&loop);
    seen_t seen = {0};
    eng_store_t *store = eng_store_new(&loop, &cfg, on_ack, on_ready, &seen);
    cr_assert_str_eq(eng_store_not_ready(store), "redis not connected");
    eng_store_start(store);
    run_until(&loop, &seen.ready, 1, 5000);
    cr_assert_eq(seen.ready, 1, "never ready");
    cr_assert_null(eng_store_not_ready(store));

    eng_batch_t batch;
    eng_batch_init(&batch);
    for (int i = 0; i < 100; i++) {
        eng_batch_cmd(&batch, 3);
        eng_batch_arg_str(&batch, "SET");
        eng_batch_arg_str(&batch, "k");
        eng_batch_arg_i64(&batch, i);
    }
    eng_store_send(store, &batch);
    run_until(&loop, &seen.acked, 1, 15000);
    cr_assert_eq(seen.acked, 1, "batch not acknowledged after the reset");
    const eng_store_stats_t *st = eng_store_stats(store);
    cr_assert_eq(st->reconnects, 1, "%llu reconnects", (unsigned long long)st->reconnects);
    cr_assert_eq(st->timeouts, 0, "the reset was only noticed by the reply watchdog");
    cr_assert_eq(fake.resets, 0);

    eng_store_stop(store);
    eng_store_free(store);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    eng_batch_close(&batch);
    shutdown(fake.listen_fd, SHUT_RDWR);
    close(fake.listen_fd);
    pthread_join(fake.thread, NULL);
    cfg_free(&cfg);
}

typedef struct order_s {
    eng_batch_t *acked[4];
    int n;
} order_t;

static void on_ack_order(void *arg, eng_batch_t *batch)
{
    order_t *o = arg;
    if (o->n < 4) o->acked[o->n] = batch;
    o->n++;
}

static void set_cmd(eng_batch_t *b, const char *key, const char *value)
{
    eng_batch_cmd(b, 3);
    eng_batch_arg_str(b, "SET");
    eng_batch_arg_str(b, key);
    eng_batch_arg_str(b, value);
}

Test(store, a_refused_batch_is_resent_with_the_one_after_it_in_order, .timeout = 30)
{
    const char *env = getenv("TSMD_TEST_REDIS_PORT");
    int port = env ? atoi(env) : 6391;
    redisContext *sync = redisConnect("127.0.0.1", port);
    cr_assert(sync && !sync->err, "no redis-server on port %d", port);
    freeReplyObject(redisCommand(sync, "SET test_store:txt notanumber"));
    freeReplyObject(redisCommand(sync, "DEL test_store:k"));

    cfg_t cfg;
    cr_assert_eq(cfg_init_defaults(&cfg), 0);
    cfg.redis_port = port;
    uv_loop_t loop;
    uv_loop_init(&loop);
    order_t order = {0};
    eng_store_t *store = eng_store_new(&loop, &cfg, on_ack_order, NULL, &order);
    eng_store_start(store);
    uv_update_time(&loop);
    for (uint64_t until = uv_now(&loop) + 5000;
         !eng_store_connected(store) && uv_now(&loop) < until;)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert(eng_store_connected(store));

    /* a: k = a, then INCR of a string: an error reply until the test fixes it */
    eng_batch_t a, b;
    eng_batch_init(&a);
    eng_batch_init(&b);
    set_cmd(&a, "test_store:k", "a");
    eng_batch_cmd(&a, 2);
    eng_batch_arg_str(&a, "INCR");
    eng_batch_arg_str(&a, "test_store:txt");
    set_cmd(&b, "test_store:k", "b");
    eng_store_send(store, &a);
    cr_assert_not(eng_store_busy(store), "a second batch must fit next to the first");
    eng_store_send(store, &b);
    cr_assert(eng_store_busy(store));
    cr_assert_eq(eng_store_queued(store), 2);

    uv_update_time(&loop);
    const char *why = NULL;
    for (uint64_t until = uv_now(&loop) + 5000; why == NULL && uv_now(&loop) < until;) {
        uv_run(&loop, UV_RUN_ONCE);
        why = eng_store_not_ready(store);
    }
    cr_assert_str_eq(why ? why : "(ready)", "redis refusing writes");
    cr_assert_eq(order.n, 0, "nothing is acked after an error reply, not even the later batch");
    freeReplyObject(redisCommand(sync, "SET test_store:txt 1"));

    uv_update_time(&loop);
    for (uint64_t until = uv_now(&loop) + 10000; order.n < 2 && uv_now(&loop) < until;)
        uv_run(&loop, UV_RUN_ONCE);
    cr_assert_eq(order.n, 2, "acked %d of 2", order.n);
    cr_expect_eq(order.acked[0], &a, "the first batch is acked first");
    cr_expect_eq(order.acked[1], &b);
    cr_expect_eq(a.attempts, 2);
    cr_expect_eq(b.attempts, 2, "the later batch is resent after the earlier one");
    cr_expect_eq(eng_store_queued(store), 0);
    redisReply *r = redisCommand(sync, "GET test_store:k");
    cr_expect(r && r->type == REDIS_REPLY_STRING && strcmp(r->str, "b") == 0,
              "k is %s: the later batch's write must land last", r && r->str ? r->str : "nil");
    freeReplyObject(r);

    eng_store_stop(store);
    eng_store_free(store);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    eng_batch_close(&a);
    eng_batch_close(&b);
    freeReplyObject(redisCommand(sync, "DEL test_store:k test_store:txt"));
    redisFree(sync);
    cfg_free(&cfg);
}
