/* SPDX-License-Identifier: MIT */
/*
 * Death at each step of grant -> map -> unmap -> end, by SIGKILL of either
 * side or by gnt_domain_destroy.  Afterwards gntd's accounting (frames,
 * units, mappings, pins, exposures, zombies, domains, descriptors) is back
 * at its start values.  A granter that dies while mapped is a zombie (state
 * 2): its mapper keeps reading and writing its mapping, new maps fail, and
 * the zombie goes when the mapper unmaps (Xen).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../helpers.h"

#define NPAGES 16 /* one unit: the exposure pins every page */

enum {
	CMD_GRANT = 1, /* granter: grant NPAGES, reply the refs */
	CMD_END,       /* granter: end them all, reply how many ended */
	CMD_FREE,      /* granter: free the unit */
	CMD_MAP,       /* mapper: map them all, reply how many were okay + status */
	CMD_READ,      /* mapper: check contents and write, reply 1 */
	CMD_MAP_AGAIN, /* mapper: map the first once more, reply its status */
	CMD_UNMAP,     /* mapper: unmap all, reply how many were okay */
	CMD_FORK,      /* granter: start two idle children, reply their pids */
	CMD_EXIT,
};

struct proc {
	pid_t pid;
	struct th_chan cmd, reply;
};

struct death {
	uint32_t a, b;
	struct proc g, m;
	grant_ref_t refs[NPAGES];
	struct gnt_hv_stats start;
};

static uint32_t call(struct proc *p, uint32_t cmd)
{
	th_send_u32(&p->cmd, cmd);
	return th_recv_u32_from(&p->reply, p->pid);
}

static void fill(char *page, uint32_t i)
{
	snprintf(page, 64, "granter page %u", i);
}

static void granter(void *p)
{
	struct death *s = p;
	struct proc *me = &s->g;
	char *buf = NULL;

	for (;;) {
		uint32_t cmd = th_recv_u32(&me->cmd), n = 0;
		switch (cmd) {
		case CMD_GRANT:
			buf = gnt_alloc_pages(NPAGES);
			CHECK(buf);
			for (uint32_t i = 0; i < NPAGES; i++) {
				int r;
				fill(buf + i * GNT_PAGE_SIZE, i);
				r = gnt_grant_foreign_access(
				    (domid_t)s->b, gnt_virt_to_gfn(buf + i * GNT_PAGE_SIZE), 0);
				CHECK(r >= GNTTAB_NR_RESERVED_ENTRIES);
				s->refs[i] = (grant_ref_t)r;
			}
			th_send(&me->reply, s->refs, sizeof(s->refs));
			continue;
		case CMD_END:
			for (uint32_t i = 0; i < NPAGES; i++)
				n += (uint32_t)gnt_try_end_foreign_access(s->refs[i]);
			break;
		case CMD_FREE:
			gnt_free_pages(buf, NPAGES);
			n = 1;
			break;
		case CMD_FORK: {
			int32_t pids[2];
			for (int k = 0; k < 2; k++) {
				fflush(NULL);
				pids[k] = fork();
				CHECK(pids[k] >= 0);
				if (pids[k] == 0) {
					if (k == 0) /* connected; the other never calls libgnt */
						CHECK_EQ(gnt_domid(), (int)s->a);
					for (;;)
						pause();
				}
			}
			th_send(&me->reply, pids, sizeof(pids));
			continue;
		}
		case CMD_EXIT:
			return;
		default:
			FAIL("granter: command %u", cmd);
		}
		th_send_u32(&me->reply, n);
	}
}

static void mapper(void *p)
{
	struct death *s = p;
	struct proc *me = &s->m;
	struct gnttab_map_grant_ref ops[NPAGES];
	struct gnttab_unmap_grant_ref un[NPAGES];
	char *va = gnt_alloc_ballooned_pages(NPAGES + 1);

	CHECK(va);
	for (;;) {
		uint32_t cmd = th_recv_u32(&me->cmd), n = 0;
		switch (cmd) {
		case CMD_MAP:
			th_recv(&me->cmd, s->refs, sizeof(s->refs));
			for (uint32_t i = 0; i < NPAGES; i++)
				gnt_set_map_op(&ops[i], va + i * GNT_PAGE_SIZE, GNTMAP_host_map,
					       s->refs[i], (domid_t)s->a);
			CHECK_EQ(gnt_map_refs(ops, NPAGES), 0);
			for (uint32_t i = 0; i < NPAGES; i++) {
				CHECK_EQ(ops[i].status, ops[0].status); /* all alike */
				n += ops[i].status == GNTST_okay;
			}
			n |= (uint32_t)(uint16_t)ops[0].status << 16;
			break;
		case CMD_READ:
			for (uint32_t i = 0; i < NPAGES; i++) {
				char want[64], *pg = va + i * GNT_PAGE_SIZE;
				fill(want, i);
				CHECK(!strcmp(pg, want));
				strcpy(pg + 2048, "mapper writes");
				CHECK(!strcmp(pg + 2048, "mapper writes"));
			}
			n = 1;
			break;
		case CMD_MAP_AGAIN: {
			struct gnttab_map_grant_ref op;
			gnt_set_map_op(&op, va + NPAGES * GNT_PAGE_SIZE, GNTMAP_host_map,
				       s->refs[0], (domid_t)s->a);
			CHECK_EQ(gnt_map_refs(&op, 1), 0);
			CHECK(op.status != GNTST_okay);
			n = (uint32_t)(uint16_t)op.status;
			break;
		}
		case CMD_UNMAP:
			for (uint32_t i = 0; i < NPAGES; i++)
				gnt_set_unmap_op(&un[i], va + i * GNT_PAGE_SIZE, 0, ops[i].handle);
			CHECK_EQ(gnt_unmap_refs(un, NPAGES), 0);
			for (uint32_t i = 0; i < NPAGES; i++) {
				n += un[i].status == GNTST_okay;
				CHECK(!th_can_read(va + i * GNT_PAGE_SIZE));
			}
			break;
		case CMD_EXIT:
			return;
		default:
			FAIL("mapper: command %u", cmd);
		}
		th_send_u32(&me->reply, n);
	}
}

static void start_procs(struct death *s)
{
	th_gntd_start();
	s->start = th_stats();
	s->a = th_domain("A");
	s->b = th_domain("B");
	th_chan_open(&s->g.cmd);
	th_chan_open(&s->g.reply);
	th_chan_open(&s->m.cmd);
	th_chan_open(&s->m.reply);
	s->g.pid = th_spawn(s->a, granter, s);
	s->m.pid = th_spawn(s->b, mapper, s);
}

static void finish(struct death *s)
{
	th_expect_stats(&s->start, 5000);
	th_chan_close(&s->g.cmd);
	th_chan_close(&s->g.reply);
	th_chan_close(&s->m.cmd);
	th_chan_close(&s->m.reply);
	th_gntd_stop();
}

static void grant(struct death *s)
{
	th_send_u32(&s->g.cmd, CMD_GRANT);
	th_recv(&s->g.reply, s->refs, sizeof(s->refs));
}

/* Map all; returns the count okay | status << 16. */
static uint32_t map(struct death *s)
{
	th_send_u32(&s->m.cmd, CMD_MAP);
	th_send(&s->m.cmd, s->refs, sizeof(s->refs));
	return th_recv_u32_from(&s->m.reply, s->m.pid);
}

#define MAPPED_ALL ((uint32_t)NPAGES)
#define MAP_FAILED_WITH(st) ((uint32_t)(uint16_t)(st) << 16)

static void kill_proc(struct proc *p)
{
	th_kill_wait(p->pid);
	p->pid = 0;
}

static void exit_proc(struct proc *p)
{
	th_send_u32(&p->cmd, CMD_EXIT);
	CHECK_EQ(th_wait(p->pid), 0);
	p->pid = 0;
}

static void wait_gone(uint32_t dom)
{
	th_wait_domain_gone(dom, 5000);
}

/* The granter's entries as gntd sees them: none pinned, none in use. */
static void check_unpinned(uint32_t dom)
{
	static struct gnt_grant_dump g[64];
	int n = gnt_domain_grants(dom, g, 64);

	CHECK(n >= 0);
	for (int i = 0; i < n; i++) {
		CHECK_EQ(g[i].rd_pins + g[i].wr_pins, 0);
		CHECK_EQ(g[i].pinned_by, DOMID_INVALID);
		CHECK(!(g[i].flags & (GTF_reading | GTF_writing)));
	}
	CHECK_EQ(th_dominfo(dom).pins, 0);
}

/* ---- the granter dies ------------------------------------------------------ */

TEST(kill_granter_after_grant)
{
	struct death s;

	start_procs(&s);
	grant(&s);
	kill_proc(&s.g);
	wait_gone(s.a); /* nothing pinned it: gone at once */
	CHECK_EQ(map(&s), MAP_FAILED_WITH(GNTST_bad_domain));
	exit_proc(&s.m);
	finish(&s);
}

TEST(kill_granter_while_mapped_leaves_zombie_until_unmap)
{
	struct death s;
	struct gnt_hv_stats st;
	struct gnt_domain_info ia;

	start_procs(&s);
	grant(&s);
	CHECK_EQ(map(&s), MAPPED_ALL);
	kill_proc(&s.g);
	th_wait_domain_dying(s.a, 5000);
	st = th_stats();
	CHECK_EQ(st.zombies, 1);
	CHECK_EQ(st.domains, s.start.domains + 1); /* B */
	CHECK_EQ(st.mappings, NPAGES);
	CHECK_EQ(st.units, 1);
	CHECK_EQ(st.frames, NPAGES);
	/* the mapper keeps its mapping, reads and writes it */
	CHECK_EQ(call(&s.m, CMD_READ), 1);
	/* no new pins on a dying granter */
	CHECK_EQ(call(&s.m, CMD_MAP_AGAIN), (uint16_t)GNTST_general_error);
	ia = th_dominfo(s.a);
	CHECK_EQ(ia.state, 2);
	CHECK(ia.pins >= NPAGES);
	CHECK_EQ(ia.procs, 0);
	CHECK_EQ(call(&s.m, CMD_UNMAP), NPAGES);
	wait_gone(s.a);
	st = th_stats();
	CHECK_EQ(st.zombies, 0);
	CHECK_EQ(st.units, 0);
	exit_proc(&s.m);
	finish(&s);
}

TEST(kill_granter_after_unmap)
{
	struct death s;

	start_procs(&s);
	grant(&s);
	CHECK_EQ(map(&s), MAPPED_ALL);
	CHECK_EQ(call(&s.m, CMD_UNMAP), NPAGES);
	kill_proc(&s.g);
	wait_gone(s.a);
	CHECK_EQ(map(&s), MAP_FAILED_WITH(GNTST_bad_domain));
	exit_proc(&s.m);
	finish(&s);
}

TEST(kill_granter_after_end)
{
	struct death s;

	start_procs(&s);
	grant(&s);
	CHECK_EQ(map(&s), MAPPED_ALL);
	CHECK_EQ(call(&s.m, CMD_UNMAP), NPAGES);
	CHECK_EQ(call(&s.g, CMD_END), NPAGES);
	kill_proc(&s.g);
	wait_gone(s.a);
	exit_proc(&s.m);
	finish(&s);
}

/* ---- the mapper dies ------------------------------------------------------- */

TEST(kill_mapper_after_grant)
{
	struct death s;

	start_procs(&s);
	grant(&s);
	kill_proc(&s.m);
	wait_gone(s.b);
	CHECK_EQ(call(&s.g, CMD_END), NPAGES);
	CHECK_EQ(call(&s.g, CMD_FREE), 1);
	exit_proc(&s.g);
	finish(&s);
}

TEST(kill_mapper_while_mapped_releases_its_mappings)
{
	struct death s;
	struct gnt_hv_stats st;

	start_procs(&s);
	grant(&s);
	CHECK_EQ(map(&s), MAPPED_ALL);
	CHECK_EQ(th_dominfo(s.b).mappings, NPAGES);
	kill_proc(&s.m);
	wait_gone(s.b);
	/* Xen's gnttab_release_mappings: pins and flags gone, so A may end */
	check_unpinned(s.a);
	st = th_stats();
	CHECK_EQ(st.mappings, 0);
	CHECK_EQ(st.pins, 0);
	CHECK_EQ(st.exposures, 0);
	CHECK_EQ(call(&s.g, CMD_END), NPAGES);
	CHECK_EQ(call(&s.g, CMD_FREE), 1);
	exit_proc(&s.g);
	finish(&s);
}

TEST(kill_mapper_after_unmap)
{
	struct death s;

	start_procs(&s);
	grant(&s);
	CHECK_EQ(map(&s), MAPPED_ALL);
	CHECK_EQ(call(&s.m, CMD_UNMAP), NPAGES);
	kill_proc(&s.m);
	wait_gone(s.b);
	check_unpinned(s.a);
	CHECK_EQ(call(&s.g, CMD_END), NPAGES);
	CHECK_EQ(call(&s.g, CMD_FREE), 1);
	exit_proc(&s.g);
	finish(&s);
}

/* ---- gnt_domain_destroy ---------------------------------------------------- */

/* 1 if pid is gone or a zombie (it is not our child: it was orphaned). */
static int proc_dead(pid_t pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return 1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

static int both_dead(void *p)
{
	int32_t *pids = p;
	return proc_dead(pids[0]) && proc_dead(pids[1]);
}

TEST(destroy_kills_processes_and_releases_everything)
{
	struct death s;
	struct gnt_hv_stats st;
	int32_t kids[2];
	uint32_t idle;

	start_procs(&s);
	grant(&s);
	th_send_u32(&s.g.cmd, CMD_FORK);
	th_recv(&s.g.reply, kids, sizeof(kids));
	CHECK_EQ(map(&s), MAPPED_ALL);

	CHECK_EQ(gnt_domain_destroy(s.a), 0);
	CHECK_EQ(th_wait(s.g.pid), 128 + SIGKILL);
	s.g.pid = 0;
	if (geteuid() == 0) {
		/* every process of the domain's uid, connected or not */
		if (!th_until(both_dead, kids, 5000))
			FAIL("A's children %d/%d survived destroy", kids[0], kids[1]);
	} else {
		kids[1] = kids[0];
		if (!th_until(both_dead, kids, 5000))
			FAIL("A's connected child %d survived destroy", kids[0]);
	}
	/* B still maps A's unit: A is a zombie, B keeps its mapping */
	th_wait_domain_dying(s.a, 5000);
	CHECK_EQ(gnt_domain_destroy(s.a), -ESRCH);
	CHECK_EQ(call(&s.m, CMD_READ), 1);
	CHECK_EQ(call(&s.m, CMD_MAP_AGAIN), (uint16_t)GNTST_general_error);

	CHECK_EQ(gnt_domain_destroy(s.b), 0);
	CHECK_EQ(th_wait(s.m.pid), 128 + SIGKILL);
	s.m.pid = 0;
	wait_gone(s.b);
	wait_gone(s.a); /* B's mappings were A's last pins */
	st = th_stats();
	CHECK_EQ(st.mappings, 0);
	CHECK_EQ(st.pins, 0);

	/* a domain without processes goes at once; unknown ones are -ESRCH */
	idle = th_domain("idle");
	CHECK_EQ(gnt_domain_destroy(idle), 0);
	CHECK(!th_domain_exists(idle, NULL));
	CHECK_EQ(gnt_domain_destroy(idle), -ESRCH);
	CHECK_EQ(gnt_domain_destroy(0x7000), -ESRCH);
	CHECK_EQ(gnt_domain_destroy(0), -ESRCH); /* not the control domain */
	CHECK_EQ(gnt_domain_destroy(DOMID_SELF), -ESRCH);
	finish(&s);
}
