#include "lib/loop.h"

#include "lib/util.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

struct watch {
	int fd;
	short events;
	loop_fn fn;
	void *opaque;
};

#define MAX_TIMERS 8

struct timer {
	uint64_t due_ns;
	loop_fn fn;
	void *opaque;
};

struct loop {
	struct timer timer[MAX_TIMERS];
	struct watch *w;
	unsigned nr, cap;
	bool quit;
	int code;
	unsigned generation;    /* bumped when the watch set changes */
};

struct loop *loop_new(void)
{
	return calloc(1, sizeof(struct loop));
}

void loop_free(struct loop *l)
{
	if (l)
		free(l->w);
	free(l);
}

int loop_watch(struct loop *l, int fd, short events, loop_fn fn, void *opaque)
{
	for (unsigned i = 0; i < l->nr; i++) {
		if (l->w[i].fd == fd) {
			l->w[i] = (struct watch){ fd, events, fn, opaque };
			l->generation++;
			return 0;
		}
	}
	if (l->nr == l->cap) {
		unsigned cap = l->cap ? l->cap * 2 : 16;
		struct watch *w = realloc(l->w, cap * sizeof(*w));
		if (!w)
			return -ENOMEM;
		l->w = w;
		l->cap = cap;
	}
	l->w[l->nr++] = (struct watch){ fd, events, fn, opaque };
	l->generation++;
	return 0;
}

void loop_unwatch(struct loop *l, int fd)
{
	for (unsigned i = 0; i < l->nr; i++) {
		if (l->w[i].fd == fd) {
			l->w[i] = l->w[--l->nr];
			l->generation++;
			return;
		}
	}
}

void loop_timer(struct loop *l, int ms, loop_fn fn, void *opaque)
{
	struct timer *free_slot = NULL;

	for (unsigned i = 0; i < MAX_TIMERS; i++) {
		struct timer *t = &l->timer[i];
		if (t->fn && t->opaque == opaque) {
			free_slot = t;
			break;
		}
		if (!t->fn && !free_slot)
			free_slot = t;
	}
	if (!free_slot)
		return;
	if (ms < 0) {
		if (free_slot->opaque == opaque)
			free_slot->fn = NULL;
		return;
	}
	*free_slot = (struct timer){ now_ns() + (uint64_t)ms * 1000000, fn, opaque };
}

/* Fire due timers; return the poll timeout until the next one (-1: none). */
static int run_timers(struct loop *l)
{
	uint64_t now = now_ns(), next = UINT64_MAX;

	for (unsigned i = 0; i < MAX_TIMERS; i++) {
		struct timer *t = &l->timer[i];
		if (t->fn && t->due_ns <= now) {
			loop_fn fn = t->fn;
			t->fn = NULL;
			fn(l, -1, 0, t->opaque);
		}
	}
	for (unsigned i = 0; i < MAX_TIMERS; i++)
		if (l->timer[i].fn)
			next = MIN(next, l->timer[i].due_ns);
	if (next == UINT64_MAX)
		return -1;
	return next <= now ? 0 : (int)MIN((next - now + 999999) / 1000000, 60000u);
}

void loop_quit(struct loop *l, int code)
{
	l->quit = true;
	l->code = code;
}

int loop_run(struct loop *l)
{
	struct pollfd *pfd = NULL;
	unsigned cap = 0;

	l->quit = false;
	while (!l->quit) {
		int r, timeout = run_timers(l);
		unsigned n = l->nr, gen;

		if (l->quit)
			break;

		if (n > cap) {
			struct pollfd *p = realloc(pfd, n * sizeof(*p));
			if (!p)
				break;
			pfd = p;
			cap = n;
		}
		for (unsigned i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = l->w[i].fd, .events = l->w[i].events };
		r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR)
			break;
		gen = l->generation;
		for (unsigned i = 0; r > 0 && i < n && !l->quit; i++) {
			if (!pfd[i].revents)
				continue;
			/* A callback may change the set: look the fd up again. */
			for (unsigned j = 0; j < l->nr; j++) {
				if (l->w[j].fd == pfd[i].fd) {
					l->w[j].fn(l, pfd[i].fd, pfd[i].revents, l->w[j].opaque);
					break;
				}
			}
			if (gen != l->generation)
				break;      /* re-poll with the new set */
		}
	}
	free(pfd);
	return l->code;
}
