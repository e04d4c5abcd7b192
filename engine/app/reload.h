/* reload.h - SIGHUP: the settings read again and compared with those in
 *            force; what can change live is reported for the caller to
 *            apply, every other change is logged as needing a restart.
 * Threads: the loop thread.
 * Ownership: eng_reload_read() returns a cfg_t the caller owns; the diff
 *   borrows both sides.
 * Errors: eng_reload_read() returns NULL after logging the bad setting (the
 *   settings in force stay). */
#ifndef ENG_RELOAD_H
#define ENG_RELOAD_H

#include "config/config.h"

#include <stdbool.h>

/* Where the settings came from at start, to read them the same way again. */
typedef struct eng_reload_src_s {
    const char *path;  /* --config FILE, or NULL */
    char *const *envp; /* the environment */
    char *const *sets; /* --set key=value... */
    size_t nsets;
} eng_reload_src_t;

/* What changed among the live settings. */
typedef struct eng_reload_diff_s {
    bool log_level;   /* log.level */
    bool detector;    /* a detector timeout, a PREFIX one or the clock skew */
    unsigned applied; /* live settings changed */
    unsigned restart; /* changed settings that need a restart (each logged) */
} eng_reload_diff_t;

/* Reads the settings again from src (file, environment, --set). Returns them,
 * or NULL after logging why. */
cfg_t *eng_reload_read(const eng_reload_src_t *src);

/* Compares next with the settings in force: live ones (cfg_key_is_live)
 * against live, the others against started. Logs each change (secrets
 * masked): msg="setting changed" for a live one, a warning
 * msg="setting needs a restart" for the others. Fills diff. */
void eng_reload_diff(const cfg_t *started, const cfg_t *live, const cfg_t *next,
                     eng_reload_diff_t *diff);

#endif
