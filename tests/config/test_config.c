/* test_config.c - settings: defaults, the precedence default < file < env <
 * --set, the file format, environment names, every kind of bad value (each
 * error line names the key and the source), prefix timeouts, pass-through. */
#include "config/config.h"
#include "config/table.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/config/source_dir.h"

/* Writes text to a new temporary file and returns its path (static buffer). */
static const char *conf_file(const char *text)
{
    static char path[64];
    snprintf(path, sizeof path, "/tmp/tsmd-test-config.XXXXXX");
    int fd = mkstemp(path);
    cr_assert(fd >= 0, "mkstemp failed");
    size_t len = strlen(text);
    cr_assert_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

/* Loads and expects success; returns the config. */
static cfg_t load_ok(const char *file_text, char *const *envp, char *const *sets, size_t nsets)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX] = "";
    const char *path = file_text ? conf_file(file_text) : NULL;
    int rc = cfg_load(&cfg, path, envp, sets, nsets, err);
    if (path) unlink(path);
    cr_assert_eq(rc, 0, "cfg_load failed: %s", err);
    return cfg;
}

/* Loads, expects failure, and checks the error line is exactly want. */
static void load_fails(const char *file_text, char *const *envp, char *const *sets, size_t nsets,
                       const char *want)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX] = "";
    const char *path = file_text ? conf_file(file_text) : NULL;
    int rc = cfg_load(&cfg, path, envp, sets, nsets, err);
    char expect[CFG_ERR_MAX];
    snprintf(expect, sizeof expect, want, path ? path : "");
    if (path) unlink(path);
    cr_assert_eq(rc, -1, "cfg_load succeeded, expected: %s", expect);
    cr_assert_str_eq(err, expect);
    cr_assert_null(strchr(err, '\n'), "the error must be one line: %s", err);
}

/* One --set and expects its error line. */
static void set_fails(const char *set, const char *want)
{
    char *sets[] = {(char *)set};
    load_fails(NULL, NULL, sets, 1, want);
}

Test(config, defaults_are_the_contract)
{
    cfg_t cfg = load_ok(NULL, NULL, NULL, 0);
    cr_assert_str_eq(cfg.kafka_brokers, "embedded");
    cr_assert_str_eq(cfg.kafka_topic, "tsm.raw");
    cr_assert_str_eq(cfg.kafka_group_id, "tsmd");
    cr_assert_str_eq(cfg.kafka_commands_topic, "tsm.commands");
    cr_assert_str_eq(cfg.kafka_alerts_topic, "tsm.alerts");
    cr_assert_eq(cfg.kafka_embedded_partitions, 8);
    cr_assert_str_eq(cfg.kafka_embedded_bootstrap_file, "");
    cr_assert_eq(cfg.librdkafka_len, 0);
    cr_assert_str_eq(cfg.redis_host, "127.0.0.1");
    cr_assert_eq(cfg.redis_port, 6379);
    cr_assert_eq(cfg.redis_db, 0);
    cr_assert_str_eq(cfg.redis_password, "");
    cr_assert_str_eq(cfg.redis_prefix, "tsm:");
    cr_assert_str_eq(cfg.http_listen, "127.0.0.1:8080");
    cr_assert_str_eq(cfg.http_base_path, "");
    cr_assert_eq(cfg.http_max_body_bytes, 1048576);
    cr_assert_eq(cfg.http_idle_timeout, 30);
    cr_assert_eq(cfg.detector_clock_event, false);
    cr_assert_eq(cfg.detector_heartbeat_timeout, 10800);
    cr_assert_eq(cfg.heartbeat_prefixes_len, 0);
    cr_assert_eq(cfg.detector_gateway_timeout, 600);
    cr_assert_eq(cfg.detector_inhibit_by_gateway, true);
    cr_assert_eq(cfg.detector_max_clock_skew, 300);
    cr_assert_eq(cfg.store_messages_per_thing, 100);
    cr_assert_eq(cfg.store_commands_per_thing, 1000);
    cr_assert_eq(cfg.store_windows_per_thing, 1000);
    cr_assert_eq(cfg.auth_token_ttl, 900);
    cr_assert_str_eq(cfg.auth_bootstrap_client, "");
    cr_assert_eq(cfg.auth_login_fail_window, 60);
    cr_assert_eq(cfg.auth_login_fail_limit, 10);
    cr_assert_eq(cfg.api_command_ids_len, 4);
    int64_t ids[] = {1500, 1501, 12200, 13200};
    for (size_t i = 0; i < 4; i++)
        cr_assert_eq(cfg.api_command_ids[i], ids[i]);
    cfg_free(&cfg);
}

Test(config, each_level_overrides_the_one_before)
{
    /* idle_timeout is set at every level, db at three, port at two: each
     * shows the value of the highest level that set it. */
    const char *file = "[http]\nidle_timeout = 41\n[redis]\ndb = 1\nport = 7001\n"
                       "[store]\nmessages_per_thing = 5\n";
    char *envp[] = {"TSMD_HTTP_IDLE_TIMEOUT=42", "TSMD_REDIS_DB=2", "PATH=/bin", NULL};
    char *sets[] = {"http.idle_timeout=43"};
    cfg_t cfg = load_ok(file, envp, sets, 1);
    cr_assert_eq(cfg.http_idle_timeout, 43, "--set beats env");
    cr_assert_eq(cfg.redis_db, 2, "env beats file");
    cr_assert_eq(cfg.redis_port, 7001, "file beats default");
    cr_assert_eq(cfg.store_messages_per_thing, 5);
    cr_assert_eq(cfg.auth_token_ttl, 900, "untouched stays default");
    cfg_free(&cfg);

    cfg = load_ok(file, envp, NULL, 0);
    cr_assert_eq(cfg.http_idle_timeout, 42, "env beats file");
    cfg_free(&cfg);
    cfg = load_ok(file, NULL, NULL, 0);
    cr_assert_eq(cfg.http_idle_timeout, 41, "file beats default");
    cfg_free(&cfg);
}

Test(config, later_set_and_later_line_win)
{
    char *sets[] = {"redis.db=3", "redis.db=4"};
    cfg_t cfg = load_ok("redis.db = 1\nredis.db = 2\n", NULL, sets, 2);
    cr_assert_eq(cfg.redis_db, 4);
    cfg_free(&cfg);
    cfg = load_ok("redis.db = 1\nredis.db = 2\n", NULL, NULL, 0);
    cr_assert_eq(cfg.redis_db, 2);
    cfg_free(&cfg);
}

Test(config, file_format_sections_full_names_comments)
{
    const char *file = "\xef\xbb\xbf# comment\n"
                       "kafka.group_id = g1\n"
                       "   \t\n"
                       "  # indented comment\n"
                       "[ redis ]\n"
                       "password =  p#ss w=rd  \r\n"
                       "prefix=x:\n"
                       "[detector.heartbeat_timeout]\n"
                       "TSGW = 300\n"
                       "[librdkafka]\n"
                       "fetch.max.bytes = 1000\n"
                       "[http]\n"
                       "base_path =\n"
                       "[detector]\n"
                       "clock = event\n"
                       "inhibit_by_gateway = OFF";
    cfg_t cfg = load_ok(file, NULL, NULL, 0);
    cr_assert_str_eq(cfg.kafka_group_id, "g1");
    cr_assert_str_eq(cfg.redis_password, "p#ss w=rd", "a value keeps # and = inside");
    cr_assert_str_eq(cfg.redis_prefix, "x:");
    cr_assert_eq(cfg.heartbeat_prefixes_len, 1);
    cr_assert_str_eq(cfg.heartbeat_prefixes[0].prefix, "TSGW");
    cr_assert_eq(cfg.heartbeat_prefixes[0].seconds, 300);
    cr_assert_eq(cfg.librdkafka_len, 1);
    cr_assert_str_eq(cfg.librdkafka[0].key, "fetch.max.bytes");
    cr_assert_str_eq(cfg.librdkafka[0].value, "1000");
    cr_assert_str_eq(cfg.http_base_path, "");
    cr_assert_eq(cfg.detector_clock_event, true);
    cr_assert_eq(cfg.detector_inhibit_by_gateway, false);
    cfg_free(&cfg);
}

Test(config, env_names_resolve_underscores_against_the_table)
{
    char *envp[] = {"TSMD_KAFKA_GROUP_ID=grp",
                    "TSMD_KAFKA_EMBEDDED_BOOTSTRAP_FILE=/tmp/bs",
                    "TSMD_DETECTOR_HEARTBEAT_TIMEOUT=7200",
                    "TSMD_DETECTOR_HEARTBEAT_TIMEOUT_TSGW=300",
                    "TSMD_LOG_LEVEL=debug",
                    "TSMD_TEST_REDIS_PORT=1234",
                    "TSMD_KAFKA_GROUP=ignored",
                    "TSMD_NOEQUALS",
                    "tsmd_redis_db=9",
                    NULL};
    cfg_t cfg = load_ok(NULL, envp, NULL, 0);
    cr_assert_str_eq(cfg.kafka_group_id, "grp");
    cr_assert_str_eq(cfg.kafka_embedded_bootstrap_file, "/tmp/bs");
    cr_assert_eq(cfg.detector_heartbeat_timeout, 7200);
    cr_assert_eq(cfg.heartbeat_prefixes_len, 1);
    cr_assert_str_eq(cfg.heartbeat_prefixes[0].prefix, "TSGW");
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSGW0001", 8), 300);
    cr_assert_eq(cfg.redis_db, 0, "lower-case names are not settings");
    cfg_free(&cfg);
}

Test(config, heartbeat_timeout_longest_prefix_wins)
{
    char *sets[] = {"detector.heartbeat_timeout=1000", "detector.heartbeat_timeout.TS=100",
                    "detector.heartbeat_timeout.TSGW=300", "detector.heartbeat_timeout.TSGW-9=30",
                    "detector.heartbeat_timeout.TSG=200"};
    cfg_t cfg = load_ok(NULL, NULL, sets, 5);
    cr_assert_eq(cfg.heartbeat_prefixes_len, 4);
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSGW-9x", 7), 30);
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSGW-8x", 7), 300);
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSGX", 4), 200);
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSX", 3), 100);
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "XTSGW", 5), 1000, "a prefix matches at the start");
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSGW", 4), 300, "a tuid equal to the prefix");
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSGW-9x", 3), 200, "only len bytes count");
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "tsgw", 4), 1000, "prefixes are case-sensitive");
    cfg_free(&cfg);
}

Test(config, same_prefix_or_property_again_replaces)
{
    char *sets[] = {"detector.heartbeat_timeout.TSGW=300", "detector.heartbeat_timeout.TSGW=400",
                    "librdkafka.b=1", "librdkafka.a=2", "librdkafka.b=3"};
    cfg_t cfg = load_ok(NULL, NULL, sets, 5);
    cr_assert_eq(cfg.heartbeat_prefixes_len, 1);
    cr_assert_eq(cfg_heartbeat_timeout(&cfg, "TSGW1", 5), 400);
    cr_assert_eq(cfg.librdkafka_len, 2);
    cr_assert_str_eq(cfg.librdkafka[0].key, "b", "first-set order is kept");
    cr_assert_str_eq(cfg.librdkafka[0].value, "3");
    cr_assert_str_eq(cfg.librdkafka[1].key, "a");
    cfg_free(&cfg);
}

Test(config, bad_integer_names_key_and_source)
{
    set_fails("http.idle_timeout=abc",
              "config: http.idle_timeout: \"abc\" is not an integer (--set)");
    set_fails("http.idle_timeout= 5",
              "config: http.idle_timeout: \" 5\" is not an integer (--set)");
    set_fails("http.idle_timeout=", "config: http.idle_timeout: \"\" is not an integer (--set)");
    set_fails("redis.port=99999999999999999999",
              "config: redis.port: \"99999999999999999999\" is not an integer (--set)");
    load_fails("[http]\n\nidle_timeout = 1.5\n", NULL, NULL, 0,
               "config: http.idle_timeout: \"1.5\" is not an integer (%s:3)");
    char *envp[] = {"TSMD_STORE_WINDOWS_PER_THING=10k", NULL};
    load_fails(NULL, envp, NULL, 0,
               "config: store.windows_per_thing: \"10k\" is not an integer "
               "(env TSMD_STORE_WINDOWS_PER_THING)");
}

Test(config, out_of_bounds)
{
    set_fails("http.idle_timeout=0",
              "config: http.idle_timeout: 0 is out of range 1..86400 (--set)");
    set_fails("redis.port=65536", "config: redis.port: 65536 is out of range 1..65535 (--set)");
    set_fails("redis.db=16", "config: redis.db: 16 is out of range 0..15 (--set)");
    set_fails("store.messages_per_thing=-1",
              "config: store.messages_per_thing: -1 is out of range 0..100000 (--set)");
    set_fails("store.commands_per_thing=100001",
              "config: store.commands_per_thing: 100001 is out of range 0..100000 (--set)");
    set_fails("http.max_body_bytes=67108865",
              "config: http.max_body_bytes: 67108865 is out of range 1..67108864 (--set)");
    set_fails("kafka.embedded_partitions=257",
              "config: kafka.embedded_partitions: 257 is out of range 1..256 (--set)");
    set_fails("auth.token_ttl=2592001",
              "config: auth.token_ttl: 2592001 is out of range 1..2592000 (--set)");
    set_fails("auth.login_fail_window=0",
              "config: auth.login_fail_window: 0 is out of range 1..86400 (--set)");
    set_fails("auth.login_fail_limit=1000001",
              "config: auth.login_fail_limit: 1000001 is out of range 1..1000000 (--set)");
    set_fails("detector.gateway_timeout=0",
              "config: detector.gateway_timeout: 0 is out of range 1..31536000 (--set)");
    /* The bounds themselves are accepted. */
    char *sets[] = {"redis.port=65535", "redis.db=15", "http.max_body_bytes=67108864",
                    "store.messages_per_thing=0", "detector.max_clock_skew=0"};
    cfg_t cfg = load_ok(NULL, NULL, sets, 5);
    cr_assert_eq(cfg.http_max_body_bytes, 64 * 1024 * 1024);
    cfg_free(&cfg);
}

Test(config, bad_bool_and_enum)
{
    set_fails("detector.inhibit_by_gateway=maybe",
              "config: detector.inhibit_by_gateway: \"maybe\" is not a boolean "
              "(on/off, true/false, yes/no, 1/0) (--set)");
    set_fails("detector.inhibit_by_gateway=2",
              "config: detector.inhibit_by_gateway: \"2\" is not a boolean "
              "(on/off, true/false, yes/no, 1/0) (--set)");
    set_fails("detector.clock=Event",
              "config: detector.clock: \"Event\" is not one of wall|event (--set)");
    set_fails("detector.clock=", "config: detector.clock: \"\" is not one of wall|event (--set)");
    const char *ok[] = {"on", "off", "TRUE", "false", "Yes", "no", "1", "0"};
    for (size_t i = 0; i < 8; i++) {
        char set[64];
        snprintf(set, sizeof set, "detector.inhibit_by_gateway=%s", ok[i]);
        char *sets[] = {set};
        cfg_t cfg = load_ok(NULL, NULL, sets, 1);
        cr_assert_eq(cfg.detector_inhibit_by_gateway, i % 2 == 0, "%s", ok[i]);
        cfg_free(&cfg);
    }
}

Test(config, bad_host_port)
{
    set_fails("http.listen=localhost", "config: http.listen: \"localhost\" is not host:port "
                                       "(port 0..65535) (--set)");
    set_fails("http.listen=127.0.0.1:65536", "config: http.listen: \"127.0.0.1:65536\" is not "
                                             "host:port (port 0..65535) (--set)");
    set_fails("http.listen=:8080",
              "config: http.listen: \":8080\" is not host:port (port 0..65535) (--set)");
    set_fails("http.listen=example.com:80", "config: http.listen: \"example.com:80\" needs a "
                                            "numeric address: IPv4:port or [IPv6]:port (--set)");
    set_fails("kafka.brokers=b1:9092,,b2:9092",
              "config: kafka.brokers: \"b1:9092,,b2:9092\" is neither \"embedded\" nor a list of "
              "host:port (port 1..65535) (--set)");
    set_fails("kafka.brokers=b1:0", "config: kafka.brokers: \"b1:0\" is neither \"embedded\" nor "
                                    "a list of host:port (port 1..65535) (--set)");
    char *sets[] = {"http.listen=[::1]:0", "kafka.brokers=b1:9092,10.0.0.2:9093,[::1]:9094"};
    cfg_t cfg = load_ok(NULL, NULL, sets, 2);
    cr_assert_str_eq(cfg.http_listen, "[::1]:0");
    cr_assert_str_eq(cfg.kafka_brokers, "b1:9092,10.0.0.2:9093,[::1]:9094");
    cfg_free(&cfg);
}

Test(config, bad_int_list)
{
    set_fails("api.command_ids=1500,,1501",
              "config: api.command_ids: \"1500,,1501\" is not a comma-separated list of integers: "
              "\"\" is not an integer (--set)");
    set_fails("api.command_ids=1500,x",
              "config: api.command_ids: \"1500,x\" is not a comma-separated list of integers: "
              "\"x\" is not an integer (--set)");
    set_fails("api.command_ids=1500,",
              "config: api.command_ids: \"1500,\" is not a comma-separated list of integers: "
              "\"\" is not an integer (--set)");
    set_fails("api.command_ids=-1",
              "config: api.command_ids: \"-1\" is not a comma-separated list of integers: "
              "-1 is out of range 0..2147483647 (--set)");
    char *sets[] = {"api.command_ids= 7 , 8,9"};
    cfg_t cfg = load_ok(NULL, NULL, sets, 1);
    cr_assert_eq(cfg.api_command_ids_len, 3);
    cr_assert_eq(cfg.api_command_ids[0], 7);
    cr_assert_eq(cfg.api_command_ids[2], 9);
    cfg_free(&cfg);
    char *empty[] = {"api.command_ids="};
    cfg = load_ok(NULL, NULL, empty, 1);
    cr_assert_eq(cfg.api_command_ids_len, 0, "empty accepts no command");
    cfg_free(&cfg);
}

Test(config, bad_heartbeat_prefix)
{
    set_fails("detector.heartbeat_timeout.=5", "config: detector.heartbeat_timeout.: prefix \"\" "
                                               "is not 1..64 of A-Z a-z 0-9 _ . - (--set)");
    set_fails("detector.heartbeat_timeout.TS/GW=5",
              "config: detector.heartbeat_timeout.TS/GW: prefix \"TS/GW\" is not 1..64 of "
              "A-Z a-z 0-9 _ . - (--set)");
    set_fails("detector.heartbeat_timeout.TSGW=315360001",
              "config: detector.heartbeat_timeout.TSGW: 315360001 is out of range 0..315360000 "
              "(--set)");
    set_fails("detector.heartbeat_timeout=-1",
              "config: detector.heartbeat_timeout: -1 is out of range 0..315360000 (--set)");
    char *envp[] = {"TSMD_DETECTOR_HEARTBEAT_TIMEOUT_A:B=5", NULL};
    load_fails(NULL, envp, NULL, 0,
               "config: detector.heartbeat_timeout.A:B: prefix \"A:B\" is not 1..64 of "
               "A-Z a-z 0-9 _ . - (env TSMD_DETECTOR_HEARTBEAT_TIMEOUT_A:B)");
    char long_set[128];
    snprintf(long_set, sizeof long_set, "detector.heartbeat_timeout.%065d=5", 0);
    char *sets[] = {long_set};
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, 1, err), -1, "a 65-byte prefix");
    cr_assert(strstr(err, "is not 1..64 of"), "%s", err);
}

Test(config, bad_strings)
{
    set_fails("http.base_path=prod", "config: http.base_path: \"prod\" must be empty or a path "
                                     "starting with '/', without a trailing '/', '//', '?', '#' "
                                     "or white space (--set)");
    set_fails("http.base_path=/prod/", "config: http.base_path: \"/prod/\" must be empty or a path "
                                       "starting with '/', without a trailing '/', '//', '?', '#' "
                                       "or white space (--set)");
    set_fails("redis.prefix=", "config: redis.prefix: must not be empty (--set)");
    set_fails("redis.prefix=a b", "config: redis.prefix: \"a b\" must not contain white space "
                                  "(--set)");
    set_fails("kafka.topic=a,,b", "config: kafka.topic: \"a,,b\" is not a comma-separated list "
                                  "of Kafka topic names (1..249 of A-Z a-z 0-9 . _ -) (--set)");
    set_fails("auth.bootstrap_client=nosecret",
              "config: auth.bootstrap_client: \"nosecret\" is not id:secret (both non-empty, no "
              "white space) nor empty (--set)");
    set_fails("redis.password=a\tb",
              "config: redis.password: \"a\\x09b\" contains a control character (--set)");
    char *sets[] = {"http.base_path=/prod/v1", "kafka.topic=a,b.c",
                    "kafka.alerts_topic=", "auth.bootstrap_client=demo:s3cret"};
    cfg_t cfg = load_ok(NULL, NULL, sets, 4);
    cr_assert_str_eq(cfg.http_base_path, "/prod/v1");
    cr_assert_str_eq(cfg.kafka_alerts_topic, "");
    cfg_free(&cfg);
}

Test(config, bad_librdkafka_property_name)
{
    set_fails("librdkafka.=1", "config: librdkafka.: property name \"\" is empty, too long or "
                               "has white space (--set)");
    load_fails("[librdkafka]\nfetch max = 1\n", NULL, NULL, 0,
               "config: \"librdkafka.fetch max\": property name \"fetch max\" is empty, too "
               "long or has white space (%s:2)");
}

Test(config, unknown_key_in_file_env_and_set)
{
    load_fails("[http]\nidle_timout = 5\n", NULL, NULL, 0,
               "config: http.idle_timout: unknown setting (%s:2)");
    load_fails("idle_timeout = 5\n", NULL, NULL, 0, "config: idle_timeout: unknown setting (%s:1)");
    set_fails("http.idle_timout=5", "config: http.idle_timout: unknown setting (--set)");
    set_fails("nonsense", "config: nonsense: expected key=value (--set)");
    char *envp[] = {"TSMD_LIBRDKAFKA_FETCH_MAX_BYTES=1", NULL};
    load_fails(NULL, envp, NULL, 0,
               "config: librdkafka.FETCH_MAX_BYTES: librdkafka.* cannot be set from the "
               "environment (use the file or --set) (env TSMD_LIBRDKAFKA_FETCH_MAX_BYTES)");
}

Test(config, malformed_file)
{
    load_fails(
        "redis.db = 1\njust words\n", NULL, NULL, 0,
        "config: \"just words\": expected \"key = value\", \"[section]\" or a # comment (%s:2)");
    load_fails("[redis\n", NULL, NULL, 0, "config: [redis: expected [section] (%s:1)");
    load_fails("[rediss]\n", NULL, NULL, 0, "config: rediss: unknown section (%s:1)");
    load_fails("= 5\n", NULL, NULL, 0, "config: \"= 5\": a line without a key (%s:1)");
    load_fails("[redis]\nport = 1\nport\n", NULL, NULL, 0,
               "config: port: expected \"key = value\", \"[section]\" or a # comment (%s:3)");
}

Test(config, missing_file)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    cr_assert_eq(cfg_load(&cfg, "/nonexistent/tsmd.conf", NULL, NULL, 0, err), -1);
    cr_assert_str_eq(err, "config: /nonexistent/tsmd.conf: cannot open the config file: No such "
                          "file or directory");
}

Test(config, error_quotes_unprintable_keys_and_values)
{
    set_fails("bad\x01key=1", "config: \"bad\\x01key\": unknown setting (--set)");
    char big[1000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = 0;
    memcpy(big, "redis.db=", 9);
    char *sets[] = {big};
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    cr_assert_eq(cfg_load(&cfg, NULL, NULL, sets, 1, err), -1);
    cr_assert(strlen(err) < 200, "a huge value is cut short: %s", err);
    cr_assert(strstr(err, "...\" is not an integer (--set)"), "%s", err);
}

Test(config, cfg_set_changes_nothing_on_failure)
{
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    cfg_init_defaults(&cfg);
    cr_assert_eq(cfg_set(&cfg, "redis.port", "70000", err), -1);
    cr_assert_str_eq(err, "config: redis.port: 70000 is out of range 1..65535");
    cr_assert_eq(cfg.redis_port, 6379);
    cr_assert_eq(cfg_set(&cfg, "api.command_ids", "1,2,x", err), -1);
    cr_assert_eq(cfg.api_command_ids_len, 4);
    cr_assert_eq(cfg_set(&cfg, "http.listen", "nope", err), -1);
    cr_assert_str_eq(cfg.http_listen, "127.0.0.1:8080");
    cr_assert_eq(cfg_set(&cfg, "redis.port", "7000", err), 0);
    cr_assert_eq(cfg.redis_port, 7000);
    cfg_free(&cfg);
}

Test(config, every_default_obeys_its_row)
{
    /* Each default goes through the same parser as any value; setting it
     * again must succeed and keep the config equal. */
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    cfg_init_defaults(&cfg);
    for (size_t i = 0; i < n; i++) {
        if (cfg_row_stem_len(&rows[i])) continue;
        cr_assert_eq(cfg_set(&cfg, rows[i].name, rows[i].def, err), 0, "%s", err);
        if (rows[i].type == CFG_ENUM)
            cr_assert(strchr(rows[i].choices, '|') == strrchr(rows[i].choices, '|'),
                      "%s: an enum is stored as bool, so it has two choices", rows[i].name);
    }
    cfg_free(&cfg);
}

Test(config, tsmd_conf_loads_to_the_defaults)
{
    char dir[PATH_MAX], path[PATH_MAX + 32];
    cr_assert(source_dir(dir, sizeof dir), "no source tree: set TSMD_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/config/tsmd.conf", dir);
    cfg_t got, want;
    char err[CFG_ERR_MAX];
    cr_assert_eq(cfg_load(&got, path, NULL, NULL, 0, err), 0, "%s", err);
    cfg_init_defaults(&want);
    size_t n;
    const cfg_row_t *rows = cfg_table(&n);
    for (size_t i = 0; i < n; i++) {
        const cfg_row_t *row = &rows[i];
        const char *a = (const char *)&got + row->offset, *b = (const char *)&want + row->offset;
        switch (row->type) {
        case CFG_STRING:
        case CFG_HOSTPORT:
            cr_assert_str_eq(*(char *const *)a, *(char *const *)b, "%s", row->name);
            break;
        case CFG_INT:
            cr_assert_eq(*(const int64_t *)a, *(const int64_t *)b, "%s", row->name);
            break;
        case CFG_BOOL:
        case CFG_ENUM:
            cr_assert_eq(*(const bool *)a, *(const bool *)b, "%s", row->name);
            break;
        default: {
            size_t la = *(const size_t *)((const char *)&got + row->len_offset);
            size_t lb = *(const size_t *)((const char *)&want + row->len_offset);
            cr_assert_eq(la, lb, "%s: %zu elements, default has %zu", row->name, la, lb);
        }
        }
    }
    for (size_t i = 0; i < got.api_command_ids_len; i++)
        cr_assert_eq(got.api_command_ids[i], want.api_command_ids[i]);
    cfg_free(&got);
    cfg_free(&want);
}
