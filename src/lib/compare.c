/* SPDX-License-Identifier: MIT */
/*
 * lib/compare.c - the sharing comparison (gnt/compare.h): dom0 creates a
 * donor and a recipient domain, forks one process into each, and they share
 * N pages by map, copy or transfer, counting their own hypercalls and the
 * messages they send each other; dom0 kills one of them in the crash runs.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gnt/compare.h"
#include "gnt/control.h"
#include "gnt/dir.h"

#define BATCH 65536u
#define CRASH_PAGES 16u
enum { DONOR, RECIP };
enum { CRASH_NONE, CRASH_GRANTER, CRASH_RECIP };

struct msg {
	uint64_t ref, t0_ns, ok;
};

struct report {
	uint32_t side, ready; /* ready: a crash run's survivor may be told to check */
	uint64_t hc, msgs, refs;
	int32_t ok, supported;
	double seconds;
};

struct run {
	int approach, crash;
	uint64_t n;
	uint32_t dom[2];
	int link[2];     /* donor <-> recipient: every datagram is a message */
	int up[2];       /* both -> dom0: reports */
	int go[2][2];    /* dom0 -> side: "check now" in crash runs */
	uint64_t msgs;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t tag(uint64_t i)
{
	return 0x636d7000000000ull ^ (i * 2654435761u);
}

static uint64_t *word(void *base, uint64_t i)
{
	return (uint64_t *)((char *)base + i * GNT_PAGE_SIZE);
}

static int check_tags(void *base, uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		if (*word(base, i) != tag(i))
			return 0;
	return 1;
}

static void send_msg(struct run *r, int fd, uint64_t ref, uint64_t t0, uint64_t ok)
{
	struct msg m = {ref, t0, ok};
	if (send(fd, &m, sizeof(m), MSG_NOSIGNAL) == sizeof(m))
		r->msgs++;
}

static int recv_msg(int fd, struct msg *m)
{
	return recv(fd, m, sizeof(*m), 0) == sizeof(*m) ? 0 : -EPIPE;
}

static void report(struct run *r, struct report *rep)
{
	rep->msgs = r->msgs;
	if (write(r->up[1], rep, sizeof(*rep)) != sizeof(*rep))
		_exit(3);
}

/* In a crash run: tell the peer (tell >= 0: over that link) and dom0 that
 * we are sharing, and wait for dom0's word. */
static void crash_point(struct run *r, int side, int tell)
{
	struct report rep = {.side = (uint32_t)side, .ready = 1};
	char c;

	if (r->crash == CRASH_NONE)
		return;
	if (tell >= 0)
		send_msg(r, tell, 0, 0, 1);
	report(r, &rep);
	if (read(r->go[side][0], &c, 1) != 1)
		_exit(0); /* we are the one to die */
}

/* ---- map and copy --------------------------------------------------------- */

/* Wait for every deferred end of access (the peer unmaps or dies). */
static int all_ended(void)
{
	for (int i = 0; i < 20000 && gnt_deferred_count(); i++) {
		gnt_deferred_poll();
		usleep(1000);
	}
	return gnt_deferred_count() == 0;
}

static void donor_grants(struct run *r, struct report *rep)
{
	int fd = r->link[0];
	char *buf = gnt_alloc_pages(r->n);
	struct gnt_dir_grant g;
	struct msg m = {0};
	uint64_t h0, t0;
	size_t deferred = 0;

	if (!buf)
		return;
	for (uint64_t i = 0; i < r->n; i++)
		*word(buf, i) = tag(i);
	h0 = gnt_hypercall_count();
	t0 = now_ns();
	if (gnt_dir_grant(&g, (domid_t)r->dom[RECIP], buf, r->n, r->approach == GNT_CMP_COPY) < 0)
		return;
	/* sharing costs only this; ending depends on when the recipient's
	 * unmap settles (docs/design.md) and is not counted */
	rep->hc = gnt_hypercall_count() - h0;
	rep->refs = g.npages + g.ndir;
	send_msg(r, fd, g.dir_ref, t0, 1);
	/* normal run: the recipient is done; crash run: it has read every page
	 * and still holds what it holds (the mapping) */
	if (recv_msg(fd, &m) < 0)
		return;
	rep->supported = 1;
	rep->ok = 1;
	if (r->crash == CRASH_RECIP) {
		/* end while the recipient maps: what it maps must be deferred,
		 * and come back only through the deferred retry once it dies */
		deferred = gnt_dir_end(&g);
		gnt_free_pages(buf, r->n);
		rep->ok = deferred == (r->approach == GNT_CMP_MAP ? r->n : 0);
	}
	crash_point(r, DONOR, -1);
	if (r->crash != CRASH_RECIP) {
		gnt_dir_end(&g);
		gnt_free_pages(buf, r->n);
	}
	/* pages returned: every grant ends once the recipient is gone */
	rep->ok = all_ended() && rep->ok;
}

static void recip_maps(struct run *r, const struct msg *m, struct report *rep)
{
	struct gnt_dir_map map;
	uint64_t h0 = gnt_hypercall_count();

	if (gnt_dir_map(&map, (domid_t)r->dom[DONOR], (grant_ref_t)m->ref, r->n, 0, BATCH) < 0)
		return;
	rep->ok = check_tags(map.addr, r->n);
	rep->seconds = (double)(now_ns() - m->t0_ns) / 1e9;
	crash_point(r, RECIP, r->link[1]);
	if (r->crash == CRASH_GRANTER) { /* the granter is dead: still ours? */
		for (uint64_t i = 0; i < r->n; i++)
			*word(map.addr, i) = tag(i);
		rep->ok = rep->ok && check_tags(map.addr, r->n);
	}
	rep->ok = gnt_dir_unmap(&map, BATCH) == 0 && rep->ok;
	rep->hc = gnt_hypercall_count() - h0;
}

static void recip_copies(struct run *r, const struct msg *m, struct report *rep)
{
	uint64_t h0 = gnt_hypercall_count();
	grant_ref_t *refs = malloc(r->n * sizeof(*refs));
	char *dst = gnt_alloc_pages(r->n);

	if (refs && dst && gnt_dir_read((domid_t)r->dom[DONOR], (grant_ref_t)m->ref, r->n, refs,
					NULL) == 0 &&
	    gnt_dir_copy(dst, (domid_t)r->dom[DONOR], refs, r->n, BATCH, NULL) == 0)
		rep->ok = check_tags(dst, r->n);
	rep->seconds = (double)(now_ns() - m->t0_ns) / 1e9;
	crash_point(r, RECIP, r->link[1]);
	rep->ok = rep->ok && check_tags(dst, r->n); /* our copy, whatever happened */
	if (dst)
		gnt_free_pages(dst, r->n);
	free(refs);
	rep->hc = gnt_hypercall_count() - h0;
}

/* ---- transfer --------------------------------------------------------------- */

/* A transferred page arrives as a one-page unit of its own (a memfd in gntd,
 * a mapping in the recipient: docs/design.md "Transfer and exchange"), and
 * only one-page units can be transferred.  So N pages go in rounds of at
 * most XFER_WINDOW: the donor allocates and transfers a round, the
 * recipient reads it and gives the pages back before the next, which keeps
 * gntd's descriptors and each process's mappings bounded whatever N. */
#define XFER_WINDOW 4096u

static uint64_t rounds_left(const struct run *r, uint64_t done)
{
	return r->n - done < XFER_WINDOW ? r->n - done : XFER_WINDOW;
}

/* k one-page units of our own (XENMEM_populate_physmap without
 * GNT_MEMF_one_unit: gntd hands out at most 128 a call). */
static int alloc_single(uint64_t *gfns, uint64_t k)
{
	for (uint64_t got = 0; got < k;) {
		struct xen_memory_reservation m = {.extent_start = gfns + got,
						   .nr_extents = k - got,
						   .domid = DOMID_SELF};
		long rc = gnt_memory_op(XENMEM_populate_physmap, &m);
		if (rc <= 0)
			return rc < 0 ? (int)rc : -ENOMEM;
		got += (uint64_t)rc;
	}
	return 0;
}

static void free_single(uint64_t *gfns, uint64_t k)
{
	struct xen_memory_reservation m = {.extent_start = gfns, .nr_extents = k,
					   .domid = DOMID_SELF};
	gnt_memory_op(XENMEM_decrease_reservation, &m);
}

/* Pages gfns[0..k) hold the tags of pages first.. of the buffer. */
static int check_frames(const uint64_t *gfns, uint64_t first, uint64_t k)
{
	for (uint64_t j = 0; j < k; j++) {
		uint64_t *p = gfns[j] ? gnt_gfn_to_virt(gfns[j]) : NULL;
		if (!p || *p != tag(first + j))
			return 0;
	}
	return 1;
}

/* Recipient: offer n accept-transfer entries (Xen's
 * gnttab_grant_foreign_transfer_ref) and publish them in a directory. */
static int offer(struct run *r, struct gnt_dir_grant *g)
{
	int err = gnt__dir_init(g, (domid_t)r->dom[DONOR], r->n);

	for (uint64_t i = 0; !err && i < r->n; i++) {
		int ref = gnt_grant_foreign_transfer((domid_t)r->dom[DONOR]);
		err = ref < 0 ? ref : 0;
		if (!err)
			g->refs[i] = (grant_ref_t)ref;
	}
	return err ? err : gnt__dir_publish(g);
}

/* One round's pages: end each offer (the gfn it brought) and read it. */
static int take_round(struct run *r, const struct gnt_dir_grant *g, uint64_t done, uint64_t k,
		      uint64_t *gfns)
{
	for (uint64_t j = 0; j < k; j++)
		gfns[j] = gnt_end_foreign_transfer_ref(g->refs[done + j]);
	return check_frames(gfns, done, k);
}

static void recip_accepts(struct run *r, struct report *rep)
{
	int fd = r->link[1];
	struct gnt_dir_grant g;
	uint64_t *gfns = malloc(XFER_WINDOW * sizeof(*gfns));
	uint64_t h0 = gnt_hypercall_count(), t0 = now_ns(), done = 0, k = 0;
	struct msg m = {0};

	if (!gfns || offer(r, &g) < 0) {
		free(gfns);
		return;
	}
	rep->refs = g.npages + g.ndir;
	send_msg(r, fd, g.dir_ref, t0, 1);
	rep->ok = rep->supported = 1;
	for (; done < r->n; done += k) {
		k = rounds_left(r, done);
		if (recv_msg(fd, &m) < 0 || !m.ok) {
			rep->ok = 0;
			break;
		}
		rep->ok = take_round(r, &g, done, k, gfns) && rep->ok;
		if (done + k == r->n)
			break; /* the last round's pages stay ours: checked below */
		free_single(gfns, k);
		send_msg(r, fd, 0, 0, 1); /* room for the next round */
	}
	rep->seconds = (double)(now_ns() - t0) / 1e9;
	/* the sharing costs this; ending the directory's grants depends on when
	 * the donor's unmap settles (as the map donor's) */
	rep->hc = gnt_hypercall_count() - h0;
	crash_point(r, RECIP, -1);
	if (rep->ok && r->crash == CRASH_GRANTER) { /* the sender is dead: still ours? */
		for (uint64_t j = 0; j < k; j++)
			*(uint64_t *)gnt_gfn_to_virt(gfns[j]) = tag(done + j);
		rep->ok = check_frames(gfns, done, k);
	}
	if (rep->ok)
		free_single(gfns, k);
	gnt_dir_end(&g); /* the accept refs are free entries by now */
	free(gfns);
}

/* Donor: one round: k new pages, tagged, transferred with one hypercall. */
static int transfer_round(struct run *r, const grant_ref_t *refs, uint64_t done, uint64_t k,
			  uint64_t *gfns, struct gnttab_transfer *ops)
{
	int ok = alloc_single(gfns, k) == 0;

	for (uint64_t j = 0; ok && j < k; j++) {
		uint64_t *p = gnt_gfn_to_virt(gfns[j]);
		*p = tag(done + j);
		ops[j] = (struct gnttab_transfer){
			.mfn = gfns[j], .domid = (domid_t)r->dom[RECIP], .ref = refs[done + j]};
	}
	ok = ok && gnt_grant_table_op(GNTTABOP_transfer, ops, (unsigned int)k) == 0;
	for (uint64_t j = 0; ok && j < k; j++)
		ok = ops[j].status == GNTST_okay;
	return ok;
}

static void donor_transfers(struct run *r, struct report *rep)
{
	int fd = r->link[0];
	struct gnttab_transfer *ops = malloc(XFER_WINDOW * sizeof(*ops));
	uint64_t *gfns = malloc(XFER_WINDOW * sizeof(*gfns));
	grant_ref_t *refs = malloc(r->n * sizeof(*refs));
	uint64_t h0 = gnt_hypercall_count(), k = 0;
	struct msg m;

	rep->supported = 1;
	if (!ops || !gfns || !refs || recv_msg(fd, &m) < 0 ||
	    gnt_dir_read((domid_t)r->dom[RECIP], (grant_ref_t)m.ref, r->n, refs, NULL) < 0)
		goto out;
	rep->ok = 1;
	for (uint64_t done = 0; rep->ok && done < r->n; done += k) {
		k = rounds_left(r, done);
		rep->ok = transfer_round(r, refs, done, k, gfns, ops);
		send_msg(r, fd, 0, 0, (uint64_t)rep->ok);
		if (rep->ok && done + k < r->n)
			rep->ok = recv_msg(fd, &m) == 0 && m.ok;
	}
	rep->hc = gnt_hypercall_count() - h0;
	crash_point(r, DONOR, -1);
	/* moved, not shared: none of the last round's frames is ours now */
	for (uint64_t j = 0; rep->ok && r->crash == CRASH_RECIP && j < k; j++)
		rep->ok = gnt_gfn_to_virt(gfns[j]) == NULL;
out:
	free(ops);
	free(gfns);
	free(refs);
}

/* ---- the two processes -------------------------------------------------- */

static void side_main(struct run *r, int side)
{
	struct report rep = {.side = (uint32_t)side};

	if (side == DONOR && r->approach == GNT_CMP_TRANSFER) {
		donor_transfers(r, &rep);
	} else if (side == DONOR) {
		donor_grants(r, &rep);
	} else if (r->approach == GNT_CMP_TRANSFER) {
		recip_accepts(r, &rep);
	} else {
		struct msg m;
		rep.supported = 1;
		if (recv_msg(r->link[1], &m) == 0) {
			if (r->approach == GNT_CMP_MAP)
				recip_maps(r, &m, &rep);
			else
				recip_copies(r, &m, &rep);
			if (r->crash == CRASH_NONE) /* crash runs told at the crash point */
				send_msg(r, r->link[1], 0, 0, 1);
		}
	}
	report(r, &rep);
}

static pid_t fork_into(struct run *r, int side)
{
	uid_t uid;
	gid_t gid;
	int fd = gnt_domain_token(r->dom[side], &uid, &gid);
	pid_t pid;

	if (fd < 0)
		return fd;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		if (gnt__domain_enter(fd, r->dom[side], uid, gid) < 0 || gnt_open() < 0)
			_exit(2);
		side_main(r, side);
		_exit(0);
	}
	close(fd);
	return pid < 0 ? -errno : pid;
}

static int make_domains(struct run *r)
{
	uint64_t refs = r->n + gnt_dir_pages(r->n) + 64;
	struct gnt_domain_config cfg = {.max_pages = r->n + gnt_dir_pages(r->n) + 64,
					/* 256 refs a frame: enough at v1 and v2 */
					.max_grant_frames = (uint32_t)(refs / 256 + 2)};
	char name[64];

	if (cfg.max_grant_frames < 64)
		cfg.max_grant_frames = 64;
	for (int s = 0; s < 2; s++) {
		int id;
		snprintf(name, sizeof(name), "cmp-%s-%d", s ? "recip" : "donor", (int)getpid());
		id = gnt_domain_create(name, &cfg);
		if (id < 0) {
			if (s)
				gnt_domain_destroy(r->dom[0]);
			return id;
		}
		r->dom[s] = (uint32_t)id;
	}
	return 0;
}

static int open_pipes(struct run *r)
{
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, r->link) < 0)
		return -errno;
	if (pipe2(r->up, O_CLOEXEC) < 0 || pipe2(r->go[0], O_CLOEXEC) < 0 ||
	    pipe2(r->go[1], O_CLOEXEC) < 0)
		return -errno;
	return 0;
}

static void close_pipes(struct run *r)
{
	int *fds[] = {r->link, r->up, r->go[0], r->go[1]};
	for (size_t i = 0; i < 4; i++)
		for (int j = 0; j < 2; j++)
			if (fds[i][j] >= 0)
				close(fds[i][j]);
}

static int read_report(struct run *r, struct report *rep)
{
	return read(r->up[0], rep, sizeof(*rep)) == sizeof(*rep) ? 0 : -EPIPE;
}

/* Start both sides; in a crash run kill the victim once both share. */
static int run_sides(struct run *r, struct report out[2])
{
	pid_t pid[2] = {-1, -1};
	int err = make_domains(r);

	if (err < 0)
		return err;
	for (int s = 0; s < 2 && !err; s++) {
		pid[s] = fork_into(r, s);
		err = pid[s] < 0 ? (int)pid[s] : 0;
	}
	close(r->up[1]);
	r->up[1] = -1;
	if (!err && r->crash != CRASH_NONE) {
		int victim = r->crash == CRASH_GRANTER ? DONOR : RECIP;
		struct report rep;
		/* the survivor's ready (the victim may be ready or not yet: we
		 * wait for both sides to be sharing) */
		for (int k = 0; k < 2 && !err; k++)
			err = read_report(r, &rep);
		kill(pid[victim], SIGKILL);
		waitpid(pid[victim], NULL, 0);
		pid[victim] = -1;
		out[victim] = (struct report){.side = (uint32_t)victim, .ok = 1, .supported = 1};
		if (write(r->go[!victim][1], "g", 1) != 1)
			err = -EPIPE;
	}
	for (int k = 0; k < 2 && !err; k++) {
		struct report rep;
		if (pid[k] < 0 && r->crash != CRASH_NONE)
			continue;
		err = read_report(r, &rep);
		if (!err && rep.side < 2)
			out[rep.side] = rep;
	}
	for (int s = 0; s < 2; s++)
		if (pid[s] > 0)
			waitpid(pid[s], NULL, 0);
	gnt_domain_destroy(r->dom[0]);
	gnt_domain_destroy(r->dom[1]);
	return err;
}

static void run_init(struct run *r, int approach, uint64_t n, int crash)
{
	memset(r, 0, sizeof(*r));
	r->approach = approach;
	r->n = n;
	r->crash = crash;
	r->link[0] = r->link[1] = r->up[0] = r->up[1] = -1;
	r->go[0][0] = r->go[0][1] = r->go[1][0] = r->go[1][1] = -1;
}

int gnt_compare_run(int approach, uint64_t npages, struct gnt_compare_result *res)
{
	struct report rep[2] = {{0}};
	struct run r;
	int err;

	if (approach < 0 || approach >= GNT_CMP_APPROACHES || !npages ||
	    npages > GNT_DIR_MAX_PAGES)
		return -EINVAL;
	run_init(&r, approach, npages, CRASH_NONE);
	err = open_pipes(&r);
	if (!err)
		err = run_sides(&r, rep);
	close_pipes(&r);
	if (err < 0)
		return err;
	*res = (struct gnt_compare_result){
		.approach = approach,
		.npages = npages,
		.supported = rep[DONOR].supported && rep[RECIP].supported,
		.verified = rep[DONOR].ok && rep[RECIP].ok,
		.refs = rep[DONOR].refs + rep[RECIP].refs,
		.hc_donor = rep[DONOR].hc,
		.hc_recip = rep[RECIP].hc,
		.messages = rep[DONOR].msgs + rep[RECIP].msgs,
		.seconds = rep[RECIP].seconds,
	};
	return 0;
}

int gnt_compare_crash(int approach, int granter_dies, enum gnt_compare_outcome *out)
{
	struct report rep[2] = {{0}};
	struct run r;
	int err, survivor = granter_dies ? RECIP : DONOR;

	if (approach < 0 || approach >= GNT_CMP_APPROACHES)
		return -EINVAL;
	*out = GNT_CMP_UNVERIFIED;
	run_init(&r, approach, CRASH_PAGES, granter_dies ? CRASH_GRANTER : CRASH_RECIP);
	err = open_pipes(&r);
	if (!err)
		err = run_sides(&r, rep);
	close_pipes(&r);
	if (err < 0 || !rep[survivor].ok)
		return err;
	if (approach == GNT_CMP_TRANSFER)
		*out = GNT_CMP_NOT_APPLICABLE; /* the pages moved: nothing was shared */
	else if (!granter_dies)
		*out = GNT_CMP_PAGES_RETURNED;
	else
		*out = approach == GNT_CMP_MAP ? GNT_CMP_KEEPS_WORKING : GNT_CMP_NOT_APPLICABLE;
	return 0;
}

const char *gnt_compare_name(int approach)
{
	static const char *const n[] = {"map (directory)", "copy (directory)", "transfer"};
	return approach >= 0 && approach < GNT_CMP_APPROACHES ? n[approach] : "?";
}

const char *gnt_compare_outcome_str(enum gnt_compare_outcome o)
{
	static const char *const s[] = {"unverified", "survivor keeps working", "pages returned",
					"not applicable"};
	return (unsigned)o < 4 ? s[o] : "?";
}
