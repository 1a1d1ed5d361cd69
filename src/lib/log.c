#include "lib/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static const char *program = "vireo";
static enum log_level threshold = LOG_WARN;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_program(const char *name) { program = name; }
void log_set_level(enum log_level level) { threshold = level; }

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
	static const char *const tag[] = { "error: ", "warning: ", "", "debug: " };

	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s: %s", program, tag[level]);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > threshold)
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERROR, fmt, ap);
	va_end(ap);
	exit(1);
}
