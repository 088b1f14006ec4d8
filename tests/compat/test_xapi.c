/* SPDX-License-Identifier: MIT */
/*
 * Xen's xengnttab / xengntshr / xenevtchn on gnt's drop-ins: return values
 * and errno on bad input as Linux's drivers give them, the gntalloc and
 * gntdev limits, a mapping that outlives its handle and fork, a second
 * mapping of the same grants, munmap alone releasing a mapping, and the
 * unmap notify firing when the mapper is SIGKILLed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../helpers.h"
#include "gnt/control.h"
#include "gnt/gntdev.h"
#include "xapi.h"

#define CHECK_ERR(call, err)                                                   \
	do {                                                                   \
		errno = 0;                                                     \
		CHECK((call) == -1);                                           \
		CHECK_EQ(errno, err);                                          \
	} while (0)
#define CHECK_NULL(call, err)                                                  \
	do {                                                                   \
		errno = 0;                                                     \
		CHECK((call) == NULL);                                         \
		CHECK_EQ(errno, err);                                          \
	} while (0)

struct pair {
	struct th_chan to_a, to_b, to_t;
	uint32_t a, b;
	struct gnt_hv_stats start; /* before the domains */
};

static void alone(void *arg)
{
	struct pair *p = arg;
	void *t = xa_gnttab_open(), *s = xa_gntshr_open(), *pg;
	uint32_t refs[4] = {8, 9, 10, 11};

	CHECK(t && s);
	CHECK_NULL(xa_map(t, 0, p->b, refs, 1), EINVAL);
	CHECK_NULL(xa_map(t, 1, p->b, refs, 1), EINVAL); /* not granted */
	CHECK_ERR(xa_unmap(t, NULL, 1), EINVAL);
	CHECK_ERR(xa_unmap(t, refs, 1), EINVAL); /* not a mapping */
	CHECK_EQ(xa_set_max_grants(t, 1), 0);
	CHECK_ERR(xa_dmabuf_exp(t), EOPNOTSUPP);
	CHECK_ERR(xa_copy_local(t), EINVAL);
	CHECK_NULL(xa_share(s, p->b, 0, refs, 1), EINVAL);
	CHECK_NULL(xa_share(s, p->b, -1, refs, 1), EINVAL);
	/* gntalloc's limit: over it, ENOSPC; freed by unshare */
	CHECK_EQ(gnt_gntalloc_set_limit(2), 0);
	CHECK_NULL(xa_share(s, p->b, 3, refs, 1), ENOSPC);
	pg = xa_share(s, p->b, 2, refs, 1);
	CHECK(pg);
	CHECK(refs[0] >= 8 && refs[1] >= 8);
	CHECK_NULL(xa_share(s, p->b, 1, refs + 2, 1), ENOSPC);
	CHECK_EQ(gnt_gntalloc_in_use(), 2);
	CHECK_EQ(xa_unshare(s, pg, 2), 0);
	CHECK_EQ(gnt_gntalloc_in_use(), 0);
	/* munmap alone frees it too */
	pg = xa_share(s, p->b, 2, refs, 1);
	CHECK(pg);
	CHECK_EQ(munmap(pg, 8192), 0);
	CHECK_EQ(gnt_gntalloc_in_use(), 0);
	/* gntdev's per-request limit */
	CHECK_EQ(gnt_gntdev_set_limit(1), 0);
	CHECK_NULL(xa_map(t, 2, p->b, refs, 1), EINVAL);
	CHECK_EQ(gnt_gntdev_set_limit(0), -EINVAL);
	CHECK_EQ(gnt_gntdev_set_limit(65537), -EINVAL);
	CHECK_EQ(xa_gnttab_close(t), 0);
	CHECK_EQ(xa_gntshr_close(s), 0);
	CHECK_EQ(xa_gnttab_close(NULL), 0);
	CHECK_EQ(xa_gntshr_close(NULL), 0);
}

static void evtchn_alone(void *arg)
{
	struct pair *p = arg;
	void *x = xa_evtchn_open(0);
	int fd;

	CHECK(x);
	CHECK_NULL(xa_evtchn_open(2), EINVAL);
	CHECK_NULL(xa_evtchn_fdopen(xa_evtchn_fd(x), 1), EINVAL);
	CHECK_ERR(xa_notify(x, 5), ENOTCONN);
	CHECK_ERR(xa_unbind(x, 5), ENOTCONN);
	CHECK_ERR(xa_unbind(x, 5000), EINVAL);
	CHECK_ERR(xa_bind_virq(x, 0), ENOSYS);
	CHECK_EQ(xa_unmask(x, 5), 0); /* Linux's write skips unknown ports */
	CHECK_ERR(xa_bind_unbound(x, 0x10000), EINVAL);
	fd = xa_evtchn_fd(x);
	CHECK_EQ(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	CHECK_ERR(xa_pending(x), EAGAIN);
	CHECK(xa_bind_unbound(x, p->a) > 0);
	CHECK_ERR(xa_restrict(x, 0x7FF0), EINVAL);
	CHECK_EQ(xa_restrict(x, (uint16_t)p->a), 0);
	CHECK_ERR(xa_restrict(x, (uint16_t)p->a), EACCES);
	CHECK_ERR(xa_bind_unbound(x, p->a), EACCES);
	CHECK_ERR(xa_bind_interdomain(x, p->b, 1), EACCES);
	CHECK_ERR(xa_bind_virq(x, 0), EACCES);
	CHECK_EQ(xa_evtchn_close(x), 0);
	CHECK_EQ(xa_evtchn_close(NULL), 0);
}

static void setup(struct pair *p)
{
	th_chan_open(&p->to_a);
	th_chan_open(&p->to_b);
	th_chan_open(&p->to_t);
	th_gntd_start();
	p->start = th_stats();
	p->a = th_domain("a");
	p->b = th_domain("b");
}

static void finish(struct pair *p)
{
	th_chan_close(&p->to_a);
	th_chan_close(&p->to_b);
	th_chan_close(&p->to_t);
	th_expect_stats(&p->start, 5000);
	th_gntd_stop();
}

TEST(xapi_errors_and_limits)
{
	struct pair p;

	memset(&p, 0, sizeof(p));
	setup(&p);
	CHECK_EQ(th_wait(th_spawn(p.a, alone, &p)), 0);
	CHECK_EQ(th_wait(th_spawn(p.b, evtchn_alone, &p)), 0);
	finish(&p);
}

/* ---- A shares, B maps -------------------------------------------------- */

#define OFF_LIVE 100

static void sharer(void *arg)
{
	struct pair *p = arg;
	void *s = xa_gntshr_open(), *x = xa_evtchn_open(0);
	uint32_t refs[2];
	uint8_t *pg;
	int port;

	CHECK(s && x);
	pg = xa_share(s, p->b, 2, refs, 1);
	CHECK(pg);
	port = xa_bind_unbound(x, p->b);
	CHECK(port > 0);
	pg[OFF_LIVE] = 1;
	memcpy(pg + 4096, "hello", 6);
	th_send_u32(&p->to_b, refs[0]);
	th_send_u32(&p->to_b, refs[1]);
	th_send_u32(&p->to_b, (uint32_t)port);
	th_recv_u32(&p->to_a); /* B's mapper was killed */
	CHECK_EQ(xa_pending(x), port); /* blocks until the notify's event */
	CHECK_EQ(__atomic_load_n(&pg[OFF_LIVE], __ATOMIC_ACQUIRE), 0);
	CHECK_EQ(memcmp(pg + 4096, "HELLO", 6), 0);
	CHECK_EQ(xa_unshare(s, pg, 2), 0);
	CHECK_EQ(xa_gntshr_close(s), 0);
	xa_evtchn_close(x);
	th_send_u32(&p->to_t, 1);
}

static void mapper(void *arg)
{
	struct pair *p = arg;
	void *t = xa_gnttab_open(), *x = xa_evtchn_open(0);
	uint32_t refs[2], rport;
	uint8_t *m, *m2, *ring;
	int port;
	pid_t child;

	CHECK(t && x);
	refs[0] = th_recv_u32(&p->to_b);
	refs[1] = th_recv_u32(&p->to_b);
	rport = th_recv_u32(&p->to_b);
	port = xa_bind_interdomain(x, p->a, rport);
	CHECK(port > 0);
	m = xa_map(t, 2, p->a, refs, 1);
	CHECK(m);
	CHECK_EQ(memcmp(m + 4096, "hello", 6), 0);
	CHECK_ERR(xa_unmap(t, m, 1), EINVAL); /* count must be the mapping's */
	CHECK_ERR(xa_unmap(t, m + 4096, 2), EINVAL);
	/* the same grants mapped a second time, then released by munmap alone */
	m2 = xa_map(t, 2, p->a, refs, 0);
	CHECK(m2);
	CHECK_EQ(memcmp(m2 + 4096, "hello", 6), 0);
	CHECK_EQ(munmap(m2, 8192), 0);
	CHECK_EQ(gnt_gntdev_reap(), 1);
	CHECK_EQ(gnt_gntdev_reap(), 0);
	/* the mapping outlives the handle, and is there in a child */
	CHECK_EQ(xa_gnttab_close(t), 0);
	memcpy(m + 4096, "HELLO", 6);
	child = fork();
	if (child == 0)
		_exit(memcmp(m + 4096, "HELLO", 6) != 0);
	CHECK_EQ(th_wait(child), 0);
	CHECK_EQ(xa_unmap(NULL, m, 2), 0);
	/* the ring page, with notify on OFF_LIVE and the port, then killed */
	t = xa_gnttab_open();
	ring = xa_map_notify(t, p->a, refs[0], OFF_LIVE, (uint32_t)port);
	CHECK(ring);
	CHECK_EQ(ring[OFF_LIVE], 1);
	th_send_u32(&p->to_t, 1);
	pause();
}

TEST(xapi_share_map_fork_remap_and_notify_on_sigkill)
{
	struct pair p;
	pid_t a, b;

	memset(&p, 0, sizeof(p));
	setup(&p);
	a = th_spawn(p.a, sharer, &p);
	b = th_spawn(p.b, mapper, &p);
	CHECK_EQ(th_recv_u32_from(&p.to_t, b), 1);
	kill(b, SIGKILL);
	CHECK_EQ(th_wait(b), 128 + SIGKILL);
	th_send_u32(&p.to_a, 1);
	CHECK_EQ(th_recv_u32_from(&p.to_t, a), 1);
	CHECK_EQ(th_wait(a), 0);
	finish(&p);
}

/* ---- grant copy in every direction -------------------------------------- */

static uint8_t pat(uint32_t i, uint8_t salt)
{
	return (uint8_t)(i * 7u + salt);
}

static void copy_granter(void *arg)
{
	struct pair *p = arg;
	void *s = xa_gntshr_open();
	uint32_t refs[2];
	uint8_t *pg;

	CHECK(s);
	pg = xa_share(s, p->b, 2, refs, 1);
	CHECK(pg);
	for (uint32_t i = 0; i < 2 * 4096; i++)
		pg[i] = pat(i, 1);
	th_send(&p->to_b, refs, sizeof(refs));
	CHECK_EQ(th_recv_u32(&p->to_a), 1); /* B copied */
	/* virt -> gref: B's bytes at page 1, offset 4000..4095 */
	for (uint32_t i = 0; i < 96; i++)
		CHECK_EQ(pg[4096 + 4000 + i], pat(i, 9));
	/* gref -> gref: page 0 bytes 0..63 now also at page 1, offset 200 */
	for (uint32_t i = 0; i < 64; i++)
		CHECK_EQ(pg[4096 + 200 + i], pat(i, 1));
	/* the refused batch wrote nothing: page 1 offset 1000 as it was */
	CHECK_EQ(pg[4096 + 1000], pat(4096 + 1000, 1));
	CHECK_EQ(xa_unshare(s, pg, 2), 0);
	CHECK_EQ(xa_gntshr_close(s), 0);
}

static void copier(void *arg)
{
	struct pair *p = arg;
	void *t = xa_gnttab_open();
	uint32_t refs[2];
	/* two pages of our own, so that virt sides can cross a page */
	uint8_t *buf = mmap(NULL, 2 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			    -1, 0);
	uint8_t *cross = buf + 4096 - 50;
	struct xa_seg s[3];

	CHECK(t && buf != MAP_FAILED);
	th_recv(&p->to_b, refs, sizeof(refs));
	/* gref -> virt, the virt side crossing a page */
	memset(s, 0, sizeof(s));
	s[0] = (struct xa_seg){.src_gref = 1, .sdom = p->a, .sref = refs[0], .soff = 10,
			       .dvirt = cross, .len = 100};
	CHECK_EQ(xa_copy(t, 1, s), 0);
	CHECK_EQ(s[0].status, 0);
	for (uint32_t i = 0; i < 100; i++)
		CHECK_EQ(cross[i], pat(10 + i, 1));
	/* virt -> gref, from a crossing source, to the end of page 1 */
	for (uint32_t i = 0; i < 96; i++)
		cross[i] = pat(i, 9);
	s[0] = (struct xa_seg){.dst_gref = 1, .ddom = p->a, .dref = refs[1], .doff = 4000,
			       .svirt = cross, .len = 96};
	/* gref -> gref */
	s[1] = (struct xa_seg){.src_gref = 1, .sdom = p->a, .sref = refs[0], .soff = 0,
			       .dst_gref = 1, .ddom = p->a, .dref = refs[1], .doff = 200,
			       .len = 64};
	CHECK_EQ(xa_copy(t, 2, s), 0);
	CHECK_EQ(s[0].status, 0);
	CHECK_EQ(s[1].status, 0);
	/* a bad ref in the middle: only its segment fails, the call returns 0 */
	memset(buf, 0, 2 * 4096);
	for (int i = 0; i < 3; i++)
		s[i] = (struct xa_seg){.src_gref = 1, .sdom = p->a, .sref = refs[i == 2],
				       .soff = 0, .dvirt = buf + i * 1024, .len = 16};
	s[1].sref = 1u << 30; /* far past A's table */
	CHECK_EQ(xa_copy(t, 3, s), 0);
	CHECK_EQ(s[0].status, 0);
	CHECK_EQ(s[1].status, -3); /* GNTST_bad_gntref */
	CHECK_EQ(s[2].status, 0);
	CHECK_EQ(buf[0], pat(0, 1));
	CHECK_EQ(buf[2048 + 1], pat(4096 + 1, 1));
	CHECK_EQ(buf[1024], 0); /* the failed segment wrote nothing */
	s[1].sref = 3;          /* a reserved ref, never granted */
	CHECK_EQ(xa_copy(t, 3, s), 0);
	CHECK_EQ(s[1].status, -1); /* GNTST_general_error */
	/* offset + len past the page on a gref side: the whole call is
	 * refused, EINVAL, and no segment is copied (nor its status set) */
	memset(buf, 0, 2 * 4096);
	s[0] = (struct xa_seg){.src_gref = 1, .sdom = p->a, .sref = refs[0], .dvirt = buf,
			       .len = 16};
	s[1] = (struct xa_seg){.dst_gref = 1, .ddom = p->a, .dref = refs[1], .doff = 4090,
			       .svirt = buf + 100, .len = 7};
	CHECK_ERR(xa_copy(t, 2, s), EINVAL);
	CHECK_EQ(buf[0], 0);
	CHECK_EQ(s[0].status, 99);
	s[1] = (struct xa_seg){.dst_gref = 1, .ddom = p->a, .dref = refs[1], .doff = 1000,
			       .svirt = buf + 100, .len = 4096 - 1000 + 1};
	CHECK_ERR(xa_copy(t, 1, s + 1), EINVAL);
	th_send_u32(&p->to_a, 1);
	munmap(buf, 2 * 4096);
	CHECK_EQ(xa_gnttab_close(t), 0);
}

TEST(xapi_grant_copy_every_direction)
{
	struct pair p;
	pid_t a, b;

	memset(&p, 0, sizeof(p));
	setup(&p);
	a = th_spawn(p.a, copy_granter, &p);
	b = th_spawn(p.b, copier, &p);
	CHECK_EQ(th_wait(b), 0);
	CHECK_EQ(th_wait(a), 0);
	finish(&p);
}
