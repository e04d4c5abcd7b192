/* test_ops.c - operating tsmd as a platform team does: a Redis ACL user with
 * its password and the bootstrap client handed in files, SIGHUP changing
 * the log level and the detector timeouts without a restart, --check-config
 * and --version, a bad librdkafka property stopping start-up before the
 * embedded broker, and docs/METRICS.md against a live /metrics. */
#include "harness.h"

#include "tests/config/source_dir.h"

static const char *write_file(const char *name, const char *text)
{
    static char paths[4][128];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 128, "/tmp/tsmd-it-ops-%d-%s", (int)getpid(), name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

/* Returns true when the log file holds needle, waiting up to timeout_s. */
static bool log_has(const char *log, const char *needle, double timeout_s)
{
    double until = h_now() + timeout_s;
    static char buf[1 << 20];
    do {
        FILE *f = fopen(log, "r");
        if (f) {
            size_t n = fread(buf, 1, sizeof buf - 1, f);
            fclose(f);
            buf[n] = 0;
            if (strstr(buf, needle)) return true;
        }
        h_sleep_ms(100);
    } while (h_now() < until);
    return false;
}

static void msg(rd_kafka_t *rk, const char *tuid, long ts)
{
    char json[160];
    int n = snprintf(json, sizeof json,
                     "{\"tsmId\":1110,\"tsmEv\":10,\"tsmTuid\":\"%s\",\"tsmTs\":%ld}", tuid, ts);
    h_produce(rk, "tsm.raw", tuid, json, (size_t)n);
}

Test(ops, acl_user_and_secrets_in_files, .timeout = 90)
{
    char user[64], acl[256];
    snprintf(user, sizeof user, "tsmd-it-%d", (int)getpid());
    redisContext *c = h_redis(h_redis_port());
    /* Only its own keys and channels, no dangerous command. */
    snprintf(acl, sizeof acl,
             "ACL SETUSER %s reset on >acl-pass ~itacl:* &itacl:* +@all -@dangerous", user);
    redisReply *r = redisCommand(c, acl);
    cr_assert(r && r->type == REDIS_REPLY_STATUS, "ACL SETUSER: %s", r ? r->str : c->errstr);
    freeReplyObject(r);
    const char *pw = write_file("pw", "acl-pass\n");
    const char *client = write_file("client", "ops-client:ops-secret\n");
    h_broker_t broker;
    h_broker_start(&broker, 2);
    char s_user[96], s_pw[200], s_client[200];
    snprintf(s_user, sizeof s_user, "redis.user=%s", user);
    snprintf(s_pw, sizeof s_pw, "redis.password_file=%s", pw);
    snprintf(s_client, sizeof s_client, "auth.bootstrap_client_file=%s", client);
    const char *extra[] = {s_user, s_pw, s_client, "kafka.group_id=itacl", NULL};
    h_tsmd_t tsmd = {0};
    h_tsmd_start(&tsmd, broker.bootstrap, h_redis_port(), "itacl:", "/tmp/tsmd-it-acl.log", extra);
    h_tsmd_wait_ready(&tsmd, 30);
    cr_assert(log_has(tsmd.proc.log, "redis.password=\"***\"", 1), "password not masked");
    cr_assert(!log_has(tsmd.proc.log, "acl-pass", 0), "the password is in the log");
    rd_kafka_t *rk = h_producer(broker.bootstrap);
    msg(rk, "TSACL001", (long)time(NULL));
    h_producer_close(rk);
    h_wait_committed(broker.bootstrap, "itacl", "tsm.raw", 2, 30);
    cr_assert_eq(h_redis_int(c, "EXISTS itacl:{TSACL001}:thing"), 1, "state not written as %s",
                 user);
    char body[512];
    int st = h_http(
        tsmd.http_port, "POST", "/auth/client-token", "Content-Type: application/json\r\n",
        "{\"client_id\":\"ops-client\",\"client_secret\":\"ops-secret\"}", body, sizeof body);
    cr_assert_eq(st, 200, "the bootstrap client from the file cannot log in: %d %s", st, body);
    cr_assert_eq(h_metric(&tsmd, "tsmd_redis_connected{connection=\"writes\"}"), 1);
    cr_assert_eq(h_metric(&tsmd, "tsmd_redis_connected{connection=\"api\"}"), 1);
    cr_assert_eq(h_stop(&tsmd.proc, SIGTERM), 0);
    /* A wrong password: never ready, the reason says so. */
    const char *bad = write_file("badpw", "wrong\n");
    snprintf(s_pw, sizeof s_pw, "redis.password_file=%s", bad);
    const char *denied_extra[] = {s_user, s_pw, "kafka.group_id=itacl", NULL};
    h_tsmd_t denied = {0};
    h_tsmd_start(&denied, broker.bootstrap, h_redis_port(), "itacl:", "/tmp/tsmd-it-acl2.log",
                 denied_extra);
    double until = h_now() + 10;
    do {
        h_sleep_ms(200);
        st = h_http(denied.http_port, "GET", "/readyz", NULL, NULL, body, sizeof body);
    } while (st < 0 && h_now() < until);
    cr_assert_eq(st, 503, "ready with a wrong password: %d %s", st, body);
    cr_assert(log_has(denied.proc.log, "WRONGPASS", 5), "the refusal is not logged");
    h_stop(&denied.proc, SIGTERM);
    snprintf(acl, sizeof acl, "ACL DELUSER %s", user);
    freeReplyObject(redisCommand(c, acl));
    redisCommand(c, "EVAL %s 0",
                 "for _,k in ipairs(redis.call('KEYS','itacl:*')) do "
                 "redis.call('DEL',k) end");
    redisFree(c);
    h_broker_stop(&broker);
    unlink(pw);
    unlink(client);
    unlink(bad);
}

Test(ops, sighup_applies_live_settings_and_keeps_running, .timeout = 90)
{
    h_broker_t broker;
    h_broker_start(&broker, 2);
    const char *conf = write_file("conf", "detector.clock = event\n"
                                          "detector.heartbeat_timeout = 100000\n"
                                          "kafka.group_id = ithup\n");
    char s_conf[200];
    snprintf(s_conf, sizeof s_conf, "%s", conf);
    h_tsmd_t tsmd = {0};
    /* --config comes through a wrapper: the harness passes --set only. */
    char exe[512], brokers[600], rport[64], listen[64];
    snprintf(exe, sizeof exe, "%s/engine/tsmd", h_bin_dir());
    snprintf(brokers, sizeof brokers, "kafka.brokers=%s", broker.bootstrap);
    snprintf(rport, sizeof rport, "redis.port=%d", h_redis_port());
    tsmd.http_port = h_free_port();
    snprintf(listen, sizeof listen, "http.listen=127.0.0.1:%d", tsmd.http_port);
    char *argv[] = {exe,     "--config", s_conf,
                    "--set", brokers,    "--set",
                    rport,   "--set",    "redis.prefix=ithup:",
                    "--set", listen,     NULL};
    unlink("/tmp/tsmd-it-hup.log");
    tsmd.proc = h_spawn(argv, 0, 0, "/tmp/tsmd-it-hup.log");
    h_tsmd_wait_ready(&tsmd, 30);
    rd_kafka_t *rk = h_producer(broker.bootstrap);
    long t0 = (long)time(NULL) - 86400;
    msg(rk, "TSSNHUP1", t0);
    msg(rk, "TSGWHUP1", t0);
    msg(rk, "TSCLOCK", t0 + 500);
    rd_kafka_flush(rk, 10000);
    h_wait_committed(broker.bootstrap, "ithup", "tsm.raw", 2, 30);
    cr_assert_eq(h_metric(&tsmd, "tsmd_open_windows{type=\"heartbeat missed\"}"), 0);
    write_file("conf", "detector.clock = event\n"
                       "detector.heartbeat_timeout = 100000\n"
                       "detector.heartbeat_timeout.TSGW = 300\n"
                       "kafka.group_id = ithup\n"
                       "log.level = debug\n"
                       "http.idle_timeout = 5\n");
    kill(tsmd.proc.pid, SIGHUP);
    cr_assert(log_has(tsmd.proc.log,
                      "msg=\"setting changed\" key=\"detector.heartbeat_timeout.TSGW\" "
                      "from=\"(unset)\" to=\"300\"",
                      10));
    cr_assert(log_has(tsmd.proc.log, "key=\"log.level\" from=\"info\" to=\"debug\"", 1));
    cr_assert(log_has(tsmd.proc.log,
                      "level=warn msg=\"setting needs a restart\" key=\"http.idle_timeout\" "
                      "running=\"30\" new=\"5\"",
                      1));
    /* The gateway's new 300 s is already past (its last message is 500 s
     * behind the event clock): its window opens without any new message. */
    double until = h_now() + 10;
    while (h_metric(&tsmd, "tsmd_open_windows{type=\"heartbeat missed\"}") != 1 && h_now() < until)
        h_sleep_ms(100);
    cr_assert_eq(h_metric(&tsmd, "tsmd_open_windows{type=\"heartbeat missed\"}"), 1);
    cr_assert_eq(h_metric(&tsmd, "tsmd_alert_windows_opened_total{type=\"heartbeat missed\"}"), 1);
    /* A broken file changes nothing and stops nothing. */
    write_file("conf", "detector.heartbeat_timeout = soon\n");
    kill(tsmd.proc.pid, SIGHUP);
    cr_assert(log_has(tsmd.proc.log, "level=error msg=\"reload failed, settings unchanged\"", 10));
    cr_assert_eq(h_http(tsmd.http_port, "GET", "/readyz", NULL, NULL, NULL, 0), 200);
    cr_assert_eq(h_stop(&tsmd.proc, SIGTERM), 0, "tsmd did not exit 0 after its SIGHUPs");
    h_producer_close(rk);
    h_broker_stop(&broker);
    unlink(conf);
}

/* Runs tsmd with args (NULL-terminated), stderr and stdout to log; returns
 * its exit status. */
static int run_tsmd(const char *log, char *const *args)
{
    char exe[512];
    snprintf(exe, sizeof exe, "%s/engine/tsmd", h_bin_dir());
    char *argv[16] = {exe};
    int n = 1;
    for (; args[n - 1] && n < 15; n++)
        argv[n] = args[n - 1];
    argv[n] = NULL;
    unlink(log);
    pid_t pid = fork();
    cr_assert(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(exe, argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

Test(ops, version_check_config_and_bad_librdkafka_property, .timeout = 60)
{
    const char *log = "/tmp/tsmd-it-ops-cli.log";
    cr_assert_eq(run_tsmd(log, (char *[]){"--version", NULL}), 0);
    cr_assert(log_has(log, "tsmd 0.", 0) && log_has(log, "(commit ", 0));
    char conf[PATH_MAX + 32], dir[PATH_MAX];
    cr_assert(source_dir(dir, sizeof dir));
    snprintf(conf, sizeof conf, "%s/config/tsmd.conf", dir);
    cr_assert_eq(run_tsmd(log, (char *[]){"--check-config", "--config", conf, NULL}), 0);
    cr_assert(log_has(log, "config ok", 0));
    cr_assert_eq(run_tsmd(log, (char *[]){"--check-config", "--set", "librdkafka.bogus.prop=1",
                                          "--set", "redis.port=0", "--set",
                                          "librdkafka.fetch.wait.max.ms=nope", NULL}),
                 2);
    cr_assert(log_has(log, "config: redis.port: 0 is out of range 1..65535 (--set)", 0));
    cr_assert(log_has(log, "config: librdkafka.bogus.prop: No such configuration property", 0));
    cr_assert(log_has(log, "config: librdkafka.fetch.wait.max.ms: Invalid value", 0));
    /* The daemon: exit 2 before the embedded broker starts. */
    cr_assert_eq(run_tsmd(log, (char *[]){"--set", "librdkafka.bogus.prop=1", NULL}), 2);
    cr_assert(log_has(log, "librdkafka.bogus.prop", 0));
    cr_assert(!log_has(log, "embedded kafka", 0), "the embedded broker started");
}

/* Every metric of a live /metrics is in docs/METRICS.md, and every metric
 * listed there is in /metrics (HTTP series appear once a request was
 * answered: /readyz above is one). */
Test(ops, metrics_doc_matches_a_live_metrics, .timeout = 60)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    cr_assert(source_dir(dir, sizeof dir));
    snprintf(path, sizeof path, "%s/docs/METRICS.md", dir);
    static char doc[65536], body[1 << 20];
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    doc[fread(doc, 1, sizeof doc - 1, f)] = 0;
    fclose(f);
    h_tsmd_t tsmd = {0};
    h_tsmd_start(&tsmd, "embedded", h_redis_port(), "itmet:", "/tmp/tsmd-it-met.log", NULL);
    h_tsmd_wait_api(&tsmd, 30);
    cr_assert_eq(h_http(tsmd.http_port, "GET", "/metrics", NULL, NULL, body, sizeof body), 200);
    cr_assert(log_has(tsmd.proc.log, "level=warn msg=\"embedded kafka broker in use\"", 1));
    cr_assert_eq(h_metric(&tsmd, "tsmd_kafka_embedded"), 1);
    h_stop(&tsmd.proc, SIGTERM);
    size_t live = 0;
    for (char *line = strstr(body, "# TYPE "); line; line = strstr(line + 1, "# TYPE ")) {
        char name[128], quoted[132];
        cr_assert_eq(sscanf(line + 7, "%127s", name), 1);
        snprintf(quoted, sizeof quoted, "`%s`", name);
        cr_expect_not_null(strstr(doc, quoted), "%s is on /metrics, not in docs/METRICS.md", name);
        live++;
    }
    size_t listed = 0;
    for (char *row = strstr(doc, "\n| `"); row; row = strstr(row + 1, "\n| `")) {
        char name[128], type[140];
        if (sscanf(row, "\n| `%127[^`]`", name) != 1) continue;
        snprintf(type, sizeof type, "# TYPE %s ", name);
        cr_expect_not_null(strstr(body, type), "%s is in docs/METRICS.md, not on /metrics", name);
        listed++;
    }
    cr_assert(live > 30 && listed == live, "%zu on /metrics, %zu listed", live, listed);
}

/* Returns a token of the bootstrap client "st:st-secret". */
static void token_of(h_tsmd_t *t, char *auth, size_t cap)
{
    char body[512];
    int st =
        h_http(t->http_port, "POST", "/auth/client-token", "Content-Type: application/json\r\n",
               "{\"client_id\":\"st\",\"client_secret\":\"st-secret\"}", body, sizeof body);
    cr_assert_eq(st, 200, "%s", body);
    char *tok = strstr(body, "\"token\":\"");
    cr_assert_not_null(tok);
    tok += 9;
    snprintf(auth, cap, "Authorization: Bearer %.*s\r\n", (int)strcspn(tok, "\""), tok);
}

/* Two instances, one partition: both are ready (the API only needs Redis),
 * /status tells which one holds the partition, and needs a token. */
Test(ops, readyz_is_the_api_and_status_has_the_partitions, .timeout = 90)
{
    h_broker_t broker;
    h_broker_start(&broker, 1);
    const char *extra[] = {"kafka.group_id=itst", "auth.bootstrap_client=st:st-secret", NULL};
    h_tsmd_t a = {0}, b = {0};
    h_tsmd_start(&a, broker.bootstrap, h_redis_port(), "itst:", "/tmp/tsmd-it-st-a.log", extra);
    h_tsmd_start(&b, broker.bootstrap, h_redis_port(), "itst:", "/tmp/tsmd-it-st-b.log", extra);
    h_tsmd_wait_api(&a, 30);
    h_tsmd_wait_api(&b, 30);
    rd_kafka_t *rk = h_producer(broker.bootstrap);
    msg(rk, "TSSTATUS1", (long)time(NULL));
    h_producer_close(rk);
    h_wait_committed(broker.bootstrap, "itst", "tsm.raw", 1, 30);
    char body[8192], auth_a[256], auth_b[256];
    cr_assert_eq(h_http(a.http_port, "GET", "/status", NULL, NULL, body, sizeof body), 401);
    token_of(&a, auth_a, sizeof auth_a);
    token_of(&b, auth_b, sizeof auth_b);
    /* Whichever holds the partition lists it with its lag (0 once committed
     * and known) and the newest record's time; the other lists none and is
     * ready all the same. */
    double until = h_now() + 15;
    bool seen = false;
    char sa[8192] = "", sb[8192] = "";
    while (!seen && h_now() < until) {
        cr_assert_eq(h_http(a.http_port, "GET", "/status", auth_a, NULL, sa, sizeof sa), 200);
        cr_assert_eq(h_http(b.http_port, "GET", "/status", auth_b, NULL, sb, sizeof sb), 200);
        const char *holder = strstr(sa, "\"partition\":0") ? sa : sb;
        seen = strstr(holder, "\"lag\":0") && strstr(holder, "\"committed\":1") &&
               !strstr(holder, "\"newest_record_ms\":null");
        if (!seen) h_sleep_ms(300);
    }
    cr_assert(seen, "no partition with lag 0, committed 1 and a record time:\n%s\n%s", sa, sb);
    const char *holder = strstr(sa, "\"partition\":0") ? sa : sb;
    const char *idle = holder == sa ? sb : sa;
    cr_assert_not_null(strstr(idle, "\"partitions\":[]"), "%s", idle);
    cr_assert_not_null(strstr(holder, "\"catching_up\":false"), "%s", holder);
    cr_assert_not_null(strstr(holder, "\"restoring\":false"), "%s", holder);
    cr_assert_eq(h_http(a.http_port, "GET", "/readyz", NULL, NULL, NULL, 0), 200);
    cr_assert_eq(h_http(b.http_port, "GET", "/readyz", NULL, NULL, NULL, 0), 200);
    h_tsmd_t *ht = holder == sa ? &a : &b;
    cr_assert_eq(h_metric(ht, "tsmd_kafka_partition_lag{topic=\"tsm.raw\",partition=\"0\"}"), 0);
    cr_assert(h_metric(ht, "tsmd_kafka_partition_newest_record_timestamp_seconds{topic=\"tsm.raw\","
                           "partition=\"0\"}") > 1.6e9);
    cr_assert_eq(h_stop(&a.proc, SIGTERM), 0);
    cr_assert_eq(h_stop(&b.proc, SIGTERM), 0);
    h_broker_stop(&broker);
}
