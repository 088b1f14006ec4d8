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
 * the store stays as it was and other connections are unaffected.  Output
 * is queued per connection; a client that stops reading is dropped past
 * XS_OUT_MAX bytes.
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
#include <unistd.h>

#include "core/store.h"

#define XS_HDR 16u
#define XS_OUT_MAX (1u << 20)

struct xs_conn {
	int fd;
	uint32_t id;          /* the store's */
	uint16_t domid;
	bool dead;
	uint8_t in[XS_HDR + GNT_XS_PAYLOAD_MAX];
	size_t in_len;
	uint8_t *out;
	size_t out_len, out_cap;
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

static void watch_out(struct xs_conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};
	epoll_ctl(xep, EPOLL_CTL_MOD, c->fd, &ev);
}

static void flush(struct xs_conn *c)
{
	while (c->out_len) {
		ssize_t w = send(c->fd, c->out, c->out_len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EAGAIN)
				break;
			c->dead = true;
			return;
		}
		memmove(c->out, c->out + w, c->out_len - (size_t)w);
		c->out_len -= (size_t)w;
	}
	watch_out(c, c->out_len != 0);
}

static void xs_send(void *ctx, uint32_t conn, uint32_t type, uint32_t req_id, uint32_t tx_id,
		    const void *payload, uint32_t len)
{
	struct xs_conn *c = conn_by_id(conn);
	uint32_t h[4] = {type, req_id, tx_id, len};
	(void)ctx;

	if (!c)
		return;
	if (c->out_len + XS_HDR + len > XS_OUT_MAX) {
		hv_log("d%u: xenstore client does not read its replies: dropped", c->domid);
		c->dead = true;
		return;
	}
	if (c->out_len + XS_HDR + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap * 2 : 8192;
		uint8_t *n;
		while (cap < c->out_len + XS_HDR + len)
			cap *= 2;
		n = realloc(c->out, cap);
		if (!n) {
			c->dead = true;
			return;
		}
		c->out = n;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, h, XS_HDR);
	memcpy(c->out + c->out_len + XS_HDR, payload, len);
	c->out_len += XS_HDR + len;
	flush(c);
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
	free(c->out);
	free(c);
}

static void conn_read(struct xs_conn *c)
{
	for (;;) {
		ssize_t r = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, MSG_DONTWAIT);
		uint32_t h[4];

		if (r == 0 || (r < 0 && errno != EAGAIN)) {
			c->dead = true;
			return;
		}
		if (r > 0)
			c->in_len += (size_t)r;
		/* one request at a time, as xenstored */
		while (c->in_len >= XS_HDR && !c->dead) {
			memcpy(h, c->in, XS_HDR);
			if (h[3] > GNT_XS_PAYLOAD_MAX) {
				hv_log("d%u: xenstore message of %u bytes: dropped", c->domid, h[3]);
				c->dead = true;
				return;
			}
			if (c->in_len < XS_HDR + h[3])
				break;
			if (gnt_store_request(store, c->id, h[0], h[1], h[2], c->in + XS_HDR, h[3]) < 0)
				c->dead = true;
			memmove(c->in, c->in + XS_HDR + h[3], c->in_len - XS_HDR - h[3]);
			c->in_len -= XS_HDR + h[3];
		}
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
	c->fd = fd;
	c->domid = l->domid;
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
		if (evs[i].events & EPOLLOUT)
			flush(c);
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
