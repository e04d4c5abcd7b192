/* redis_uv.c - hiredis async contexts on libuv; see redis_uv.h. */
#include "engine/redis/redis_uv.h"

#include "engine/base/log.h"

#include <stdlib.h>

typedef struct redis_uv_s {
    redisAsyncContext *context;
    eng_redis_uv_error_cb on_error;
    uv_poll_t handle;
    int events;
} redis_uv_t;

static void on_poll(uv_poll_t *handle, int status, int events)
{
    redis_uv_t *p = handle->data;
    if (status != 0) {
        p->events = 0; /* libuv stopped the handle */
        if (p->context != NULL) redisAsyncHandleRead(p->context);
        if (p->context == NULL) return;
        if (p->on_error != NULL)
            p->on_error(p->context);
        else
            redisAsyncFree(p->context);
        return;
    }
    if (p->context != NULL && (events & UV_READABLE)) redisAsyncHandleRead(p->context);
    if (p->context != NULL && (events & UV_WRITABLE)) redisAsyncHandleWrite(p->context);
}

static void set_events(redis_uv_t *p, int events)
{
    if (events == p->events) return;
    p->events = events;
    if (events)
        uv_poll_start(&p->handle, events, on_poll);
    else
        uv_poll_stop(&p->handle);
}

static void add_read(void *d)
{
    redis_uv_t *p = d;
    set_events(p, p->events | UV_READABLE);
}

static void del_read(void *d)
{
    redis_uv_t *p = d;
    set_events(p, p->events & ~UV_READABLE);
}

static void add_write(void *d)
{
    redis_uv_t *p = d;
    set_events(p, p->events | UV_WRITABLE);
}

static void del_write(void *d)
{
    redis_uv_t *p = d;
    set_events(p, p->events & ~UV_WRITABLE);
}

static void on_closed(uv_handle_t *handle)
{
    free(handle->data);
}

static void cleanup(void *d)
{
    redis_uv_t *p = d;
    p->context = NULL;
    uv_close((uv_handle_t *)&p->handle, on_closed);
}

int eng_redis_uv_attach(redisAsyncContext *ac, uv_loop_t *loop, eng_redis_uv_error_cb on_error)
{
    redis_uv_t *p = eng_calloc(1, sizeof *p);
    if (uv_poll_init(loop, &p->handle, ac->c.fd) != 0) {
        free(p);
        return -1;
    }
    p->handle.data = p;
    p->context = ac;
    p->on_error = on_error;
    ac->ev.addRead = add_read;
    ac->ev.delRead = del_read;
    ac->ev.addWrite = add_write;
    ac->ev.delWrite = del_write;
    ac->ev.cleanup = cleanup;
    ac->ev.data = p;
    return 0;
}
