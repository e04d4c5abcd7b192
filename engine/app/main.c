/* main.c - tsmd's entry point: arguments, settings, then the daemon or the
 * `tsmd client ...` commands.
 *
 *   tsmd [--config FILE] [--set section.key=value]...
 *   tsmd [--config FILE] [--set ...] client add ID [--secret S] | remove ID | list
 *   tsmd [--config FILE] [--set ...] --check-config
 *   tsmd --version
 *   tsmd --config-markdown      (prints docs/CONFIG.md's generated table)
 *
 * Exit status: 0 after a clean shutdown, 1 when start-up fails (Redis
 * refused the bootstrap client, the HTTP port is taken...), 2 on a bad
 * argument or setting (one line on stderr names it; --check-config names
 * every one). */
#include "config/config.h"
#include "engine/app/app.h"
#include "engine/app/cli_client.h"
#include "engine/app/startup.h"
#include "engine/base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern char **environ;

static void usage(FILE *f)
{
    fputs("usage: tsmd [--config FILE] [--set section.key=value]...\n"
          "       tsmd [--config FILE] [--set ...] client add ID [--secret S]\n"
          "       tsmd [--config FILE] [--set ...] client remove ID\n"
          "       tsmd [--config FILE] [--set ...] client list\n"
          "       tsmd [--config FILE] [--set ...] --check-config\n"
          "       tsmd --version\n"
          "       tsmd --config-markdown\n",
          f);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    char **sets = calloc((size_t)argc + 1, sizeof *sets);
    size_t nsets = 0;
    bool check = false;
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            path = argv[++i];
        } else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc) {
            sets[nsets++] = argv[++i];
        } else if (strcmp(argv[i], "--check-config") == 0) {
            check = true;
        } else if (strcmp(argv[i], "--version") == 0) {
            eng_startup_version(stdout);
            free(sets);
            return 0;
        } else if (strcmp(argv[i], "--config-markdown") == 0) {
            cfg_write_markdown(stdout);
            free(sets);
            return 0;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            free(sets);
            return 0;
        } else if (strcmp(argv[i], "client") == 0) {
            break;
        } else {
            fprintf(stderr, "tsmd: unknown argument \"%s\"\n", argv[i]);
            usage(stderr);
            free(sets);
            return 2;
        }
    }
    if (check) {
        int status = i < argc ? 2 : eng_startup_check(path, environ, sets, nsets);
        if (i < argc) fputs("tsmd: --check-config takes no command\n", stderr);
        free(sets);
        return status;
    }
    cfg_t cfg;
    char err[CFG_ERR_MAX];
    if (cfg_load(&cfg, path, environ, sets, nsets, err) != 0) {
        ENG_ERROR("bad setting", " error=%s", err); /* a log line like every other */
        free(sets);
        return 2;
    }
    /* Before anything starts (the embedded broker included). */
    int status = eng_startup_check_kafka(&cfg);
    eng_startup_log_level(&cfg);
    if (status == 0 && i < argc) {
        status = eng_cli_client(&cfg, argc - i - 1, argv + i + 1);
    } else if (status == 0) {
        eng_startup_log(&cfg);
        eng_reload_src_t reload = {path, environ, sets, nsets};
        status = eng_app_run(&cfg, &reload);
    }
    free(sets);
    cfg_free(&cfg);
    return status;
}
