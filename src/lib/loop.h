/*
 * A small poll(2) event loop for the main thread of vireo and its tools:
 * file descriptors with callbacks. Not thread-safe: other threads wake the
 * loop through an eventfd they write to.
 */
#ifndef VIREO_LIB_LOOP_H
#define VIREO_LIB_LOOP_H

#include <stdbool.h>

struct loop;
typedef void (*loop_fn)(struct loop *l, int fd, short revents, void *opaque);

struct loop *loop_new(void);
void loop_free(struct loop *l);
/* Watch fd for events (POLLIN/POLLOUT); replaces an earlier watch of fd. */
int loop_watch(struct loop *l, int fd, short events, loop_fn fn, void *opaque);
void loop_unwatch(struct loop *l, int fd);
/*
 * Call fn once, about ms milliseconds from now (fd is -1 in the call).
 * One timer per opaque: arming again replaces it; ms < 0 cancels it.
 */
void loop_timer(struct loop *l, int ms, loop_fn fn, void *opaque);
/* Run until loop_quit(); returns the code given to loop_quit. */
int loop_run(struct loop *l);
void loop_quit(struct loop *l, int code);

#endif
