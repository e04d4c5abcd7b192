/* startup.h - what main() does before the daemon starts: --version,
 *             --check-config, the log level and the start-up line.
 * Threads: the main thread, before any other exists.
 * Ownership: nothing is kept.
 * Errors: eng_startup_check() returns the process exit status (0 or 2) after
 *   writing one line per bad setting to stderr. */
#ifndef ENG_STARTUP_H
#define ENG_STARTUP_H

#include "config/config.h"

#include <stdio.h>

/* Writes "tsmd VERSION (commit COMMIT)" and a newline to f. */
void eng_startup_version(FILE *f);

/* --check-config: loads the settings like the daemon (file, environment,
 * --set), checks the librdkafka.* ones with librdkafka, connects to nothing.
 * Writes each bad setting as one line to stderr, or "config ok" to stdout.
 * Returns 0, or 2 when any setting is bad. */
int eng_startup_check(const char *path, char *const *envp, char *const *sets, size_t nsets);

/* Checks the librdkafka.* settings of a loaded cfg (one log line
 * msg="bad setting" per refusal). Returns 0, or 2 when librdkafka refused any. */
int eng_startup_check_kafka(const cfg_t *cfg);

/* Sets the log level from cfg's log.level. */
void eng_startup_log_level(const cfg_t *cfg);

/* Logs msg="starting" with the version, the commit and every effective
 * setting as key=value (secrets shown as "***" when set). */
void eng_startup_log(const cfg_t *cfg);

#endif
