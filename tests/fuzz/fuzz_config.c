/* fuzz_config.c - libFuzzer target for the settings loader: the input is read
 * as a config file, then its lines as environment variables and as --set
 * arguments, then each line as one cfg_set(). Besides crashes and leaks it
 * checks the error contract: one line starting with "config: ", and a loaded
 * config whose prefix timeouts are sorted longest first.
 * Build: clang -fsanitize=fuzzer,address,undefined -I. tests/fuzz/fuzz_config.c config/[a-z]*.c
 * Corpus: tests/fuzz/corpus/config/. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* memfd_create */
#endif
#include "config/config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_LINES 64

static void check_err(int rc, const char *err)
{
    if (rc == 0) return;
    if (rc != -1 || strncmp(err, "config: ", 8) != 0 || strchr(err, '\n') ||
        strlen(err) >= CFG_ERR_MAX)
        abort();
}

static void check_cfg(const cfg_t *cfg)
{
    for (size_t i = 1; i < cfg->heartbeat_prefixes_len; i++)
        if (strlen(cfg->heartbeat_prefixes[i - 1].prefix) <
            strlen(cfg->heartbeat_prefixes[i].prefix))
            abort();
    if (cfg_heartbeat_timeout(cfg, "TSGW0001", 8) < 1) abort();
}

static void load_as_file(const uint8_t *data, size_t size)
{
    int fd = memfd_create("fuzz_config", 0);
    if (fd < 0) abort();
    if (size && write(fd, data, size) != (ssize_t)size) abort();
    char path[64], err[CFG_ERR_MAX];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    cfg_t cfg;
    int rc = cfg_load(&cfg, path, NULL, NULL, 0, err);
    check_err(rc, err);
    if (rc == 0) check_cfg(&cfg);
    cfg_free(&cfg);
    close(fd);
}

/* Splits a NUL-terminated copy of the input into at most MAX_LINES lines. */
static size_t split_lines(char *text, char **lines)
{
    size_t n = 0;
    for (char *p = text; n < MAX_LINES;) {
        lines[n++] = p;
        char *nl = strchr(p, '\n');
        if (!nl) break;
        *nl = 0;
        p = nl + 1;
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load_as_file(data, size);

    char *text = malloc(size + 1);
    if (!text) abort();
    memcpy(text, data, size);
    text[size] = 0;
    char *lines[MAX_LINES + 1];
    size_t n = split_lines(text, lines);
    lines[n] = NULL;

    cfg_t cfg;
    char err[CFG_ERR_MAX];
    int rc = cfg_load(&cfg, NULL, lines, lines, n, err);
    check_err(rc, err);
    if (rc == 0) check_cfg(&cfg);
    cfg_free(&cfg);

    cfg_init_defaults(&cfg);
    for (size_t i = 0; i < n; i++) {
        char *eq = strchr(lines[i], '=');
        if (!eq) continue;
        *eq = 0;
        check_err(cfg_set(&cfg, lines[i], eq + 1, err), err);
        *eq = '=';
    }
    check_cfg(&cfg);
    cfg_free(&cfg);
    free(text);
    return 0;
}
