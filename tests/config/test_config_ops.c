/* test_config_ops.c - what operating tsmd needs from the settings: a check
 * that names every bad setting, secrets read from files, the Redis ACL user,
 * log.level, settings listed as text with secrets marked, and which ones
 * change live. */
#include "config/config.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *temp_file(const char *text)
{
    static char paths[4][64];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, 64, "/tmp/tsmd-test-ops.XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0);
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

typedef struct lines_s {
    char text[4096];
    int n;
} lines_t;

static void keep(void *arg, const char *line)
{
    lines_t *l = arg;
    size_t len = strlen(l->text);
    snprintf(l->text + len, sizeof l->text - len, "%s\n", line);
    l->n++;
}

Test(config_ops, check_names_every_bad_setting)
{
    const char *path = temp_file("redis.port = 70000\nbogus = 1\nhttp.idle_timeout = 5\n");
    char *env[] = {"TSMD_LOG_LEVEL=loud", NULL};
    char *sets[] = {"detector.clock=sundial", "http.idle_timeout=x"};
    lines_t l = {"", 0};
    cfg_t cfg;
    int n = cfg_check(&cfg, path, env, sets, 2, keep, &l);
    unlink(path);
    cr_assert_eq(n, 5, "%d errors:\n%s", n, l.text);
    cr_assert_eq(l.n, 5);
    cr_assert_not_null(strstr(l.text, "config: redis.port: 70000 is out of range 1..65535 ("));
    cr_assert_not_null(strstr(l.text, "config: bogus: unknown setting ("));
    cr_assert_not_null(strstr(l.text, "config: log.level: \"loud\" is not one of debug, info, "
                                      "warn, error (env TSMD_LOG_LEVEL)"));
    cr_assert_not_null(strstr(l.text, "config: detector.clock: \"sundial\" is not one of"));
    cr_assert_not_null(
        strstr(l.text, "config: http.idle_timeout: \"x\" is not an integer (--set)"));
    /* what was good was applied */
    cr_assert_eq(cfg.http_idle_timeout, 5);
    cfg_free(&cfg);
}

Test(config_ops, check_of_good_settings_has_no_error)
{
    lines_t l = {"", 0};
    cfg_t cfg;
    char *sets[] = {"log.level=debug"};
    cr_assert_eq(cfg_check(&cfg, NULL, NULL, sets, 1, keep, &l), 0, "%s", l.text);
    cr_assert_str_eq(cfg.log_level, "debug");
    cfg_free(&cfg);
}

Test(config_ops, log_level_bad_value_stops_start)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    char *sets[] = {"log.level=verbose"};
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, 1, err), -1);
    cr_assert_str_eq(err, "config: log.level: \"verbose\" is not one of debug, info, warn, error "
                          "(--set)");
}

Test(config_ops, password_file_is_read_without_its_newline)
{
    const char *secret = temp_file("s3cr#t with space\n");
    const char *client = temp_file("ops:client-secret\r\n");
    char set1[128], set2[128];
    snprintf(set1, sizeof set1, "redis.password_file=%s", secret);
    snprintf(set2, sizeof set2, "auth.bootstrap_client_file=%s", client);
    char *sets[] = {set1, set2, "redis.user=tsmd"};
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    int rc = cfg_load(&cfg, NULL, NULL, sets, 3, err);
    unlink(secret);
    unlink(client);
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_str_eq(cfg.redis_password, "s3cr#t with space");
    cr_assert_str_eq(cfg.auth_bootstrap_client, "ops:client-secret");
    cr_assert_str_eq(cfg.redis_user, "tsmd");
    cfg_free(&cfg);
}

Test(config_ops, secret_file_errors_name_the_setting)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    char *missing[] = {"redis.password_file=/nonexistent/tsmd-secret"};
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, missing, 1, err), -1);
    cr_assert_str_eq(err, "config: redis.password_file: cannot open /nonexistent/tsmd-secret: No "
                          "such file or directory");
    const char *empty = temp_file("\n");
    char set[128];
    snprintf(set, sizeof set, "redis.password_file=%s", empty);
    char *sets[] = {set};
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, 1, err), -1);
    cr_assert(strstr(err, "is empty"), "%s", err);
    char *both[] = {set, "redis.password=x"};
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, both, 2, err), -1);
    cr_assert(strstr(err, "set either redis.password or redis.password_file, not both"), "%s", err);
    const char *bad_client = temp_file("no-colon\n");
    snprintf(set, sizeof set, "auth.bootstrap_client_file=%s", bad_client);
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, 1, err), -1);
    cr_assert(strstr(err, "auth.bootstrap_client_file: the file's content is not id:secret"), "%s",
              err);
    unlink(empty);
    unlink(bad_client);
}

Test(config_ops, redis_user_needs_a_password)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    char *sets[] = {"redis.user=tsmd"};
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, 1, err), -1);
    cr_assert_str_eq(err, "config: redis.user: needs redis.password or redis.password_file "
                          "(AUTH user password)");
}

typedef struct found_s {
    char password[64], brokers[64], prefix[64], sasl[64];
    bool password_secret, sasl_secret, brokers_secret;
} found_t;

static void each(void *arg, const char *key, const char *value, bool secret)
{
    found_t *f = arg;
    if (strcmp(key, "redis.password") == 0) {
        snprintf(f->password, sizeof f->password, "%s", value);
        f->password_secret = secret;
    } else if (strcmp(key, "kafka.brokers") == 0) {
        snprintf(f->brokers, sizeof f->brokers, "%s", value);
        f->brokers_secret = secret;
    } else if (strcmp(key, "detector.heartbeat_timeout.TSGW") == 0) {
        snprintf(f->prefix, sizeof f->prefix, "%s", value);
    } else if (strcmp(key, "librdkafka.sasl.password") == 0) {
        snprintf(f->sasl, sizeof f->sasl, "%s", value);
        f->sasl_secret = secret;
    }
}

Test(config_ops, each_lists_effective_settings_and_marks_secrets)
{
    char *sets[] = {"redis.password=pw", "detector.heartbeat_timeout.TSGW=300",
                    "librdkafka.sasl.password=k"};
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, 3, err), 0, "%s", err);
    found_t f = {0};
    cfg_each(&cfg, each, &f);
    cr_assert_str_eq(f.password, "pw");
    cr_assert(f.password_secret);
    cr_assert_str_eq(f.brokers, "embedded");
    cr_assert(!f.brokers_secret);
    cr_assert_str_eq(f.prefix, "300");
    cr_assert_str_eq(f.sasl, "k");
    cr_assert(f.sasl_secret);
    cfg_free(&cfg);
}

Test(config_ops, live_settings)
{
    cr_assert(cfg_key_is_live("log.level"));
    cr_assert(cfg_key_is_live("detector.heartbeat_timeout"));
    cr_assert(cfg_key_is_live("detector.heartbeat_timeout.TSGW"));
    cr_assert(cfg_key_is_live("detector.gateway_timeout"));
    cr_assert(!cfg_key_is_live("detector.clock"));
    cr_assert(!cfg_key_is_live("redis.port"));
    cr_assert(!cfg_key_is_live("librdkafka.fetch.max.bytes"));
}
