/*
 * The device side of the virtio-pci transport: each device's I/O thread,
 * the pop/push helpers the device types call on it, and the NEEDS_RESET
 * path for drivers that break the rules.
 *
 * Notifications are the "eventfd path" of both engines: a vCPU's MMIO
 * write to the notify area sets the queue's bit in vd->pending and
 * increments vd->kick_fd; the I/O thread drains the bits and serves those
 * queues. (On kvm, KVM_IOEVENTFD could signal the same eventfd from the
 * kernel without an exit to user space; see the report.)
 *
 * Waking a sleeping thread is the expensive part of a kick: on a host
 * that is itself a paravirtual guest it costs the vCPU thread about 30 µs
 * (an IPI through the hypervisor), more than the guest's whole TCP send
 * of a small segment. So after serving work the thread spins for a while
 * (vd->polling), looking at vd->pending and, without sleeping, at its fd;
 * a kick in that time is one atomic OR. How long it spins adapts as
 * QEMU's event-loop polling does: longer while wake-ups come soon after
 * it has given up, shorter while spins end with nothing to do.
 */
#include "virtio/virtio_pci_priv.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/log.h"
#include "lib/util.h"

void virtio_kick(struct virtio_dev *vd, unsigned q)
{
	uint64_t one = 1;

	if (q < VIRTIO_MAX_QUEUES)
		__atomic_fetch_or(&vd->pending, 1u << q, __ATOMIC_SEQ_CST);
	/* A spinning thread sees the bit: it clears polling before its last
	 * look at pending, and both sides are sequentially consistent. (A
	 * stop, q == VIRTIO_MAX_QUEUES, always writes.) */
	if (q < VIRTIO_MAX_QUEUES && __atomic_load_n(&vd->polling, __ATOMIC_SEQ_CST))
		return;
	/* EAGAIN means the counter is already non-zero: the thread will wake. */
	if (write(vd->kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd: %s", vd->label, strerror(errno));
}

void virtio_set_extra_fd(struct virtio_dev *vd, int fd)
{
	pthread_mutex_lock(&vd->lock);
	vd->extra_fd = fd;
	pthread_mutex_unlock(&vd->lock);
	virtio_kick(vd, VIRTIO_MAX_QUEUES);	/* re-read the fd set */
}

bool virtio_has_feature(struct virtio_dev *vd, unsigned bit)
{
	bool has;

	pthread_mutex_lock(&vd->lock);
	has = bit < 64 && (vd->guest_features & VIRTIO_BIT(bit));
	pthread_mutex_unlock(&vd->lock);
	return has;
}

static bool running(const struct virtio_dev *vd)
{
	return (vd->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !(vd->status & VIRTIO_STATUS_NEEDS_RESET);
}

bool virtio_is_running(struct virtio_dev *vd)
{
	bool r;

	pthread_mutex_lock(&vd->lock);
	r = running(vd);
	pthread_mutex_unlock(&vd->lock);
	return r;
}

void vp_device_error_locked(struct virtio_dev *vd, const char *what)
{
	if (vd->status & VIRTIO_STATUS_NEEDS_RESET)
		return;		/* one line per incident */
	vd->errors++;
	log_warn("%s: %s; device needs reset", vd->label, what);
	vd->status |= VIRTIO_STATUS_NEEDS_RESET;
	/* Only a driver past DRIVER_OK hears about it (2.1.2). */
	if (vd->status & VIRTIO_STATUS_DRIVER_OK) {
		vd->config_generation++;
		vp_interrupt(vd, vd->config_msix_vector, VIRTIO_ISR_CONFIG);
	}
}

void virtio_device_error(struct virtio_dev *vd, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&vd->lock);
	vp_device_error_locked(vd, what);
	pthread_mutex_unlock(&vd->lock);
}

void virtio_config_changed(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->lock);
	vd->config_generation++;
	if (vd->status & VIRTIO_STATUS_DRIVER_OK)
		vp_interrupt(vd, vd->config_msix_vector, VIRTIO_ISR_CONFIG);
	pthread_mutex_unlock(&vd->lock);
}

int virtio_pop(struct virtio_dev *vd, unsigned q, struct vq_chain *c)
{
	struct virtio_queue *vq;
	char why[160];
	int r;

	if (q >= vd->ops->num_queues)
		return 0;
	vq = &vd->queues[q];
	pthread_mutex_lock(&vd->lock);
	if (!running(vd) || !vq->enabled) {
		pthread_mutex_unlock(&vd->lock);
		return 0;
	}
	r = vq_pop(&vq->vq, c);
	if (r < 0) {
		snprintf(why, sizeof(why), "queue %u: bad descriptor chain: %s", q,
			 vq->vq.error);
		vp_device_error_locked(vd, why);
	}
	pthread_mutex_unlock(&vd->lock);
	return r;
}

void virtio_push(struct virtio_dev *vd, unsigned q, uint16_t head, uint32_t len)
{
	struct virtio_queue *vq;

	if (q >= vd->ops->num_queues)
		return;
	vq = &vd->queues[q];
	pthread_mutex_lock(&vd->lock);
	/* After NEEDS_RESET the rings are the driver's to inspect, untouched. */
	if (running(vd) && vq->enabled) {
		vq_push(&vq->vq, head, len);
		if (vq_should_notify(&vq->vq))
			vp_interrupt(vd, vq->msix_vector, VIRTIO_ISR_QUEUE);
	}
	pthread_mutex_unlock(&vd->lock);
}

void virtio_unpop(struct virtio_dev *vd, unsigned q)
{
	if (q >= vd->ops->num_queues)
		return;
	pthread_mutex_lock(&vd->lock);
	if (running(vd) && vd->queues[q].enabled)
		vq_unpop(&vd->queues[q].vq);
	pthread_mutex_unlock(&vd->lock);
}

static void serve_kicks(struct virtio_dev *vd)
{
	uint64_t count;
	uint32_t pending;

	if (read(vd->kick_fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("%s: eventfd: %s", vd->label, strerror(errno));
	pending = __atomic_exchange_n(&vd->pending, 0, __ATOMIC_SEQ_CST);
	if (!pending)
		return;
	pthread_mutex_lock(&vd->io_lock);
	for (unsigned q = 0; q < vd->ops->num_queues; q++)
		if (pending & (1u << q))
			vd->ops->queue_notify(vd, q);
	pthread_mutex_unlock(&vd->io_lock);
}

/* Spin bounds (ns): wake-ups later than POLL_MAX_NS after a sleep began
 * are not worth spinning for. */
#define POLL_MIN_NS 4000u
#define POLL_MAX_NS 256000u

/* The fds the thread waits on: its kicks and the device's own fd. */
static nfds_t io_fds(struct virtio_dev *vd, struct pollfd fds[2])
{
	int extra;

	fds[0] = (struct pollfd){ .fd = vd->kick_fd, .events = POLLIN };
	pthread_mutex_lock(&vd->lock);
	extra = vd->extra_fd;
	pthread_mutex_unlock(&vd->lock);
	if (extra >= 0 && vd->ops->fd_ready) {
		fds[1] = (struct pollfd){ .fd = extra, .events = POLLIN };
		return 2;
	}
	return 1;
}

/*
 * Spin for up to vd->poll_ns after work: true as soon as a queue is
 * kicked or the device's fd is ready (then pending or the fds' revents
 * say which), false when the time is up. The device's timer waits for the
 * spin's end: stopping at it (virtio-net's held transmit completions, due
 * 150 us after a send) ended most spins early and took net out from 11 to
 * 8 MiB/s.
 */
static bool spin(struct virtio_dev *vd, struct pollfd *fds, nfds_t n)
{
	static const struct timespec zero;
	uint64_t end = now_ns() + vd->poll_ns;
	bool found = false;

	__atomic_store_n(&vd->polling, true, __ATOMIC_SEQ_CST);
	do {
		if (__atomic_load_n(&vd->pending, __ATOMIC_RELAXED) ||
		    __atomic_load_n(&vd->stopping, __ATOMIC_RELAXED)) {
			found = true;
			break;
		}
		if (n == 2 && ppoll(fds + 1, 1, &zero, NULL) > 0) {
			found = true;
			break;
		}
	} while (now_ns() < end);
	__atomic_store_n(&vd->polling, false, __ATOMIC_SEQ_CST);
	/* A kick that saw polling set wrote no eventfd: look once more. */
	return found || __atomic_load_n(&vd->pending, __ATOMIC_SEQ_CST);
}

static void serve_fd(struct virtio_dev *vd)
{
	pthread_mutex_lock(&vd->io_lock);
	vd->ops->fd_ready(vd);
	pthread_mutex_unlock(&vd->io_lock);
}

static void serve_timer(struct virtio_dev *vd)
{
	uint64_t timer = __atomic_load_n(&vd->timer_ns, __ATOMIC_RELAXED);

	if (timer && vd->ops->timer && now_ns() >= timer) {
		pthread_mutex_lock(&vd->io_lock);
		__atomic_store_n(&vd->timer_ns, 0, __ATOMIC_RELAXED);
		vd->ops->timer(vd);
		pthread_mutex_unlock(&vd->io_lock);
	}
}

/* Block until a kick, the fd or the device's timer; the time it slept. */
static uint64_t sleep_for_work(struct virtio_dev *vd, struct pollfd *fds, nfds_t n)
{
	struct timespec wait, *timeout = NULL;
	uint64_t timer = __atomic_load_n(&vd->timer_ns, __ATOMIC_RELAXED);
	uint64_t start = now_ns();

	if (timer) {
		uint64_t left = timer > start ? timer - start : 0;
		wait = (struct timespec){ .tv_sec = (time_t)(left / 1000000000u),
					  .tv_nsec = (long)(left % 1000000000u) };
		timeout = &wait;
	}
	if (ppoll(fds, n, timeout, NULL) < 0) {
		if (errno != EINTR)
			log_warn("%s: poll: %s", vd->label, strerror(errno));
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = 0;
	}
	return now_ns() - start;
}

static void *io_thread(void *arg)
{
	struct virtio_dev *vd = arg;
	bool worked = false;

	vd->poll_ns = POLL_MIN_NS;
	while (!__atomic_load_n(&vd->stopping, __ATOMIC_SEQ_CST)) {
		struct pollfd fds[2];
		nfds_t n = io_fds(vd, fds);
		bool kicked, fd_ready;

		if (worked && spin(vd, fds, n)) {
			kicked = __atomic_load_n(&vd->pending, __ATOMIC_RELAXED) != 0;
		} else {
			uint64_t slept = sleep_for_work(vd, fds, n);
			/* Woken soon after a spin gave up: a longer one would
			 * have caught it. Woken late: that spin was wasted. */
			if (worked && slept <= POLL_MAX_NS && vd->poll_ns < POLL_MAX_NS)
				vd->poll_ns *= 2;
			else if (worked && slept > POLL_MAX_NS && vd->poll_ns > POLL_MIN_NS)
				vd->poll_ns /= 2;
			kicked = fds[0].revents != 0;
		}
		/* Any event on the fd (POLLNVAL too) is the device's to see, or
		 * a spin would find it ready again at once, forever. */
		fd_ready = n == 2 && fds[1].revents;
		if (kicked)
			serve_kicks(vd);
		if (fd_ready)
			serve_fd(vd);
		serve_timer(vd);
		worked = kicked || fd_ready;
	}
	return NULL;
}

int vp_io_start(struct virtio_dev *vd)
{
	int r = pthread_create(&vd->thread, NULL, io_thread, vd);

	if (r)
		return -r;
	vd->thread_started = true;
	return 0;
}

void vp_io_stop(struct virtio_dev *vd)
{
	if (!vd->thread_started)
		return;
	__atomic_store_n(&vd->stopping, true, __ATOMIC_SEQ_CST);
	virtio_kick(vd, VIRTIO_MAX_QUEUES);
	pthread_join(vd->thread, NULL);
	vd->thread_started = false;
}
