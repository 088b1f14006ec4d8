/* SPDX-License-Identifier: MIT */
/*
 * hv/ops.c - request dispatch: every request is checked for size and
 * privilege here, before the core sees it.  A request that does not fit its
 * message (wrong length, wrong descriptor count) is a protocol error and
 * drops the connection; a request that fits but is wrong gets Xen's error.
 */
#define _GNU_SOURCE
#include "hv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "backing.h"

static void close_fds(int *fds, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++)
		close(fds[i]);
}

static struct gnt_domain *conn_domain(struct hv_conn *c)
{
	return gnt_core_domain(hv->core, c->domid);
}

/* Kill every process of a domain, then release it. */
void hv_domain_kill(struct gnt_domain *d)
{
	struct hv_dom *hd = d->user;
	uint16_t id = d->id;

	hv_xs_domain_gone(id);

	if (hv->privileged && id != 0) {
		/* the domain's uid is its own: kill(-1) as that uid reaches every
		 * process of the domain, including ones that never connected */
		pid_t p = fork();
		if (p == 0) {
			uid_t u = hv->uid_base + id;
			if (setresgid(u, u, u) == 0 && setresuid(u, u, u) == 0)
				kill(-1, SIGKILL);
			_exit(0);
		}
		if (p > 0)
			waitpid(p, NULL, 0);
	}
	/* unmap notifies first, while the domain's mappings, memory and ports
	 * all still stand: a peer relies on the byte being clear before any
	 * pin goes, and the event needs the port still bound */
	for (struct hv_conn *c = hv->conns; c; c = c->next)
		if (!c->control && c->domid == id)
			hv_unmap_notify_conn_gone(c);
	for (struct hv_conn *c = hv->conns; c; c = c->next) {
		if (c->control || c->domid != id || c->dead)
			continue;
		if (c->pidfd >= 0)
			syscall(424 /* pidfd_send_signal */, c->pidfd, SIGKILL, NULL, 0);
		hv_conn_kill(c);
	}
	d->user = NULL;
	if (hd)
		hv_gntdev_dom_gone(hd);
	free(hd);
	gnt__core_domain_release(hv->core, d);
	/* its mappings are gone: find out now whether its processes let go */
	if (hv->revoke)
		hv_revoke_settle_mapper(id);
}

/* ---- hypercalls ------------------------------------------------------- */

struct fdset {
	uint32_t unit[GNT_MSG_MAX_FDS * 16];
	uint8_t rw[GNT_MSG_MAX_FDS * 16];
	int fd[GNT_MSG_MAX_FDS * 16];
	uint32_t n;
};
#define FDSET_MAX (GNT_MSG_MAX_FDS * 16)

/* (unit, access) -> index in the fdset being filled: open addressing, entries
 * of earlier fdsets told apart by a generation number, so nothing is cleared
 * between batches (a batch of n separate units was O(n^2) with a scan). */
#define FDHASH_SIZE 8192u /* power of two, >= 2 * FDSET_MAX */
static uint32_t fdhash_gen[FDHASH_SIZE], fdhash_cur;
static uint16_t fdhash_idx[FDHASH_SIZE];

static void fdset_reset(struct fdset *s)
{
	s->n = 0;
	if (++fdhash_cur == 0) { /* wrapped: forget everything */
		memset(fdhash_gen, 0, sizeof(fdhash_gen));
		fdhash_cur = 1;
	}
}

/* Returns the descriptor's index, or the op's GNTST_* status. */
static int32_t fdset_add(struct fdset *s, struct gnt_unit *u, int writable,
			 struct gnt_expo *x)
{
	uint32_t h;

	/* batches are usually sequential in one unit: the last one first */
	if (s->n && s->unit[s->n - 1] == u->id && s->rw[s->n - 1] == writable)
		return (int32_t)(s->n - 1);
	h = ((u->id * 2u + (uint32_t)!!writable) * 2654435761u) & (FDHASH_SIZE - 1);
	for (; fdhash_gen[h] == fdhash_cur; h = (h + 1) & (FDHASH_SIZE - 1)) {
		uint16_t i = fdhash_idx[h];
		if (s->unit[i] == u->id && s->rw[i] == writable)
			return i;
	}
	if (s->n == FDSET_MAX)
		return GNTST_eagain;
	/* with revocation checks, the exposure's own file: see revoke.c */
	s->fd[s->n] = hv->revoke ? hv_revoke_expo_fd(x) : hv_backing_fd(u->backing, writable);
	if (s->fd[s->n] < 0)
		return GNTST_no_space; /* like an exposure gntd cannot open */
	s->unit[s->n] = u->id;
	s->rw[s->n] = (uint8_t)writable;
	fdhash_gen[h] = fdhash_cur;
	fdhash_idx[h] = (uint16_t)s->n;
	return (int32_t)s->n++;
}

/* Scratch memory for batched requests, kept from one request to the next:
 * a fresh malloc of a big batch is a fresh mmap, and faulting it in again on
 * every request cost gntd more than its own work on the batch.  gntd handles
 * one request at a time, and hv_reply copies what it cannot send at once. */
enum { SCR_OUT, SCR_UNITS, SCR_PAGES, SCR_FDSET, SCR_N };

static void *scratch(int slot, size_t len)
{
	static struct {
		void *p;
		size_t cap;
	} s[SCR_N];

	if (len > s[slot].cap) {
		void *n = malloc(len); /* nothing to keep: no realloc */
		if (!n)
			return NULL;
		free(s[slot].p);
		s[slot].p = n;
		s[slot].cap = len;
	}
	return s[slot].p;
}

static int hc_map(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	uint32_t n = m->count;
	struct gnttab_map_grant_ref *ops;
	struct gnt_map_loc *loc;
	struct gnt_unit **units;
	uint32_t *pages;
	struct fdset *fs;
	uint8_t *out;
	int rc;

	if (n == 0 || n > GNT_MAP_BATCH_MAX || m->len != n * sizeof(*ops))
		return -EPROTO;
	out = scratch(SCR_OUT, (size_t)n * (sizeof(*ops) + sizeof(*loc)));
	units = scratch(SCR_UNITS, n * sizeof(*units));
	pages = scratch(SCR_PAGES, n * sizeof(*pages));
	fs = scratch(SCR_FDSET, sizeof(*fs));
	if (!out || !units || !pages || !fs)
		return -ENOMEM;
	ops = (void *)out;
	loc = (void *)(out + (size_t)n * sizeof(*ops));
	memcpy(ops, pl, m->len); /* private copy: checked and used from here */
	fdset_reset(fs);
	if ((rc = hv_gntdev_map_check(c, m)) < 0)
		return hv_reply(c, m, rc, NULL, 0, NULL, 0);
	gnt_core_map(hv->core, conn_domain(c), ops, n, units, pages);
	for (uint32_t i = 0; i < n; i++) {
		loc[i].fd_index = -1;
		loc[i].page = 0;
		if (ops[i].status != GNTST_okay || !(ops[i].flags & GNTMAP_host_map))
			continue;
		loc[i].fd_index = fdset_add(fs, units[i], !(ops[i].flags & GNTMAP_readonly),
					    conn_domain(c)->mt[ops[i].handle].expo);
		loc[i].page = pages[i];
		if (loc[i].fd_index < 0) {
			/* too many distinct units for one reply (retry), or no
			 * descriptor for it: undo */
			struct gnttab_unmap_grant_ref u = {.handle = ops[i].handle};
			gnt_core_unmap(hv->core, conn_domain(c), &u, 1);
			ops[i].status = (int16_t)loc[i].fd_index;
			loc[i].fd_index = -1;
			ops[i].handle = UINT32_MAX;
		}
	}
	if (m->aux & GNT_HC_OWNED)
		hv_gntdev_map_owned(c, ops, n);
	return hv_reply(c, m, 0, out, (uint32_t)((size_t)n * (sizeof(*ops) + sizeof(*loc))),
			fs->fd, fs->n);
}

/* Settle the exposures that pin d's ref and only wait for the kernel's word
 * that their mapper let go (revoke.c): an unmapped grant is free at once. */
static void settle_ref(struct gnt_domain *d, grant_ref_t ref)
{
	const struct gnt_active *a = gnt_core_active(d, ref);

	if (hv->revoke && a && (a->xr || a->xw) && a->unit != GNT_NO_UNIT)
		hv_revoke_settle_unit(gnt_core_unit(hv->core, a->unit));
}

static int hc_simple_batch(struct hv_conn *c, const struct gnt_msg *m,
			   const uint8_t *pl, size_t esz)
{
	uint32_t n = m->count;
	uint8_t *ops;

	if (n == 0 || n > GNT_MAP_BATCH_MAX || m->len != n * esz)
		return -EPROTO;
	ops = scratch(SCR_OUT, m->len);
	if (!ops)
		return -ENOMEM;
	memcpy(ops, pl, m->len);
	switch (m->cmd & 0xFFFF) {
	case GNTTABOP_unmap_grant_ref:
		gnt_core_unmap(hv->core, conn_domain(c), (void *)ops, n);
		break;
	case GNTTABOP_copy:
		gnt_core_copy(hv->core, conn_domain(c), (void *)ops, n);
		break;
	case GNTTABOP_transfer:
		hv_transfer(conn_domain(c), (void *)ops, n);
		break;
	case GNTTABOP_swap_grant_ref: {
		struct gnttab_swap_grant_ref *sw = (void *)ops;
		/* an entry whose mappings are gone is not in use (Xen) */
		for (uint32_t i = 0; i < n; i++) {
			settle_ref(conn_domain(c), sw[i].ref_a);
			settle_ref(conn_domain(c), sw[i].ref_b);
		}
		gnt_core_swap_grant_ref(hv->core, conn_domain(c), sw, n);
		break;
	}
	}
	return hv_reply(c, m, 0, ops, m->len, NULL, 0);
}

static int hc_set_version(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *self = conn_domain(c);
	struct gnttab_set_version op;
	int32_t rc;

	if (m->len != sizeof(op))
		return -EPROTO;
	if (m->count != 1)
		return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
	memcpy(&op, pl, sizeof(op));
	/* mappings already unmapped only wait for the kernel's word: settle
	 * them, or their pins would refuse the switch (-EBUSY) */
	if (hv->revoke && op.version != self->version)
		hv_revoke_settle_all();
	rc = gnt_core_set_version(hv->core, self, &op);
	return hv_reply(c, m, rc, &op, sizeof(op), NULL, 0);
}

/* The frame numbers are opaque, as setup_table's; the reply carries the
 * status frames' descriptor, read-only, for the domain to map. */
static int hc_status_frames(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnttab_get_status_frames op;
	uint8_t out[sizeof(op) + 512 * sizeof(uint64_t)];
	struct gnt_domain *d;
	int fd = -1;

	if (m->len != sizeof(op))
		return -EPROTO;
	if (m->count != 1)
		return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
	memcpy(&op, pl, sizeof(op));
	op.frame_list = NULL; /* never a pointer of ours */
	if (op.nr_frames > 512) /* more than 4096 table frames have */
		op.status = GNTST_general_error;
	else
		gnt_core_get_status_frames(hv->core, conn_domain(c), &op,
					   (uint64_t *)(void *)(out + sizeof(op)));
	memcpy(out, &op, sizeof(op));
	d = op.dom == DOMID_SELF ? conn_domain(c) : gnt_core_domain(hv->core, op.dom);
	if (op.status == GNTST_okay)
		fd = hv_backing_fd(d->status_backing, 0);
	return hv_reply(c, m, 0, out,
			(uint32_t)(sizeof(op) + (op.status ? 0 : op.nr_frames * 8)), &fd,
			fd >= 0 ? 1 : 0);
}

static int hc_grant_table(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *self = conn_domain(c);

	switch (m->cmd & 0xFFFF) {
	case GNTTABOP_map_grant_ref:
		return hc_map(c, m, pl);
	case GNTTABOP_unmap_grant_ref:
		return hc_simple_batch(c, m, pl, sizeof(struct gnttab_unmap_grant_ref));
	case GNTTABOP_copy:
		return hc_simple_batch(c, m, pl, sizeof(struct gnttab_copy));
	case GNTTABOP_transfer:
		return hc_simple_batch(c, m, pl, sizeof(struct gnttab_transfer));
	case GNTTABOP_swap_grant_ref:
		return hc_simple_batch(c, m, pl, sizeof(struct gnttab_swap_grant_ref));
	case GNTTABOP_setup_table: {
		struct gnttab_setup_table op;
		uint8_t out[sizeof(op) + 4096 * sizeof(uint64_t)];
		if (m->len != sizeof(op))
			return -EPROTO;
		if (m->count != 1)
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		memcpy(&op, pl, sizeof(op));
		if (op.nr_frames > 4096) {
			op.status = GNTST_general_error;
			return hv_reply(c, m, 0, &op, sizeof(op), NULL, 0);
		}
		gnt_core_setup_table(hv->core, self, &op, (uint64_t *)(out + sizeof(op)));
		memcpy(out, &op, sizeof(op));
		return hv_reply(c, m, 0, out,
				(uint32_t)(sizeof(op) + (op.status ? 0 : op.nr_frames * 8)),
				NULL, 0);
	}
	case GNTTABOP_query_size: {
		struct gnttab_query_size op;
		if (m->len != sizeof(op))
			return -EPROTO;
		if (m->count != 1)
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		memcpy(&op, pl, sizeof(op));
		gnt_core_query_size(hv->core, self, &op);
		return hv_reply(c, m, 0, &op, sizeof(op), NULL, 0);
	}
	case GNTTABOP_get_version: {
		struct gnttab_get_version op;
		int rc;
		if (m->len != sizeof(op))
			return -EPROTO;
		if (m->count != 1)
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		memcpy(&op, pl, sizeof(op));
		rc = gnt_core_get_version(hv->core, self, &op);
		return hv_reply(c, m, rc, rc ? NULL : &op, rc ? 0 : sizeof(op), NULL, 0);
	}
	case GNTTABOP_set_version:
		return hc_set_version(c, m, pl);
	case GNTTABOP_get_status_frames:
		return hc_status_frames(c, m, pl);
	default:
		return hv_reply(c, m, -ENOSYS, NULL, 0, NULL, 0);
	}
}

#define POPULATE_SEPARATE_MAX 128u /* separate units (fds) per call */

static int hc_memory(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *self = conn_domain(c);
	struct xen_memory_reservation r;
	int rc;

	if (m->len < sizeof(r))
		return -EPROTO;
	memcpy(&r, pl, sizeof(r));
	r.extent_start = NULL; /* never a pointer of ours */
	switch (m->cmd & 0xFFFF) {
	case XENMEM_populate_physmap:
	case XENMEM_increase_reservation: {
		bool one = r.mem_flags & GNT_MEMF_one_unit;
		struct gnt_unit *u;
		uint64_t *gfns;
		int *fds;
		long done;
		uint32_t nfds = 0;

		if (m->len != sizeof(r))
			return -EPROTO;
		if (r.nr_extents > (1u << 20))
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		if (!one && r.nr_extents > POPULATE_SEPARATE_MAX)
			r.nr_extents = POPULATE_SEPARATE_MAX; /* partial, as Xen may */
		gfns = calloc(r.nr_extents + 1, sizeof(*gfns));
		fds = calloc(one ? 1 : r.nr_extents + 1, sizeof(*fds));
		if (!gfns || !fds) {
			free(gfns);
			free(fds);
			return -ENOMEM;
		}
		done = gnt_core_populate(hv->core, self, &r, gfns, &u);
		if (done > 0) {
			uint32_t pages;
			if (one) {
				fds[nfds++] = hv_backing_fd(u->backing, 1);
			} else {
				for (long i = 0; i < done; i++)
					fds[nfds++] = hv_backing_fd(
						gnt_core_unit_of_gfn(self, gfns[i], &pages)->backing, 1);
			}
		}
		rc = hv_reply(c, m, (int32_t)done, gfns,
			      done > 0 ? (uint32_t)(done * sizeof(*gfns)) : 0, fds, nfds);
		free(gfns);
		free(fds);
		return rc;
	}
	case XENMEM_exchange:
		return hv_exchange(c, m, pl);
	case XENMEM_decrease_reservation: {
		long done;
		if (r.nr_extents > (1u << 20) ||
		    m->len != sizeof(r) + r.nr_extents * sizeof(uint64_t))
			return -EPROTO;
		uint64_t *gfns = malloc(r.nr_extents * sizeof(uint64_t) + 1);
		if (!gfns)
			return -ENOMEM;
		memcpy(gfns, pl + sizeof(r), r.nr_extents * sizeof(uint64_t));
		done = gnt_core_decrease(hv->core, self, &r, gfns);
		free(gfns);
		return hv_reply(c, m, (int32_t)done, NULL, 0, NULL, 0);
	}
	default:
		return hv_reply(c, m, -ENOSYS, NULL, 0, NULL, 0);
	}
}

/* ---- connections and control -------------------------------------- */

static int do_attach(struct hv_conn *c, int *fds, uint32_t nfds)
{
	struct ucred cr;
	socklen_t l = sizeof(cr);
	int fd;

	if (nfds != 1) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	fd = fds[0];
	{
		int type;
		socklen_t tl = sizeof(type);
		struct sockaddr_un {
			sa_family_t f;
			char p[108];
		} sa;
		socklen_t sl = sizeof(sa);
		if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
		    type != SOCK_STREAM || getsockname(fd, (void *)&sa, &sl) < 0 ||
		    sa.f != AF_UNIX) {
			close(fd);
			return -EPROTO;
		}
	}
	/* the creator of the socket pair: the process that now joins */
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &l) < 0)
		cr.pid = 0;
	/* connections are descriptors of ours: bounded per domain, in all,
	 * and by the domain's share */
	if (!hv_conn_add(fd, c->control, c->domid, cr.pid)) {
		hv_log("d%u: attach refused: %s", c->domid, strerror(errno));
		close(fd); /* the new process sees its connection close */
	}
	return 0;
}

static int do_info(struct hv_conn *c, const struct gnt_msg *m)
{
	struct gnt_domain *d = conn_domain(c);
	struct hv_backing *b = d->table_backing;
	struct gnt_info in = {
		.domid = d->id,
		.max_frames = d->max_frames,
		.nr_frames = d->nr_frames,
		.alloc_pages = b->npages - d->max_frames,
		.max_maptrack = d->mt_limit,
		.version = d->version,
		.max_pages = d->max_pages,
	};
	int fds[2] = {b->fd, -1};

	if (d->status)
		fds[1] = hv_backing_fd(d->status_backing, 0);
	return hv_reply(c, m, 0, &in, sizeof(in), fds, fds[1] >= 0 ? 2 : 1);
}

static void dom_info(struct gnt_domain *d, struct gnt_dom_info *o)
{
	struct hv_dom *hd = d->user;
	memset(o, 0, sizeof(*o));
	o->domid = d->id;
	o->state = d->state;
	memcpy(o->name, d->name, sizeof(o->name));
	o->tot_pages = d->tot_pages;
	o->max_pages = d->max_pages;
	o->nr_frames = d->nr_frames;
	o->max_frames = d->max_frames;
	o->entries_in_use = gnt_core_entries_in_use(d);
	o->mappings = d->mt_used;
	o->pins = d->ext_pins;
	o->procs = hd ? hd->nconns : 0;
	o->units = d->p2m_len;
	o->fds = hv_budget_used(d->id);
}

static int do_control(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl)
{
	struct gnt_domain *d;

	switch (m->op) {
	case GNT_MSG_DOM_CREATE: {
		struct gnt_dom_create dc;
		struct gnt_limits lim = {0};
		int rc;
		if (m->len != sizeof(dc))
			return -EPROTO;
		memcpy(&dc, pl, sizeof(dc));
		dc.name[sizeof(dc.name) - 1] = 0;
		lim.max_grant_frames = dc.max_grant_frames ? dc.max_grant_frames : 64;
		lim.max_maptrack_frames = dc.max_maptrack_frames ? dc.max_maptrack_frames : 1024;
		lim.max_pages = dc.max_pages ? dc.max_pages : (uint64_t)1 << 18; /* 1 GiB */
		for (const char *p = dc.name; *p; p++)
			if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
			      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
				return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		if (!dc.name[0] || (dc.name[0] >= '0' && dc.name[0] <= '9'))
			return hv_reply(c, m, -EINVAL, NULL, 0, NULL, 0);
		rc = gnt_core_domain_create(hv->core, 0, dc.name, &lim, &d);
		if (rc == 0) {
			d->user = calloc(1, sizeof(struct hv_dom));
			if (d->user)
				hv_gntdev_dom_init(d->user);
			if (!d->user) {
				gnt__core_domain_release(hv->core, d);
				rc = -ENOMEM;
			} else {
				rc = d->id;
				hv_log("d%u: created \"%s\"", d->id, d->name);
				hv_xs_domain_created(d);
			}
		}
		return hv_reply(c, m, rc, NULL, 0, NULL, 0);
	}
	case GNT_MSG_DOM_LOOKUP: {
		char name[64] = {0};
		if (m->len == 0 || m->len >= sizeof(name))
			return hv_reply(c, m, -ENOENT, NULL, 0, NULL, 0);
		memcpy(name, pl, m->len);
		d = gnt_core_domain_by_name(hv->core, name);
		return hv_reply(c, m, d ? d->id : -ENOENT, NULL, 0, NULL, 0);
	}
	case GNT_MSG_DOM_DESTROY:
		d = gnt_core_domain(hv->core, m->count);
		if (!d || m->count == 0 || d->state != GNT_DOM_ALIVE)
			return hv_reply(c, m, -ESRCH, NULL, 0, NULL, 0);
		hv_log("d%u: destroyed", d->id);
		hv_domain_kill(d);
		return hv_reply(c, m, 0, NULL, 0, NULL, 0);
	case GNT_MSG_DOM_TOKEN: {
		int sv[2];
		struct gnt_token t;
		int rc;
		d = gnt_core_domain(hv->core, m->count);
		if (!d || m->count == 0 || d->state != GNT_DOM_ALIVE)
			return hv_reply(c, m, -ESRCH, NULL, 0, NULL, 0);
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
			return hv_reply(c, m, -errno, NULL, 0, NULL, 0);
		if (!hv_conn_add(sv[0], false, d->id, 0)) {
			rc = -errno;
			close(sv[0]);
			close(sv[1]);
			return hv_reply(c, m, rc, NULL, 0, NULL, 0);
		}
		t.domid = d->id;
		t.uid = t.gid = hv->privileged ? hv->uid_base + d->id : geteuid();
		if (!hv->privileged)
			t.gid = getegid();
		t.pad = 0;
		rc = hv_reply(c, m, 0, &t, sizeof(t), &sv[1], 1);
		close(sv[1]);
		return rc;
	}
	case GNT_MSG_DOM_LIST: {
		uint32_t n = 0;
		struct gnt_dom_info *v = calloc(GNT_NR_DOMIDS, sizeof(*v));
		int rc;
		if (!v)
			return -ENOMEM;
		for (d = gnt_core_domain_next(hv->core, 0); d;
		     d = gnt_core_domain_next(hv->core, d->id + 1u))
			dom_info(d, &v[n++]);
		rc = hv_reply(c, m, (int32_t)n, v, n * (uint32_t)sizeof(*v), NULL, 0);
		free(v);
		return rc;
	}
	case GNT_MSG_DOM_GRANTS: {
		struct gnt_grant_info *v;
		uint32_t n = 0, ne;
		int rc;
		d = gnt_core_domain(hv->core, m->count);
		if (!d)
			return hv_reply(c, m, -ESRCH, NULL, 0, NULL, 0);
		ne = gnt_core_nr_entries(d);
		v = calloc(ne, sizeof(*v));
		if (!v)
			return -ENOMEM;
		for (uint32_t r = 0; r < ne; r++) {
			struct gnt_entry e;
			const struct gnt_active *a = gnt_core_active(d, r);
			gnt_core_entry(d, r, &e);
			unsigned busy = (unsigned)a->rd + a->wr + a->xr + a->xw;
			if (!(e.flags & GTF_type_mask) && !busy)
				continue;
			v[n].ref = r;
			v[n].flags = e.flags; /* v2: with the status frame's bits */
			v[n].domid = e.domid;
			/* a transitive entry shows its target ref */
			v[n].frame = (uint32_t)e.frame;
			v[n].rd_pins = a->rd;
			v[n].wr_pins = a->wr;
			/* pinned_by also when only the unit's exposure pins it */
			v[n].pinned_by = busy ? a->domid : DOMID_INVALID;
			n++;
		}
		rc = hv_reply(c, m, (int32_t)n, v, n * (uint32_t)sizeof(*v), NULL, 0);
		free(v);
		return rc;
	}
	case GNT_MSG_STATS: {
		struct gnt_core_stats cs;
		struct gnt_stats s = {0};
		gnt_core_stats(hv->core, &cs);
		s.domains = cs.domains;
		s.zombies = cs.zombies;
		s.units = cs.units;
		s.frames = cs.frames;
		s.mappings = cs.mappings;
		s.pins = cs.pins;
		s.exposures = cs.exposures;
		s.connections = hv->nconns;
		s.hypercalls = hv->hypercalls;
		s.fds = (uint32_t)hv_count_fds();
		return hv_reply(c, m, 0, &s, sizeof(s), NULL, 0);
	}
	case GNT_MSG_SHUTDOWN:
		hv->quit = true;
		return hv_reply(c, m, 0, NULL, 0, NULL, 0);
	}
	return hv_reply(c, m, -ENOSYS, NULL, 0, NULL, 0);
}

int hv_dispatch(struct hv_conn *c, const struct gnt_msg *m, const uint8_t *pl,
		int *fds, uint32_t nfds)
{
	struct gnt_domain *d = conn_domain(c);

	if (!d || d->state != GNT_DOM_ALIVE) {
		close_fds(fds, nfds);
		return -ESRCH;
	}
	if (m->op == GNT_MSG_ATTACH)
		return do_attach(c, fds, nfds);
	if (m->op == GNT_MSG_EVTCHN_OPEN)
		return hv_evtchn_open(c, m, fds, nfds);
	if (nfds) { /* no other request carries descriptors */
		close_fds(fds, nfds);
		return -EPROTO;
	}
	switch (m->op) {
	case GNT_MSG_INFO:
		return do_info(c, m);
	case GNT_MSG_EVTCHN_CLOSE:
		return hv_evtchn_close_handle(c, m);
	case GNT_MSG_UNMAP_NOTIFY:
		return hv_unmap_notify_set(c, m, pl);
	case GNT_MSG_FRAME:
		return hv_frame(c, m, pl);
	case GNT_MSG_SHARE:
		return hv_gntdev_share(c, m, pl);
	case GNT_MSG_GNTDEV_LIMITS:
		return hv_gntdev_limits(c, m, pl);
	case GNT_MSG_SETTLE:
		/* a granter finds a grant busy: settle what only waits for the
		 * kernel's word that its mapper let go (revoke.c) */
		settle_ref(d, m->count);
		return hv_reply(c, m, 0, NULL, 0, NULL, 0);
	case GNT_MSG_HYPERCALL:
		hv->hypercalls++;
		switch (m->cmd >> 16) {
		case __HYPERVISOR_grant_table_op:
			return hc_grant_table(c, m, pl);
		case __HYPERVISOR_memory_op:
			return hc_memory(c, m, pl);
		case __HYPERVISOR_event_channel_op:
			return hv_evtchn_op(c, m, pl);
		default:
			return hv_reply(c, m, -ENOSYS, NULL, 0, NULL, 0);
		}
	default:
		if (m->op >= GNT_MSG_DOM_CREATE && m->op <= GNT_MSG_DOM_LOOKUP) {
			if (c->domid != 0)
				return hv_reply(c, m, -EPERM, NULL, 0, NULL, 0);
			return do_control(c, m, pl);
		}
		return -EPROTO;
	}
}
