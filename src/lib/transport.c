/* SPDX-License-Identifier: MIT */
/*
 * lib/transport.c - this process's connection to gntd.  A domain process
 * inherits a domain descriptor ($GNT_FD) and attaches a private connection
 * through it (so that replies never go to a forked sibling); dom0 connects to
 * the control socket.  After fork the child re-attaches on its next call.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/fdpass.h"
#include "gnt/control.h"

struct gnt__state gnt__g = {.lock = PTHREAD_MUTEX_INITIALIZER, .fd = -1, .domid = -1};

const char *gnt__default_rundir(char *buf, size_t n);

const char *gnt_runtime_dir(void)
{
	static __thread char buf[256];
	return gnt__default_rundir(buf, sizeof(buf));
}

static int send_all(int fd, const struct gnt_msg *m, const void *pl, const int *fds,
		    uint32_t nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov[2] = {{(void *)m, sizeof(*m)}, {(void *)pl, m->len}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = m->len ? 2 : 1};
	size_t total = sizeof(*m) + m->len, sent = 0;

	if (nfds)
		gnt__fds_attach(&mh, cbuf.b, fds, nfds);
	while (sent < total) {
		ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		sent += (size_t)w;
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		/* advance the iovecs */
		while (w > 0 && mh.msg_iovlen) {
			if ((size_t)w >= mh.msg_iov[0].iov_len) {
				w -= (ssize_t)mh.msg_iov[0].iov_len;
				mh.msg_iov++;
				mh.msg_iovlen--;
			} else {
				mh.msg_iov[0].iov_base = (char *)mh.msg_iov[0].iov_base + w;
				mh.msg_iov[0].iov_len -= (size_t)w;
				w = 0;
			}
		}
	}
	return 0;
}

/* Where a reply's descriptors go: fds[*n..max).  lost: the kernel dropped
 * some (MSG_CTRUNC: we are at RLIMIT_NOFILE), so the list is incomplete and
 * its indexes mean nothing. */
struct fdsink {
	int *fds;
	uint32_t *n, max;
	bool lost;
};

static void take_fds(struct msghdr *mh, struct fdsink *fs)
{
	gnt__fds_take(mh, fs->fds, fs->n, fs->max);
	if (mh->msg_flags & MSG_CTRUNC)
		fs->lost = true;
}

/* Read exactly len bytes into buf (NULL: discard), collecting descriptors. */
static int recv_exact(int fd, void *buf, size_t len, struct fdsink *fs)
{
	size_t got = 0;
	char scratch[4096];

	while (got < len) {
		union {
			char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov;
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
				    .msg_controllen = sizeof(cbuf.b)};
		ssize_t r;

		if (buf) {
			iov.iov_base = (char *)buf + got;
			iov.iov_len = len - got;
		} else {
			iov.iov_base = scratch;
			iov.iov_len = len - got < sizeof(scratch) ? len - got : sizeof(scratch);
		}
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -ECONNRESET;
		take_fds(&mh, fs);
		got += (size_t)r;
	}
	return 0;
}

/* The reply's header and as much of its payload as fits in out, in as few
 * recvmsg calls as the socket allows (one for a small reply): a connection
 * carries one request at a time, so there is nothing after this reply to
 * read by mistake.  The header is checked as soon as it is in. */
static int recv_reply(int fd, struct gnt_msg *r, uint32_t op, uint32_t cmd, void *out,
		      uint32_t out_len, struct fdsink *fs)
{
	size_t got = 0, want;

	if (!out)
		out_len = 0;
	want = sizeof(*r) + out_len;
	while (got < want) {
		union {
			char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov[2];
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 0, .msg_control = cbuf.b,
				    .msg_controllen = sizeof(cbuf.b)};
		size_t s = got > sizeof(*r) ? got - sizeof(*r) : 0;
		ssize_t n;

		if (got < sizeof(*r))
			iov[mh.msg_iovlen++] = (struct iovec){(char *)r + got, sizeof(*r) - got};
		if (want > sizeof(*r) + s)
			iov[mh.msg_iovlen++] =
				(struct iovec){(char *)out + s, want - sizeof(*r) - s};
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		take_fds(&mh, fs);
		if (got < sizeof(*r) && got + (size_t)n >= sizeof(*r)) {
			/* the header is in: now we know how long the payload is */
			if (r->magic != GNT_PROTO_MAGIC || r->op != op || r->cmd != cmd)
				return -EPROTO;
			want = sizeof(*r) + (r->len < out_len ? r->len : out_len);
			if (got + (size_t)n > want)
				return -EPROTO; /* more than this reply */
		}
		got += (size_t)n;
	}
	return 0;
}

static int rpc_raw(const struct gnt_msg *req, const void *in, const int *send_fds, void *out,
		   uint32_t out_len, uint32_t *got_len, int *fds, uint32_t *nfds, uint32_t *aux,
		   int32_t *rc)
{
	struct gnt_msg m = *req;
	struct gnt_msg r;
	uint32_t dummy = 0;
	struct fdsink fs = {.fds = fds, .n = nfds ? nfds : &dummy, .max = nfds ? *nfds : 0};
	int err;

	m.magic = GNT_PROTO_MAGIC;
	*fs.n = 0;
	err = send_all(gnt__g.fd, &m, in, send_fds, m.nfds);
	if (err < 0)
		return err;
	__atomic_fetch_add(&gnt__g.hypercalls, 1, __ATOMIC_RELAXED);
	err = recv_reply(gnt__g.fd, &r, m.op, m.cmd, out, out_len, &fs);
	if (!err && r.len > (out ? out_len : 0)) {
		/* more than the caller has room for: drain it, fail */
		err = recv_exact(gnt__g.fd, NULL, r.len - (out ? out_len : 0), &fs);
		if (!err)
			err = -EPROTO;
	}
	if (!err && fs.lost)
		err = -EMFILE; /* the reply itself is whole: the caller undoes */
	else if (!err && *fs.n != r.nfds)
		err = -EPROTO; /* descriptors all travel within the reply */
	if (err < 0) {
		for (uint32_t i = 0; fds && i < *fs.n; i++)
			close(fds[i]);
		*fs.n = 0;
		if (err != -EMFILE)
			return err;
	}
	if (got_len)
		*got_len = r.len;
	if (aux)
		*aux = r.aux;
	*rc = r.rc;
	return err;
}

int gnt__rpc_msg(const struct gnt_msg *req, const void *in, const int *send_fds, void *out,
		 uint32_t out_len, uint32_t *got_len, int *fds, uint32_t *nfds, uint32_t *aux,
		 int32_t *rc)
{
	/* gntd never closes a connection it serves but when it dies, or when
	 * the domain dies or broke the protocol: either way nothing more can
	 * be asked on it */
	return gnt__conn_lost(rpc_raw(req, in, send_fds, out, out_len, got_len, fds, nfds, aux,
				      rc));
}

int gnt__rpc(uint32_t op, uint32_t cmd, uint32_t count, const void *in, uint32_t in_len,
	     const int *send_fds, uint32_t send_nfds, void *out, uint32_t out_len,
	     uint32_t *got_len, int *fds, uint32_t *nfds, int32_t *rc)
{
	struct gnt_msg m = {.op = op, .cmd = cmd, .count = count, .len = in_len,
			    .nfds = send_nfds};
	return gnt__rpc_msg(&m, in, send_fds, out, out_len, got_len, fds, nfds, NULL, rc);
}

static int connect_control(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	const char *dir = gnt_runtime_dir();
	int fd;

	if (snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/gntd.sock", dir) >=
	    (int)sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno == ECONNREFUSED ? -ENOENT : -errno;
		close(fd);
		return err;
	}
	return fd;
}

/* A private connection made through the inherited domain descriptor. */
static int attach_via(int token)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_ATTACH, .nfds = 1};
	int sv[2], err, type;
	socklen_t tl = sizeof(type);

	if (getsockopt(token, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM)
		return -EBADF;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	err = send_all(token, &m, NULL, &sv[1], 1);
	close(sv[1]);
	if (err < 0) {
		close(sv[0]);
		return err == -EPIPE || err == -ECONNRESET ? -ESRCH : err;
	}
	return sv[0];
}

/* The pid of the process that made the socket's other end (gntd, for a
 * domain descriptor or the control socket); 0 if unknown. */
static pid_t peer_pid(int fd)
{
	struct ucred uc;
	socklen_t l = sizeof(uc);

	return fd >= 0 && getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &l) == 0 ? uc.pid : 0;
}

static void unmap_table(void)
{
	if (gnt__g.table)
		munmap(gnt__g.table, gnt__g.table_bytes);
	gnt__g.table = NULL;
	gnt__g.bitmap = NULL;
	if (gnt__g.status)
		munmap((void *)gnt__g.status, gnt__g.status_bytes);
	gnt__g.status = NULL;
}

int gnt__status_map_and_close(int fd)
{
	/* status frames for the largest table this domain may have */
	size_t len = (size_t)((gnt__g.max_frames * (GNT_PAGE_SIZE / sizeof(grant_entry_v2_t)) +
			       GNT_PAGE_SIZE / sizeof(grant_status_t) - 1) /
			      (GNT_PAGE_SIZE / sizeof(grant_status_t))) *
		     GNT_PAGE_SIZE;
	void *p;

	if (gnt__g.status) {
		close(fd);
		return 0;
	}
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -ENOMEM;
	gnt__g.status = p;
	gnt__g.status_bytes = len;
	return 0;
}

/* GNT_GRANT_VERSION=2 in the environment: switch the domain's table to v2
 * when this process connects (and it is still v1).  The switch clears
 * every entry but 0..7, so it belongs before any grant, as at Xen's boot. */
static int version_from_env(void)
{
	const char *v = getenv("GNT_GRANT_VERSION");
	uint32_t now;

	if (!v || strcmp(v, "2") || gnt__g.version == 2)
		return 0;
	return gnt__set_version(2, &now);
}

static void drop_conn(void)
{
	if (gnt__g.fd >= 0)
		close(gnt__g.fd);
	gnt__g.fd = -1;
}

int gnt__ensure(void)
{
	struct gnt_info info;
	const char *env;
	int fd, tfds[2] = {-1, -1}, err;
	uint32_t nfds = 2, got;
	int32_t rc;

	if (gnt__g.fd >= 0 && gnt__g.pid == gnt__pid())
		return gnt__lost() ? -ESHUTDOWN : 0;
	if (gnt__lost())
		return -ESHUTDOWN; /* fail-stop, in a forked child too */
	if (gnt__g.fd >= 0) {
		/* forked: the connection is our parent's; leave it to it */
		drop_conn();
		unmap_table();
	}
	env = getenv("GNT_FD");
	if (env && *env) {
		char *end;
		long t = strtol(env, &end, 10);
		if (*end || t < 0 || t > 1 << 20)
			return -EBADF;
		fd = attach_via((int)t);
		gnt__g.gntd_pid = peer_pid((int)t); /* gntd made the pair */
	} else {
		fd = connect_control();
		gnt__g.gntd_pid = peer_pid(fd);
	}
	if (fd < 0)
		return fd;
	gnt__g.fd = fd;
	gnt__g.pid = gnt__pid();
	{
		struct gnt_msg m = {.op = GNT_MSG_INFO};
		/* raw: a connection refused at once means the domain is dead */
		err = rpc_raw(&m, NULL, NULL, &info, sizeof(info), &got, tfds, &nfds, NULL, &rc);
	}
	if (err < 0 || rc < 0 || got != sizeof(info) || nfds < 1 ||
	    (info.version != 1 && info.version != 2) || (info.version == 2 && nfds != 2)) {
		for (uint32_t i = 0; i < nfds; i++)
			close(tfds[i]);
		drop_conn();
		return err < 0 ? (err == -ECONNRESET ? -ESRCH : err) : -EPROTO;
	}
	gnt__g.domid = (int)info.domid;
	gnt__g.max_frames = info.max_frames;
	gnt__g.nr_frames = info.nr_frames;
	gnt__g.version = info.version;
	gnt__g.table_bytes = (size_t)(info.max_frames + info.alloc_pages) * GNT_PAGE_SIZE;
	gnt__g.table = mmap(NULL, gnt__g.table_bytes, PROT_READ | PROT_WRITE, MAP_SHARED,
			    tfds[0], 0);
	close(tfds[0]);
	if (gnt__g.table == MAP_FAILED) {
		gnt__g.table = NULL;
		if (nfds == 2)
			close(tfds[1]);
		drop_conn();
		return -ENOMEM;
	}
	gnt__g.bitmap = (uint64_t *)(void *)((char *)gnt__g.table +
					     (size_t)info.max_frames * GNT_PAGE_SIZE);
	err = nfds == 2 ? gnt__status_map_and_close(tfds[1]) : 0;
	if (!err)
		err = version_from_env();
	if (err < 0) {
		unmap_table();
		drop_conn();
	}
	return err;
}

int gnt_open(void)
{
	int err;
	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	pthread_mutex_unlock(&gnt__g.lock);
	return err;
}

void gnt_close(void)
{
	pthread_mutex_lock(&gnt__g.lock);
	if (gnt__g.pid == gnt__pid()) {
		drop_conn();
		unmap_table();
	}
	if (gnt__lost()) {
		/* the next call connects anew (dom0 to a new gntd; a domain's
		 * descriptor died with the old one: -ESRCH); what was made on
		 * the old one stays refused (the handles' epoch) */
		__atomic_fetch_add(&gnt__g.epoch, 1, __ATOMIC_RELAXED);
		__atomic_store_n(&gnt__g.lost, false, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&gnt__g.lock);
	gnt__unmap_async_cancel();
}

int gnt_domid(void)
{
	int err;
	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (!err)
		err = gnt__g.domid;
	pthread_mutex_unlock(&gnt__g.lock);
	return err;
}

uint64_t gnt_hypercall_count(void)
{
	return __atomic_load_n(&gnt__g.hypercalls, __ATOMIC_RELAXED);
}

/* fork() while another thread talks to gntd would leave the child a copy of
 * the lock that nobody will ever release: hold it across fork (nothing in
 * libgnt forks while holding it).  The child's connection is its parent's
 * until gnt__ensure sees the new pid. */
static void fork_prepare(void)
{
	pthread_mutex_lock(&gnt__g.lock);
}

static void fork_done(void)
{
	pthread_mutex_unlock(&gnt__g.lock);
}

/* getpid() is a system call (glibc caches nothing), and libgnt asks "am I
 * still the process that connected?" on every call: keep our pid here,
 * renewed in every child fork() makes.  (A child made by a raw clone()
 * without fork handlers must not use libgnt before exec.) */
static pid_t self_pid;

pid_t gnt__pid(void)
{
	return __atomic_load_n(&self_pid, __ATOMIC_RELAXED);
}

static void fork_child(void)
{
	__atomic_store_n(&self_pid, getpid(), __ATOMIC_RELAXED);
	pthread_mutex_unlock(&gnt__g.lock);
}

__attribute__((constructor)) static void gnt__init(void)
{
	self_pid = getpid();
	/* A domain process keeps others of its uid out of its memory. */
	if (getenv("GNT_FD"))
		prctl(PR_SET_DUMPABLE, 0);
	pthread_atfork(fork_prepare, fork_done, fork_child);
}
