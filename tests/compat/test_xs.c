/* SPDX-License-Identifier: MIT */
/*
 * The drop-in libxenstore.so.4 against gntd's store: each xs_* call of
 * xenstore.h / xenstore_lib.h (all that Debian's binaries import, and the
 * rest of VERS_4.0) with Xen's return values and errno.  This binary is
 * linked to $(BUILD)/compat, so the xs_* symbols are the drop-in's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <xenstore.h>

#include "../helpers.h"

static struct xs_handle *open_ok(void)
{
	struct xs_handle *h = xs_open(0);
	if (!h)
		FAIL("xs_open: %s", strerror(errno));
	return h;
}

/* a call that must fail with errno e */
#define CHECK_ERR(call, e)                                                     \
	do {                                                                   \
		errno = 0;                                                     \
		CHECK(!(call));                                                \
		CHECK_EQ(errno, e);                                            \
	} while (0)

static void expect_value(struct xs_handle *h, const char *path, const char *want)
{
	unsigned int len = 99;
	char *v = xs_read(h, XBT_NULL, path, &len);

	if (!v)
		FAIL("xs_read %s: %s", path, strerror(errno));
	if (len != strlen(want) || strcmp(v, want))
		FAIL("xs_read %s: '%s' (%u), want '%s'", path, v, len, want);
	free(v);
}

TEST(xs_read_nul_and_len)
{
	struct xs_handle *h;
	unsigned int len = 0;
	char *v;

	th_gntd_start();
	h = open_ok();
	CHECK(xs_write(h, XBT_NULL, "/bin", "a\0b", 3));
	v = xs_read(h, XBT_NULL, "/bin", &len);
	CHECK(v);
	CHECK_EQ(len, 3); /* the value's bytes, NUL included, ... */
	CHECK(!memcmp(v, "a\0b", 3));
	CHECK_EQ(v[3], 0); /* ... and one more NUL, not counted */
	free(v);
	CHECK(xs_write(h, XBT_NULL, "/empty", "", 0));
	v = xs_read(h, XBT_NULL, "/empty", NULL); /* len may be NULL */
	CHECK(v && v[0] == 0);
	free(v);
	CHECK_ERR(xs_read(h, XBT_NULL, "/missing", &len), ENOENT);
	CHECK_ERR(xs_read(h, XBT_NULL, "/a//b", &len), EINVAL);
	CHECK_ERR(xs_read(h, XBT_NULL, "/a b", &len), EINVAL);
	CHECK_ERR(xs_read(h, XBT_NULL, "/trailing/", &len), EINVAL);
	xs_close(h);
	xs_close(NULL); /* allowed */
	th_gntd_stop();
}

TEST(xs_write_mkdir_rm)
{
	struct xs_handle *h;
	static char big[4097];

	th_gntd_start();
	h = open_ok();
	CHECK(xs_write(h, XBT_NULL, "/a/b/c", "v", 1)); /* parents made */
	expect_value(h, "/a/b", "");
	CHECK(xs_mkdir(h, XBT_NULL, "/a/b"));           /* exists: fine */
	CHECK(xs_mkdir(h, XBT_NULL, "/m/n"));
	expect_value(h, "/m/n", "");
	CHECK(xs_rm(h, XBT_NULL, "/a/b"));              /* a subtree */
	CHECK_ERR(xs_read(h, XBT_NULL, "/a/b/c", NULL), ENOENT);
	CHECK(xs_rm(h, XBT_NULL, "/a/gone"));           /* absent, parent there */
	CHECK_ERR(xs_rm(h, XBT_NULL, "/nope/gone"), ENOENT);
	CHECK_ERR(xs_write(h, XBT_NULL, "/x//y", "v", 1), EINVAL);
	CHECK_ERR(xs_mkdir(h, XBT_NULL, "no spaces"), EINVAL);
	memset(big, 'x', sizeof(big));
	CHECK_ERR(xs_write(h, XBT_NULL, "/big", big, sizeof(big)), E2BIG);
	CHECK_ERR(xs_read(h, XBT_NULL, "/big", NULL), ENOENT); /* nothing written */
	xs_close(h);
	th_gntd_stop();
}

TEST(xs_directory_one_block)
{
	struct xs_handle *h;
	unsigned int num = 99;
	char **d;

	th_gntd_start();
	h = open_ok();
	CHECK(xs_write(h, XBT_NULL, "/d/one", "1", 1));
	CHECK(xs_write(h, XBT_NULL, "/d/two", "2", 1));
	d = xs_directory(h, XBT_NULL, "/d", &num);
	CHECK(d);
	CHECK_EQ(num, 2);
	CHECK((!strcmp(d[0], "one") && !strcmp(d[1], "two")) ||
	      (!strcmp(d[0], "two") && !strcmp(d[1], "one")));
	/* the names live in the same block, right after the pointers */
	CHECK(d[0] >= (char *)(d + 2) && d[0] < (char *)(d + 2) + 8);
	free(d); /* one free releases everything */
	d = xs_directory(h, XBT_NULL, "/d/one", &num);
	CHECK(d);
	CHECK_EQ(num, 0);
	free(d);
	CHECK_ERR(xs_directory(h, XBT_NULL, "/nope", &num), ENOENT);
	CHECK_ERR(xs_directory(h, XBT_NULL, "//", &num), EINVAL);
	xs_close(h);
	th_gntd_stop();
}

/* more names than one 4096-byte reply holds: DIRECTORY_PART chunks */
TEST(xs_directory_big)
{
	struct xs_handle *h;
	unsigned int num = 0, seen = 0;
	char path[80], **d;
	xs_transaction_t t;

	th_gntd_start();
	h = open_ok();
	t = xs_transaction_start(h);
	CHECK(t);
	for (int i = 0; i < 300; i++) {
		snprintf(path, sizeof(path), "/big/child-with-a-long-name-%04d", i);
		CHECK(xs_write(h, t, path, "", 0));
	}
	CHECK(xs_transaction_end(h, t, false));
	d = xs_directory(h, XBT_NULL, "/big", &num);
	if (!d)
		FAIL("xs_directory: %s", strerror(errno));
	CHECK_EQ(num, 300);
	for (unsigned int i = 0; i < num; i++)
		seen += !strncmp(d[i], "child-with-a-long-name-", 23) && strlen(d[i]) == 27;
	CHECK_EQ(seen, 300);
	free(d);
	xs_close(h);
	th_gntd_stop();
}

TEST(xs_strings_to_perms_rules)
{
	struct xs_permissions p[3];

	CHECK(xs_strings_to_perms(p, 3, "n0\0r5\0b0x10\0"));
	CHECK_EQ(p[0].perms, XS_PERM_NONE);
	CHECK_EQ(p[0].id, 0);
	CHECK_EQ(p[1].perms, XS_PERM_READ);
	CHECK_EQ(p[1].id, 5);
	CHECK_EQ(p[2].perms, XS_PERM_READ | XS_PERM_WRITE);
	CHECK_EQ(p[2].id, 16); /* strtol base 0 */
	CHECK(xs_strings_to_perms(p, 1, "w7\0"));
	CHECK_EQ(p[0].perms, XS_PERM_WRITE);
	CHECK(xs_strings_to_perms(p, 0, "")); /* nothing to parse */
	CHECK_ERR(xs_strings_to_perms(p, 1, "x1\0"), EINVAL);  /* unknown letter */
	CHECK_ERR(xs_strings_to_perms(p, 1, "r\0"), EINVAL);   /* no domid */
	CHECK_ERR(xs_strings_to_perms(p, 1, "r5z\0"), EINVAL); /* junk after it */
	CHECK_ERR(xs_strings_to_perms(p, 2, "r5\0q\0"), EINVAL);
}

struct dom_args {
	uint32_t dom;
};

/* in the domain: n0 nodes are not ours, r<dom> ones we may read only */
static void perms_in_domain(void *arg)
{
	struct xs_handle *h = open_ok();

	(void)arg;
	CHECK_ERR(xs_read(h, XBT_NULL, "/secret", NULL), EACCES);
	CHECK_ERR(xs_write(h, XBT_NULL, "/secret", "x", 1), EACCES);
	expect_value(h, "/shared", "v");
	CHECK_ERR(xs_write(h, XBT_NULL, "/shared", "w", 1), EACCES);
	CHECK_ERR(xs_rm(h, XBT_NULL, "/shared"), EACCES);
	CHECK_ERR(xs_introduce_domain(h, 7, 1, 1), EACCES); /* dom0 only */
	xs_close(h);
}

TEST(xs_permissions)
{
	struct xs_handle *h;
	struct xs_permissions set[2], *got;
	unsigned int num = 0;
	uint32_t dom;

	th_gntd_start();
	dom = th_domain("permdom");
	h = open_ok();
	CHECK(xs_write(h, XBT_NULL, "/secret", "s", 1));
	CHECK(xs_write(h, XBT_NULL, "/shared", "v", 1));
	set[0] = (struct xs_permissions){.id = 0, .perms = XS_PERM_NONE};
	set[1] = (struct xs_permissions){.id = dom, .perms = XS_PERM_READ | XS_PERM_IGNORE};
	CHECK(xs_set_permissions(h, XBT_NULL, "/shared", set, 2)); /* IGNORE dropped */
	got = xs_get_permissions(h, XBT_NULL, "/shared", &num);
	CHECK(got);
	CHECK_EQ(num, 2);
	CHECK_EQ(got[0].id, 0);
	CHECK_EQ(got[0].perms, XS_PERM_NONE);
	CHECK_EQ(got[1].id, dom);
	CHECK_EQ(got[1].perms, XS_PERM_READ);
	free(got);
	set[1].perms = XS_PERM_ENOENT_OK; /* not a permission: EINVAL, nothing sent */
	CHECK_ERR(xs_set_permissions(h, XBT_NULL, "/shared", set, 2), EINVAL);
	CHECK_ERR(xs_get_permissions(h, XBT_NULL, "/missing", &num), ENOENT);
	CHECK_ERR(xs_set_permissions(h, XBT_NULL, "/missing", set, 1), ENOENT);
	CHECK_EQ(th_wait(th_spawn(dom, perms_in_domain, NULL)), 0);
	CHECK(!xs_restrict(h, dom)); /* gone since Xen 4.9 */
	xs_close(h);
	th_gntd_stop();
}

TEST(xs_transactions)
{
	struct xs_handle *h, *o;
	xs_transaction_t t;

	th_gntd_start();
	h = open_ok();
	o = open_ok();
	CHECK(xs_write(h, XBT_NULL, "/tx", "0", 1));
	/* a commit */
	t = xs_transaction_start(h);
	CHECK(t != XBT_NULL);
	CHECK(xs_write(h, t, "/tx", "1", 1));
	expect_value(o, "/tx", "0"); /* not visible before the end */
	CHECK(xs_transaction_end(h, t, false));
	expect_value(o, "/tx", "1");
	/* a conflict: EAGAIN, nothing of it applied */
	t = xs_transaction_start(h);
	CHECK(t != XBT_NULL);
	free(xs_read(h, t, "/tx", NULL));
	CHECK(xs_write(h, t, "/tx", "2", 1));
	CHECK(xs_write(o, XBT_NULL, "/tx", "other", 5));
	CHECK_ERR(xs_transaction_end(h, t, false), EAGAIN);
	expect_value(o, "/tx", "other");
	/* an abort */
	t = xs_transaction_start(h);
	CHECK(xs_write(h, t, "/tx", "3", 1));
	CHECK(xs_transaction_end(h, t, true));
	expect_value(o, "/tx", "other");
	/* an id that is not a transaction */
	CHECK_ERR(xs_transaction_end(h, 12345, false), ENOENT);
	CHECK_ERR(xs_read(h, 12345, "/tx", NULL), ENOENT);
	xs_close(o);
	xs_close(h);
	th_gntd_stop();
}

/* 1 if fd is readable right now */
static int readable(int fd)
{
	struct pollfd pf = {.fd = fd, .events = POLLIN};
	return poll(&pf, 1, 0) == 1;
}

static char **next_watch(struct xs_handle *h, const char *path, const char *token)
{
	unsigned int num = 0;
	char **v = xs_read_watch(h, &num);

	if (!v)
		FAIL("xs_read_watch: %s", strerror(errno));
	CHECK_EQ(num, 2);
	if (strcmp(v[XS_WATCH_PATH], path) || strcmp(v[XS_WATCH_TOKEN], token))
		FAIL("event %s/%s, want %s/%s", v[XS_WATCH_PATH], v[XS_WATCH_TOKEN], path, token);
	return v;
}

TEST(xs_watch_events_and_fileno)
{
	struct xs_handle *h, *o;
	struct pollfd pf;
	int fd;

	th_gntd_start();
	h = open_ok();
	o = open_ok();
	CHECK_ERR(xs_check_watch(h), EAGAIN); /* nothing yet: never blocks */
	fd = xs_fileno(h);
	CHECK(fd >= 0);
	CHECK_EQ(xs_fileno(h), fd);
	CHECK(!readable(fd));
	CHECK(xs_watch(h, "/w", "tok"));
	free(next_watch(h, "/w", "tok")); /* the watch's first event */
	CHECK(xs_write(o, XBT_NULL, "/w/a", "1", 1));
	pf = (struct pollfd){.fd = fd, .events = POLLIN};
	CHECK_EQ(poll(&pf, 1, 10000), 1); /* the pipe: an event is queued */
	free(next_watch(h, "/w/a", "tok"));
	CHECK(!readable(fd)); /* drained */
	CHECK_ERR(xs_check_watch(h), EAGAIN);
	CHECK(xs_write(o, XBT_NULL, "/w/b", "1", 1));
	CHECK_EQ(poll(&pf, 1, 10000), 1);
	{
		char **v = xs_check_watch(h);
		CHECK(v && !strcmp(v[XS_WATCH_PATH], "/w/b"));
		free(v);
	}
	CHECK_ERR(xs_watch(h, "/w", "tok"), EEXIST); /* the same watch again */
	CHECK(xs_unwatch(h, "/w", "tok"));
	CHECK_ERR(xs_unwatch(h, "/w", "tok"), ENOENT);
	CHECK_ERR(xs_watch(h, "bad path", "t"), EINVAL);
	xs_close(o);
	xs_close(h);
	th_gntd_stop();
}

/* events queued before xs_unwatch: dropped with XS_UNWATCH_FILTER only */
static int queued_after_unwatch(unsigned long flags)
{
	struct xs_handle *h = xs_open(flags), *o = open_ok();
	struct pollfd pf;
	int n = 0;
	char **v;

	CHECK(h);
	CHECK(xs_watch(h, "/f", "keep"));
	CHECK(xs_watch(h, "/f", "drop"));
	free(xs_read_watch(h, (unsigned int[1]){0}));
	free(xs_read_watch(h, (unsigned int[1]){0}));
	CHECK(xs_write(o, XBT_NULL, "/f/x", "1", 1));
	/* both events in: each watch fired once */
	pf = (struct pollfd){.fd = xs_fileno(h), .events = POLLIN};
	CHECK_EQ(poll(&pf, 1, 10000), 1);
	CHECK(xs_write(o, XBT_NULL, "/sync", "", 0)); /* a round trip after them */
	CHECK(xs_watch(h, "/sync-watch", "sync"));    /* its own event comes after */
	CHECK(xs_unwatch(h, "/f", "drop"));
	while ((v = xs_read_watch(h, (unsigned int[1]){0}))) {
		int sync = !strcmp(v[XS_WATCH_TOKEN], "sync");
		n += !strcmp(v[XS_WATCH_TOKEN], "drop");
		free(v);
		if (sync)
			break;
	}
	xs_close(o);
	xs_close(h);
	return n;
}

TEST(xs_unwatch_filter)
{
	th_gntd_start();
	CHECK_EQ(queued_after_unwatch(0), 1);
	CHECK_EQ(queued_after_unwatch(XS_UNWATCH_FILTER), 0);
	th_gntd_stop();
}

static void relative_watch_in_domain(void *arg)
{
	struct xs_handle *h = open_ok();
	char **v;

	(void)arg;
	CHECK(xs_watch(h, "data", "rel"));
	free(next_watch(h, "data", "rel"));
	CHECK(xs_write(h, XBT_NULL, "data/k", "1", 1));
	v = next_watch(h, "data/k", "rel"); /* relative in, relative out */
	free(v);
	xs_close(h);
}

TEST(xs_watch_relative_in_domain)
{
	uint32_t dom;

	th_gntd_start();
	dom = th_domain("watchdom");
	CHECK_EQ(th_wait(th_spawn(dom, relative_watch_in_domain, NULL)), 0);
	th_gntd_stop();
}

static void *blocked_reader(void *arg)
{
	unsigned int num;
	return xs_read_watch(arg, &num);
}

/* gntd gone: requests fail EBADF, a blocked xs_read_watch returns */
TEST(xs_connection_lost)
{
	struct xs_handle *h, *idle;
	pthread_t t;
	void *r = (void *)1;

	th_gntd_start();
	h = open_ok();
	idle = open_ok(); /* no watch, no pump: finds out on its next request */
	CHECK(xs_watch(h, "/lost", "t"));
	free(xs_read_watch(h, (unsigned int[1]){0}));
	CHECK_EQ(pthread_create(&t, NULL, blocked_reader, h), 0);
	th_gntd_stop();
	CHECK_EQ(pthread_join(t, &r), 0);
	CHECK(r == NULL);
	CHECK_ERR(xs_read(h, XBT_NULL, "/lost", NULL), EBADF);
	CHECK_ERR(xs_transaction_start(h), EBADF);
	CHECK_ERR(xs_write(idle, XBT_NULL, "/lost", "x", 1), EPIPE); /* the send */
	CHECK_ERR(xs_read(idle, XBT_NULL, "/lost", NULL), EBADF);
	xs_close(idle);
	xs_close(h);
}

TEST(xs_open_without_store)
{
	setenv("XENSTORED_PATH", "/nonexistent/socket", 1);
	CHECK_ERR(xs_open(0), ENOENT);
	CHECK_ERR(xs_daemon_open(), ENOENT);
	CHECK_ERR(xs_domain_open(), ENOENT);
	CHECK_ERR(xs_daemon_open_readonly(), ENOENT);
	CHECK_EQ(xs_suspend_evtchn_port(1), -1);
	unsetenv("XENSTORED_PATH");
}

TEST(xs_domain_calls)
{
	struct xs_handle *h;
	uint32_t dom;
	char *p, want[64];

	th_gntd_start();
	dom = th_domain("introdom");
	h = open_ok();
	p = xs_get_domain_path(h, 5);
	CHECK(p && !strcmp(p, "/local/domain/5"));
	free(p);
	CHECK(xs_is_domain_introduced(h, dom));
	CHECK(xs_is_domain_introduced(h, 0));
	CHECK(!xs_is_domain_introduced(h, 4000));
	snprintf(want, sizeof(want), "/local/domain/%u/device/suspend/event-channel", dom);
	CHECK_EQ(xs_suspend_evtchn_port((int)dom), -1); /* not there */
	CHECK(xs_write(h, XBT_NULL, want, "17", 2));
	CHECK_EQ(xs_suspend_evtchn_port((int)dom), 17);
	CHECK(xs_write(h, XBT_NULL, want, "", 0));
	CHECK_EQ(xs_suspend_evtchn_port((int)dom), -1); /* empty */
	xs_close(h);
	th_gntd_stop();
}

TEST(xs_lib_paths_and_helpers)
{
	int p[2];
	char buf[8] = {0};

	unsetenv("XENSTORED_PATH");
	unsetenv("XENSTORED_RUNDIR");
	CHECK(!strcmp(xs_daemon_rundir(), "/var/run/xenstored"));
	CHECK(!strcmp(xs_daemon_socket(), "/var/run/xenstored/socket"));
	CHECK(!strcmp(xs_daemon_socket_ro(), "/var/run/xenstored/socket"));
	setenv("XENSTORED_RUNDIR", "/rd", 1);
	CHECK(!strcmp(xs_daemon_socket(), "/rd/socket"));
	setenv("XENSTORED_PATH", "/x/sock", 1);
	CHECK(!strcmp(xs_daemon_socket(), "/x/sock"));
	unsetenv("XENSTORED_PATH");
	unsetenv("XENSTORED_RUNDIR");

	CHECK(xs_path_is_subpath("/a", "/a"));
	CHECK(xs_path_is_subpath("/a", "/a/b"));
	CHECK(!xs_path_is_subpath("/a", "/ab"));
	CHECK(!xs_path_is_subpath("/a/b", "/a"));
	CHECK(xs_path_is_subpath("", "/anything")); /* as Xen: empty parent */

	CHECK_EQ(pipe2(p, O_CLOEXEC), 0);
	CHECK(xs_write_all(p[1], "hello", 5));
	CHECK_EQ(read(p[0], buf, sizeof(buf)), 5);
	CHECK(!strcmp(buf, "hello"));
	close(p[0]);
	close(p[1]);
}

static void control_in_domain(void *arg)
{
	struct xs_handle *h = open_ok();

	(void)arg;
	CHECK_ERR(xs_control_command(h, "check", NULL, 0), EACCES); /* dom0 only */
	xs_close(h);
}

TEST(xs_control_and_debug_command)
{
	struct xs_handle *h;
	char *r;

	th_gntd_start();
	h = open_ok();
	r = xs_control_command(h, "help", NULL, 0);
	CHECK(r && strstr(r, "check"));
	free(r);
	r = xs_debug_command(h, "check", NULL, 0);
	CHECK(r && !strcmp(r, "OK"));
	free(r);
	CHECK_ERR(xs_control_command(h, "no-such-command", NULL, 0), EINVAL);
	CHECK_EQ(th_wait(th_spawn(th_domain("ctldom"), control_in_domain, NULL)), 0);
	xs_close(h);
	th_gntd_stop();
}
