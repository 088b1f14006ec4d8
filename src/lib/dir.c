/* SPDX-License-Identifier: MIT */
/*
 * lib/dir.c - grant-reference directories (gnt/dir.h): the donor grants a
 * buffer and a displif-style chain of directory pages; the recipient reads
 * the chain once into private memory and maps (or copies) the buffer in
 * batches.  Everything the donor wrote is read once and checked only for
 * shape here: gntd checks every ref when it is used.
 */
#define _GNU_SOURCE
#include "lib.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "gnt/dir.h"


static char *page_at(void *base, size_t i)
{
	return (char *)base + i * GNT_PAGE_SIZE;
}

static unsigned int batch_or_max(unsigned int batch)
{
	return batch == 0 || batch > GNT_MAP_BATCH_MAX ? GNT_MAP_BATCH_MAX : batch;
}

/* ---- donor ------------------------------------------------------------ */

/* Grow the table once for everything we are about to grant, instead of one
 * setup_table per frame as claiming refs one by one would. */
static void grow_for(size_t nrefs)
{
	pthread_mutex_lock(&gnt__g.lock);
	if (gnt__ensure() == 0) {
		/* entries per frame in the version in effect */
		uint64_t per = GNT_PAGE_SIZE / (gnt__g.version == 2 ? sizeof(grant_entry_v2_t)
								 : sizeof(grant_entry_v1_t));
		uint64_t want = gnt__g.nr_frames + (nrefs + per - 1) / per;
		if (want > gnt__g.max_frames)
			want = gnt__g.max_frames;
		if (want > gnt__g.nr_frames)
			gnt__grow_table((uint32_t)want);
	}
	pthread_mutex_unlock(&gnt__g.lock);
}

static int cmp_ref(const void *a, const void *b)
{
	grant_ref_t x = *(const grant_ref_t *)a, y = *(const grant_ref_t *)b;
	return x < y ? -1 : x > y;
}

/* Claim the directory's refs in one go, so that they come out consecutive
 * from the allocator's hint: the recipient then reads the whole chain with
 * one map (gnt_dir_read guesses next = ref + 1). */
static int claim_dir_refs(grant_ref_t *out, size_t ndir)
{
	grant_ref_t head;
	int err = gnt_alloc_grant_references((uint16_t)ndir, &head);

	if (err < 0)
		return err;
	for (size_t k = 0; k < ndir; k++)
		out[k] = (grant_ref_t)gnt_claim_grant_reference(&head);
	qsort(out, ndir, sizeof(*out), cmp_ref);
	return 0;
}

static void fill_dir(struct gnt_dir_grant *g)
{
	const grant_ref_t *dref = g->refs + g->npages;

	for (size_t k = 0; k < g->ndir; k++) {
		struct gnt_page_directory *d = (void *)page_at(g->dir, k);
		size_t first = k * GNT_DIR_REFS_PER_PAGE, n = g->npages - first;

		if (n > GNT_DIR_REFS_PER_PAGE)
			n = GNT_DIR_REFS_PER_PAGE;
		d->gref_dir_next_page = k + 1 < g->ndir ? dref[k + 1] : GNT_DIR_LIST_END;
		memcpy(d->gref, g->refs + first, n * sizeof(grant_ref_t));
	}
}

/* End g->refs[0..n) and, with dir, the directory refs; returns how many
 * were deferred because the peer still uses them. */
static size_t end_refs(const grant_ref_t *refs, size_t n)
{
	size_t deferred = 0;

	for (size_t i = 0; i < n; i++)
		if (!gnt_try_end_foreign_access(refs[i])) {
			gnt_end_foreign_access(refs[i], NULL);
			deferred++;
		}
	return deferred;
}

static void free_grant(struct gnt_dir_grant *g)
{
	if (g->dir)
		gnt_free_pages(g->dir, g->ndir);
	free(g->refs);
	memset(g, 0, sizeof(*g));
}

/* Write and grant the directory for g->refs[0 .. npages), already filled. */
int gnt__dir_publish(struct gnt_dir_grant *g)
{
	int err = claim_dir_refs(g->refs + g->npages, g->ndir);

	if (err < 0)
		return err;
	g->dir = gnt_alloc_pages(g->ndir);
	if (!g->dir) {
		for (size_t k = 0; k < g->ndir; k++)
			gnt_free_grant_reference(g->refs[g->npages + k]);
		return -errno;
	}
	fill_dir(g);
	/* each entry's flags are stored with release: the directory's contents
	 * are visible before its page can be mapped */
	for (size_t k = 0; k < g->ndir; k++)
		gnt_grant_foreign_access_ref(g->refs[g->npages + k], g->peer,
					     gnt_virt_to_gfn(page_at(g->dir, k)), 1);
	g->dir_ref = g->refs[g->npages];
	return 0;
}

int gnt__dir_init(struct gnt_dir_grant *g, domid_t peer, size_t npages)
{
	memset(g, 0, sizeof(*g));
	if (npages == 0 || npages > GNT_DIR_MAX_PAGES)
		return -EINVAL;
	g->peer = peer;
	g->npages = npages;
	g->ndir = gnt_dir_pages(npages);
	g->refs = malloc((npages + g->ndir) * sizeof(grant_ref_t));
	if (!g->refs)
		return -ENOMEM;
	grow_for(npages + g->ndir);
	return 0;
}

int gnt_dir_grant(struct gnt_dir_grant *g, domid_t peer, void *buf, size_t npages, int readonly)
{
	size_t granted = 0;
	int err = (uintptr_t)buf % GNT_PAGE_SIZE ? -EINVAL : gnt__dir_init(g, peer, npages);

	if (err < 0)
		return err;
	err = gnt__grant_pages(peer, buf, npages, readonly, g->refs, &granted);
	if (err < 0)
		goto err_ungrant;
	err = gnt__dir_publish(g);
	if (err < 0)
		goto err_ungrant;
	return 0;

err_ungrant:
	/* nobody was told these refs, but a peer may guess them: defer if used */
	end_refs(g->refs, granted);
	free_grant(g);
	return err;
}

size_t gnt_dir_end(struct gnt_dir_grant *g)
{
	size_t deferred = end_refs(g->refs, g->npages + g->ndir);

	free_grant(g);
	return deferred;
}

/* ---- recipient: reading the directory ----------------------------------- */

struct dir_walk {
	domid_t granter;
	size_t npages, ndir, done; /* directory pages read so far */
	grant_ref_t next;          /* ref of directory page `done` */
	grant_ref_t *refs;
	grant_handle_t *handles;   /* every directory page mapped, to unmap */
	size_t nhandles;
	int16_t status;
};

/* Unmap n handles (host_addr 0: whatever address each has) in batches. */
static int unmap_handles(const grant_handle_t *h, size_t n, unsigned int batch)
{
	struct gnttab_unmap_grant_ref *ops;
	int err = 0;

	batch = batch_or_max(batch);
	ops = malloc((n < batch ? n : batch) * sizeof(*ops) + 1);
	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; i < n; i += batch) {
		size_t m = n - i < batch ? n - i : batch;
		int rc;
		for (size_t j = 0; j < m; j++)
			gnt_set_unmap_op(&ops[j], NULL, 0, h[i + j]);
		rc = gnt_unmap_refs(ops, (unsigned int)m);
		for (size_t j = 0; !rc && j < m; j++)
			if (ops[j].status != GNTST_okay)
				rc = -EIO;
		if (rc < 0 && !err)
			err = rc;
	}
	free(ops);
	return err;
}

/* Take the refs of directory page `done`, mapped at p, read once. */
static grant_ref_t take_page(struct dir_walk *w, const char *p)
{
	const struct gnt_page_directory *d = (const void *)p;
	size_t first = w->done * GNT_DIR_REFS_PER_PAGE, n = w->npages - first;
	grant_ref_t next = __atomic_load_n(&d->gref_dir_next_page, __ATOMIC_RELAXED);

	if (n > GNT_DIR_REFS_PER_PAGE)
		n = GNT_DIR_REFS_PER_PAGE;
	memcpy(w->refs + first, d->gref, n * sizeof(grant_ref_t));
	w->done++;
	return next;
}

/* Confirm the pages of one round in chain order: each must be mapped and
 * named by its predecessor.  Returns 0 (maybe with pages left: a wrong
 * guess) or -errno. */
static int confirm(struct dir_walk *w, const struct gnttab_map_grant_ref *ops, size_t n,
		   char *va)
{
	for (size_t j = 0; j < n; j++) {
		grant_ref_t next;
		if (ops[j].status != GNTST_okay) {
			if (j > 0)
				return 0; /* a wrong guess costs a round */
			w->status = ops[j].status;
			return -EIO;
		}
		next = take_page(w, page_at(va, j));
		if (w->done == w->ndir)
			return next == GNT_DIR_LIST_END ? 0 : -EPROTO; /* too long, or a loop */
		w->next = next;
		if (next == GNT_DIR_LIST_END)
			return -EPROTO; /* shorter than announced */
		if (j + 1 < n && next != ops[j].ref + 1)
			return 0;
	}
	return 0;
}

/* One round: map the rest of the chain at va (fresh address space)
 * guessing consecutive refs from w->next, and keep what the chain confirms;
 * pages mapped on a wrong guess are unmapped at once. */
static int walk_round(struct dir_walk *w, char *va, size_t n)
{
	struct gnttab_map_grant_ref *ops = malloc(n * sizeof(*ops));
	grant_handle_t *extra = malloc(n * sizeof(*extra));
	size_t before = w->done, nextra = 0;
	int err = -ENOMEM;

	if (ops && extra) {
		for (size_t j = 0; j < n; j++)
			gnt_set_map_op(&ops[j], page_at(va, j), GNTMAP_host_map | GNTMAP_readonly,
				       w->next + (grant_ref_t)j, w->granter);
		err = gnt_map_refs(ops, (unsigned int)n);
	}
	if (!err)
		err = confirm(w, ops, n, va);
	/* confirmed pages are ops[0 .. done - before), all mapped */
	for (size_t j = 0; ops && extra && j < n; j++) {
		if (ops[j].status != GNTST_okay)
			continue;
		if (j < w->done - before)
			w->handles[w->nhandles++] = ops[j].handle;
		else
			extra[nextra++] = ops[j].handle;
	}
	if (nextra) {
		int uerr = unmap_handles(extra, nextra, 0);
		err = err ? err : uerr;
	}
	free(extra);
	free(ops);
	return err;
}

int gnt_dir_read(domid_t granter, grant_ref_t dir_ref, size_t npages, grant_ref_t *refs,
		 int16_t *status)
{
	struct dir_walk w = {.granter = granter, .npages = npages, .next = dir_ref, .refs = refs};
	char **va = NULL;
	size_t *len = NULL, rounds = 0;
	int err = 0, uerr;

	if (npages == 0 || npages > GNT_DIR_MAX_PAGES)
		return -EINVAL;
	w.ndir = gnt_dir_pages(npages);
	/* each round confirms at least one page or ends the walk */
	w.handles = malloc(w.ndir * sizeof(*w.handles));
	va = malloc(w.ndir * sizeof(*va));
	len = malloc(w.ndir * sizeof(*len));
	if (!w.handles || !va || !len) {
		err = -ENOMEM;
		goto out;
	}
	while (!err && w.done < w.ndir) {
		size_t n = w.ndir - w.done;
		if (n > GNT_MAP_BATCH_MAX)
			n = GNT_MAP_BATCH_MAX;
		va[rounds] = gnt_alloc_ballooned_pages(n);
		if (!va[rounds]) {
			err = -ENOMEM;
			break;
		}
		len[rounds++] = n;
		err = walk_round(&w, va[rounds - 1], n);
	}
	uerr = w.nhandles ? unmap_handles(w.handles, w.nhandles, 0) : 0;
	if (!err)
		err = uerr;
	/* only now: an unmap reserves the range of each mapping it removes */
	for (size_t r = 0; r < rounds; r++)
		gnt_free_ballooned_pages(va[r], len[r]);
out:
	free(w.handles);
	free(va);
	free(len);
	if (status)
		*status = w.status;
	return err;
}

/* ---- recipient: mapping or copying the buffer --------------------------- */

static int map_buffer(struct gnt_dir_map *m, const grant_ref_t *refs, uint32_t flags,
		      unsigned int batch)
{
	struct gnttab_map_grant_ref *ops = malloc(batch * sizeof(*ops));
	size_t mapped = 0;
	int err = 0;

	if (!ops)
		return -ENOMEM;
	for (size_t i = 0; !err && i < m->npages; i += batch) {
		size_t n = m->npages - i < batch ? m->npages - i : batch;
		for (size_t j = 0; j < n; j++)
			gnt_set_map_op(&ops[j], page_at(m->addr, i + j), flags, refs[i + j],
				       m->granter);
		err = gnt_map_refs(ops, (unsigned int)n);
		/* keep every handle we got, so that a failure unmaps exactly those */
		for (size_t j = 0; !err && j < n; j++) {
			if (ops[j].status == GNTST_okay) {
				m->handles[mapped++] = ops[j].handle;
			} else if (m->status == GNTST_okay) {
				m->status = ops[j].status;
				m->failed_page = i + j;
			}
		}
		if (!err && m->status != GNTST_okay)
			err = -EIO;
	}
	free(ops);
	if (err)
		unmap_handles(m->handles, mapped, batch);
	return err;
}

int gnt_dir_map(struct gnt_dir_map *m, domid_t granter, grant_ref_t dir_ref, size_t npages,
		int readonly, unsigned int batch)
{
	grant_ref_t *refs;
	int err;

	memset(m, 0, sizeof(*m));
	m->granter = granter;
	m->npages = npages;
	batch = batch_or_max(batch);
	if (npages == 0 || npages > GNT_DIR_MAX_PAGES)
		return -EINVAL;
	refs = malloc(npages * sizeof(*refs));
	m->handles = malloc(npages * sizeof(*m->handles));
	m->addr = gnt_alloc_ballooned_pages(npages);
	err = refs && m->handles && m->addr ? 0 : -ENOMEM;
	if (!err)
		err = gnt_dir_read(granter, dir_ref, npages, refs, &m->status);
	if (!err)
		err = map_buffer(m, refs, GNTMAP_host_map | (readonly ? GNTMAP_readonly : 0), batch);
	free(refs);
	if (err) {
		gnt_free_ballooned_pages(m->addr, npages);
		free(m->handles);
		m->addr = NULL;
		m->handles = NULL;
	}
	return err;
}

int gnt_dir_unmap(struct gnt_dir_map *m, unsigned int batch)
{
	int err = 0;

	if (m->handles)
		err = unmap_handles(m->handles, m->npages, batch);
	gnt_free_ballooned_pages(m->addr, m->npages);
	free(m->handles);
	memset(m, 0, sizeof(*m));
	return err;
}

int gnt_dir_copy(void *dst, domid_t granter, const grant_ref_t *refs, size_t npages,
		 unsigned int batch, int16_t *status)
{
	struct gnttab_copy *ops;
	int err = 0;

	if (batch > GNT_MAP_BATCH_MAX || (uintptr_t)dst % GNT_PAGE_SIZE)
		return -EINVAL;
	batch = batch_or_max(batch);
	ops = malloc(batch * sizeof(*ops));
	if (!ops)
		return -ENOMEM;
	if (status)
		*status = GNTST_okay;
	for (size_t i = 0; !err && i < npages; i += batch) {
		size_t n = npages - i < batch ? npages - i : batch;
		for (size_t j = 0; !err && j < n; j++) {
			uint64_t gfn = gnt_virt_to_gfn(page_at(dst, i + j));
			ops[j] = (struct gnttab_copy){
				.source = {.u.ref = refs[i + j], .domid = granter},
				.dest = {.u.gmfn = gfn, .domid = DOMID_SELF},
				.len = GNT_PAGE_SIZE,
				.flags = GNTCOPY_source_gref,
			};
			if (gfn == GNT_INVALID_GFN)
				err = -EINVAL;
		}
		if (!err)
			err = (int)gnt_grant_table_op(GNTTABOP_copy, ops, (unsigned int)n);
		for (size_t j = 0; !err && j < n; j++)
			if (ops[j].status != GNTST_okay) {
				if (status)
					*status = ops[j].status;
				err = -EIO;
			}
	}
	free(ops);
	return err;
}
