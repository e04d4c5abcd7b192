/* test_cli_client.c - `tsmd client add|remove|list` and the bootstrap
 * client, against a real redis-server. */
#include "api_harness.h"
#include "engine/app/cli_client.h"

#include <criterion/redirect.h>

static int run(const char *a, const char *b, const char *c, const char *d)
{
    char *argv[5] = {(char *)a, (char *)b, (char *)c, (char *)d, NULL};
    int argc = 0;
    while (argc < 4 && argv[argc])
        argc++;
    return eng_cli_client(&H.cfg, argc, argv);
}

static bool verifies(const char *id, const char *secret)
{
    redisReply *r = h_cmd("HGET %sclients %s", H.prefix, id);
    bool ok = r->type == REDIS_REPLY_STRING &&
              crypto_pwhash_str_verify(r->str, secret, strlen(secret)) == 0;
    freeReplyObject(r);
    return ok;
}

/* Criterion runs the suite's .init before a test's own .init. */
TestSuite(cli_client, .init = h_setup, .fini = h_teardown);

Test(cli_client, add_prints_the_secret_alone, .init = cr_redirect_stdout)
{
    cr_assert_eq(run("add", "svc", "--secret", "s3cret"), 0);
    fflush(stdout);
    cr_assert_stdout_eq_str("s3cret\n");
    cr_assert(verifies("svc", "s3cret"));
}

Test(cli_client, add_generates_a_secret_and_refuses_duplicates)
{
    cr_assert_eq(run("add", "svc", NULL, NULL), 0);
    cr_assert_eq(run("add", "svc", "--secret", "x"), 1);
    cr_assert_not(verifies("svc", "x"));
}

Test(cli_client, remove_deletes_the_client_and_its_tokens)
{
    cr_assert_eq(run("add", "svc", "--secret", "s"), 0);
    char token[64];
    h_make_token("svc", token);
    cr_assert_eq(run("remove", "svc", NULL, NULL), 0);
    cr_assert_eq(run("remove", "svc", NULL, NULL), 1);
    redisReply *r = h_cmd("KEYS %stoken:*", H.prefix);
    cr_assert_eq(r->elements, 1); /* only the harness's "tester" token is left */
    freeReplyObject(r);
}

Test(cli_client, bad_usage_is_2)
{
    cr_assert_eq(run("add", NULL, NULL, NULL), 2);
    cr_assert_eq(run("add", "bad id", NULL, NULL), 2);
    cr_assert_eq(run("frobnicate", NULL, NULL, NULL), 2);
    cr_assert_eq(run("list", "x", NULL, NULL), 2);
}

Test(cli_client, list_is_sorted, .init = cr_redirect_stdout)
{
    cr_assert_eq(run("add", "b", "--secret", "1"), 0);
    cr_assert_eq(run("add", "a", "--secret", "2"), 0);
    cr_assert_eq(run("list", NULL, NULL, NULL), 0);
    fflush(stdout);
    cr_assert_stdout_eq_str("1\n2\na\nb\n");
}

Test(cli_client, bootstrap_creates_once)
{
    h_set_cfg("auth.bootstrap_client", "boot:first");
    cr_assert_eq(eng_auth_bootstrap(&H.cfg), 0);
    cr_assert(verifies("boot", "first"));
    h_set_cfg("auth.bootstrap_client", "boot:second");
    cr_assert_eq(eng_auth_bootstrap(&H.cfg), 0);
    cr_assert(verifies("boot", "first")); /* an existing client is left alone */
}
