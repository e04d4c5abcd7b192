/* proc_metrics.h - the standard process_* metrics (CPU, resident memory,
 *                  open and allowed descriptors, start time) from /proc, and
 *                  tsmd_build_info, as Prometheus text.
 * Threads: any thread.
 * Ownership: appends to the caller's buffer.
 * Errors: a /proc file that cannot be read leaves its metrics out. */
#ifndef ENG_PROC_METRICS_H
#define ENG_PROC_METRICS_H

#include "engine/http/http.h"

/* Appends process_cpu_seconds_total, process_resident_memory_bytes,
 * process_virtual_memory_bytes, process_open_fds, process_max_fds,
 * process_start_time_seconds and tsmd_build_info{version,commit} 1. */
void eng_proc_metrics_write(eng_http_buf_t *out);

#endif
