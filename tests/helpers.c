/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include "helpers.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

void th_gntd_start(void)
{
	int rc;
	setenv("GNT_NO_DAEMON", "1", 1);
	rc = gnt_hv_start(NULL);
	if (rc < 0)
		FAIL("gntd did not start: %s", strerror(-rc));
	CHECK_EQ(gnt_domid(), 0);
}

void th_gntd_stop(void)
{
	CHECK_EQ(gnt_hv_stop(), 0);
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

pid_t th_spawn(uint32_t dom, void (*fn)(void *), void *arg)
{
	uid_t uid;
	gid_t gid;
	int fd = gnt_domain_token(dom, &uid, &gid);
	pid_t pid;

	if (fd < 0)
		FAIL("token for d%u: %s", dom, strerror(-fd));
	pid = fork();
	if (pid < 0)
		FAIL("fork: %s", strerror(errno));
	if (pid == 0) {
		char num[16];
		snprintf(num, sizeof(num), "%d", fd);
		setenv("GNT_FD", num, 1);
		if (geteuid() == 0 &&
		    (setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0))
			FAIL("dropping to uid %u: %s", uid, strerror(errno));
		fn(arg);
		fflush(NULL);
		_exit(0);
	}
	close(fd);
	return pid;
}

int th_wait(pid_t pid)
{
	int st;
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

void th_recv(struct th_chan *c, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(c->rd, (char *)buf + got, n - got);
		if (r <= 0)
			FAIL("channel closed (%zd)", r);
		got += (size_t)r;
	}
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

struct gnt_domain_info th_dominfo(uint32_t dom)
{
	static struct gnt_domain_info v[64];
	int n = gnt_domain_list(v, 64);
	for (int i = 0; i < n; i++)
		if (v[i].domid == dom)
			return v[i];
	FAIL("no domain %u", dom);
}

int th_until(int (*cond)(void *), void *arg, int timeout_ms)
{
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		int r = cond(arg);
		if (r)
			return r;
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms)
			return r;
		usleep(1000);
	}
}
