/* SPDX-License-Identifier: MIT */
/*
 * lib/evtchn.c - event channel handles (see gnt/evtchn.h, src/hv/evtchn.c
 * and docs/design.md "Event channels").  A handle has one doorbell (a pipe
 * gntd made: we read it, others may only write) and inboxes of pending
 * bits in shared memory: the ginbox (gntd's events) and one per peer
 * domain.  Notify sets a bit in the peer's inbox for our domain and rings
 * its bell; receiving scans our inboxes.  What a bit means is decided here,
 * from our private view of our ports (kept from gntd's replies and control
 * messages), never from what a peer wrote: a bit from inbox(us, D) counts
 * only for a port bound to D.  Masks are private, so masking and unmasking
 * cost no system call.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/evtchn_inbox.h"
#include "common/fdpass.h"
#include "gnt/evtchn.h"

#define NWORDS (GNT_EVTCHN_NR_PORTS / 64)

/* A mapped inbox: one we scan (key: the peer domain) or one we signal
 * (key: the peer handle, with its bell). */
struct box {
	struct box *next;
	struct gnt_evtchn_inbox *m;
	uint32_t key;
	ino_t ino;      /* the memfd's: gntd made a new one if it differs */
	int bell;       /* the peer's bell, our domain's description; -1 */
	uint32_t refs;  /* ports that use it */
};

/* Our view of a port of ours. */
struct lport {
	bool live, bound;
	uint16_t dom;        /* bound: the peer domain */
	uint32_t peer_port;  /* bound */
	struct box *in;      /* bound: inbox(us, dom), NULL if unmapped */
	struct box *out;     /* bound: the peer's inbox for us; NULL: ask gntd */
};

struct gnt_evtchn_handle {
	int ctl;
	int bell;    /* the bell, blocking as the user leaves it: gnt_evtchn_fd */
	int drain;   /* the bell, our own O_NONBLOCK description */
	int ring;    /* a write end of it: ring ourselves */
	uint32_t id;
	pid_t pid;
	uint32_t epoch;           /* gnt__epoch() at open: a later one refuses it */
	struct gnt__waker waker;  /* rings our bell when gntd dies */
	struct gnt_evtchn_inbox *g;
	uint64_t seen_gen;
	struct box *in, *out;
	struct lport *p;
	uint32_t np, nready, cursor;
	uint64_t mask[NWORDS], ready[NWORDS];
};

static struct lport *lp(gnt_evtchn_handle *h, uint32_t port, bool grow)
{
	if (port >= h->np) {
		uint32_t n = h->np ? h->np : 64;
		struct lport *x;
		if (!grow || port >= GNT_EVTCHN_NR_PORTS)
			return NULL;
		while (n <= port)
			n *= 2;
		x = realloc(h->p, n * sizeof(*x));
		if (!x)
			return NULL;
		memset(x + h->np, 0, (n - h->np) * sizeof(*x));
		h->p = x;
		h->np = n;
	}
	return &h->p[port];
}

static struct lport *live_port(gnt_evtchn_handle *h, uint32_t port)
{
	struct lport *l = lp(h, port, false);
	return l && l->live ? l : NULL;
}

/* ---- boxes ------------------------------------------------------------- */

static void box_unmap(struct box *b)
{
	munmap(b->m, GNT_EVTCHN_INBOX_BYTES);
	if (b->bell >= 0)
		close(b->bell);
}

/* The box for key on list, taking memfd and bell (-1) (closed when not
 * needed, and on failure); a reference for the caller.  NULL: no memory. */
static struct box *box_adopt(struct box **list, uint32_t key, int memfd, int bell)
{
	struct box *b;
	struct stat st;
	void *m;

	for (b = *list; b && b->key != key; b = b->next)
		;
	if (fstat(memfd, &st) < 0 || (b && b->ino == st.st_ino)) {
		close(memfd);
		if (bell >= 0)
			close(bell);
		if (b)
			b->refs++;
		return b;
	}
	m = mmap(NULL, GNT_EVTCHN_INBOX_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	close(memfd);
	if (m == MAP_FAILED || (!b && !(b = calloc(1, sizeof(*b))))) {
		if (m != MAP_FAILED)
			munmap(m, GNT_EVTCHN_INBOX_BYTES);
		if (bell >= 0)
			close(bell);
		return NULL;
	}
	if (b->m) {
		/* gntd made it anew (the old one's domain or handle is gone):
		 * the ports still on the old one follow */
		box_unmap(b);
	} else {
		b->key = key;
		b->next = *list;
		*list = b;
	}
	b->m = m;
	b->ino = st.st_ino;
	b->bell = bell;
	b->refs++;
	return b;
}

static void box_unref(struct box **list, struct box *b)
{
	struct box **pp;

	if (!b || --b->refs)
		return;
	for (pp = list; *pp != b; pp = &(*pp)->next)
		;
	*pp = b->next;
	box_unmap(b);
	free(b);
}

/* ---- our view of our ports --------------------------------------------- */

static void port_bind(gnt_evtchn_handle *h, struct lport *l, const struct gnt_evtchn_ctl *m,
		      int fds[3])
{
	box_unref(&h->in, l->in);
	box_unref(&h->out, l->out);
	l->bound = true;
	l->dom = (uint16_t)m->peer_dom;
	l->peer_port = m->peer_port;
	l->in = box_adopt(&h->in, m->peer_dom, fds[0], -1);
	l->out = NULL;
	if (m->peer_port < GNT_EVTCHN_NR_PORTS) {
		l->out = box_adopt(&h->out, m->peer_handle, fds[1], fds[2]);
	} else {
		close(fds[1]);
		close(fds[2]);
	}
}

static void port_unbound(gnt_evtchn_handle *h, struct lport *l)
{
	box_unref(&h->in, l->in);
	box_unref(&h->out, l->out);
	l->in = l->out = NULL;
	l->bound = false;
}

static void clear_bit(struct gnt_evtchn_inbox *ib, uint32_t port)
{
	atomic_fetch_and_explicit(&ib->word[port / 64], ~(1ull << (port % 64)),
				  memory_order_relaxed);
}

/* The port is no longer ours: nothing of it stays pending (a port number
 * handed out again starts clean). */
static void forget(gnt_evtchn_handle *h, uint32_t port)
{
	struct lport *l = live_port(h, port);
	uint64_t bit = 1ull << (port % 64);

	if (!l)
		return;
	/* the bits are in memory shared with the process that owns the
	 * handle: a forked child closing its copy leaves them alone */
	if (h->pid == gnt__pid()) {
		clear_bit(h->g, port);
		if (l->in)
			clear_bit(l->in->m, port);
	}
	port_unbound(h, l);
	l->live = false;
	if (h->ready[port / 64] & bit)
		h->nready--;
	h->ready[port / 64] &= ~bit;
	h->mask[port / 64] &= ~bit;
}

static void ctl_apply(gnt_evtchn_handle *h, const struct gnt_evtchn_ctl *m, int *fds,
		      uint32_t nfds)
{
	struct lport *l = live_port(h, m->port);

	if (l && m->kind == GNT_EVCTL_PEER && nfds == GNT_EVCTL_PEER_FDS &&
	    m->peer_dom <= UINT16_MAX) {
		port_bind(h, l, m, fds);
		return;
	}
	if (l && m->kind == GNT_EVCTL_UNBOUND)
		port_unbound(h, l);
	if (m->kind == GNT_EVCTL_CLOSED)
		forget(h, m->port); /* reset: pending bits of it go too */
	for (uint32_t i = 0; i < nfds; i++)
		close(fds[i]);
}

/* gntd's control datagrams: a peer bound to a port of ours, or a binding
 * ended.  Called whenever gen moved, before any bit is judged. */
static void read_ctl(gnt_evtchn_handle *h)
{
	/* acquire: every message counted in gen is queued */
	uint64_t gen = atomic_load_explicit(&h->g->gen, memory_order_acquire);

	for (;;) {
		struct gnt_evtchn_ctl m;
		union {
			char b[CMSG_SPACE(sizeof(int) * GNT_EVCTL_PEER_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = {&m, sizeof(m)};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
				    .msg_controllen = sizeof(cbuf.b)};
		int fds[GNT_EVCTL_PEER_FDS];
		uint32_t nfds = 0;
		ssize_t n = recvmsg(h->ctl, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);

		if (n < 0)
			break;
		gnt__fds_take(&mh, fds, &nfds, GNT_EVCTL_PEER_FDS);
		if (n != sizeof(m))
			m.kind = 0;
		ctl_apply(h, &m, fds, nfds);
	}
	h->seen_gen = gen;
}

static void check_gen(gnt_evtchn_handle *h)
{
	if (atomic_load_explicit(&h->g->gen, memory_order_relaxed) != h->seen_gen)
		read_ctl(h);
}

/* ---- receiving --------------------------------------------------------- */

/* Take the unmasked bits of ib (b: its box, NULL for the ginbox) into
 * ready; masked ones stay pending there.  A bit counts if the port is ours
 * and, from a peer's inbox, bound to that peer. */
static void scan_box(gnt_evtchn_handle *h, struct gnt_evtchn_inbox *ib, const struct box *b)
{
	uint64_t s;

	/* gntd's inbox rarely changes: look before taking its line.  A peer's
	 * we take at once: its line came from the sender, and a load first
	 * would cost a second transfer (shared, then exclusive) per event */
	if (!b && !atomic_load_explicit(&ib->summary, memory_order_relaxed))
		return;
	/* acquire: the words the summary bits lead to */
	s = atomic_exchange_explicit(&ib->summary, 0, memory_order_acquire);
	for (; s; s &= s - 1) {
		uint32_t i = (uint32_t)__builtin_ctzll(s);
		uint64_t keep = h->mask[i];
		uint64_t old = atomic_fetch_and_explicit(&ib->word[i], keep, memory_order_relaxed);
		uint64_t take = old & ~keep;

		if (old & keep)
			atomic_fetch_or_explicit(&ib->summary, 1ull << i, memory_order_relaxed);
		for (; take; take &= take - 1) {
			uint32_t port = i * 64 + (uint32_t)__builtin_ctzll(take);
			struct lport *l = live_port(h, port);
			uint64_t bit = 1ull << (port % 64);
			if (!l || (b && (!l->bound || l->in != b)) || (h->ready[i] & bit))
				continue;
			h->ready[i] |= bit;
			h->nready++;
		}
	}
}

static void scan(gnt_evtchn_handle *h)
{
	check_gen(h);
	scan_box(h, h->g, NULL);
	for (struct box *b = h->in; b; b = b->next)
		scan_box(h, b->m, b);
}

/* The next ready port, round robin from the last one delivered, now
 * masked; -1 if none.  With more ready, our bell stays rung: it is readable
 * whenever a port can be delivered. */
static int deliver(gnt_evtchn_handle *h)
{
	uint32_t c = h->cursor;

	if (!h->nready)
		return -1;
	for (uint32_t k = 0; k <= NWORDS; k++) {
		uint32_t i = (c / 64 + k) % NWORDS, port;
		uint64_t w = h->ready[i];
		if (k == 0)
			w &= ~0ull << (c % 64);
		if (!w)
			continue;
		port = i * 64 + (uint32_t)__builtin_ctzll(w);
		h->ready[i] &= ~(1ull << (port % 64));
		h->mask[i] |= 1ull << (port % 64);
		h->cursor = (port + 1) % GNT_EVTCHN_NR_PORTS;
		if (--h->nready)
			gnt__bell_ring(h->ring);
		return (int)port;
	}
	return -1;
}

/* A live unmasked port, round robin, now masked, as a spurious event; -1
 * if every port is masked (then nothing may be delivered). */
static int spurious(gnt_evtchn_handle *h)
{
	for (uint32_t k = 0; k < h->np; k++) {
		uint32_t port = (h->cursor + k) % h->np;
		uint64_t bit = 1ull << (port % 64);

		if (!h->p[port].live || (h->mask[port / 64] & bit))
			continue;
		h->mask[port / 64] |= bit;
		h->cursor = (port + 1) % GNT_EVTCHN_NR_PORTS;
		return (int)port;
	}
	return -1;
}

static bool ours(const gnt_evtchn_handle *h)
{
	return h->pid == gnt__pid();
}

/* -EBADF: the parent's handle; -ESHUTDOWN: its gntd is gone (fail-stop,
 * also for bound ports, which would work without gntd).  Memory loads
 * only: this is on every event's path. */
static int usable(const gnt_evtchn_handle *h)
{
	if (!ours(h))
		return -EBADF;
	return gnt__lost() || h->epoch != gnt__epoch() ? -ESHUTDOWN : 0;
}

/* Empty the bell: every ring so far is answered by the scan that follows. */
static void drain(gnt_evtchn_handle *h)
{
	char buf[4096];

	while (read(h->drain, buf, sizeof(buf)) == (ssize_t)sizeof(buf))
		;
}

int gnt__evtchn_usable(gnt_evtchn_handle *h)
{
	return usable(h);
}

int gnt_evtchn_pending(gnt_evtchn_handle *h)
{
	int p = usable(h);

	if (p < 0)
		return p;
	drain(h);
	scan(h);
	p = deliver(h);
	return p >= 0 ? p : -EAGAIN;
}

int gnt_evtchn_wait(gnt_evtchn_handle *h)
{
	char buf[64];

	for (bool slept = false;; slept = true) {
		/* checked again after each sleep: gnt__set_lost rings us */
		ssize_t n = usable(h);

		if (n < 0)
			return (int)n;
		scan(h);
		if (h->nready) {
			/* found without sleeping: its ring is still on the bell,
			 * which must not stay readable with nothing to deliver
			 * (a caller that polls, then waits, would block) */
			if (!slept) {
				drain(h);
				scan(h);
			}
			return deliver(h);
		}
		/* woken with nothing to deliver: a ring whose bit an earlier
		 * scan already took (the sender sets the bit, then rings), or a
		 * former peer's.  Sleeping again would leave a caller that
		 * polled the fd first blocked, so it gets what Xen allows: a
		 * spurious event */
		if (slept && (n = spurious(h)) >= 0)
			return (int)n;
		/* whatever rings after our scan wakes us */
		n = read(h->bell, buf, sizeof(buf));
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE; /* cannot be: we hold a write end */
		if (n == (ssize_t)sizeof(buf))
			drain(h);
	}
}

int gnt_evtchn_unmask(gnt_evtchn_handle *h, evtchn_port_t port)
{
	struct lport *l;
	uint32_t i = port / 64;
	uint64_t bit = 1ull << (port % 64);
	struct gnt_evtchn_inbox *ib = NULL;
	int rc;

	if ((rc = usable(h)) < 0)
		return rc;
	if (!(l = live_port(h, port)))
		return -EINVAL;
	h->mask[i] &= ~bit;
	/* what came while masked is delivered now: only where it counts */
	if (atomic_load_explicit(&h->g->word[i], memory_order_relaxed) & bit)
		ib = h->g;
	else if (l->bound && l->in && (atomic_load_explicit(&l->in->m->word[i], memory_order_relaxed) & bit))
		ib = l->in->m;
	if (ib) {
		atomic_fetch_or_explicit(&ib->summary, 1ull << i, memory_order_release);
		gnt__bell_ring(h->ring);
	}
	return 0;
}

/* ---- the handle -------------------------------------------------------- */

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
		if (err == -EMFILE && rc >= 0 && cmd == EVTCHNOP_bind_interdomain) {
			/* bound, but we could not take the binding's
			 * descriptors: a port we cannot use must not stay */
			struct evtchn_close c = {
				.port = ((struct evtchn_bind_interdomain *)arg)->local_port};
			m.cmd = GNT_HC(__HYPERVISOR_event_channel_op, EVTCHNOP_close);
			m.len = sizeof(c);
			gnt__rpc_msg(&m, &c, NULL, NULL, 0, NULL, NULL, NULL, NULL, &rc);
		}
	}
	pthread_mutex_unlock(&gnt__g.lock);
	return err < 0 ? err : rc;
}

gnt_evtchn_handle *gnt_evtchn_open(void)
{
	gnt_evtchn_handle *h = calloc(1, sizeof(*h));
	int sv[2] = {-1, -1}, fds[4], err;
	uint32_t nfds = 4;
	int32_t rc;
	pid_t gntd = 0;

	if (!h)
		return NULL;
	if (socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
		goto err;
	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (!err)
		err = gnt__rpc(GNT_MSG_EVTCHN_OPEN, 0, 0, NULL, 0, &sv[1], 1, NULL, 0, NULL, fds,
			       &nfds, &rc);
	if (err == -EMFILE && rc > 0) /* made, but we could not take its descriptors */
		gnt__rpc(GNT_MSG_EVTCHN_CLOSE, 0, (uint32_t)rc, NULL, 0, NULL, 0, NULL, 0, NULL,
			 NULL, NULL, &rc);
	h->epoch = gnt__epoch();
	gntd = gnt__g.gntd_pid;
	pthread_mutex_unlock(&gnt__g.lock);
	close(sv[1]);
	if (err < 0 || rc <= 0) {
		errno = err < 0 ? -err : -rc;
		goto err_ctl;
	}
	if (nfds != 4) {
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		errno = EPROTO;
		goto err_ctl;
	}
	h->g = mmap(NULL, GNT_EVTCHN_INBOX_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fds[3], 0);
	close(fds[3]);
	h->bell = fds[0];
	h->drain = fds[1];
	h->ring = fds[2];
	h->id = (uint32_t)rc;
	h->ctl = sv[0];
	h->pid = gnt__pid();
	h->waker.bell = h->ring;
	gnt__waker_add(&h->waker, gntd);
	if (h->g == MAP_FAILED) {
		h->g = NULL;
		gnt_evtchn_close(h);
		errno = ENOMEM;
		return NULL;
	}
	return h;
err_ctl:
	close(sv[0]);
err:
	err = errno;
	free(h);
	errno = err;
	return NULL;
}

int gnt_evtchn_close(gnt_evtchn_handle *h)
{
	int32_t rc = 0;

	if (!h)
		return 0;
	if (ours(h)) {
		pthread_mutex_lock(&gnt__g.lock);
		/* not on another gntd's connection: the id may be a live
		 * handle of ours there */
		if (h->epoch == gnt__epoch() && gnt__ensure() == 0)
			gnt__rpc(GNT_MSG_EVTCHN_CLOSE, 0, h->id, NULL, 0, NULL, 0, NULL, 0, NULL,
				 NULL, NULL, &rc);
		pthread_mutex_unlock(&gnt__g.lock);
		gnt__waker_del(&h->waker);
	}
	for (uint32_t i = 0; h->g && i < h->np; i++)
		forget(h, i);
	free(h->p);
	if (h->g)
		munmap(h->g, GNT_EVTCHN_INBOX_BYTES);
	close(h->ctl);
	close(h->bell);
	close(h->drain);
	close(h->ring);
	free(h);
	return 0;
}

int gnt_evtchn_fd(gnt_evtchn_handle *h)
{
	return h->bell;
}

int gnt_evtchn_bind_unbound_port(gnt_evtchn_handle *h, domid_t remote)
{
	struct evtchn_alloc_unbound op = {.dom = DOMID_SELF, .remote_dom = remote};
	int rc;
	struct lport *l;

	if ((rc = usable(h)) < 0)
		return rc;
	rc = evop(h, EVTCHNOP_alloc_unbound, &op, sizeof(op), NULL, NULL, NULL);
	if (rc < 0)
		return rc;
	/* news of the port's previous life comes first */
	read_ctl(h);
	l = lp(h, op.port, true);
	if (!l)
		return -ENOMEM;
	*l = (struct lport){.live = true};
	return (int)op.port;
}

int gnt_evtchn_bind_interdomain(gnt_evtchn_handle *h, domid_t remote, evtchn_port_t rport)
{
	struct evtchn_bind_interdomain op = {.remote_dom = remote, .remote_port = rport};
	int fds[3] = {-1, -1, -1};
	uint32_t nfds = 3, aux = 0;
	struct lport *l;
	int rc;

	if ((rc = usable(h)) < 0)
		return rc;
	rc = evop(h, EVTCHNOP_bind_interdomain, &op, sizeof(op), fds, &nfds, &aux);
	if (rc < 0)
		return rc;
	if (nfds != 3 || !(read_ctl(h), l = lp(h, op.local_port, true))) {
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		return nfds != 3 ? -EPROTO : -ENOMEM;
	}
	*l = (struct lport){.live = true};
	{
		struct gnt_evtchn_ctl m = {.peer_port = rport, .peer_handle = aux,
					   .peer_dom = op.remote_dom};
		if (op.remote_dom == DOMID_SELF)
			m.peer_dom = gnt_domid();
		port_bind(h, l, &m, fds);
	}
	return (int)op.local_port;
}

int gnt_evtchn_notify(gnt_evtchn_handle *h, evtchn_port_t port)
{
	struct evtchn_send op = {.port = port};
	struct lport *l;
	int rc;

	if ((rc = usable(h)) < 0)
		return rc;
	if (!live_port(h, port))
		return -EINVAL;
	/* gntd's news first: a peer that bound since is known before we
	 * decide where the event goes */
	check_gen(h);
	if (!(l = live_port(h, port)))
		return -EINVAL; /* reset closed it under us */
	if (l->bound && l->out) {
		if (gnt__inbox_set(l->out->m, l->peer_port))
			gnt__bell_ring(l->out->bell);
		return 0;
	}
	/* unbound (dropped, as Xen), or no inbox of the peer's: gntd delivers */
	return evop(h, EVTCHNOP_send, &op, sizeof(op), NULL, NULL, NULL);
}

int gnt__evtchn_send(evtchn_port_t port)
{
	struct evtchn_send op = {.port = port};
	return evop(NULL, EVTCHNOP_send, &op, sizeof(op), NULL, NULL, NULL);
}

int gnt_evtchn_unbind(gnt_evtchn_handle *h, evtchn_port_t port)
{
	struct evtchn_close op = {.port = port};
	int rc;

	if ((rc = usable(h)) < 0)
		return rc;
	if (!live_port(h, port))
		return -EINVAL;
	rc = evop(h, EVTCHNOP_close, &op, sizeof(op), NULL, NULL, NULL);
	if (rc == 0) {
		read_ctl(h);
		forget(h, port);
	}
	return rc;
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
