/* test_openapi.c - docs/openapi.yaml and the route table list the same
 * (method, path) pairs. The source tree is $TSMD_SOURCE_DIR, else the first
 * directory upwards from the working directory holding docs/openapi.yaml. */
#include "engine/api/internal.h"

#include <criterion/criterion.h>
#include <ctype.h>
#include <http_parser.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PAIRS 128

typedef struct pair_s {
    char method[16];
    char path[128];
} pair_t;

static bool find_source(char *dir, size_t cap)
{
    const char *env = getenv("TSMD_SOURCE_DIR");
    if (env && *env) {
        snprintf(dir, cap, "%s", env);
        return true;
    }
    if (!getcwd(dir, cap)) return false;
    for (;;) {
        char probe[PATH_MAX + 32];
        snprintf(probe, sizeof probe, "%s/docs/openapi.yaml", dir);
        if (access(probe, R_OK) == 0) return true;
        char *slash = strrchr(dir, '/');
        if (!slash || slash == dir) return false;
        *slash = '\0';
    }
}

/* Reads the (method, path) pairs of the `paths:` section: a path is a key
 * indented by 2 spaces, a method a key indented by 4 under it. */
static size_t yaml_pairs(const char *file, pair_t *pairs)
{
    FILE *f = fopen(file, "r");
    cr_assert_not_null(f, "cannot open %s", file);
    char line[512], path[512] = "";
    bool in_paths = false;
    size_t n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] && line[0] != ' ' && line[0] != '#') {
            in_paths = strcmp(line, "paths:") == 0;
            continue;
        }
        if (!in_paths) continue;
        if (strncmp(line, "  /", 3) == 0) {
            snprintf(path, sizeof path, "%s", line + 2);
            path[strcspn(path, ":")] = '\0';
            continue;
        }
        static const char *const methods[] = {"get", "post", "put", "delete", "patch"};
        for (size_t i = 0; i < 5; i++) {
            char key[32];
            snprintf(key, sizeof key, "    %s:", methods[i]);
            if (strcmp(line, key) == 0) {
                cr_assert_lt(n, MAX_PAIRS);
                snprintf(pairs[n].method, sizeof pairs[n].method, "%s", methods[i]);
                snprintf(pairs[n].path, sizeof pairs[n].path, "%s", path);
                n++;
            }
        }
    }
    fclose(f);
    return n;
}

static bool has(const pair_t *pairs, size_t n, const char *method, const char *path)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(pairs[i].method, method) == 0 && strcmp(pairs[i].path, path) == 0) return true;
    return false;
}

Test(openapi, lists_the_same_routes_as_the_table)
{
    char dir[PATH_MAX], file[PATH_MAX + 32];
    cr_assert(find_source(dir, sizeof dir), "source tree not found (set TSMD_SOURCE_DIR)");
    snprintf(file, sizeof file, "%s/docs/openapi.yaml", dir);
    pair_t doc[MAX_PAIRS], table[MAX_PAIRS];
    size_t ndoc = yaml_pairs(file, doc), n;
    const eng_api_route_t *routes = eng_api_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const char *m = http_method_str((enum http_method)routes[i].route.method);
        size_t k;
        for (k = 0; m[k] && k + 1 < sizeof table[i].method; k++)
            table[i].method[k] = (char)tolower((unsigned char)m[k]);
        table[i].method[k] = '\0';
        snprintf(table[i].path, sizeof table[i].path, "%s", routes[i].route.pattern);
        cr_expect(has(doc, ndoc, table[i].method, table[i].path),
                  "route %s %s is missing from docs/openapi.yaml", table[i].method, table[i].path);
    }
    for (size_t i = 0; i < ndoc; i++)
        cr_expect(has(table, n, doc[i].method, doc[i].path),
                  "docs/openapi.yaml lists %s %s, which the route table lacks", doc[i].method,
                  doc[i].path);
    cr_assert_eq(ndoc, n);
}
