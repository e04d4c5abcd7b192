/* router.h - the matching of a request path against a caller's route table:
 *            percent-decoding of segments, {tuid}/{groupid} parameters checked
 *            with the tuid and group rules, http.base_path, 404 / 405 + Allow,
 *            and query-string parsing. The table (engine/api/routes.c) is the
 *            caller's; the router knows no handler.
 * Threads: any thread; everything here is pure (no state, no allocation).
 * Ownership: the caller owns the table; a match result holds copies.
 * Errors: eng_router_match() reports 404, 405 or 400 in the result's status;
 *   query helpers return -1 for a malformed value. */
#ifndef ENG_ROUTER_H
#define ENG_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENG_ROUTER_TUID_MAX 64
#define ENG_ROUTER_GROUP_MAX 64

enum {
    ENG_ROUTE_OPEN = 1 << 0, /* no token needed */
    ENG_ROUTE_ROOT = 1 << 1  /* served at the root, not under http.base_path */
};

/* One route: method (enum http_method), pattern with {tuid}/{groupid}
 * segments, ENG_ROUTE_* flags. A caller's row begins with one and may carry
 * more (its handler) after it. */
typedef struct eng_route_s {
    int method;
    const char *pattern;
    unsigned flags;
} eng_route_t;

typedef struct eng_route_match_s {
    int status;                         /* 0 matched; 404, 405 or 400 */
    int index;                          /* row of the table when matched, else -1 */
    int path_index;                     /* a row with the matched pattern (also for 405), else -1 */
    bool open;                          /* the path is an open one (whatever the method) */
    char allow[96];                     /* 405: "GET, POST" */
    const char *message;                /* 400/404: what was wrong (static) */
    char tuid[ENG_ROUTER_TUID_MAX + 1]; /* {tuid}, decoded and valid, or "" */
    char group[ENG_ROUTER_GROUP_MAX + 1]; /* {groupid}, decoded and valid, or "" */
} eng_route_match_t;

/* Matches a raw path (percent-encoded, without query) and method against n
 * rows of stride bytes from table, each beginning with an eng_route_t (m's
 * indexes count rows). base is http.base_path ("" or "/prod/v1"). Fills m. */
void eng_router_match(const eng_route_t *table, size_t n, size_t stride, const char *base,
                      int method, const char *path, size_t path_len, eng_route_match_t *m);

/* Percent-decodes s[0..len) into out (cap bytes incl. NUL); '+' becomes a
 * space when plus is true. Returns the decoded length, or -1 for a bad
 * escape, a NUL byte or an output that does not fit. */
long eng_router_decode(const char *s, size_t len, char *out, size_t cap, bool plus);

/* Finds name in a raw query string (NULL: none) and decodes its first value
 * into out. Returns 1 found, 0 absent, -1 malformed or too long. */
int eng_router_query(const char *query, const char *name, char *out, size_t cap);

/* Returns true when s[0..len) follows the group rule: 1..64 bytes of valid
 * UTF-8 with no white space and no control characters. ("unassigned" passes
 * here; callers that create groups refuse it themselves.) */
bool eng_router_group_valid(const char *s, size_t len);

#endif
