/* test_router.c - route matching: literals before parameters, 404, 405 with
 * Allow, path parameter rules, percent-decoding, base path, queries. */
#include "engine/api/internal.h"
#include "engine/http/router.h"

#include <criterion/criterion.h>
#include <http_parser.h>
#include <string.h>

static eng_route_match_t match(int method, const char *path, const char *base)
{
    eng_route_match_t m;
    eng_api_route_match(base, method, path, strlen(path), &m);
    return m;
}

static const char *pattern_of(const eng_route_match_t *m)
{
    size_t n;
    const eng_api_route_t *table = eng_api_routes(&n);
    return m->index >= 0 ? table[m->index].route.pattern : "(none)";
}

Test(router, literal_segment_beats_parameter)
{
    eng_route_match_t m = match(HTTP_GET, "/things/alerts", "");
    cr_assert_eq(m.status, 0);
    cr_assert_str_eq(pattern_of(&m), "/things/alerts");
    m = match(HTTP_GET, "/things/alerts/count", "");
    cr_assert_str_eq(pattern_of(&m), "/things/alerts/count");
    m = match(HTTP_GET, "/things/ABC-1/alerts", "");
    cr_assert_str_eq(pattern_of(&m), "/things/{tuid}/alerts");
    cr_assert_str_eq(m.tuid, "ABC-1");
}

Test(router, unknown_path_is_404)
{
    cr_assert_eq(match(HTTP_GET, "/nothing", "").status, 404);
    cr_assert_eq(match(HTTP_GET, "/things/A/nothing", "").status, 404);
    cr_assert_eq(match(HTTP_GET, "/things/A/messages/extra", "").status, 404);
    cr_assert_eq(match(HTTP_GET, "/", "").status, 404);
    cr_assert_eq(match(HTTP_GET, "/a/b/c/d/e/f/g/h/i/j/k", "").status, 404);
}

Test(router, wrong_method_is_405_with_allow)
{
    eng_route_match_t m = match(HTTP_DELETE, "/things/T1/commands", "");
    cr_assert_eq(m.status, 405);
    cr_assert_str_eq(m.allow, "GET, POST");
    m = match(HTTP_PUT, "/groups/g1", "");
    cr_assert_eq(m.status, 405);
    cr_assert_str_eq(m.allow, "DELETE");
    m = match(HTTP_POST, "/healthz", "");
    cr_assert_eq(m.status, 405);
    cr_assert_str_eq(m.allow, "GET");
    cr_assert(m.open);
}

Test(router, tuid_rule_checked_after_decoding)
{
    cr_assert_eq(match(HTTP_GET, "/things/a%2Fb", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/things/a%20b", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/things/%7Bx%7D", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/things/a*b", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/things/a:b", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/things/a%0D%0Ab", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/things/bad%zz", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/things/nul%00x", "").status, 400);
    char tuid65[80] = "/things/";
    memset(tuid65 + 8, 'A', 65);
    tuid65[8 + 65] = '\0';
    cr_assert_eq(match(HTTP_GET, tuid65, "").status, 400);
    tuid65[8 + 64] = '\0';
    cr_assert_eq(match(HTTP_GET, tuid65, "").status, 0);
    eng_route_match_t m = match(HTTP_GET, "/things/%41b.c_d-e", "");
    cr_assert_eq(m.status, 0);
    cr_assert_str_eq(m.tuid, "Ab.c_d-e");
}

Test(router, group_rule_on_path)
{
    eng_route_match_t m = match(HTTP_GET, "/groups/caf%C3%A9/things", "");
    cr_assert_eq(m.status, 0);
    cr_assert_str_eq(m.group, "caf\xc3\xa9");
    cr_assert_eq(match(HTTP_GET, "/groups/a%20b/things", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/groups/a%09b/things", "").status, 400);
    cr_assert_eq(match(HTTP_GET, "/groups/%E2%80%83/things", "").status, 400); /* em space */
    cr_assert_eq(match(HTTP_GET, "/groups/%FF/things", "").status, 400);       /* not UTF-8 */
    /* The group rule allows '/', so an encoded one reaches the handler decoded. */
    m = match(HTTP_DELETE, "/groups/a%2Fb", "");
    cr_assert_eq(m.status, 0);
    cr_assert_str_eq(m.group, "a/b");
}

Test(router, base_path_prefixes_api_routes_only)
{
    eng_route_match_t m = match(HTTP_GET, "/prod/v1/things/alerts/count", "/prod/v1");
    cr_assert_eq(m.status, 0);
    cr_assert_str_eq(pattern_of(&m), "/things/alerts/count");
    cr_assert_eq(match(HTTP_GET, "/things/alerts/count", "/prod/v1").status, 404);
    cr_assert_eq(match(HTTP_GET, "/prod/v1x/things/alerts", "/prod/v1").status, 404);
    cr_assert_eq(match(HTTP_GET, "/healthz", "/prod/v1").status, 0);
    cr_assert_eq(match(HTTP_GET, "/prod/v1/healthz", "/prod/v1").status, 404);
    m = match(HTTP_POST, "/prod/v1/auth/client-token", "/prod/v1");
    cr_assert_eq(m.status, 0);
    cr_assert(m.open);
}

Test(router, open_flag_only_on_open_paths)
{
    cr_assert(match(HTTP_GET, "/metrics", "").open);
    cr_assert(match(HTTP_GET, "/auth/client-token", "").open); /* 405, but no token needed */
    cr_assert_not(match(HTTP_GET, "/things/alerts", "").open);
    cr_assert_not(match(HTTP_GET, "/nothing", "").open);
}

Test(router, trailing_slash_is_ignored)
{
    eng_route_match_t m = match(HTTP_GET, "/groups/", "");
    cr_assert_eq(m.status, 0);
    cr_assert_str_eq(pattern_of(&m), "/groups");
}

Test(router, query_values_are_decoded)
{
    char out[64];
    cr_assert_eq(eng_router_query("a=1&q=hello+w%6Frld&b", "q", out, sizeof out), 1);
    cr_assert_str_eq(out, "hello world");
    cr_assert_eq(eng_router_query("a=1&b", "b", out, sizeof out), 1);
    cr_assert_str_eq(out, "");
    cr_assert_eq(eng_router_query("a=1", "q", out, sizeof out), 0);
    cr_assert_eq(eng_router_query(NULL, "q", out, sizeof out), 0);
    cr_assert_eq(eng_router_query("q=%G1", "q", out, sizeof out), -1);
    cr_assert_eq(eng_router_query("q=1&q=2", "q", out, sizeof out), 1);
    cr_assert_str_eq(out, "1");
    cr_assert_eq(eng_router_query("q=0123456789", "q", out, 4), -1);
}

Test(router, group_rule)
{
    cr_assert(eng_router_group_valid("testgroup1", 10));
    cr_assert(eng_router_group_valid("unassigned", 10));
    cr_assert_not(eng_router_group_valid("", 0));
    cr_assert_not(eng_router_group_valid("a b", 3));
    cr_assert_not(eng_router_group_valid("a\x7f", 2));
    char long65[66];
    memset(long65, 'g', 65);
    cr_assert_not(eng_router_group_valid(long65, 65));
    cr_assert(eng_router_group_valid(long65, 64));
    cr_assert_not(eng_router_group_valid("\xc3\x28", 2));
    cr_assert_not(eng_router_group_valid("a\xc2\xa0"
                                         "b",
                                         4)); /* no-break space */
}
