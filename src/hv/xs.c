/* SPDX-License-Identifier: MIT */
/*
 * hv/xs.c - xenstore's transport: Xen's xs_wire framing (16-byte header,
 * payload <= 4096) over Unix stream sockets, onto the store in core/store.c.
 *
 *   <rundir>/xenstored.sock  dom0, privileged (XENSTORED_PATH for dom0 tools)
 *   <rundir>/xs-d<ID>.sock   domain ID: as root owned by the domain's uid,
 *                            mode 0600, so only its processes can connect;
 *                            `gnt exec` sets XENSTORED_PATH to it
 * A message whose length is over 4096 drops its connection (as xenstored);
 * the store stays as it was and other connections are unaffected.
 *
 * Output is a queue of messages per connection.  What a client that stops
 * reading can cost us is bounded as XSA-326 asks of xenstored:
 *   - replies: a domain's connection with XS_OUTSTANDING_MAX (20, Xen's
 *     quota_req_outstanding) unread replies is not read from until it reads
 *     some: its further requests wait in its socket, nothing is dropped.
 *     "Unread" is what we queue plus what sits in the kernel's socket
 *     buffer, which for domains' connections is made as small as the kernel
 *     allows (XS_DOM_SNDBUF), so the socket cannot hide hundreds of replies;
 *   - watch events: one identical to an event still queued unsent is not
 *     queued again (a watcher learns "this path changed" either way), and
 *     events left unread XS_EVENT_TIMEOUT_S (20 s, Xen's default) are
 *     dropped when more output is queued;
 *   - and past XS_OUT_MAX queued bytes the client is dropped.
 * dom0's connections are privileged and exempt from the first two, as in
 * xenstored.
 */
#define _GNU_SOURCE
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "core/store.h"

#define XS_HDR 16u
#define XS_OUT_MAX (1u << 20)
#define XS_OUTSTANDING_MAX 20u
#define XS_EVENT_TIMEOUT_S 20
#define XS_DOM_SNDBUF 4096 /* the kernel doubles it, and keeps a minimum */

/* One queued message: header then payload, `sent` bytes of it written. */
struct xs_msg {
	struct xs_msg *next;
	uint32_t len;         /* header included */
	uint32_t sent;
	bool event;
	time_t queued;        /* CLOCK_MONOTONIC seconds, for event timeout */
	uint8_t data[];
};

struct xs_conn {
	int fd;
	uint32_t id;          /* the store's */
	uint16_t domid;
	bool dead;
	bool reading;         /* EPOLLIN armed: below the outstanding quota */
	uint8_t in[XS_HDR + GNT_XS_PAYLOAD_MAX];
	size_t in_len;
	struct xs_msg *out, **out_tail;
	size_t out_bytes;     /* queued, unsent bytes */
	uint32_t out_replies; /* queued replies, partly sent ones included */
	struct xs_conn *next;
};

struct xs_listener {
	int fd;
	uint16_t domid;       /* 0: dom0's, privileged */
	char path[300];
	struct xs_listener *next;
};

static int xep = -1;
static struct gnt_store *store;
static struct xs_conn *conns;
static struct xs_listener *listeners;

/* epoll data: tagged pointers (low bit set: a listener) */
static void *tag_l(struct xs_listener *l) { return (void *)((uintptr_t)l | 1); }

static struct xs_conn *conn_by_id(uint32_t id)
{
	for (struct xs_conn *c = conns; c; c = c->next)
		if (c->id == id && !c->dead)
			return c;
	return NULL;
}

static time_t mono_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static bool privileged(const struct xs_conn *c)
{
	return c->domid == 0;
}

/* Epoll interest: output while anything is queued; input unless a domain's
 * connection sits on XS_OUTSTANDING_MAX unread replies. */
static void arm(struct xs_conn *c)
{
	struct epoll_event ev = {.data.ptr = c};

	c->reading = privileged(c) || c->out_replies < XS_OUTSTANDING_MAX;
	ev.events = (c->reading ? EPOLLIN : 0) | (c->out ? EPOLLOUT : 0);
	epoll_ctl(xep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void msg_pop(struct xs_conn *c)
{
	struct xs_msg *m = c->out;

	c->out = m->next;
	if (!c->out)
		c->out_tail = &c->out;
	c->out_bytes -= m->len - m->sent;
	if (!m->event)
		c->out_replies--;
	free(m);
}

static void flush(struct xs_conn *c)
{
	while (c->out) {
		struct xs_msg *m = c->out;
		ssize_t w = send(c->fd, m->data + m->sent, m->len - m->sent,
				 MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			c->dead = true;
			return;
		}
		m->sent += (uint32_t)w;
		c->out_bytes -= (size_t)w;
		if (m->sent == m->len)
			msg_pop(c);
	}
}

/* Drop events queued unsent for longer than the timeout, and say whether an
 * unsent event with this exact content is still queued. */
static bool events_prune(struct xs_conn *c, const uint8_t *msg, uint32_t len)
{
	time_t old = mono_s() - XS_EVENT_TIMEOUT_S;
	bool dup = false;

	for (struct xs_msg **pp = &c->out, *m; (m = *pp);) {
		if (!m->event || m->sent) {
			pp = &m->next;
			continue;
		}
		if (m->queued < old) {
			*pp = m->next;
			if (c->out_tail == &m->next)
				c->out_tail = pp;
			c->out_bytes -= m->len;
			free(m);
			continue;
		}
		dup = dup || (m->len == len && !memcmp(m->data, msg, len));
		pp = &m->next;
	}
	return dup;
}

static void xs_send(void *ctx, uint32_t conn, uint32_t type, uint32_t req_id, uint32_t tx_id,
		    const void *payload, uint32_t len)
{
	struct xs_conn *c = conn_by_id(conn);
	uint32_t h[4] = {type, req_id, tx_id, len};
	bool event = type == GNT_XS_WATCH_EVENT;
	struct xs_msg *m;
	(void)ctx;

	if (!c)
		return;
	if (c->out_bytes + XS_HDR + len > XS_OUT_MAX) {
		hv_log("d%u: xenstore client does not read its replies: dropped", c->domid);
		c->dead = true;
		return;
	}
	m = malloc(sizeof(*m) + XS_HDR + len);
	if (!m) {
		c->dead = true;
		return;
	}
	memcpy(m->data, h, XS_HDR);
	memcpy(m->data + XS_HDR, payload, len);
	if (event && !privileged(c) && events_prune(c, m->data, XS_HDR + len)) {
		free(m);
		return;
	}
	m->next = NULL;
	m->len = XS_HDR + len;
	m->sent = 0;
	m->event = event;
	m->queued = event ? mono_s() : 0;
	*c->out_tail = m;
	c->out_tail = &m->next;
	c->out_bytes += m->len;
	if (!event)
		c->out_replies++;
	flush(c);
	if (!c->dead)
		arm(c);
}

static void xs_conn_gone(void *ctx, uint32_t conn)
{
	(void)ctx;
	for (struct xs_conn *c = conns; c; c = c->next)
		if (c->id == conn) {
			c->id = 0; /* invalid already: do not close it in the store */
			c->dead = true;
		}
}

static const struct gnt_store_ops xs_ops = {.send = xs_send, .conn_gone = xs_conn_gone};

static void conn_free(struct xs_conn *c)
{
	struct xs_conn **pp;

	for (pp = &conns; *pp != c; pp = &(*pp)->next)
		;
	*pp = c->next;
	if (c->id)
		gnt_store_conn_close(store, c->id);
	epoll_ctl(xep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	while (c->out)
		msg_pop(c);
	free(c);
}

/* Requests already buffered, one at a time as xenstored, while the
 * connection stays under its outstanding-reply quota. */
static void serve_buffered(struct xs_conn *c)
{
	uint32_t h[4];

	while (c->in_len >= XS_HDR && !c->dead && c->reading) {
		memcpy(h, c->in, XS_HDR);
		if (h[3] > GNT_XS_PAYLOAD_MAX) {
			hv_log("d%u: xenstore message of %u bytes: dropped", c->domid, h[3]);
			c->dead = true;
			return;
		}
		if (c->in_len < XS_HDR + h[3])
			return;
		if (gnt_store_request(store, c->id, h[0], h[1], h[2], c->in + XS_HDR, h[3]) < 0)
			c->dead = true;
		memmove(c->in, c->in + XS_HDR + h[3], c->in_len - XS_HDR - h[3]);
		c->in_len -= XS_HDR + h[3];
	}
}

static void conn_read(struct xs_conn *c)
{
	while (!c->dead && c->reading) {
		ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);

		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			c->dead = true;
			return;
		}
		if (r > 0)
			c->in_len += (size_t)r;
		serve_buffered(c);
		if (r < 0)
			return;
	}
}

static void accept_on(struct xs_listener *l)
{
	int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	struct xs_conn *c;
	struct epoll_event ev = {.events = EPOLLIN};

	if (fd < 0)
		return;
	/* the socket's mode says who may connect; check the uid anyway */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid() &&
	     !(hv->privileged && cr.uid == hv->uid_base + l->domid)) ||
	    !(c = calloc(1, sizeof(*c)))) {
		close(fd);
		return;
	}
	if (l->domid)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int){XS_DOM_SNDBUF}, sizeof(int));
	c->fd = fd;
	c->domid = l->domid;
	c->reading = true;
	c->out_tail = &c->out;
	if (gnt_store_conn_open(store, l->domid, l->domid == 0, &c->id) < 0) {
		close(fd);
		free(c);
		return;
	}
	ev.data.ptr = c;
	epoll_ctl(xep, EPOLL_CTL_ADD, fd, &ev);
	c->next = conns;
	conns = c;
}

static int listen_at(const char *path, uint16_t domid)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct xs_listener *l;
	struct epoll_event ev = {.events = EPOLLIN};
	int fd;
	mode_t old;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0) {
		int err = -errno;
		umask(old);
		close(fd);
		return err;
	}
	umask(old);
	/* a domain's socket belongs to the domain's uid: only it connects */
	if (domid && hv->privileged &&
	    chown(path, hv->uid_base + domid, hv->uid_base + domid) < 0) {
		int err = -errno;
		close(fd);
		unlink(path);
		return err;
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		unlink(path);
		return -ENOMEM;
	}
	l->fd = fd;
	l->domid = domid;
	snprintf(l->path, sizeof(l->path), "%s", path);
	ev.data.ptr = tag_l(l);
	epoll_ctl(xep, EPOLL_CTL_ADD, fd, &ev);
	l->next = listeners;
	listeners = l;
	return 0;
}

int hv_xs_init(void)
{
	struct gnt_store_limits lim;
	char path[320];
	int rc;

	gnt_store_limits_default(&lim);
	store = gnt_store_create(&xs_ops, NULL, &lim);
	xep = epoll_create1(EPOLL_CLOEXEC);
	if (!store || xep < 0)
		return -ENOMEM;
	snprintf(path, sizeof(path), "%s/xenstored.sock", hv->rundir);
	rc = listen_at(path, 0);
	if (rc < 0)
		return rc;
	{
		/* dom0's own nodes, as Xen's toolstack writes them */
		static const char w1[] = "/local/domain/0/domid\0" "0";
		static const char w2[] = "/local/domain/0/name\0" "Domain-0";
		uint32_t sys;
		if ((rc = gnt_store_conn_open(store, 0, true, &sys)) < 0)
			return rc;
		gnt_store_request(store, sys, GNT_XS_WRITE, 0, 0, w1, sizeof(w1) - 1);
		gnt_store_request(store, sys, GNT_XS_WRITE, 0, 0, w2, sizeof(w2) - 1);
		gnt_store_conn_close(store, sys);
	}
	return 0;
}

int hv_xs_fd(void)
{
	return xep;
}

void hv_xs_domain_created(struct gnt_domain *d)
{
	char path[320];

	if (!store)
		return;
	gnt_store_domain_introduce(store, d->id, d->name);
	snprintf(path, sizeof(path), "%s/xs-d%u.sock", hv->rundir, d->id);
	if (listen_at(path, d->id) < 0)
		hv_log("d%u: no xenstore socket", d->id);
}

void hv_xs_domain_gone(uint16_t domid)
{
	struct xs_listener **pp;

	if (!store)
		return;
	for (pp = &listeners; *pp;) {
		struct xs_listener *l = *pp;
		if (l->domid != domid || domid == 0) {
			pp = &l->next;
			continue;
		}
		*pp = l->next;
		epoll_ctl(xep, EPOLL_CTL_DEL, l->fd, NULL);
		close(l->fd);
		unlink(l->path);
		free(l);
	}
	/* its connections go; /local/domain/<id> goes; @releaseDomain fires */
	gnt_store_domain_release(store, domid);
	hv_xs_poll(); /* free what the release closed */
}

void hv_xs_poll(void)
{
	struct epoll_event evs[32];
	int n = epoll_wait(xep, evs, 32, 0);

	for (int i = 0; i < n; i++) {
		uintptr_t p = (uintptr_t)evs[i].data.ptr;
		if (p & 1) {
			accept_on((struct xs_listener *)(p & ~(uintptr_t)1));
			continue;
		}
		struct xs_conn *c = (void *)p;
		if (c->dead)
			continue;
		if (evs[i].events & EPOLLOUT) {
			flush(c);
			if (!c->dead)
				arm(c);
			/* replies read: requests that waited in our buffer go on */
			serve_buffered(c);
		}
		if (!c->dead && (evs[i].events & (EPOLLHUP | EPOLLERR)) && !c->reading)
			c->dead = true; /* gone while we were not reading it */
		if (!c->dead && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
			conn_read(c);
	}
	for (struct xs_conn *c = conns, *nx; c; c = nx) {
		nx = c->next;
		if (c->dead)
			conn_free(c);
	}
}

void hv_xs_fini(void)
{
	while (conns)
		conn_free(conns);
	while (listeners) {
		struct xs_listener *l = listeners;
		listeners = l->next;
		close(l->fd);
		unlink(l->path);
		free(l);
	}
	if (store)
		gnt_store_destroy(store);
	store = NULL;
	if (xep >= 0)
		close(xep);
	xep = -1;
}
