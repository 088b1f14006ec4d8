/* SPDX-License-Identifier: MIT */
/*
 * lib/memory.c - this domain's frames as seen by this process: each
 * allocation unit gntd gives us is mapped once, read-write, and recorded so
 * gfns and addresses translate both ways.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct region {
	uintptr_t va;
	uint64_t gfn;
	uint64_t npages;
};

static struct region *regs;       /* sorted by va */
static size_t nregs, capregs;

static int reg_add(uintptr_t va, uint64_t gfn, uint64_t npages)
{
	size_t i;

	if (nregs == capregs) {
		size_t cap = capregs ? capregs * 2 : 32;
		struct region *n = realloc(regs, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		regs = n;
		capregs = cap;
	}
	for (i = nregs; i > 0 && regs[i - 1].va > va; i--)
		regs[i] = regs[i - 1];
	regs[i] = (struct region){va, gfn, npages};
	nregs++;
	return 0;
}

static struct region *reg_by_va(uintptr_t va)
{
	size_t lo = 0, hi = nregs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (va < regs[mid].va)
			hi = mid;
		else if (va >= regs[mid].va + regs[mid].npages * GNT_PAGE_SIZE)
			lo = mid + 1;
		else
			return &regs[mid];
	}
	return NULL;
}

static void reg_del(struct region *r)
{
	size_t i = (size_t)(r - regs);
	memmove(&regs[i], &regs[i + 1], (nregs - i - 1) * sizeof(*regs));
	nregs--;
}

uint64_t gnt__virt_to_gfn_locked(const void *p, size_t *run)
{
	struct region *r = reg_by_va((uintptr_t)p);
	size_t i;

	if (!r)
		return GNT_INVALID_GFN;
	i = ((uintptr_t)p - r->va) / GNT_PAGE_SIZE;
	*run = r->npages - i;
	return r->gfn + i;
}

uint64_t gnt_virt_to_gfn(const void *p)
{
	uint64_t gfn = GNT_INVALID_GFN;
	struct region *r;

	pthread_mutex_lock(&gnt__g.lock);
	r = reg_by_va((uintptr_t)p);
	if (r)
		gfn = r->gfn + ((uintptr_t)p - r->va) / GNT_PAGE_SIZE;
	pthread_mutex_unlock(&gnt__g.lock);
	return gfn;
}

static struct region *reg_by_gfn(uint64_t gfn)
{
	for (size_t i = 0; i < nregs; i++)
		if (gfn >= regs[i].gfn && gfn < regs[i].gfn + regs[i].npages)
			return &regs[i];
	return NULL;
}

/* Map a unit of our domain that this process has not mapped yet (another
 * process populated it, or a transfer brought it).  Lock held. */
static struct region *map_own(uint64_t gfn)
{
	struct gnt_frame f;
	uint32_t nfds = 1, got;
	int32_t rc;
	void *va;
	int fd;

	if (gnt__ensure() < 0 ||
	    gnt__rpc(GNT_MSG_FRAME, 0, 0, &gfn, sizeof(gfn), NULL, 0, &f, sizeof(f), &got, &fd,
		     &nfds, &rc) < 0)
		return NULL;
	if (rc < 0 || nfds != 1 || got != sizeof(f) || gfn < f.base_gfn ||
	    gfn - f.base_gfn >= f.npages) {
		if (nfds == 1)
			close(fd);
		return NULL;
	}
	va = mmap(NULL, f.npages * GNT_PAGE_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (va == MAP_FAILED)
		return NULL;
	if (reg_add((uintptr_t)va, f.base_gfn, f.npages) < 0) {
		munmap(va, f.npages * GNT_PAGE_SIZE);
		return NULL;
	}
	return reg_by_va((uintptr_t)va);
}

void *gnt_gfn_to_virt(uint64_t gfn)
{
	struct region *r;
	void *va = NULL;

	pthread_mutex_lock(&gnt__g.lock);
	r = reg_by_gfn(gfn);
	if (!r)
		r = map_own(gfn);
	if (r)
		va = (void *)(r->va + (gfn - r->gfn) * GNT_PAGE_SIZE);
	pthread_mutex_unlock(&gnt__g.lock);
	return va;
}

void gnt__page_forget(uint64_t gfn, uint64_t n)
{
	uint64_t end = gfn + n;

	while (gfn < end) {
		struct region *r = reg_by_gfn(gfn);
		if (!r) {
			gfn++;
			continue;
		}
		gfn = r->gfn + r->npages;
		munmap((void *)r->va, r->npages * GNT_PAGE_SIZE);
		reg_del(r);
	}
}

/* populate: map each unit we receive (lock held) */
static long populate(unsigned int cmd, struct xen_memory_reservation *r)
{
	uint64_t per = (uint64_t)1 << (r->extent_order > 18 ? 0 : r->extent_order);
	bool one = r->mem_flags & GNT_MEMF_one_unit;
	uint64_t *gfns;
	int fds[GNT_MSG_MAX_FDS];
	uint32_t nfds = GNT_MSG_MAX_FDS, got;
	int32_t rc;
	int err;

	if (r->nr_extents > (1u << 20))
		return -EINVAL;
	gfns = malloc((r->nr_extents + 1) * sizeof(*gfns));
	if (!gfns)
		return -ENOMEM;
	err = gnt__rpc(GNT_MSG_HYPERCALL, GNT_HC(__HYPERVISOR_memory_op, cmd), 1, r,
		       sizeof(*r), NULL, 0, gfns, (uint32_t)(r->nr_extents * sizeof(*gfns)),
		       &got, fds, &nfds, &rc);
	if (err < 0) {
		free(gfns);
		return err;
	}
	if (rc <= 0) {
		free(gfns);
		for (uint32_t i = 0; i < nfds; i++)
			close(fds[i]);
		return rc;
	}
	for (uint32_t i = 0; i < nfds; i++) {
		uint64_t pages = one ? per * (uint64_t)rc : per;
		uint64_t gfn = one ? gfns[0] : gfns[i];
		void *va = mmap(NULL, pages * GNT_PAGE_SIZE, PROT_READ | PROT_WRITE,
				MAP_SHARED, fds[i], 0);
		close(fds[i]);
		if (va == MAP_FAILED || reg_add((uintptr_t)va, gfn, pages) < 0) {
			err = -ENOMEM;
			if (va != MAP_FAILED)
				munmap(va, pages * GNT_PAGE_SIZE);
		}
	}
	if (r->extent_start)
		memcpy(r->extent_start, gfns, (size_t)rc * sizeof(*gfns));
	free(gfns);
	return err < 0 ? err : rc;
}

static long decrease(struct xen_memory_reservation *r)
{
	uint64_t per = (uint64_t)1 << (r->extent_order > 18 ? 0 : r->extent_order);
	size_t len = sizeof(*r) + r->nr_extents * sizeof(uint64_t);
	uint8_t *msg;
	int32_t rc;
	int err;

	if (r->nr_extents > (1u << 20) || (!r->extent_start && r->nr_extents))
		return -EINVAL;
	msg = malloc(len);
	if (!msg)
		return -ENOMEM;
	memcpy(msg, r, sizeof(*r));
	memcpy(msg + sizeof(*r), r->extent_start, r->nr_extents * sizeof(uint64_t));
	err = gnt__rpc(GNT_MSG_HYPERCALL,
		       GNT_HC(__HYPERVISOR_memory_op, XENMEM_decrease_reservation), 1, msg,
		       (uint32_t)len, NULL, 0, NULL, 0, NULL, NULL, NULL, &rc);
	free(msg);
	if (err < 0)
		return err;
	/* forget what is gone: our mapping goes too */
	for (int32_t i = 0; i < rc; i++)
		for (size_t k = 0; k < nregs; k++)
			if (regs[k].gfn == r->extent_start[i] &&
			    (regs[k].npages == per || (r->mem_flags & GNT_MEMF_one_unit))) {
				munmap((void *)regs[k].va, regs[k].npages * GNT_PAGE_SIZE);
				reg_del(&regs[k]);
				break;
			}
	return rc;
}

/* The units of one exchange reply: map the new ones, forget the old ones
 * (lock held).  [lo, hi): input extents done by this call. */
static int exchange_apply(struct xen_memory_exchange *x, uint64_t lo, uint64_t hi,
			  const uint64_t *out, const int *fds, uint32_t nfds)
{
	uint32_t in_o = x->in.extent_order, out_o = x->out.extent_order;
	uint64_t olo = (lo << in_o) >> out_o, ohi = (hi << in_o) >> out_o;
	uint64_t pages = (uint64_t)1 << out_o;
	int err = 0;

	for (uint64_t k = lo; k < hi; k++)
		gnt__page_forget(x->in.extent_start[k], (uint64_t)1 << in_o);
	if (ohi - olo != nfds || ohi > x->out.nr_extents)
		err = -EPROTO;
	for (uint32_t i = 0; i < nfds; i++) {
		void *va = err ? MAP_FAILED
			       : mmap(NULL, pages * GNT_PAGE_SIZE, PROT_READ | PROT_WRITE,
				      MAP_SHARED, fds[i], 0);
		close(fds[i]);
		if (va == MAP_FAILED || reg_add((uintptr_t)va, out[olo + i], pages) < 0) {
			if (va != MAP_FAILED)
				munmap(va, pages * GNT_PAGE_SIZE);
			err = err ? err : -ENOMEM;
			continue;
		}
		if (x->out.extent_start)
			x->out.extent_start[olo + i] = out[olo + i];
	}
	return err;
}

/* One request per reply's worth of new units, until done or failed. */
static long exchange(struct xen_memory_exchange *x)
{
	size_t in_len = x->in.nr_extents * sizeof(uint64_t);
	size_t out_len = sizeof(*x) + x->out.nr_extents * sizeof(uint64_t);
	int fds[GNT_EXCHANGE_UNITS_MAX];
	uint8_t *msg, *rep;
	int32_t rc = 0;
	int err = 0;

	if (x->in.nr_extents > (1u << 20) || x->out.nr_extents > (1u << 20))
		return -EINVAL;
	if ((!x->in.extent_start && x->in.nr_extents) ||
	    (!x->out.extent_start && x->out.nr_extents))
		return -EFAULT;
	msg = malloc(sizeof(*x) + in_len);
	rep = malloc(out_len);
	if (!msg || !rep) {
		free(msg);
		free(rep);
		return -ENOMEM;
	}
	memcpy(msg + sizeof(*x), x->in.extent_start, in_len);
	for (;;) {
		struct xen_memory_exchange got;
		uint32_t nfds = GNT_EXCHANGE_UNITS_MAX, len;
		uint64_t before = x->nr_exchanged;

		memcpy(msg, x, sizeof(*x));
		err = gnt__rpc(GNT_MSG_HYPERCALL, GNT_HC(__HYPERVISOR_memory_op, XENMEM_exchange), 1,
			       msg, (uint32_t)(sizeof(*x) + in_len), NULL, 0, rep,
			       (uint32_t)out_len, &len, fds, &nfds, &rc);
		if (err < 0)
			break;
		if (len != out_len) {
			err = -EPROTO;
			for (uint32_t i = 0; i < nfds; i++)
				close(fds[i]);
			break;
		}
		memcpy(&got, rep, sizeof(got));
		if (got.nr_exchanged < before || got.nr_exchanged > x->in.nr_extents)
			got.nr_exchanged = before; /* nothing we can trust */
		x->nr_exchanged = got.nr_exchanged;
		err = exchange_apply(x, before, x->nr_exchanged,
				     (const uint64_t *)(rep + sizeof(*x)), fds, nfds);
		/* gntd stops when a reply is full: go on from where it stopped */
		if (err < 0 || rc < 0 || x->nr_exchanged == x->in.nr_extents ||
		    x->nr_exchanged == before)
			break;
	}
	free(msg);
	free(rep);
	return err < 0 ? err : rc;
}

long gnt_memory_op(unsigned int cmd, void *arg)
{
	struct xen_memory_reservation *r = arg;
	long rc;

	pthread_mutex_lock(&gnt__g.lock);
	rc = gnt__ensure();
	if (rc == 0) {
		switch (cmd) {
		case XENMEM_populate_physmap:
		case XENMEM_increase_reservation:
			rc = populate(cmd, r);
			break;
		case XENMEM_decrease_reservation:
			rc = decrease(r);
			break;
		case XENMEM_exchange:
			rc = exchange(arg);
			break;
		default:
			rc = -ENOSYS;
		}
	}
	pthread_mutex_unlock(&gnt__g.lock);
	return rc;
}

void *gnt_alloc_pages(size_t n)
{
	uint64_t gfn;
	struct xen_memory_reservation r = {.extent_start = &gfn, .nr_extents = 1,
					   .extent_order = 0, .mem_flags = GNT_MEMF_one_unit,
					   .domid = DOMID_SELF};
	long rc;

	if (n == 0 || n > UINT32_MAX) {
		errno = EINVAL;
		return NULL;
	}
	/* one unit of n pages: nr_extents order-0 extents */
	r.nr_extents = n;
	{
		uint64_t *g = malloc(n * sizeof(*g));
		if (!g) {
			errno = ENOMEM;
			return NULL;
		}
		r.extent_start = g;
		rc = gnt_memory_op(XENMEM_populate_physmap, &r);
		gfn = g[0];
		free(g);
	}
	if (rc != (long)n) {
		errno = rc < 0 ? (int)-rc : ENOMEM;
		return NULL;
	}
	return gnt_gfn_to_virt(gfn);
}

void gnt_free_pages(void *p, size_t n)
{
	uint64_t gfn = gnt_virt_to_gfn(p);
	/* GNT_MEMF_one_unit: the whole unit that starts at gfn */
	struct xen_memory_reservation r = {.extent_start = &gfn, .nr_extents = 1,
					   .mem_flags = GNT_MEMF_one_unit,
					   .domid = DOMID_SELF};

	(void)n;
	if (gfn == GNT_INVALID_GFN || (uintptr_t)p % GNT_PAGE_SIZE)
		return;
	gnt_memory_op(XENMEM_decrease_reservation, &r);
}

uint64_t gnt__pages_forget(void *p, bool unmap)
{
	uint64_t gfn = GNT_INVALID_GFN;
	struct region *reg;

	pthread_mutex_lock(&gnt__g.lock);
	reg = reg_by_va((uintptr_t)p);
	if (reg && reg->va == (uintptr_t)p) {
		gfn = reg->gfn;
		if (unmap)
			munmap((void *)reg->va, reg->npages * GNT_PAGE_SIZE);
		reg_del(reg);
	}
	pthread_mutex_unlock(&gnt__g.lock);
	return gfn;
}

void *gnt_alloc_page(void)
{
	return gnt_alloc_pages(1);
}

void gnt_free_page(void *page)
{
	gnt_free_pages(page, 1);
}

void *gnt_alloc_ballooned_pages(size_t n)
{
	void *p;

	if (n == 0) {
		errno = EINVAL;
		return NULL;
	}
	p = mmap(NULL, n * GNT_PAGE_SIZE, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void gnt_free_ballooned_pages(void *p, size_t n)
{
	if (p)
		munmap(p, n * GNT_PAGE_SIZE);
}
