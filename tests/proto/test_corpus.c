/* test_corpus.c - walks tests/proto/corpus: every file in valid/ decodes to
 * messages only, every invalid/<reason>__<what>.<json|mp> is rejected with
 * <reason> only, and every reason but too_large has a file (a 1 MiB file is not
 * worth its place in git; test_json.c covers it). */
#include "helpers.h"

#include <dirent.h>

TestSuite(corpus, .init = setup, .fini = teardown);

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "cannot open %s", path);
    char *data = malloc(PROTO_MAX_RECORD + 2);
    *len = fread(data, 1, PROTO_MAX_RECORD + 1, f);
    fclose(f);
    return data;
}

static bool is_corpus_file(const char *name)
{
    size_t n = strlen(name);
    return (n > 5 && strcmp(name + n - 5, ".json") == 0) ||
           (n > 3 && strcmp(name + n - 3, ".mp") == 0);
}

/* Calls fn(path, name) for each corpus file of folder; returns how many. */
static int walk(const char *folder, void (*fn)(const char *path, const char *name))
{
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/tests/proto/corpus/%s", source_dir(), folder);
    DIR *d = opendir(dir);
    cr_assert_not_null(d, "cannot open %s", dir);
    int n = 0;
    struct dirent *ent;
    while ((ent = readdir(d)) != NULL) {
        if (!is_corpus_file(ent->d_name)) continue;
        char path[4500];
        snprintf(path, sizeof path, "%s/%s", dir, ent->d_name);
        fn(path, ent->d_name);
        n++;
    }
    closedir(d);
    return n;
}

static void check_valid(const char *path, const char *name)
{
    size_t len;
    char *data = read_file(path, &len);
    decode_n(data, len);
    cr_assert_eq(got.nrej, 0, "%s: rejected as %s", name,
                 got.nrej ? proto_reason_name(got.rej[0]) : "");
    cr_assert_gt(got.nmsg, 0, "%s: no message", name);
    for (int i = 0; i < got.nmsg; i++) {
        cr_assert(proto_tuid_valid(got.msg[i].tuid, got.msg[i].tuid_len), "%s", name);
        cr_assert_neq(strcmp(got.json[i], "!"), 0, "%s: body does not convert to JSON", name);
    }
    /* Each message's JSON form decodes again, to the same body. */
    int n = got.nmsg;
    char *json[GOT_MAX];
    uint8_t *body[GOT_MAX];
    uint32_t body_len[GOT_MAX];
    for (int i = 0; i < n; i++) {
        json[i] = strdup(got.json[i]);
        body_len[i] = got.msg[i].body_len;
        body[i] = malloc(body_len[i]);
        memcpy(body[i], got.msg[i].body, body_len[i]);
    }
    for (int i = 0; i < n; i++) {
        cr_assert_eq(decode(json[i]), 1, "%s: %s", name, json[i]);
        cr_assert_eq(got.msg[0].body_len, body_len[i], "%s", name);
        cr_assert(memcmp(got.msg[0].body, body[i], body_len[i]) == 0, "%s", name);
        free(json[i]);
        free(body[i]);
    }
    free(data);
}

static bool seen_reason[PROTO_REASON_COUNT];

static void check_invalid(const char *path, const char *name)
{
    const char *sep = strstr(name, "__");
    cr_assert_not_null(sep, "%s: name is not <reason>__<what>", name);
    int reason = -1;
    for (int r = 0; r < PROTO_REASON_COUNT; r++) {
        const char *label = proto_reason_name((proto_reason_t)r);
        if (strlen(label) == (size_t)(sep - name) && strncmp(label, name, strlen(label)) == 0)
            reason = r;
    }
    cr_assert_geq(reason, 0, "%s: no such reason", name);
    seen_reason[reason] = true;
    size_t len;
    char *data = read_file(path, &len);
    decode_n(data, len);
    cr_assert_eq(got.nmsg, 0, "%s: %d messages delivered", name, got.nmsg);
    cr_assert_gt(got.nrej, 0, "%s: not rejected", name);
    for (int i = 0; i < got.nrej; i++)
        cr_assert_str_eq(proto_reason_name(got.rej[i]), proto_reason_name((proto_reason_t)reason),
                         "%s", name);
    free(data);
}

Test(corpus, valid_files_decode_to_messages_only)
{
    cr_assert_geq(walk("valid", check_valid), 10);
}

Test(corpus, invalid_files_are_rejected_for_the_reason_in_their_name)
{
    cr_assert_geq(walk("invalid", check_invalid), 10);
    for (int r = 0; r < PROTO_REASON_COUNT; r++) {
        if (r == PROTO_REASON_TOO_LARGE) continue;
        cr_assert(seen_reason[r], "no corpus file for %s", proto_reason_name((proto_reason_t)r));
    }
}
