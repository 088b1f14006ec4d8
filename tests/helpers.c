/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "helpers.h"
#include "common/fdpass.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static pid_t gntd_pid;

/* Children a test is waiting on (th_spawn's and gntd): a channel read fails
 * at once when one of them has ended abnormally, instead of timing out. */
static pid_t watched[256];

static void watch_add(pid_t pid)
{
	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		if (!watched[i]) {
			watched[i] = pid;
			return;
		}
}

static void watch_del(pid_t pid)
{
	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++)
		if (watched[i] == pid)
			watched[i] = 0;
}

static void watch_check(void)
{
	for (size_t i = 0; i < sizeof(watched) / sizeof(watched[0]); i++) {
		siginfo_t si = {0};
		if (!watched[i])
			continue;
		/* peek only: th_wait reaps it */
		if (waitid(P_PID, (id_t)watched[i], &si, WEXITED | WNOHANG | WNOWAIT) < 0) {
			watched[i] = 0; /* not ours (we are a domain process) */
			continue;
		}
		if (si.si_pid == watched[i] && (si.si_code != CLD_EXITED || si.si_status != 0))
			FAIL("%s %d ended (%s %d) while we waited on a channel",
			     watched[i] == gntd_pid ? "gntd" : "process", (int)watched[i],
			     si.si_code == CLD_EXITED ? "status" : "signal", si.si_status);
	}
}

static pid_t read_gntd_pid(void)
{
	char path[320];
	FILE *f;
	int pid = 0;

	snprintf(path, sizeof(path), "%s/gntd.pid", gnt_runtime_dir());
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%d", &pid) != 1)
		pid = 0;
	fclose(f);
	return pid;
}

void th_gntd_start(void)
{
	th_gntd_start_args(NULL);
}

void th_gntd_start_args(const char *const *args)
{
	int rc;

	/* as root, gntd claims a uid range of its own (a locked slot), so tests
	 * running at the same time never kill each other's domains */
	setenv("GNT_NO_DAEMON", "1", 1);
	rc = gnt_hv_start(args);
	if (rc < 0)
		FAIL("gntd did not start: %s%s", strerror(-rc),
		     rc == -ENOENT ? " (build $(BUILD)/bin/gntd, or set $GNT_GNTD)" : "");
	gntd_pid = read_gntd_pid();
	if (gntd_pid > 0)
		watch_add(gntd_pid);
	CHECK_EQ(gnt_domid(), 0);
}

pid_t th_gntd_pid(void)
{
	return gntd_pid;
}

void th_gntd_stop(void)
{
	int st;

	if (gntd_pid > 0)
		watch_del(gntd_pid);
	CHECK_EQ(gnt_hv_stop(), 0);
	if (gntd_pid > 0) {
		pid_t w;
		while ((w = waitpid(gntd_pid, &st, 0)) < 0 && errno == EINTR)
			;
		gntd_pid = 0;
		if (w > 0 && (!WIFEXITED(st) || WEXITSTATUS(st) != 0))
			FAIL("gntd ended with %s %d", WIFEXITED(st) ? "status" : "signal",
			     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	}
	while (waitpid(-1, NULL, 0) > 0)
		;
}

uint32_t th_domain_cfg(const char *name, const struct gnt_domain_config *cfg)
{
	int id = gnt_domain_create(name, cfg);
	if (id <= 0)
		FAIL("domain create %s: %d", name, id);
	return (uint32_t)id;
}

uint32_t th_domain(const char *name)
{
	return th_domain_cfg(name, NULL);
}

/* A domain process must not keep the test's sockets (its dom0 connection,
 * other domains' descriptors): each becomes /dev/null, so that the numbers
 * libgnt remembers stay occupied until it closes them itself. */
static void drop_foreign_sockets(int keep)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int nul = open("/dev/null", O_RDWR | O_CLOEXEC);

	if (!d || nul < 0)
		FAIL("opening /proc/self/fd or /dev/null: %s", strerror(errno));
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		struct stat st;
		if (e->d_name[0] == '.' || fd < 3 || fd == keep || fd == nul || fd == dirfd(d))
			continue;
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			dup3(nul, fd, O_CLOEXEC);
	}
	closedir(d);
	close(nul);
}

pid_t th_spawn(uint32_t dom, void (*fn)(void *), void *arg)
{
	uid_t uid;
	gid_t gid;
	int fd = gnt_domain_token(dom, &uid, &gid);
	pid_t pid;

	if (fd < 0)
		FAIL("token for d%u: %s", dom, strerror(-fd));
	fflush(NULL);
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		char num[16];
		int rc;
		drop_foreign_sockets(fd);
		snprintf(num, sizeof(num), "%d", fd);
		setenv("GNT_FD", num, 1);
		if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
				       setresuid(uid, uid, uid) < 0))
			FAIL("dropping to uid %u: %s", uid, strerror(errno));
		rc = gnt_open();
		if (rc < 0)
			FAIL("d%u: gnt_open: %s", dom, strerror(-rc));
		fn(arg);
		fflush(NULL);
		_exit(0);
	}
	close(fd);
	watch_add(pid);
	return pid;
}

pid_t th_spawn_dom0(void (*fn)(void *), void *arg)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		int rc = gnt_open(); /* forked: a connection of its own, as dom0 */
		if (rc < 0)
			FAIL("dom0: gnt_open: %s", strerror(-rc));
		fn(arg);
		fflush(NULL);
		_exit(0);
	}
	watch_add(pid);
	return pid;
}

int th_wait(pid_t pid)
{
	int st;
	watch_del(pid);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFSIGNALED(st) ? 128 + WTERMSIG(st) : WEXITSTATUS(st);
}

void th_chan_open(struct th_chan *c)
{
	int p[2];
	CHECK(pipe(p) == 0);
	c->rd = p[0];
	c->wr = p[1];
}

void th_chan_close(struct th_chan *c)
{
	close(c->rd);
	close(c->wr);
}

void th_send(struct th_chan *c, const void *buf, size_t n)
{
	CHECK(write(c->wr, buf, n) == (ssize_t)n);
}

/* Read n bytes; fail after the timeout, or as soon as `watch` (a child of
 * ours, 0: none) has ended, reporting how it ended. */
static void recv_impl(struct th_chan *c, void *buf, size_t n, pid_t watch)
{
	size_t got = 0;
	int waited = 0;

	while (got < n) {
		struct pollfd pfd = {.fd = c->rd, .events = POLLIN};
		ssize_t r;
		int st;

		/* every end is inherited everywhere: a dead peer is no EOF */
		if (poll(&pfd, 1, 20) == 0) {
			waited += 20;
			watch_check();
			if (watch > 0 && waitpid(watch, &st, WNOHANG) == watch)
				FAIL("process %d ended (%s %d) while we waited for it", (int)watch,
				     WIFEXITED(st) ? "status" : "signal",
				     WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
			if (waited >= TH_CHAN_TIMEOUT_MS)
				FAIL("channel: nothing for %d ms", TH_CHAN_TIMEOUT_MS);
			continue;
		}
		r = read(c->rd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			FAIL("channel closed (%zd)", r);
		got += (size_t)r;
	}
}

void th_recv(struct th_chan *c, void *buf, size_t n)
{
	recv_impl(c, buf, n, 0);
}

uint32_t th_recv_u32_from(struct th_chan *c, pid_t watch)
{
	uint32_t v;
	recv_impl(c, &v, sizeof(v), watch);
	return v;
}

void th_send_u32(struct th_chan *c, uint32_t v)
{
	th_send(c, &v, sizeof(v));
}

uint32_t th_recv_u32(struct th_chan *c)
{
	uint32_t v;
	th_recv(c, &v, sizeof(v));
	return v;
}

struct gnt_hv_stats th_stats(void)
{
	struct gnt_hv_stats s;
	CHECK_EQ(gnt_hv_stats(&s), 0);
	return s;
}

int th_domain_exists(uint32_t dom, struct gnt_domain_info *out)
{
	static struct gnt_domain_info v[256];
	int n = gnt_domain_list(v, 256);

	CHECK(n >= 0);
	for (int i = 0; i < n; i++)
		if (v[i].domid == dom) {
			if (out)
				*out = v[i];
			return 1;
		}
	return 0;
}

struct gnt_domain_info th_dominfo(uint32_t dom)
{
	struct gnt_domain_info i;
	if (!th_domain_exists(dom, &i))
		FAIL("no domain %u", dom);
	return i;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int th_until(int (*cond)(void *), void *arg, int timeout_ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = cond(arg);
		if (r)
			return r;
		if (ms_since(&t0) > timeout_ms)
			return r;
		usleep(1000);
	}
}

static int domain_gone(void *p)
{
	return !th_domain_exists(*(uint32_t *)p, NULL);
}

static int domain_dying(void *p)
{
	struct gnt_domain_info i;
	return th_domain_exists(*(uint32_t *)p, &i) && i.state == 2;
}

void th_wait_domain_gone(uint32_t dom, int timeout_ms)
{
	if (!th_until(domain_gone, &dom, timeout_ms))
		FAIL("domain %u still there (state %u)", dom, th_dominfo(dom).state);
}

void th_wait_domain_dying(uint32_t dom, int timeout_ms)
{
	if (!th_until(domain_dying, &dom, timeout_ms))
		FAIL("domain %u not dying", dom);
}

void th_kill_wait(pid_t pid)
{
	CHECK_EQ(kill(pid, SIGKILL), 0);
	CHECK_EQ(th_wait(pid), 128 + SIGKILL);
}

/* ---- accounting ------------------------------------------------------ */

#define STAT_FIELDS(X)                                                                             \
	X(domains)                                                                                 \
	X(zombies) X(units) X(fds) X(frames) X(mappings) X(pins) X(exposures) X(connections)

static int stats_equal(const struct gnt_hv_stats *a, const struct gnt_hv_stats *b)
{
#define EQ(f) (a->f == b->f) &&
	return STAT_FIELDS(EQ) 1;
#undef EQ
}

void th_check_same_stats(const struct gnt_hv_stats *a, const struct gnt_hv_stats *b)
{
#define CMP(f)                                                                                     \
	if (a->f != b->f)                                                                          \
		FAIL("gntd stats: " #f " is %llu, expected %llu", (unsigned long long)b->f,        \
		     (unsigned long long)a->f);
	STAT_FIELDS(CMP)
#undef CMP
}

void th_expect_stats(const struct gnt_hv_stats *start, int timeout_ms)
{
	struct timespec t0;
	struct gnt_hv_stats s;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		s = th_stats();
		if (stats_equal(start, &s) || ms_since(&t0) > timeout_ms)
			break;
		usleep(2000);
	}
	th_check_same_stats(start, &s);
}

/* ---- share once -------------------------------------------------------- */

struct share {
	struct th_chan to_a, to_b;
	uint32_t a, b;
};

static void share_granter(void *p)
{
	struct share *s = p;
	char *page = gnt_alloc_page();
	int ref;

	CHECK(page);
	snprintf(page, 64, "share %u->%u", s->a, s->b);
	ref = gnt_grant_foreign_access((domid_t)s->b, gnt_virt_to_gfn(page), 0);
	CHECK(ref >= GNTTAB_NR_RESERVED_ENTRIES);
	th_send_u32(&s->to_b, (uint32_t)ref);
	CHECK_EQ(th_recv_u32(&s->to_a), 1);
	CHECK(!strcmp(page + 2048, "back"));
	CHECK_EQ(gnt_try_end_foreign_access((grant_ref_t)ref), 1);
	gnt_free_page(page);
}

static void share_mapper(void *p)
{
	struct share *s = p;
	struct gnttab_map_grant_ref op;
	struct gnttab_unmap_grant_ref un;
	uint32_t ref = th_recv_u32(&s->to_b);
	char *va = gnt_alloc_ballooned_pages(1), want[64];

	CHECK(va);
	gnt_set_map_op(&op, va, GNTMAP_host_map, ref, (domid_t)s->a);
	CHECK_EQ(gnt_map_refs(&op, 1), 0);
	CHECK_EQ(op.status, GNTST_okay);
	snprintf(want, sizeof(want), "share %u->%u", s->a, s->b);
	CHECK(!strcmp(va, want));
	strcpy(va + 2048, "back");
	gnt_set_unmap_op(&un, va, GNTMAP_host_map, op.handle);
	CHECK_EQ(gnt_unmap_refs(&un, 1), 0);
	CHECK_EQ(un.status, GNTST_okay);
	gnt_free_ballooned_pages(va, 1);
	th_send_u32(&s->to_a, 1);
}

void th_share_once(uint32_t a, uint32_t b)
{
	struct share s = {.a = a, .b = b};
	pid_t pa, pb;

	th_chan_open(&s.to_a);
	th_chan_open(&s.to_b);
	pa = th_spawn(a, share_granter, &s);
	pb = th_spawn(b, share_mapper, &s);
	CHECK_EQ(th_wait(pb), 0);
	CHECK_EQ(th_wait(pa), 0);
	th_chan_close(&s.to_a);
	th_chan_close(&s.to_b);
}

void th_share_fresh(void)
{
	static unsigned int n;
	char na[32], nb[32];

	snprintf(na, sizeof(na), "share-a-%u", n);
	snprintf(nb, sizeof(nb), "share-b-%u", n++);
	th_share_once(th_domain(na), th_domain(nb));
}

/* ---- event channels ---------------------------------------------------- */

int th_evtchn_wait(gnt_evtchn_handle *h)
{
	struct pollfd pfd = {.fd = gnt_evtchn_fd(h), .events = POLLIN};
	for (int i = 0; i < 500; i++) {
		int p = gnt_evtchn_pending(h);
		if (p >= 0)
			return p;
		CHECK_EQ(p, -EAGAIN);
		poll(&pfd, 1, 10);
	}
	FAIL("no event within 5 s");
}

void th_evtchn_quiet(gnt_evtchn_handle *h, int ms)
{
	struct pollfd pfd = {.fd = gnt_evtchn_fd(h), .events = POLLIN};
	for (int i = 0; i < ms / 10; i++) {
		CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN);
		poll(&pfd, 1, 10);
	}
	CHECK_EQ(gnt_evtchn_pending(h), -EAGAIN);
}

/* ---- raw protocol ------------------------------------------------------ */

int th_raw_send(int fd, const struct gnt_msg *m, const void *payload, size_t plen, const int *fds,
		unsigned int nfds)
{
	union {
		char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov[2] = {{(void *)m, m ? sizeof(*m) : 0}, {(void *)payload, plen}};
	struct msghdr mh = {.msg_iov = iov, .msg_iovlen = 2};
	size_t total = (m ? sizeof(*m) : 0) + plen, sent = 0;

	if (!m) {
		mh.msg_iov = &iov[1];
		mh.msg_iovlen = 1;
	}
	if (nfds > GNT_MSG_MAX_FDS)
		return -EINVAL;
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

/* Read exactly n bytes (buf NULL: discard), within the deadline. */
static int raw_read(int fd, void *buf, size_t n, int *fds, unsigned int *nfds, unsigned int maxfds,
		    const struct timespec *t0, int timeout_ms)
{
	size_t got = 0;
	char scratch[4096];

	while (got < n) {
		union {
			char b[CMSG_SPACE(sizeof(int) * GNT_MSG_MAX_FDS)];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov;
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf.b,
				    .msg_controllen = sizeof(cbuf.b)};
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long left = timeout_ms - ms_since(t0);
		ssize_t r;

		if (left < 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)left) == 0)
			return -ETIMEDOUT;
		if (buf) {
			iov.iov_base = (char *)buf + got;
			iov.iov_len = n - got;
		} else {
			iov.iov_base = scratch;
			iov.iov_len = n - got < sizeof(scratch) ? n - got : sizeof(scratch);
		}
		r = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -errno;
		}
		{
			uint32_t none = 0; /* no room: every descriptor is closed */
			gnt__fds_take(&mh, fds, nfds ? nfds : &none, maxfds);
		}
		if (r == 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

int th_raw_recv(int fd, struct gnt_msg *m, void *buf, size_t cap, int *fds, unsigned int *nfds,
		int timeout_ms)
{
	struct timespec t0;
	unsigned int maxfds = nfds ? *nfds : 0;
	int r;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (nfds)
		*nfds = 0;
	r = raw_read(fd, m, sizeof(*m), fds, nfds, maxfds, &t0, timeout_ms);
	if (r <= 0)
		return r;
	if (m->len > GNT_MSG_MAX_PAYLOAD)
		return -EPROTO;
	r = raw_read(fd, buf, m->len < cap ? m->len : cap, fds, nfds, maxfds, &t0, timeout_ms);
	if (r > 0 && m->len > cap)
		r = raw_read(fd, NULL, m->len - cap, fds, nfds, maxfds, &t0, timeout_ms);
	return r == 0 ? -EPROTO : r;
}

int th_peer_closed(int fd, int timeout_ms)
{
	struct timespec t0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = raw_read(fd, NULL, 1, NULL, NULL, 0, &t0, timeout_ms);
		if (r == 0 || r == -ECONNRESET || r == -EPIPE)
			return 1;
		if (r == -ETIMEDOUT)
			return 0;
		if (r < 0)
			FAIL("reading from gntd: %s", strerror(-r));
	}
}

int th_raw_attach(void)
{
	const char *e = getenv("GNT_FD");
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_ATTACH, .nfds = 1};
	int sv[2], rc;

	if (!e)
		FAIL("th_raw_attach outside a domain");
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	rc = th_raw_send(atoi(e), &m, NULL, 0, &sv[1], 1);
	close(sv[1]);
	if (rc < 0)
		FAIL("ATTACH: %s", strerror(-rc));
	return sv[0];
}

grant_entry_v1_t *th_raw_table(uint32_t *nframes)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_INFO};
	struct gnt_info info;
	int c = th_raw_attach(), tfd = -1, rc;
	unsigned int nfds = 1;
	void *p;

	CHECK_EQ(th_raw_send(c, &m, NULL, 0, NULL, 0), 0);
	rc = th_raw_recv(c, &m, &info, sizeof(info), &tfd, &nfds, 5000);
	close(c);
	CHECK_EQ(rc, 1);
	CHECK_EQ(m.rc, 0);
	CHECK_EQ(m.len, sizeof(info));
	CHECK_EQ(nfds, 1);
	p = mmap(NULL, (size_t)info.max_frames * GNT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		 tfd, 0);
	close(tfd);
	CHECK(p != MAP_FAILED);
	*nframes = info.max_frames;
	return p;
}

/* ---- probing memory ---------------------------------------------------- */

int th_can_read(const void *p)
{
	int fds[2];
	ssize_t w;

	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	w = write(fds[1], p, 1);
	if (w < 0 && errno != EFAULT)
		FAIL("probe: %s", strerror(errno));
	close(fds[0]);
	close(fds[1]);
	return w == 1;
}

int th_can_write(void *p)
{
	int fds[2];
	char c = 0;
	ssize_t r;

	if (th_can_read(p))
		c = *(volatile char *)p;
	CHECK(pipe2(fds, O_CLOEXEC) == 0);
	CHECK(write(fds[1], &c, 1) == 1);
	r = read(fds[0], p, 1);
	if (r < 0 && errno != EFAULT)
		FAIL("probe: %s", strerror(errno));
	close(fds[0]);
	close(fds[1]);
	return r == 1;
}

int th_grant_version(void)
{
	const char *v = getenv("GNT_GRANT_VERSION");
	return v && !strcmp(v, "2") ? 2 : 1;
}

int th_raw_status_fd(void)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_INFO};
	struct gnt_info info;
	int c = th_raw_attach(), fds[2] = {-1, -1}, rc;
	unsigned int nfds = 2;

	CHECK_EQ(th_raw_send(c, &m, NULL, 0, NULL, 0), 0);
	rc = th_raw_recv(c, &m, &info, sizeof(info), fds, &nfds, 5000);
	close(c);
	CHECK_EQ(rc, 1);
	CHECK(nfds >= 1);
	close(fds[0]);
	return nfds == 2 ? fds[1] : -1;
}

int th_raw_map(int conn, uint32_t dom, uint32_t ref, uint32_t flags, int *fd, uint32_t *page)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_HYPERCALL,
			    .cmd = GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_map_grant_ref),
			    .count = 1};
	struct {
		struct gnttab_map_grant_ref op;
		struct gnt_map_loc loc;
	} r = {.op = {.flags = flags, .ref = ref, .dom = (domid_t)dom, .host_addr = 0x10000}};
	unsigned int nfds = 1;

	m.len = sizeof(r.op);
	*fd = -1;
	CHECK_EQ(th_raw_send(conn, &m, &r.op, sizeof(r.op), NULL, 0), 0);
	CHECK_EQ(th_raw_recv(conn, &m, &r, sizeof(r), fd, &nfds, 5000), 1);
	if (r.op.status != GNTST_okay)
		return r.op.status;
	CHECK_EQ(nfds, 1);
	*page = r.loc.page;
	return (int)r.op.handle;
}

void th_raw_unmap(int conn, uint32_t handle)
{
	struct gnt_msg m = {.magic = GNT_PROTO_MAGIC, .op = GNT_MSG_HYPERCALL,
			    .cmd = GNT_HC(__HYPERVISOR_grant_table_op, GNTTABOP_unmap_grant_ref),
			    .count = 1};
	struct gnttab_unmap_grant_ref un = {.handle = handle};

	m.len = sizeof(un);
	CHECK_EQ(th_raw_send(conn, &m, &un, sizeof(un), NULL, 0), 0);
	CHECK_EQ(th_raw_recv(conn, &m, &un, sizeof(un), NULL, NULL, 5000), 1);
	CHECK_EQ(un.status, GNTST_okay);
}
