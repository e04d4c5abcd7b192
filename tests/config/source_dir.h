/* source_dir.h - finds the source tree from a test: $TSMD_SOURCE_DIR, else the
 *                nearest directory above the working directory holding
 *                config/config.h.
 * Threads: any. Ownership: writes into the caller's buffer.
 * Errors: returns false when no source tree is found. */
#ifndef TESTS_CONFIG_SOURCE_DIR_H
#define TESTS_CONFIG_SOURCE_DIR_H

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline bool source_dir(char *out, size_t n)
{
    const char *env = getenv("TSMD_SOURCE_DIR");
    char probe[PATH_MAX + 32];
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return true;
    }
    if (!getcwd(out, n)) return false;
    for (;;) {
        snprintf(probe, sizeof probe, "%s/config/config.h", out);
        if (access(probe, R_OK) == 0) return true;
        char *slash = strrchr(out, '/');
        if (!slash || slash == out) return false;
        *slash = 0;
    }
}

#endif
