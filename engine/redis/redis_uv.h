/* redis_uv.h - hiredis 0.14 async contexts on a libuv loop, in place of
 *              hiredis/adapters/libuv.h.
 * Two differences from the packaged adapter:
 *  - it restarts the poll only when the wanted events change. hiredis asks
 *    for write readiness on every command, and uv_poll_start() on an active
 *    handle stops it first, which on Linux is an epoll_ctl(DEL) syscall: the
 *    packaged adapter makes one syscall per command;
 *  - on a poll error (libuv has then stopped the handle: POLLERR after the
 *    server reset the connection) it still lets hiredis read, so the reset is
 *    seen at once, and calls on_error if the context is still alive after
 *    that; the packaged adapter returns and the context never reads again.
 * Threads: loop thread only.
 * Ownership: the context owns the adapter; hiredis frees it with the context. */
#ifndef ENG_REDIS_UV_H
#define ENG_REDIS_UV_H

#include <hiredis/async.h>
#include <uv.h>

/* Called after a poll error that hiredis did not turn into a disconnect. The
 * callee must drop the context (redisAsyncFree or its own teardown). */
typedef void (*eng_redis_uv_error_cb)(redisAsyncContext *ac);

/* Attaches ac to loop. on_error NULL means redisAsyncFree(ac), which runs the
 * context's disconnect callback. Returns 0, or -1 when the socket cannot be
 * polled (ac is left as it was). */
int eng_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop, eng_redis_uv_error_cb on_error);

#endif
