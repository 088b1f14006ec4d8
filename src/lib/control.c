/* SPDX-License-Identifier: MIT */
/* lib/control.c - dom0's requests to gntd, and starting/stopping gntd. */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnt/control.h"

static int call(uint32_t op, uint32_t count, const void *in, uint32_t in_len, void *out,
		uint32_t out_len, int *fd)
{
	uint32_t nfds = fd ? 1 : 0;
	int32_t rc;
	int err;

	pthread_mutex_lock(&gnt__g.lock);
	err = gnt__ensure();
	if (!err)
		err = gnt__rpc(op, 0, count, in, in_len, NULL, 0, out, out_len, NULL, fd,
			       fd ? &nfds : NULL, &rc);
	pthread_mutex_unlock(&gnt__g.lock);
	if (err < 0)
		return err;
	if (fd && rc >= 0 && nfds != 1)
		return -EPROTO;
	return rc;
}

int gnt_domain_create(const char *name, const struct gnt_domain_config *cfg)
{
	struct gnt_dom_create dc = {0};

	if (!name || strlen(name) >= sizeof(dc.name))
		return -EINVAL;
	strcpy(dc.name, name);
	if (cfg) {
		dc.max_pages = cfg->max_pages;
		dc.max_grant_frames = cfg->max_grant_frames;
		dc.max_maptrack_frames = cfg->max_maptrack_frames;
	}
	return call(GNT_MSG_DOM_CREATE, 0, &dc, sizeof(dc), NULL, 0, NULL);
}

int gnt_domain_destroy(uint32_t domid)
{
	return call(GNT_MSG_DOM_DESTROY, domid, NULL, 0, NULL, 0, NULL);
}

int gnt_domain_lookup(const char *s)
{
	char *end;
	unsigned long id = strtoul(s, &end, 10);

	if (*s && !*end)
		return id <= 0x7FEF ? (int)id : -ENOENT;
	return call(GNT_MSG_DOM_LOOKUP, 0, s, (uint32_t)strlen(s), NULL, 0, NULL);
}

int gnt_domain_list(struct gnt_domain_info *out, int max)
{
	struct gnt_dom_info *v = calloc(0x7FF0, sizeof(*v));
	int n;

	_Static_assert(sizeof(*v) == sizeof(*out), "dom info");
	if (!v)
		return -ENOMEM;
	n = call(GNT_MSG_DOM_LIST, 0, NULL, 0, v, 0x7FF0 * sizeof(*v), NULL);
	if (n > 0)
		memcpy(out, v, (size_t)(n < max ? n : max) * sizeof(*v));
	free(v);
	return n < max ? n : max;
}

int gnt_domain_grants(uint32_t domid, struct gnt_grant_dump *out, int max)
{
	_Static_assert(sizeof(struct gnt_grant_info) == sizeof(*out), "grant info");
	size_t cap = 4096u * 512;
	struct gnt_grant_info *v = calloc(cap, sizeof(*v));
	int n;

	if (!v)
		return -ENOMEM;
	n = call(GNT_MSG_DOM_GRANTS, domid, NULL, 0, v, (uint32_t)(cap * sizeof(*v)), NULL);
	if (n > 0)
		memcpy(out, v, (size_t)(n < max ? n : max) * sizeof(*v));
	free(v);
	return n < max ? n : max;
}

int gnt_hv_stats(struct gnt_hv_stats *out)
{
	_Static_assert(sizeof(struct gnt_stats) == sizeof(*out), "stats");
	return call(GNT_MSG_STATS, 0, NULL, 0, out, sizeof(*out), NULL);
}

int gnt_domain_token(uint32_t domid, uid_t *uid, gid_t *gid)
{
	struct gnt_token t;
	int fd = -1;
	int rc;

	pthread_mutex_lock(&gnt__g.lock);
	rc = gnt__ensure();
	if (!rc) {
		uint32_t nfds = 1, got;
		int32_t r;
		rc = gnt__rpc(GNT_MSG_DOM_TOKEN, 0, domid, NULL, 0, NULL, 0, &t, sizeof(t), &got,
			      &fd, &nfds, &r);
		if (!rc && r < 0)
			rc = r;
		else if (!rc && (nfds != 1 || got != sizeof(t)))
			rc = -EPROTO;
	}
	pthread_mutex_unlock(&gnt__g.lock);
	if (rc < 0) {
		if (fd >= 0)
			close(fd);
		return rc;
	}
	if (uid)
		*uid = t.uid;
	if (gid)
		*gid = t.gid;
	return fd;
}

int gnt__domain_enter(int fd, uint32_t domid, uid_t uid, gid_t gid)
{
	char num[16], xs[300];
	int t = fd < 3 ? fcntl(fd, F_DUPFD, 3) : fd; /* keep off stdio */

	if (t < 0)
		return -errno;
	fcntl(t, F_SETFD, 0); /* inheritable: it is the domain */
	snprintf(num, sizeof(num), "%d", t);
	setenv("GNT_FD", num, 1);
	/* Xen's xenstore clients find the domain's store here */
	snprintf(xs, sizeof(xs), "%s/xs-d%u.sock", gnt_runtime_dir(), domid);
	setenv("XENSTORED_PATH", xs, 1);
	/* our own connection (dom0) must not leak into the domain */
	if (gnt__g.fd >= 0)
		close(gnt__g.fd);
	if (geteuid() == 0 && (setgroups(0, NULL) < 0 || setresgid(gid, gid, gid) < 0 ||
			       setresuid(uid, uid, uid) < 0))
		return -EPERM;
	return 0;
}

pid_t gnt_domain_spawn(uint32_t domid, char *const argv[])
{
	uid_t uid;
	gid_t gid;
	int fd = gnt_domain_token(domid, &uid, &gid);
	pid_t pid;

	if (fd < 0)
		return fd;
	pid = fork();
	if (pid < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	if (pid == 0) {
		if (gnt__domain_enter(fd, domid, uid, gid) < 0)
			_exit(126);
		execvp(argv[0], argv);
		fprintf(stderr, "gnt: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fd);
	return pid;
}

static int find_gntd(char *buf, size_t n)
{
	const char *e = getenv("GNT_GNTD");
	char self[PATH_MAX];
	ssize_t l;

	if (e && *e) {
		snprintf(buf, n, "%s", e);
		return 0;
	}
	l = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (l > 0) {
		self[l] = 0;
		char *dir = dirname(self);
		snprintf(buf, n, "%s/gntd", dir);
		if (access(buf, X_OK) == 0)
			return 0;
		snprintf(buf, n, "%s/../bin/gntd", dir);
		if (access(buf, X_OK) == 0)
			return 0;
	}
	snprintf(buf, n, "gntd");
	return 0;
}

/* A gntd started here means none served the runtime directory: a
 * connection we still have was to one that died.  Fail-stop for what was
 * made on it; the next call connects to the new one. */
static void forget_old_gntd(void)
{
	bool had;

	pthread_mutex_lock(&gnt__g.lock);
	had = gnt__g.fd >= 0;
	pthread_mutex_unlock(&gnt__g.lock);
	if (had || gnt__lost()) {
		gnt__set_lost();
		gnt_close();
	}
}

int gnt_hv_start(const char *const *extra)
{
	char path[PATH_MAX], rfd[16];
	const char *argv[32];
	int p[2], n = 0;
	pid_t pid;
	char c;

	find_gntd(path, sizeof(path));
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	argv[n++] = path;
	snprintf(rfd, sizeof(rfd), "%d", p[1]);
	argv[n++] = "--ready-fd";
	argv[n++] = rfd;
	argv[n++] = "--runtime-dir";
	argv[n++] = gnt_runtime_dir();
	if (getenv("GNT_NO_DAEMON")) {
		argv[n++] = "-f";
		argv[n++] = "--die-with-parent";
	}
	for (int i = 0; extra && extra[i] && n < 30; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		fcntl(p[1], F_SETFD, 0);
		execvp(path, (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	ssize_t r;
	do
		r = read(p[0], &c, 1);
	while (r < 0 && errno == EINTR);
	close(p[0]);
	if (r == 1) {
		if (!getenv("GNT_NO_DAEMON"))
			waitpid(pid, NULL, 0); /* the parent gntd left when ready */
		forget_old_gntd();
		return 0;
	}
	/* gntd said nothing: it failed; find out how */
	int st;
	if (waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 127)
		return -ENOENT;
	return gnt_hv_stats(&(struct gnt_hv_stats){0}) >= 0 ? -EADDRINUSE : -EIO;
}

int gnt_hv_stop(void)
{
	char sock[300];
	struct stat st;
	int rc = call(GNT_MSG_SHUTDOWN, 0, NULL, 0, NULL, 0, NULL);

	gnt_close();
	if (rc < 0)
		return rc;
	snprintf(sock, sizeof(sock), "%s/gntd.sock", gnt_runtime_dir());
	for (int i = 0; i < 2000 && stat(sock, &st) == 0; i++)
		usleep(1000);
	return 0;
}
