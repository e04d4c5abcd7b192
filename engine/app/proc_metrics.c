/* proc_metrics.c - process_* and build info; see proc_metrics.h. */
#include "engine/app/proc_metrics.h"

#include "engine/base/version.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* Fields of /proc/self/stat after the command name: utime (14), stime (15),
 * starttime (22), vsize (23), rss (24), counted from 1 as in proc(5). */
typedef struct proc_stat_s {
    unsigned long long utime, stime, starttime, vsize;
    long long rss;
} proc_stat_t;

static int read_stat(proc_stat_t *st)
{
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    const char *p = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
    if (p == NULL) return -1;
    /* p + 2 is field 3 (state) */
    int got = sscanf(p + 2,
                     "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d %*d %*d "
                     "%*d %llu %llu %lld",
                     &st->utime, &st->stime, &st->starttime, &st->vsize, &st->rss);
    return got == 5 ? 0 : -1;
}

/* Returns the boot time in unix seconds (btime of /proc/stat), or -1. */
static long long boot_time(void)
{
    char line[256];
    long long btime = -1;
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL) return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "btime %lld", &btime) == 1) break;
    fclose(f);
    return btime;
}

static long open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL) return -1;
    long n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the directory's own descriptor */
}

static void gauge(eng_http_buf_t *out, const char *name, const char *type, const char *help,
                  double v)
{
    eng_http_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %.15g\n", name, help, name, type, name,
                        v);
}

void eng_proc_metrics_write(eng_http_buf_t *out)
{
    proc_stat_t st;
    double tick = (double)sysconf(_SC_CLK_TCK);
    if (tick > 0 && read_stat(&st) == 0) {
        gauge(out, "process_cpu_seconds_total", "counter",
              "Total user and system CPU time spent in seconds.",
              (double)(st.utime + st.stime) / tick);
        gauge(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.",
              (double)st.rss * (double)sysconf(_SC_PAGESIZE));
        gauge(out, "process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.",
              (double)st.vsize);
        long long btime = boot_time();
        if (btime > 0)
            gauge(out, "process_start_time_seconds", "gauge",
                  "Start time of the process since unix epoch in seconds.",
                  (double)btime + (double)st.starttime / tick);
    }
    long fds = open_fds();
    if (fds >= 0)
        gauge(out, "process_open_fds", "gauge", "Number of open file descriptors.", (double)fds);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        gauge(out, "process_max_fds", "gauge", "Maximum number of open file descriptors.",
              (double)rl.rlim_cur);
    eng_http_buf_printf(out,
                        "# HELP tsmd_build_info The version and the commit tsmd was built from "
                        "(always 1).\n# TYPE tsmd_build_info gauge\n"
                        "tsmd_build_info{version=\"%s\",commit=\"%s\"} 1\n",
                        TSMD_VERSION, TSMD_COMMIT);
}
