/* test_config_docs.c - docs/CONFIG.md and config/tsmd.conf must be what the
 * settings table generates. To regenerate both after changing the table, run
 * this test with TSMD_REGENERATE_DOCS=1 (it then writes them into the source
 * tree), or `tsmd --config-markdown > docs/CONFIG.md`. */
#include "config/config.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/config/source_dir.h"

/* Returns the whole file at path (malloc'd, NUL-terminated), or NULL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t cap = 0;
    FILE *mem = open_memstream(&buf, &cap);
    char chunk[4096];
    size_t got;
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, got, mem);
    fclose(f);
    fclose(mem);
    *len = cap;
    return buf;
}

/* Returns the 1-based number of the first line where a and b differ. */
static int first_diff_line(const char *a, const char *b)
{
    int line = 1;
    for (; *a && *a == *b; a++, b++)
        if (*a == '\n') line++;
    return line;
}

static void check_generated(const char *rel, void (*render)(FILE *f))
{
    char dir[PATH_MAX], path[PATH_MAX + 64];
    cr_assert(source_dir(dir, sizeof dir), "no source tree: set TSMD_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    char *want = NULL;
    size_t want_len = 0;
    FILE *mem = open_memstream(&want, &want_len);
    render(mem);
    fclose(mem);
    const char *regen = getenv("TSMD_REGENERATE_DOCS");
    if (regen && strcmp(regen, "1") == 0) {
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f, "cannot write %s", path);
        fwrite(want, 1, want_len, f);
        fclose(f);
    }
    size_t have_len = 0;
    char *have = slurp(path, &have_len);
    cr_assert_not_null(have, "cannot read %s", path);
    cr_assert(have_len == want_len && memcmp(have, want, want_len) == 0,
              "%s differs from what config/table.c generates (first at line %d); regenerate "
              "it: TSMD_REGENERATE_DOCS=1 <build>/tests/config_test_config_docs",
              path, first_diff_line(have, want));
    free(have);
    free(want);
}

Test(config_docs, config_md_is_generated_from_the_table)
{
    check_generated("docs/CONFIG.md", cfg_write_markdown);
}

Test(config_docs, tsmd_conf_is_generated_from_the_table)
{
    check_generated("config/tsmd.conf", cfg_write_conf);
}

Test(config_docs, markdown_lists_every_setting_once)
{
    char *md = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&md, &len);
    cfg_write_markdown(mem);
    fclose(mem);
    const char *keys[] = {"kafka.brokers",
                          "kafka.group_id",
                          "librdkafka.*",
                          "redis.prefix",
                          "http.base_path",
                          "detector.heartbeat_timeout.PREFIX",
                          "store.windows_per_thing",
                          "auth.bootstrap_client",
                          "api.command_ids"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        char row[128];
        snprintf(row, sizeof row, "\n| `%s` |", keys[i]);
        const char *at = strstr(md, row);
        cr_assert_not_null(at, "no table row for %s", keys[i]);
        cr_assert_null(strstr(at + 1, row), "two rows for %s", keys[i]);
    }
    cr_assert_not_null(strstr(md, "`TSMD_KAFKA_GROUP_ID`"));
    free(md);
}
