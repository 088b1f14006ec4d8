/* SPDX-License-Identifier: MIT */
/* libgnt's xenstore client (gnt/xs.h) against gntd's store: dom0 and a
 * domain, permissions, watches, transactions. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../helpers.h"

static void expect(gnt_xs *xs, const char *path, const char *want)
{
	unsigned int len = 0;
	char *v = gnt_xs_read(xs, GNT_XBT_NULL, path, &len);
	if (!v)
		FAIL("read %s: %s", path, strerror(errno));
	if (strcmp(v, want) || len != strlen(want))
		FAIL("read %s: '%s' (%u), want '%s'", path, v, len, want);
	free(v);
}

struct xc {
	struct th_chan to_d, to_t;
	uint32_t d;
};

static void domain_side(void *p)
{
	struct xc *s = p;
	gnt_xs *xs = gnt_xs_open();
	char buf[16], *path, *token;
	void *block;
	const char *perms[] = {"n0", "r0"};

	CHECK(xs);
	snprintf(buf, sizeof(buf), "%u", s->d);
	expect(xs, "domid", buf);                   /* relative: our own */
	CHECK_EQ(gnt_xs_write(xs, 0, "data/x", "hi", 2), 0);
	expect(xs, "data/x", "hi");
	CHECK(!gnt_xs_read(xs, 0, "/secret", NULL)); /* dom0's, not ours */
	CHECK_EQ(errno, EACCES);
	CHECK_EQ(gnt_xs_write(xs, 0, "/secret", "x", 1), -EACCES);
	CHECK_EQ(gnt_xs_set_perms(xs, 0, "data/x", perms, 2), -EPERM); /* owner change */
	/* a watch: its own event first, then dom0's write to our tree */
	CHECK_EQ(gnt_xs_watch(xs, "data", "tok"), 0);
	CHECK_EQ(gnt_xs_read_watch(xs, &path, &token, &block, 5000), 0);
	CHECK(!strcmp(path, "data") && !strcmp(token, "tok"));
	free(block);
	th_send_u32(&s->to_t, 1);
	CHECK_EQ(gnt_xs_read_watch(xs, &path, &token, &block, 5000), 0);
	CHECK(!strcmp(path, "data/from-dom0"));
	free(block);
	CHECK_EQ(gnt_xs_read_watch(xs, &path, &token, &block, 50), -ETIMEDOUT);
	gnt_xs_close(xs);
}

TEST(xs_client_domain_and_dom0)
{
	struct xc s;
	gnt_xs *xs;
	char path[64];
	pid_t pid;

	th_gntd_start();
	xs = gnt_xs_open(); /* the test process is dom0 */
	CHECK(xs);
	CHECK_EQ(gnt_xs_write(xs, 0, "/secret", "s", 1), 0);
	s.d = th_domain("D");
	th_chan_open(&s.to_d);
	th_chan_open(&s.to_t);
	pid = th_spawn(s.d, domain_side, &s);
	CHECK_EQ(th_recv_u32(&s.to_t), 1);
	snprintf(path, sizeof(path), "/local/domain/%u/data/from-dom0", s.d);
	CHECK_EQ(gnt_xs_write(xs, 0, path, "y", 1), 0);
	CHECK_EQ(th_wait(pid), 0);
	expect(xs, "/secret", "s");
	gnt_xs_close(xs);
	th_chan_close(&s.to_d);
	th_chan_close(&s.to_t);
	th_gntd_stop();
}

TEST(xs_client_directory_and_transactions)
{
	gnt_xs *a, *b;
	unsigned int n = 0;
	char **kids;
	uint32_t t1, t2;

	th_gntd_start();
	a = gnt_xs_open();
	b = gnt_xs_open();
	CHECK(a && b);
	CHECK_EQ(gnt_xs_write(a, 0, "/d/one", "1", 1), 0);
	CHECK_EQ(gnt_xs_mkdir(a, 0, "/d/two"), 0);
	kids = gnt_xs_directory(a, 0, "/d", &n);
	CHECK(kids);
	CHECK_EQ(n, 2);
	CHECK(!strcmp(kids[0], "one") || !strcmp(kids[1], "one"));
	CHECK(kids[2] == NULL);
	free(kids);
	/* two transactions on the same node: the second to commit loses */
	t1 = gnt_xs_transaction_start(a);
	t2 = gnt_xs_transaction_start(b);
	CHECK(t1 && t2);
	CHECK_EQ(gnt_xs_write(a, t1, "/d/one", "a", 1), 0);
	CHECK_EQ(gnt_xs_write(b, t2, "/d/one", "b", 1), 0);
	expect(a, "/d/one", "1"); /* invisible outside until commit */
	CHECK_EQ(gnt_xs_transaction_end(a, t1, false), 0);
	CHECK_EQ(gnt_xs_transaction_end(b, t2, false), -EAGAIN);
	expect(b, "/d/one", "a");
	/* abort changes nothing */
	t1 = gnt_xs_transaction_start(a);
	CHECK_EQ(gnt_xs_rm(a, t1, "/d"), 0);
	CHECK_EQ(gnt_xs_transaction_end(a, t1, true), 0);
	expect(a, "/d/one", "a");
	CHECK_EQ(gnt_xs_rm(a, 0, "/d"), 0);
	CHECK(!gnt_xs_read(a, 0, "/d/one", NULL));
	CHECK_EQ(errno, ENOENT);
	gnt_xs_close(a);
	gnt_xs_close(b);
	th_gntd_stop();
}
