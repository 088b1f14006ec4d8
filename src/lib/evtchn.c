/* SPDX-License-Identifier: MIT */
/*
 * lib/evtchn.c - event channel handles (see gnt/evtchn.h and
 * src/hv/evtchn.c).  Each port of the handle is an eventfd whose count is
 * the port's pending bit; all of them sit in one epoll set with
 * EPOLLONESHOT, which is Xen's mask-on-delivery: a delivered port stays
 * quiet until unmasked, and whatever arrived meanwhile is delivered then.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "gnt/evtchn.h"

#define CTL_KEY UINT64_MAX

struct lport {
	int r;           /* our eventfd, -1: not ours */
	int peer;        /* the peer's eventfd, -1: unknown or unbound */
};

struct gnt_evtchn_handle {
	int epfd, ctl;
	uint32_t id;
	pid_t pid;
	struct lport *p;
	uint32_t np;
};

static struct lport *lp(gnt_evtchn_handle *h, uint32_t port, bool grow)
{
	if (port >= h->np) {
		uint32_t n = h->np ? h->np : 64;
		struct lport *x;
		if (!grow || port > 1u << 17)
			return NULL;
		while (n <= port)
			n *= 2;
		x = realloc(h->p, n * sizeof(*x));
		if (!x)
			return NULL;
		for (uint32_t i = h->np; i < n; i++)
			x[i] = (struct lport){-1, -1};
		h->p = x;
		h->np = n;
	}
	return &h->p[port];
}

static void set_read_end(gnt_evtchn_handle *h, uint32_t port, int r)
{
	struct lport *l = lp(h, port, true);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = port};

	if (!l) {
		close(r);
		return;
	}
	if (l->r >= 0)
		close(l->r); /* epoll forgets it with it */
	l->r = r;
	epoll_ctl(h->epfd, EPOLL_CTL_ADD, r, &ev);
}

static void forget(gnt_evtchn_handle *h, uint32_t port)
{
	struct lport *l = lp(h, port, false);
	if (!l)
		return;
	if (l->r >= 0)
		close(l->r);
	if (l->peer >= 0)
		close(l->peer);
	*l = (struct lport){-1, -1};
}

/* gntd's control datagrams: a peer bound to us, or our binding ended */
static void read_ctl(gnt_evtchn_handle *h)
{
	for (;;) {
		struct gnt_evtchn_ctl m;
		union {
			char b[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = {&m, sizeof(m)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
				    .msg_controllen = sizeof(cbuf.b)};
		int fd = -1;
		uint32_t got = 0;
		ssize_t n = recvmsg(h->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		struct lport *l;

		if (n < 0)
			break;
		gnt__fds_take(&mh, &fd, &got, 1); /* one at most; any more are closed */
		if (n != sizeof(m) || fd < 0 || !(l = lp(h, m.port, false)) || l->r < 0) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		if (m.kind == GNT_EVCTL_PEER) {
			if (l->peer >= 0)
				close(l->peer);
			l->peer = fd;
		} else if (m.kind == GNT_EVCTL_ROTATE) {
			if (l->peer >= 0)
				close(l->peer);
			l->peer = -1;
			set_read_end(h, m.port, fd);
		} else {
			close(fd);
		}
	}
}

/* One event channel hypercall for handle h. */
static int evop(gnt_evtchn_handle *h, unsigned int cmd, void *arg, uint32_t len, int *fds,
		uint32_t *nfds, uint32_t *aux)
{
	int32_t rc;
	int err;

	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (!err) {
		struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_HYPERCALL,
				    .cmd = GNT_HC(__HYPERVISOR_event_channel_op, cmd), .count = 1,
				    .len = len, .aux = h ? h->id : 0};
		err = gnt__rpc_msg(&m, arg, NULL, arg, len, NULL, fds, nfds, aux, &rc);
	}
	pthread_mutex_unlock(&gnt__g.lock);
	return err < 0 ? err : rc;
}

gnt_evtchn_handle *gnt_evtchn_open(void)
{
	gnt_evtchn_handle *h = calloc(1, sizeof(*h));
	int sv[2] = {-1, -1}, err;
	int32_t rc;

	if (!h)
		return NULL;
	h->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (h->epfd < 0 || socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto err;
	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (!err)
		err = gnt__rpc(GNT_MSG_EVTCHN_OPEN, 0, 0, NULL, 0, &sv[1], 1, NULL, 0, NULL, NULL,
			       NULL, &rc);
	pthread_mutex_unlock(&gnt__g.lock);
	close(sv[1]);
	sv[1] = -1;
	if (err < 0 || rc <= 0) {
		errno = err < 0 ? -err : -rc;
		goto err;
	}
	h->id = (uint32_t)rc;
	h->ctl = sv[0];
	h->pid = gnt__pid();
	{
		/* level-triggered: reading it empty is all it takes */
		struct epoll_event ev = {.events = EPOLLIN, .data.u64 = CTL_KEY};
		epoll_ctl(h->epfd, EPOLL_CTL_ADD, h->ctl, &ev);
	}
	return h;
err:
	err = errno;
	if (sv[0] >= 0)
		close(sv[0]);
	if (h->epfd >= 0)
		close(h->epfd);
	free(h);
	errno = err;
	return NULL;
}

int gnt_evtchn_close(gnt_evtchn_handle *h)
{
	int32_t rc = 0;

	if (!h)
		return 0;
	if (h->pid == gnt__pid()) {
		pthread_mutex_lock(&gnt__g.lock);
		if (gnt__ensure() == 0)
			gnt__rpc(GNT_MSG_EVTCHN_CLOSE, 0, h->id, NULL, 0, NULL, 0, NULL, 0, NULL,
				 NULL, NULL, &rc);
		pthread_mutex_unlock(&gnt__g.lock);
	}
	for (uint32_t i = 0; i < h->np; i++)
		forget(h, i);
	free(h->p);
	close(h->ctl);
	close(h->epfd);
	free(h);
	return 0;
}

int gnt_evtchn_fd(gnt_evtchn_handle *h)
{
	return h->epfd;
}

int gnt_evtchn_bind_unbound_port(gnt_evtchn_handle *h, domid_t remote)
{
	struct evtchn_alloc_unbound op = {.dom = DOMID_SELF, .remote_dom = remote};
	int fd = -1;
	uint32_t nfds = 1;
	int rc = evop(h, EVTCHNOP_alloc_unbound, &op, sizeof(op), &fd, &nfds, NULL);

	if (rc < 0)
		return rc;
	if (nfds != 1)
		return -EPROTO;
	set_read_end(h, op.port, fd);
	return (int)op.port;
}

int gnt_evtchn_bind_interdomain(gnt_evtchn_handle *h, domid_t remote, evtchn_port_t rport)
{
	struct evtchn_bind_interdomain op = {.remote_dom = remote, .remote_port = rport};
	int fds[2] = {-1, -1};
	uint32_t nfds = 2;
	int rc = evop(h, EVTCHNOP_bind_interdomain, &op, sizeof(op), fds, &nfds, NULL);
	struct lport *l;

	if (rc < 0)
		return rc;
	if (nfds != 2) {
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	set_read_end(h, op.local_port, fds[0]);
	l = lp(h, op.local_port, false);
	if (!l) {
		close(fds[1]);
		return -ENOMEM;
	}
	l->peer = fds[1];
	return (int)op.local_port;
}

int gnt_evtchn_notify(gnt_evtchn_handle *h, evtchn_port_t port)
{
	struct lport *l = lp(h, port, false);
	struct evtchn_send op = {.port = port};
	uint32_t nfds = 1, aux = 0;
	int fd = -1, rc;

	if (!l || l->r < 0)
		return -EINVAL;
	/* gntd's news first: writes to the eventfd of a binding that ended
	 * reach nobody, so a peer that bound since must be known now */
	read_ctl(h);
	if (l->peer >= 0) {
		uint64_t one = 1;
		/* EAGAIN: its count is at the maximum, pending already */
		(void)!write(l->peer, &one, sizeof(one));
		return 0;
	}
	/* not known where to: gntd delivers, and tells us for next time */
	rc = evop(h, EVTCHNOP_send, &op, sizeof(op), &fd, &nfds, &aux);
	if (rc < 0)
		return rc;
	if (nfds == 1) {
		l->peer = fd;
	}
	return 0;
}

int gnt__evtchn_send(evtchn_port_t port)
{
	struct evtchn_send op = {.port = port};
	uint32_t nfds = 1, aux = 0;
	int fd = -1, rc;

	rc = evop(NULL, EVTCHNOP_send, &op, sizeof(op), &fd, &nfds, &aux);
	if (rc == 0 && nfds == 1)
		close(fd); /* the peer's end, for a handle's next notify: not ours to keep */
	return rc;
}

int gnt_evtchn_unbind(gnt_evtchn_handle *h, evtchn_port_t port)
{
	struct evtchn_close op = {.port = port};
	struct lport *l = lp(h, port, false);
	int rc;

	if (!l || l->r < 0)
		return -EINVAL;
	rc = evop(h, EVTCHNOP_close, &op, sizeof(op), NULL, NULL, NULL);
	if (rc == 0)
		forget(h, port);
	return rc;
}

static bool consume(struct lport *l)
{
	uint64_t n;
	return read(l->r, &n, sizeof(n)) == (ssize_t)sizeof(n);
}

int gnt_evtchn_pending(gnt_evtchn_handle *h)
{
	for (;;) {
		struct epoll_event ev[64];
		int n = epoll_wait(h->epfd, ev, 64, 0), found = -1;

		if (n <= 0)
			return -EAGAIN;
		/* gntd's news first.  A binding that ended replaced its port's
		 * socket, and gntd queued that before the unbinder heard back:
		 * the control socket became ready before anything a former peer
		 * sent afterwards, and epoll reports in that order. */
		for (int i = 0; i < n; i++)
			if (ev[i].data.u64 == CTL_KEY || n == 64) {
				read_ctl(h);
				break;
			}
		for (int i = 0; i < n; i++) {
			uint32_t port = (uint32_t)ev[i].data.u64;
			struct lport *l;

			if (ev[i].data.u64 == CTL_KEY)
				continue;
			l = lp(h, port, false);
			if (!l || l->r < 0)
				continue;
			if (found >= 0 || !consume(l)) {
				/* for the next call, or nothing there: re-arm */
				gnt_evtchn_unmask(h, port);
				continue;
			}
			/* delivered: masked (EPOLLONESHOT) until unmasked; what
			 * was queued coalesced into this one event */
			found = (int)port;
		}
		if (found >= 0)
			return found;
	}
}

int gnt_evtchn_unmask(gnt_evtchn_handle *h, evtchn_port_t port)
{
	struct lport *l = lp(h, port, false);
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.u64 = port};

	if (!l || l->r < 0)
		return -EINVAL;
	/* re-arm: if an event came while masked, it is delivered now */
	return epoll_ctl(h->epfd, EPOLL_CTL_MOD, l->r, &ev) < 0 ? -errno : 0;
}

int gnt_evtchn_status(struct evtchn_status *st)
{
	return evop(NULL, EVTCHNOP_status, st, sizeof(*st), NULL, NULL, NULL);
}

int gnt_evtchn_reset(domid_t dom)
{
	struct evtchn_reset op = {.dom = dom};
	return evop(NULL, EVTCHNOP_reset, &op, sizeof(op), NULL, NULL, NULL);
}
