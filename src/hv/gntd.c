/* SPDX-License-Identifier: MIT */
/*
 * hv/gntd.c - gntd, the hypervisor: a single-threaded epoll loop that owns
 * every frame and grant table.  The control socket (<rundir>/gntd.sock, mode
 * 0600, peer uid checked) makes dom0 connections; every other connection was
 * created by gntd for one domain and is that domain's only identity.
 */
#define _GNU_SOURCE
#include "hv.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "backing.h"
#include "common/fdpass.h"

struct hv *hv;

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void hv_log(const char *fmt, ...)
{
	va_list ap;
	struct timespec ts;

	if (!hv->verbose)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	fprintf(stderr, "gntd[%ld.%03ld]: ", (long)ts.tv_sec % 100000, ts.tv_nsec / 1000000);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int hv_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static void conn_watch(struct hv_conn *c, bool want_out)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | (want_out ? EPOLLOUT : 0),
				 .data.ptr = c};
	epoll_ctl(hv->epfd, EPOLL_CTL_MOD, c->fd, &ev);
}

/* gntd's descriptors for c: its socket, and its pidfd if it has one */
static uint32_t conn_fds(const struct hv_conn *c)
{
	return 1u + (c->pidfd >= 0);
}

/* Room for one more connection of domid: domains' connections leave
 * HV_CONN_RESERVE of HV_MAX_CONNS to control connections, so domains that
 * fill theirs never lock dom0 out. */
static bool conn_room(bool control, const struct hv_dom *hd)
{
	if (hv->nconns >= HV_MAX_CONNS)
		return false;
	if (control)
		return true;
	return hv->ndomconns < HV_MAX_CONNS - HV_CONN_RESERVE &&
	       (!hd || hd->nconns < HV_MAX_CONNS_PER_DOMAIN);
}

/* Charged to the domain's descriptor share (budget.c), as its other
 * descriptors of gntd's. */
static int conn_charge(struct hv_conn *c)
{
	if (c->control)
		return 0;
	if (hv_budget_charge(c->domid, conn_fds(c)) < 0) {
		if (c->pidfd >= 0)
			close(c->pidfd);
		return -EMFILE;
	}
	return 0;
}

static void conn_link(struct hv_conn *c, struct hv_dom *hd)
{
	c->next = hv->conns;
	if (hv->conns)
		hv->conns->prev = c;
	hv->conns = c;
	hv->nconns++;
	if (!c->control)
		hv->ndomconns++;
	if (!c->control && hd) {
		hd->nconns++;
		hd->had_conns = true;
	}
}

struct hv_conn *hv_conn_add(int fd, bool control, uint16_t domid, pid_t pid)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP};
	struct gnt_domain *d = gnt_core_domain(hv->core, domid);
	struct hv_dom *hd = d ? d->user : NULL;
	struct hv_conn *c;
	int err = EMFILE;

	if (!conn_room(control, hd)) {
		errno = EMFILE;
		return NULL;
	}
	if (!(c = calloc(1, sizeof(*c)))) {
		errno = ENOMEM;
		return NULL;
	}
	c->fd = fd;
	c->control = control;
	c->domid = domid;
	c->pid = pid;
	c->pidfd = -1;
	if (pid > 0) /* to kill it when the domain is destroyed */
		c->pidfd = (int)syscall(434 /* pidfd_open */, pid, 0);
	if (conn_charge(c) < 0)
		goto err_free;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	ev.data.ptr = c;
	if (epoll_ctl(hv->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		if (!control)
			hv_budget_uncharge(domid, conn_fds(c));
		if (c->pidfd >= 0)
			close(c->pidfd);
		err = ENOMEM;
		goto err_free;
	}
	conn_link(c, hd);
	return c;
err_free:
	free(c);
	errno = err;
	return NULL;
}

static void out_free(struct hv_out *o)
{
	for (uint32_t i = 0; i < o->nfds; i++)
		close(o->fds[i]);
	free(o->fds);
	free(o->buf);
	free(o);
}

/* Mark dead; freed at the end of the loop iteration. */
void hv_conn_kill(struct hv_conn *c)
{
	if (!c->dead) {
		c->dead = true;
		epoll_ctl(hv->epfd, EPOLL_CTL_DEL, c->fd, NULL);
		shutdown(c->fd, SHUT_RDWR);
	}
}

static void conn_free(struct hv_conn *c)
{
	struct gnt_domain *d;

	/* its unmap notifies fire first: their ports may be its own */
	hv_unmap_notify_conn_gone(c);
	/* then its gntdev mappings and gntalloc shares go, as at exit in Linux */
	hv_gntdev_conn_gone(c);
	hv_evtchn_conn_gone(c); /* its handles' ports close while the domain lives */
	if (c->prev)
		c->prev->next = c->next;
	else
		hv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	hv->nconns--;
	if (!c->control) {
		hv->ndomconns--;
		hv_budget_uncharge(c->domid, conn_fds(c));
	}
	close(c->fd);
	if (c->pidfd >= 0)
		close(c->pidfd);
	for (uint32_t i = 0; i < c->ninfds; i++)
		close(c->infds[i]);
	while (c->out_head) {
		struct hv_out *o = c->out_head;
		c->out_head = o->next;
		out_free(o);
	}
	free(c->in);
	free(c->unotify);
	d = gnt_core_domain(hv->core, c->domid);
	if (!c->control && d && d->state == GNT_DOM_ALIVE && d->user) {
		struct hv_dom *hd = d->user;
		/* the last process of a domain is gone: the domain dies */
		if (--hd->nconns == 0) {
			hv_log("d%u: last process gone, domain dies", d->id);
			hv_domain_kill(d);
		}
	}
	free(c);
}

static int flush_out(struct hv_conn *c)
{
	while (c->out_head) {
		struct hv_out *o = c->out_head;
		while (o->off < o->len) {
			uint32_t n = o->nfds > GNT_MSG_MAX_FDS ? GNT_MSG_MAX_FDS : o->nfds;
			/* one byte per descriptor batch keeps batches apart */
			size_t chunk = n ? (o->nfds > n ? 1 : o->len - o->off) : o->len - o->off;
			struct iovec iov = {o->buf + o->off, chunk};
			union {
				char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
				struct cmsghdr align;
			} cbuf;
			struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
			ssize_t w;

			if (n)
				gnt__fds_attach(&mh, cbuf.b, o->fds, n);
			w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK) {
					conn_watch(c, true);
					return 0;
				}
				return -errno;
			}
			if (n) {
				for (uint32_t i = 0; i < n; i++)
					close(o->fds[i]);
				memmove(o->fds, o->fds + n, (o->nfds - n) * sizeof(int));
				o->nfds -= n;
			}
			o->off += (size_t)w;
		}
		c->out_head = o->next;
		if (!c->out_head)
			c->out_tail = NULL;
		out_free(o);
	}
	conn_watch(c, false);
	return 0;
}

/* Send what the socket takes now, straight from the caller's header, payload
 * and descriptors (no copy, no dup).  Descriptor batches ride on the first
 * unsent byte, as in flush_out.  Returns the bytes sent (*fds_sent of the
 * descriptors with them), or -errno. */
static ssize_t send_direct(struct hv_conn *c, const struct gnt_msg *m, const void *payload,
			   const int *fds, uint32_t nfds, uint32_t *fds_sent)
{
	size_t total = sizeof(*m) + m->len, off = 0;

	*fds_sent = 0;
	while (off < total) {
		uint32_t left = nfds - *fds_sent;
		uint32_t n = left > GNT_MSG_MAX_FDS ? GNT_MSG_MAX_FDS : left;
		size_t end = n && left > n ? off + 1 : total;
		struct iovec iov[2];
		union {
			char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 0};
		ssize_t w;

		if (off < sizeof(*m))
			iov[mh.msg_iovlen++] = (struct iovec){
				(char *)m + off, (end < sizeof(*m) ? end : sizeof(*m)) - off};
		if (end > sizeof(*m)) {
			size_t s = off > sizeof(*m) ? off - sizeof(*m) : 0;
			iov[mh.msg_iovlen++] =
				(struct iovec){(char *)payload + s, end - sizeof(*m) - s};
		}
		if (n)
			gnt__fds_attach(&mh, cbuf.b, fds + *fds_sent, n);
		w = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		*fds_sent += n;
		off += (size_t)w;
	}
	return (ssize_t)off;
}

int hv_reply(struct hv_conn *c, const struct gnt_msg *req, int32_t rc,
	     const void *payload, uint32_t len, const int *fds, uint32_t nfds)
{
	struct hv_out *o;
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = req->op, .cmd = req->cmd,
			    .count = req->count, .len = len, .rc = rc, .nfds = nfds,
			    .aux = req->aux};
	size_t total = sizeof(m) + len, sent = 0;
	uint32_t fds_sent = 0;
	bool direct = !c->out_head;

	/* Nothing queued (the usual case): the reply goes out from here, and
	 * only what the socket does not take now is copied and queued. */
	if (direct) {
		ssize_t w = send_direct(c, &m, payload, fds, nfds, &fds_sent);
		if (w < 0)
			return (int)w;
		sent = (size_t)w;
		if (sent == total)
			return 0;
	}
	o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	nfds -= fds_sent;
	fds += fds_sent;
	o->buf = malloc(total - sent);
	o->fds = nfds ? malloc(nfds * sizeof(int)) : NULL;
	if (!o->buf || (nfds && !o->fds)) {
		free(o->buf);
		free(o->fds);
		free(o);
		return -ENOMEM;
	}
	if (sent < sizeof(m))
		memcpy(o->buf, (char *)&m + sent, sizeof(m) - sent);
	if (len) {
		size_t s = sent > sizeof(m) ? sent - sizeof(m) : 0;
		memcpy(o->buf + (sent < sizeof(m) ? sizeof(m) - sent : 0),
		       (const char *)payload + s, len - s);
	}
	o->len = total - sent;
	for (uint32_t i = 0; i < nfds; i++) {
		o->fds[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (o->fds[i] < 0) {
			o->nfds = i;
			out_free(o);
			return -EMFILE;
		}
	}
	o->nfds = nfds;
	if (c->out_tail)
		c->out_tail->next = o;
	else
		c->out_head = o;
	c->out_tail = o;
	if (direct) {
		/* the socket is full: go on when it drains */
		conn_watch(c, true);
		return 0;
	}
	return flush_out(c);
}

/* Read what is there; run every complete request. */
static int conn_read(struct hv_conn *c)
{
	for (;;) {
		union {
			char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov;
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = cbuf.b, .msg_controllen = sizeof(cbuf.b)};
		ssize_t r;

		if (c->in_cap - c->in_len < 65536) {
			size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
			uint8_t *n;
			if (cap > GNT_MSG_MAX_PAYLOAD + sizeof(struct gnt_msg) + 131072)
				return -EMSGSIZE;
			n = realloc(c->in, cap);
			if (!n)
				return -ENOMEM;
			c->in = n;
			c->in_cap = cap;
		}
		iov.iov_base = c->in + c->in_len;
		iov.iov_len = c->in_cap - c->in_len;
		r = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return -errno;
		}
		/* too many descriptors queued: a protocol error, below */
		if (gnt__fds_take(&mh, c->infds, &c->ninfds,
				  sizeof(c->infds) / sizeof(c->infds[0])))
			c->dead = true;
		if (mh.msg_flags & MSG_CTRUNC)
			return -EPROTO;
		if (c->dead)
			return -EPROTO;
		if (r == 0)
			return -ECONNRESET;
		c->in_len += (size_t)r;
		if ((size_t)r < iov.iov_len)
			break;
	}
	/* process complete messages, one at a time, while output is flowing */
	size_t off = 0;
	while (!c->dead && !c->out_head && c->in_len - off >= sizeof(struct gnt_msg)) {
		struct gnt_msg m;
		int rc;

		memcpy(&m, c->in + off, sizeof(m));
		if (m.magic != GNT_PROTO_MAGIC || m.len > GNT_MSG_MAX_PAYLOAD ||
		    m.nfds > GNT_MSG_MAX_FDS)
			return -EPROTO;
		if (c->in_len - off - sizeof(m) < m.len)
			break;
		if (m.nfds > c->ninfds)
			return -EPROTO; /* descriptors arrive with the first byte */
		rc = hv_dispatch(c, &m, c->in + off + sizeof(m), c->infds, m.nfds);
		/* the dispatcher took or closed them; forget them */
		memmove(c->infds, c->infds + m.nfds, (c->ninfds - m.nfds) * sizeof(int));
		c->ninfds -= m.nfds;
		off += sizeof(m) + m.len;
		if (rc < 0)
			return rc;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
	/* descriptors come with a message's first byte: once every byte has
	 * been consumed, any still queued were announced by no message */
	if (c->in_len == 0 && c->ninfds)
		return -EPROTO;
	return 0;
}

static void accept_control(void)
{
	int fd = accept4(hv->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
	struct ucred cr;
	socklen_t l = sizeof(cr);

	if (fd < 0)
		return;
	/* the socket is 0600; check anyway: only our uid (or root) is dom0 */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		close(fd);
		return;
	}
	if (!hv_conn_add(fd, true, 0, cr.pid))
		close(fd);
}

static int make_rundir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid())
		return -EPERM;
	/* domains (other uids, as root) reach their own xenstore socket in it:
	 * traversable, not listable; every socket's own mode decides */
	if (geteuid() == 0 && (st.st_mode & 0777) == 0700)
		chmod(dir, 0711);
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, probe;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	/* a live gntd already here? */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 && connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	mode_t old = umask(0177);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 128) < 0) {
		int err = -errno;
		umask(old);
		close(fd);
		return err;
	}
	umask(old);
	return fd;
}

/* Domains of different gntds must never share a uid: destroying a domain
 * kills every process of its uid.  Each gntd running as root holds a lock on
 * one slot of 0x8000 uids (enough for every domid) for its lifetime. */
static int claim_uid_slot(void)
{
	const char *dir = "/run/gnt-uid-slots";
	char path[64];

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	for (uint32_t slot = 0; slot < 0x17FFE; slot++) {
		int fd;
		snprintf(path, sizeof(path), "%s/%u", dir, slot);
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			hv->uid_base = 0x40000000u + slot * 0x8000u;
			return 0; /* fd stays open: the lock is ours until we exit */
		}
		close(fd);
	}
	return -EBUSY;
}

/* The uids a process of /proc/<pid> runs with that fall in our domains'
 * range, or 0 (a zombie, gone, or none of ours). */
static uid_t uid_in_range(const char *pid)
{
	char path[64], line[256];
	bool zombie = false;
	uid_t hit = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%.20s/status", pid);
	if (!(f = fopen(path, "re")))
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long u[4];
		if (!strncmp(line, "State:", 6))
			zombie = strchr(line, 'Z') != NULL;
		if (sscanf(line, "Uid: %lu %lu %lu %lu", &u[0], &u[1], &u[2], &u[3]) != 4)
			continue;
		for (int i = 0; i < 3 && !hit; i++)
			if (u[i] > hv->uid_base && u[i] < hv->uid_base + 0x8000u)
				hit = (uid_t)u[i];
	}
	fclose(f);
	return zombie ? 0 : hit;
}

/* A gntd that died leaves its domains' processes behind (fail-stop: they
 * can no longer do anything but must stop; design.md, "gntd's death").  In
 * the uid range we now hold they would share uids with our own domains, and
 * a destroy here would kill them as ours.  So every process with a uid in
 * the range is killed first, as a destroy kills a domain (kill(-1) as the
 * uid reaches processes forked meanwhile). */
static void sweep_uid_range(void)
{
	for (int round = 0; round < 8; round++) {
		uid_t found[64];
		uint32_t n = 0;
		struct dirent *de;
		DIR *d = opendir("/proc");

		if (!d)
			return;
		while ((de = readdir(d)) && n < 64) {
			uid_t u;
			if (de->d_name[0] < '1' || de->d_name[0] > '9' || !(u = uid_in_range(de->d_name)))
				continue;
			bool seen = false;
			for (uint32_t i = 0; i < n && !seen; i++)
				seen = found[i] == u;
			if (!seen)
				found[n++] = u;
		}
		closedir(d);
		if (!n)
			return;
		hv_log("killing the processes of %u uid(s) left in our range by a gntd that died", n);
		for (uint32_t i = 0; i < n; i++) {
			pid_t p = fork();
			if (p == 0) {
				uid_t u = found[i];
				if (setresgid(u, u, u) == 0 && setresuid(u, u, u) == 0)
					kill(-1, SIGKILL);
				_exit(0);
			}
			if (p > 0)
				waitpid(p, NULL, 0);
		}
	}
	hv_log("processes keep appearing in our uid range");
}

static volatile sig_atomic_t term;
static char revoke_mark; /* epoll data for the fanotify descriptor */
static char xs_mark;     /* epoll data for xenstore's own epoll set */
static char bell_mark;   /* epoll data for closed handles' bells (evtchn.c) */

static void on_term(int sig)
{
	(void)sig;
	term = 1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: gntd [-f] [-v] [--runtime-dir DIR] [--ready-fd N]\n"
		"            [--max-grant-frames N] [--max-maptrack-frames N]\n"
		"            [--uid-base UID] [--spin-us N] [--die-with-parent]\n"
		"            [--fd-share N] [--fd-limit N]\n");
	exit(2);
}

const char *gnt__default_rundir(char *buf, size_t n);

int main(int argc, char **argv)
{
	static struct hv H;
	struct gnt_limits lim = {.max_grant_frames = 64, .max_maptrack_frames = 1024,
				 .max_pages = (uint64_t)64 << 18 /* 64 GiB: dom0 */};
	static const struct option lo[] = {
		{"runtime-dir", 1, 0, 'r'}, {"ready-fd", 1, 0, 'R'},
		{"max-grant-frames", 1, 0, 'g'}, {"max-maptrack-frames", 1, 0, 'm'},
		{"uid-base", 1, 0, 'u'}, {"spin-us", 1, 0, 's'},
		{"fd-share", 1, 0, 'S'}, {"fd-limit", 1, 0, 'L'},
		{"die-with-parent", 0, 0, 'P'}, {"foreground", 0, 0, 'f'}, {"verbose", 0, 0, 'v'},
		{0, 0, 0, 0}};
	int opt, ready_fd = -1, foreground = 0, die_with_parent = 0, rc;
	uint32_t fd_share = HV_FD_SHARE_DEFAULT, fd_limit = 0;
	const char *dir = NULL;
	char dbuf[256];

	bool uid_base_set = false;

	hv = &H;
	hv->uid_base = 0x40000000u;
	/* spin only where a spinning gntd cannot starve its clients' CPU */
	hv->spin_ns = sysconf(_SC_NPROCESSORS_ONLN) > 1 ? 50000u : 0;
	while ((opt = getopt_long(argc, argv, "fvr:", lo, NULL)) != -1) {
		switch (opt) {
		case 'r': dir = optarg; break;
		case 'R': ready_fd = atoi(optarg); break;
		case 'g': lim.max_grant_frames = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'm': lim.max_maptrack_frames = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'u':
			hv->uid_base = (uid_t)strtoul(optarg, NULL, 0);
			uid_base_set = true;
			break;
		case 's': hv->spin_ns = strtoull(optarg, NULL, 0) * 1000u; break;
		case 'S':
			fd_share = (uint32_t)strtoul(optarg, NULL, 0);
			if (fd_share == 0)
				usage();
			break;
		case 'L': fd_limit = (uint32_t)strtoul(optarg, NULL, 0); break;
		case 'f': foreground = 1; break;
		case 'P': die_with_parent = 1; break;
		case 'v': hv->verbose++; break;
		default: usage();
		}
	}
	if (!dir)
		dir = gnt__default_rundir(dbuf, sizeof(dbuf));
	if (!dir) {
		fprintf(stderr, "gntd: no runtime directory (set GNT_RUNTIME_DIR)\n");
		return 1;
	}
	snprintf(hv->rundir, sizeof(hv->rundir), "%s", dir);
	snprintf(hv->sock_path, sizeof(hv->sock_path), "%s/gntd.sock", dir);
	hv->privileged = geteuid() == 0;
	if (hv->privileged && !uid_base_set && (rc = claim_uid_slot()) < 0) {
		fprintf(stderr, "gntd: no free uid range for domains: %s\n", strerror(-rc));
		return 1;
	}
	if (hv->privileged)
		sweep_uid_range();
	/* nobody of our uid may read our descriptors or memory via /proc */
	prctl(PR_SET_DUMPABLE, 0);
	signal(SIGPIPE, SIG_IGN);
	{
		/* SIGTERM/SIGINT: leave the loop and clean up (socket, pid file,
		 * runtime directory); epoll_wait is interrupted either way */
		struct sigaction sa = {.sa_handler = on_term};
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
	}
	if (die_with_parent) {
		/* a program's private gntd (tests, demo, bench) ends with it */
		pid_t parent = getppid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			return 1;
	}
	if ((rc = make_rundir(hv->rundir)) < 0) {
		fprintf(stderr, "gntd: runtime directory %s: %s\n", hv->rundir, strerror(-rc));
		return 1;
	}
	hv->lfd = listen_on(hv->sock_path);
	if (hv->lfd < 0) {
		fprintf(stderr, "gntd: %s: %s\n", hv->sock_path, strerror(-hv->lfd));
		return 1;
	}
	hv_budget_init(fd_share, fd_limit);
	/* kernel-checked revocation needs fanotify (CAP_SYS_ADMIN): as root */
	if (hv->privileged && hv_revoke_init() == 0)
		hv->revoke = true;
	hv->core = gnt_core_create(hv->revoke ? &hv_backing_revoke_ops : &hv_backing_ops, hv,
				   &lim);
	hv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (hv->core) /* dom0 has per-domain state too (event channels) */
		gnt_core_domain(hv->core, 0)->user = calloc(1, sizeof(struct hv_dom));
	if (hv->core && gnt_core_domain(hv->core, 0)->user)
		hv_gntdev_dom_init(gnt_core_domain(hv->core, 0)->user);
	if (!hv->core || hv->epfd < 0 || !gnt_core_domain(hv->core, 0)->user) {
		fprintf(stderr, "gntd: out of memory\n");
		return 1;
	}
	{
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
		epoll_ctl(hv->epfd, EPOLL_CTL_ADD, hv->lfd, &ev);
		if (hv->revoke) {
			ev.data.ptr = &revoke_mark;
			epoll_ctl(hv->epfd, EPOLL_CTL_ADD, hv_revoke_fd(), &ev);
		}
		if ((rc = hv_xs_init()) < 0) {
			fprintf(stderr, "gntd: xenstore: %s\n", strerror(-rc));
			return 1;
		}
		ev.data.ptr = &xs_mark;
		epoll_ctl(hv->epfd, EPOLL_CTL_ADD, hv_xs_fd(), &ev);
		if ((rc = hv_evtchn_init()) < 0) {
			fprintf(stderr, "gntd: event channels: %s\n", strerror(-rc));
			return 1;
		}
		ev.data.ptr = &bell_mark;
		epoll_ctl(hv->epfd, EPOLL_CTL_ADD, hv_evtchn_fd(), &ev);
	}
	if (!foreground) {
		pid_t p = fork();
		if (p < 0)
			return 1;
		if (p > 0)
			_exit(0);
		setsid();
		int nul = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			dup2(nul, 1);
			if (!hv->verbose)
				dup2(nul, 2);
			close(nul);
		}
	}
	{
		char pidp[320];
		FILE *f;
		snprintf(pidp, sizeof(pidp), "%s/gntd.pid", hv->rundir);
		f = fopen(pidp, "we");
		if (f) {
			fprintf(f, "%d\n", getpid());
			fclose(f);
		}
	}
	if (ready_fd >= 0) {
		(void)!write(ready_fd, "R", 1);
		close(ready_fd);
	}
	hv_log("serving %s (uid separation %s, kernel-checked revocation %s)", hv->sock_path,
	       hv->privileged ? "on" : "off", hv->revoke ? "on" : "off");
	uint64_t spin_until = 0;
	while (!hv->quit && !term) {
		struct epoll_event evs[64];
		int n;

		/* Adaptive spin: right after serving a request the next one usually
		 * follows within microseconds (a domain mapping in batches); a
		 * sleeping epoll_wait costs a cross-CPU wake-up (~1.5-2 us here).
		 * Poll without sleeping for --spin-us, yielding the CPU each turn so
		 * a client on this CPU still runs. */
		for (;;) {
			n = epoll_wait(hv->epfd, evs, 64, 0);
			if (n != 0 || term || now_ns() >= spin_until)
				break;
			sched_yield();
		}
		if (n == 0 && !term)
			n = epoll_wait(hv->epfd, evs, 64, hv->revoke ? hv_revoke_settle_due() : -1);
		if (n < 0 && errno != EINTR)
			break;
		if (n > 0 && hv->spin_ns)
			spin_until = now_ns() + hv->spin_ns;
		for (int i = 0; i < n; i++) {
			struct hv_conn *c = evs[i].data.ptr;
			int err = 0;
			if (!c) {
				accept_control();
				continue;
			}
			if ((void *)c == &revoke_mark) {
				hv_revoke_events();
				continue;
			}
			if ((void *)c == &xs_mark) {
				hv_xs_poll();
				continue;
			}
			if ((void *)c == &bell_mark) {
				hv_evtchn_poll();
				continue;
			}
			if (c->dead)
				continue;
			if (evs[i].events & EPOLLOUT)
				err = flush_out(c);
			if (!err && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
				err = conn_read(c);
			if (!err && c->out_head == NULL && c->in_len >= sizeof(struct gnt_msg))
				err = conn_read(c); /* requests held back by output */
			if (err < 0) {
				if (err != -ECONNRESET)
					hv_log("d%u: dropping connection: %s", c->domid,
					       strerror(-err));
				hv_conn_kill(c);
			}
		}
		if (hv->revoke)
			hv_revoke_settle_due();
		/* free dead connections (may kill domains, which kills more) */
		for (;;) {
			struct hv_conn *c;
			for (c = hv->conns; c && !c->dead; c = c->next)
				;
			if (!c)
				break;
			conn_free(c);
		}
		/* shares ending wait for pins that any of the above may drop */
		hv_gntdev_poll();
	}
	/* shutdown: domains die with us */
	while (hv->conns) {
		hv_conn_kill(hv->conns);
		conn_free(hv->conns);
	}
	/* domains that never had a process still hold our per-domain data */
	for (struct gnt_domain *d = gnt_core_domain_next(hv->core, 0); d;
	     d = gnt_core_domain_next(hv->core, d->id + 1u)) {
		if (d->user)
			hv_gntdev_dom_gone(d->user);
		free(d->user);
		d->user = NULL;
	}
	hv_xs_fini();
	gnt_core_destroy(hv->core);
	unlink(hv->sock_path);
	{
		char pidp[320];
		snprintf(pidp, sizeof(pidp), "%s/gntd.pid", hv->rundir);
		unlink(pidp);
	}
	rmdir(hv->rundir);
	return 0;
}
