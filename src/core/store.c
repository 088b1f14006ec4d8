/* SPDX-License-Identifier: MIT */
/*
 * core/store.c - the xenstore state machine.  See store.h for the contract.
 *
 * The committed tree is a tree of nodes with children in creation order.
 * A transaction is an overlay: one entry per path it touched, either CLEAN
 * (read through to the committed tree; the generation seen is kept for the
 * conflict check), SET (value and permissions of the node inside the
 * transaction) or GONE (removed inside it).  Commit checks every recorded
 * generation against the tree (EAGAIN on any difference), checks the node
 * quota, then applies the overlay in path order and fires the watches.
 *
 * No walk recurses on tree depth (XSA-418): subtrees are visited with
 * parent pointers and each node's index in its parent.
 */
#include "core/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PERM_R 1u
#define PERM_W 2u
#define NDOMIDS 65536u      /* permission lists may name any domid_t */
#define DOMID_LIMIT 0x7FF0u /* DOMID_FIRST_RESERVED: connections, intro */
#define PATHBUF 4096u

struct perm {
	uint16_t id;
	uint8_t acc; /* PERM_R | PERM_W */
};

struct node {
	char *name; /* last component; "" for the root */
	struct node *parent;
	struct node **kids;
	uint32_t nkids, capkids;
	uint32_t idx; /* in parent->kids */
	char *val;
	uint32_t vlen;
	struct perm *perm; /* perm[0]: owner and default access; nperm >= 1 */
	uint32_t nperm;
	uint64_t gen; /* changes with value, perms or the set of children */
};

struct watch {
	struct watch *next;
	char *path;   /* canonical: absolute, or "@name" */
	char *token;
	uint32_t rel; /* prefix bytes stripped from event paths (relative) */
};

enum { TX_CLEAN, TX_SET, TX_GONE };

struct txe {
	char *path;
	uint32_t plen;
	uint8_t state;
	bool has_base, base_exists;
	bool fresh; /* SET: the committed node's children do not survive */
	bool del;   /* GONE: removed explicitly (not under a removed node) */
	uint64_t base_gen;
	char *val;
	uint32_t vlen;
	struct perm *perm;
	uint32_t nperm;
};

struct tx {
	struct tx *next;
	uint32_t id;
	uint32_t created; /* nodes created, for the node quota */
	struct txe **e;
	uint32_t n, cap;
};

struct conn {
	struct conn *next;
	uint32_t id;
	uint16_t domid;
	bool priv;
	struct watch *watches;
	struct tx *txs;
	uint32_t ntx;
};

struct sdom {
	uint32_t nodes, watches;
	uint16_t target;
	bool has_target, introduced;
};

struct gnt_store {
	struct gnt_store_ops ops;
	void *ctx;
	struct gnt_store_limits lim;
	struct node *root;
	struct conn *conns;
	uint32_t nconns, next_conn, next_tx, nnodes;
	uint64_t gen;
	struct sdom *dom; /* NDOMIDS */
	char out[GNT_XS_PAYLOAD_MAX + 8];
	char ev[GNT_XS_PAYLOAD_MAX + 8];
};

struct req {
	struct gnt_store *s;
	struct conn *c;
	struct tx *tx;
	uint32_t type, req_id, tx_id;
};

/* The view of one path, inside the request's transaction or not. */
struct view {
	bool exists;
	struct node *n;  /* committed node, when the view comes from the tree */
	struct txe *e;   /* SET entry, when it comes from the transaction */
	const char *val;
	uint32_t vlen;
	const struct perm *perm;
	uint32_t nperm;
};

/* ---- small helpers ------------------------------------------------------ */

static const struct {
	int err;
	const char *name;
} errnames[] = {
	{EINVAL, "EINVAL"}, {EACCES, "EACCES"},       {EEXIST, "EEXIST"},
	{EISDIR, "EISDIR"}, {ENOENT, "ENOENT"},       {ENOMEM, "ENOMEM"},
	{ENOSPC, "ENOSPC"}, {EIO, "EIO"},             {ENOTEMPTY, "ENOTEMPTY"},
	{ENOSYS, "ENOSYS"}, {EROFS, "EROFS"},         {EBUSY, "EBUSY"},
	{EAGAIN, "EAGAIN"}, {EISCONN, "EISCONN"},     {E2BIG, "E2BIG"},
	{EPERM, "EPERM"},
};

const char *gnt_store_errname(int err)
{
	if (err < 0)
		err = -err;
	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].err == err)
			return errnames[i].name;
	return "EINVAL";
}

/* Strict unsigned decimal: no sign, no blanks, no empty string. */
static bool parse_uint(const char *p, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (!*p)
		return false;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return false;
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return false;
	}
	*out = v;
	return true;
}

static bool parse_domid(const char *p, uint16_t *d)
{
	uint64_t v;

	if (!parse_uint(p, 0xFFFF, &v))
		return false;
	*d = (uint16_t)v;
	return true;
}

/* The payload as min..max NUL-terminated strings that cover all of it. */
static int args(const char *pl, uint32_t len, const char **v, int min, int max)
{
	int n = 0;
	uint32_t i = 0;

	if (len == 0 || pl[len - 1] != '\0')
		return -EINVAL;
	while (i < len) {
		if (n == max)
			return -EINVAL;
		v[n++] = pl + i;
		i += (uint32_t)strlen(pl + i) + 1;
	}
	return n < min ? -EINVAL : n;
}

static void *memdup0(const void *p, size_t len)
{
	char *d = malloc(len + 1); /* never malloc(0); NUL for readers */

	if (d) {
		if (len)
			memcpy(d, p, len);
		d[len] = '\0';
	}
	return d;
}

static struct perm *perms_dup(const struct perm *p, uint32_t n)
{
	struct perm *d = malloc(n * sizeof(*d));

	if (d)
		memcpy(d, p, n * sizeof(*d));
	return d;
}

/* p is at or below w. */
static bool at_or_below(const char *p, const char *w)
{
	size_t wl = strlen(w);

	if (strncmp(p, w, wl))
		return false;
	return p[wl] == '\0' || p[wl] == '/' || (wl == 1 && w[0] == '/');
}

/* a (al bytes) is a proper ancestor of p (longer than a). */
static bool is_anc(const char *a, uint32_t al, const char *p)
{
	return !memcmp(a, p, al) && (al == 1 || p[al] == '/');
}

/* Length of the parent path of p ("/a/b" -> 2, "/a" -> 1). */
static size_t parent_len(const char *p)
{
	const char *sl = strrchr(p, '/');

	return sl == p ? 1 : (size_t)(sl - p);
}

/* ---- paths -------------------------------------------------------------- */

static bool valid_chars(const char *p)
{
	for (; *p; p++) {
		char ch = *p;
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '/' ||
		      ch == '_' || ch == '@'))
			return false;
	}
	return true;
}

/* Canonical absolute form of `in` for r's connection into out[PATHBUF].
 * Relative paths resolve against /local/domain/<domid>; *rel gets the
 * prefix length to strip from event paths.  The limits apply to the
 * canonical path (XSA-323): the whole against path_max_abs, the part below
 * /local/domain/<id>/ against path_max_rel (as C xenstored). */
static int canon(struct req *r, const char *in, char *out, uint32_t *rel,
		 bool special)
{
	const struct gnt_store_limits *l = &r->s->lim;
	size_t n = strlen(in), pre = 0;
	unsigned d;
	int off = 0;

	if (rel)
		*rel = 0;
	if (in[0] == '@') {
		if (!special || n < 2 || n > l->path_max_abs || strchr(in, '/') ||
		    !valid_chars(in))
			return -EINVAL;
		memcpy(out, in, n + 1);
		return 0;
	}
	if (in[0] != '/') {
		if (n > l->path_max_rel)
			return -EINVAL;
		pre = (size_t)snprintf(out, PATHBUF, "/local/domain/%u/",
				       (unsigned)r->c->domid);
	}
	if (pre + n > l->path_max_abs)
		return -EINVAL;
	memcpy(out + pre, in, n + 1);
	n += pre;
	if (!valid_chars(out) || strstr(out, "//") ||
	    (n > 1 && out[n - 1] == '/'))
		return -EINVAL;
	if (sscanf(out, "/local/domain/%5u/%n", &d, &off) == 1 && off > 0 &&
	    n - (size_t)off > l->path_max_rel)
		return -EINVAL;
	if (rel)
		*rel = (uint32_t)pre;
	return 0;
}

/* ---- the committed tree ------------------------------------------------- */

static struct node *kid_find(const struct node *n, const char *name, size_t len)
{
	for (uint32_t i = 0; i < n->nkids; i++) {
		struct node *k = n->kids[i];
		if (!strncmp(k->name, name, len) && k->name[len] == '\0')
			return k;
	}
	return NULL;
}

static struct node *lookup(const struct gnt_store *s, const char *path)
{
	struct node *n = s->root;
	const char *p = path;

	if (path[0] != '/')
		return NULL;
	while (n && *p == '/' && p[1]) {
		const char *q = strchr(p + 1, '/');
		size_t len = q ? (size_t)(q - p - 1) : strlen(p + 1);
		n = kid_find(n, p + 1, len);
		p += len + 1;
	}
	return n;
}

static void node_path(const struct node *n, char *buf)
{
	size_t len = 0;

	if (!n->parent) {
		strcpy(buf, "/");
		return;
	}
	for (const struct node *m = n; m->parent; m = m->parent)
		len += strlen(m->name) + 1;
	buf[len] = '\0';
	for (const struct node *m = n; m->parent; m = m->parent) {
		size_t l = strlen(m->name);
		len -= l;
		memcpy(buf + len, m->name, l);
		buf[--len] = '/';
	}
}

/* Pre-order successor of n among top's descendants, or NULL. */
static struct node *next_pre(struct node *n, const struct node *top)
{
	if (n->nkids)
		return n->kids[0];
	while (n != top) {
		struct node *p = n->parent;
		if (n->idx + 1 < p->nkids)
			return p->kids[n->idx + 1];
		n = p;
	}
	return NULL;
}

static void node_free(struct node *n)
{
	free(n->name);
	free(n->kids);
	free(n->val);
	free(n->perm);
	free(n);
}

static void kid_del(struct gnt_store *s, struct node *p, struct node *k)
{
	memmove(&p->kids[k->idx], &p->kids[k->idx + 1],
		(p->nkids - k->idx - 1) * sizeof(*p->kids));
	p->nkids--;
	for (uint32_t i = k->idx; i < p->nkids; i++)
		p->kids[i]->idx = i;
	p->gen = ++s->gen;
	k->parent = NULL;
}

/* Free a detached subtree, iteratively, keeping the counters exact. */
static void subtree_free(struct gnt_store *s, struct node *top)
{
	struct node *n = top;

	for (;;) {
		struct node *p;
		bool last;
		while (n->nkids)
			n = n->kids[n->nkids - 1];
		p = n->parent;
		last = n == top;
		s->dom[n->perm[0].id].nodes--;
		s->nnodes--;
		node_free(n);
		if (last)
			return;
		p->nkids--;
		n = p;
	}
}

static struct node *node_create(struct gnt_store *s, struct node *parent,
				const char *name, size_t len, const void *val,
				uint32_t vlen, const struct perm *p, uint32_t np)
{
	struct node *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->name = memdup0(name, len);
	n->val = memdup0(val, vlen);
	n->perm = perms_dup(p, np);
	if (!n->name || !n->val || !n->perm)
		goto err_free;
	if (parent) {
		if (parent->nkids == parent->capkids) {
			uint32_t cap = parent->capkids ? parent->capkids * 2 : 4;
			struct node **k = realloc(parent->kids, cap * sizeof(*k));
			if (!k)
				goto err_free;
			parent->kids = k;
			parent->capkids = cap;
		}
		n->idx = parent->nkids;
		parent->kids[parent->nkids++] = n;
		parent->gen = ++s->gen;
	}
	n->parent = parent;
	n->vlen = vlen;
	n->nperm = np;
	n->gen = ++s->gen;
	s->dom[p[0].id].nodes++;
	s->nnodes++;
	return n;

err_free:
	node_free(n);
	return NULL;
}

static int node_set(struct gnt_store *s, struct node *n, const void *val,
		    uint32_t vlen, const struct perm *p, uint32_t np)
{
	char *v = val ? memdup0(val, vlen) : NULL;
	struct perm *pp = p ? perms_dup(p, np) : NULL;

	if ((val && !v) || (p && !pp)) {
		free(v);
		free(pp);
		return -ENOMEM;
	}
	if (v) {
		free(n->val);
		n->val = v;
		n->vlen = vlen;
	}
	if (pp) {
		s->dom[n->perm[0].id].nodes--;
		s->dom[pp[0].id].nodes++;
		free(n->perm);
		n->perm = pp;
		n->nperm = np;
	}
	n->gen = ++s->gen;
	return 0;
}

/* ---- permissions -------------------------------------------------------- */

static bool is_owner(const struct gnt_store *s, const struct conn *c,
		     const struct perm *p)
{
	const struct sdom *d = &s->dom[c->domid];

	return c->priv || p[0].id == c->domid ||
	       (d->has_target && p[0].id == d->target);
}

static unsigned perm_for(const struct gnt_store *s, const struct conn *c,
			 const struct perm *p, uint32_t np)
{
	if (is_owner(s, c, p))
		return PERM_R | PERM_W;
	for (uint32_t i = 1; i < np; i++)
		if (p[i].id == c->domid)
			return p[i].acc;
	return p[0].acc;
}

/* ---- watches ------------------------------------------------------------ */

static void send_event(struct gnt_store *s, struct conn *c,
		       const struct watch *w, const char *epath)
{
	const char *e = epath + w->rel;
	size_t el = strlen(e), tl = strlen(w->token);

	/* An event that does not fit is dropped (XSA-324). */
	if (el + tl + 2 > s->lim.payload_max)
		return;
	memcpy(s->ev, e, el + 1);
	memcpy(s->ev + el + 1, w->token, tl + 1);
	s->ops.send(s->ctx, c->id, GNT_XS_WATCH_EVENT, 0, 0, s->ev,
		    (uint32_t)(el + tl + 2));
}

/* A change of the node at `path` with permissions p: one event per matching
 * watch (at or above path; exact: equal only), to connections that may read
 * the node (XSA-115). */
static void fire(struct gnt_store *s, const char *path, const struct perm *p,
		 uint32_t np, bool exact)
{
	for (struct conn *c = s->conns; c; c = c->next) {
		if (!c->watches || !(perm_for(s, c, p, np) & PERM_R))
			continue;
		for (struct watch *w = c->watches; w; w = w->next)
			if (exact ? !strcmp(w->path, path)
				  : at_or_below(path, w->path))
				send_event(s, c, w, path);
	}
}

/* @introduceDomain and @releaseDomain go to privileged connections only;
 * SET_PERMS on special names is not supported (differs from 4.17). */
static void fire_special(struct gnt_store *s, const char *name)
{
	for (struct conn *c = s->conns; c; c = c->next) {
		if (!c->priv)
			continue;
		for (struct watch *w = c->watches; w; w = w->next)
			if (!strcmp(w->path, name))
				send_event(s, c, w, name);
	}
}

enum { RM_QUIET, RM_EVENTS, RM_ALL_EXACT };

/* Remove top and its subtree from the tree.  Watches on removed descendants
 * fire with their own path (exact); watches at or above top fire with top's
 * path, unless mode is RM_ALL_EXACT (top is itself a removed descendant). */
static void subtree_rm(struct gnt_store *s, struct node *top, int mode)
{
	if (mode != RM_QUIET) {
		char path[PATHBUF];
		for (struct node *n = next_pre(top, top); n; n = next_pre(n, top)) {
			node_path(n, path);
			fire(s, path, n->perm, n->nperm, true);
		}
		node_path(top, path);
		fire(s, path, top->perm, top->nperm, mode == RM_ALL_EXACT);
	}
	kid_del(s, top->parent, top);
	subtree_free(s, top);
}

static void watch_free(struct watch *w)
{
	free(w->path);
	free(w->token);
	free(w);
}

/* ---- transactions: the overlay ------------------------------------------ */

static void txe_clear(struct txe *e)
{
	free(e->val);
	free(e->perm);
	e->val = NULL;
	e->perm = NULL;
	e->vlen = e->nperm = 0;
}

static void tx_free(struct tx *t)
{
	for (uint32_t i = 0; i < t->n; i++) {
		txe_clear(t->e[i]);
		free(t->e[i]->path);
		free(t->e[i]);
	}
	free(t->e);
	free(t);
}

/* The entry of path and its nearest ancestor entry that is not CLEAN. */
static struct txe *tx_find(struct tx *t, const char *path, struct txe **anc)
{
	uint32_t plen = (uint32_t)strlen(path);
	struct txe *exact = NULL, *a = NULL;

	for (uint32_t i = 0; i < t->n; i++) {
		struct txe *e = t->e[i];
		if (e->plen == plen && !memcmp(e->path, path, plen))
			exact = e;
		else if (e->state != TX_CLEAN && e->plen < plen &&
			 is_anc(e->path, e->plen, path) && (!a || e->plen > a->plen))
			a = e;
	}
	if (anc)
		*anc = a;
	return exact;
}

static int tx_add(struct gnt_store *s, struct tx *t, const char *path,
		  struct txe **out)
{
	struct txe *e;

	if (t->n >= s->lim.nodes_per_transaction)
		return -ENOSPC;
	if (t->n == t->cap) {
		uint32_t cap = t->cap ? t->cap * 2 : 16;
		struct txe **v = realloc(t->e, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		t->e = v;
		t->cap = cap;
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->path = strdup(path))) {
		free(e);
		return -ENOMEM;
	}
	e->plen = (uint32_t)strlen(path);
	t->e[t->n++] = e;
	*out = e;
	return 0;
}

static int view_get(struct req *r, const char *path, struct view *v)
{
	struct node *n;

	memset(v, 0, sizeof(*v));
	if (r->tx) {
		struct txe *anc, *e = tx_find(r->tx, path, &anc);
		if (e && e->state == TX_SET) {
			v->exists = true;
			v->e = e;
			v->val = e->val;
			v->vlen = e->vlen;
			v->perm = e->perm;
			v->nperm = e->nperm;
			return 0;
		}
		if ((e && e->state == TX_GONE) ||
		    (anc && (anc->state == TX_GONE || anc->fresh)))
			return 0;
		n = lookup(r->s, path);
		if (!e) {
			/* Record what was read, for the conflict check. */
			int err = tx_add(r->s, r->tx, path, &e);
			if (err)
				return err;
			e->state = TX_CLEAN;
			e->has_base = true;
			e->base_exists = n != NULL;
			e->base_gen = n ? n->gen : 0;
		}
	} else {
		n = lookup(r->s, path);
	}
	if (n) {
		v->exists = true;
		v->n = n;
		v->val = n->val;
		v->vlen = n->vlen;
		v->perm = n->perm;
		v->nperm = n->nperm;
	}
	return 0;
}

/* Make path SET inside the transaction.  fresh: the node is (re)created,
 * so none of the committed node's children belong to it. */
static int tx_put(struct req *r, const char *path, const void *val,
		  uint32_t vlen, const struct perm *p, uint32_t np, bool fresh)
{
	struct txe *e = tx_find(r->tx, path, NULL);
	char *nv = memdup0(val, vlen);
	struct perm *npp = perms_dup(p, np);
	int err = 0;

	if (!nv || !npp) {
		err = -ENOMEM;
		goto err_free;
	}
	if (!e && (err = tx_add(r->s, r->tx, path, &e)))
		goto err_free;
	fresh = fresh || e->state == TX_GONE || (e->state == TX_SET && e->fresh);
	txe_clear(e);
	e->val = nv;
	e->vlen = vlen;
	e->perm = npp;
	e->nperm = np;
	e->state = TX_SET;
	e->fresh = fresh;
	e->del = false;
	return 0;

err_free:
	free(nv);
	free(npp);
	return err;
}

static int tx_rm(struct req *r, const char *path)
{
	struct tx *t = r->tx;
	struct txe *e = tx_find(t, path, NULL);
	uint32_t plen = (uint32_t)strlen(path);
	int err;

	if (!e && (err = tx_add(r->s, t, path, &e)))
		return err;
	txe_clear(e);
	e->state = TX_GONE;
	e->del = true;
	e->fresh = false;
	/* Everything below is gone too; keep the bases for the check. */
	for (uint32_t i = 0; i < t->n; i++) {
		struct txe *d = t->e[i];
		if (d->plen > plen && is_anc(path, plen, d->path)) {
			txe_clear(d);
			d->state = TX_GONE;
			d->del = false;
			d->fresh = false;
		}
	}
	return 0;
}

/* An ancestor entry of e that is SET fresh (whose committed children are
 * dropped at commit). */
static bool fresh_anc(const struct tx *t, const struct txe *e)
{
	for (uint32_t i = 0; i < t->n; i++) {
		const struct txe *a = t->e[i];
		if (a->state == TX_SET && a->fresh && a->plen < e->plen &&
		    is_anc(a->path, a->plen, e->path))
			return true;
	}
	return false;
}

static uint32_t count_owned(const struct node *top, bool self, uint16_t dom)
{
	uint32_t k = self && top->perm[0].id == dom;

	for (const struct node *n = next_pre((struct node *)top, top); n;
	     n = next_pre((struct node *)n, top))
		k += n->perm[0].id == dom;
	return k;
}

static int cmp_txe(const void *a, const void *b)
{
	return strcmp((*(struct txe *const *)a)->path,
		      (*(struct txe *const *)b)->path);
}

static int tx_commit(struct req *r, struct tx *t)
{
	struct gnt_store *s = r->s;
	struct conn *c = r->c;

	for (uint32_t i = 0; i < t->n; i++) {
		struct txe *e = t->e[i];
		struct node *n;
		if (!e->has_base)
			continue;
		n = lookup(s, e->path);
		if ((n != NULL) != e->base_exists || (n && n->gen != e->base_gen))
			return -EAGAIN;
	}
	/* The node quota on the exact outcome: created minus removed nodes
	 * owned by the committing domain (creators own what they create). */
	if (!c->priv) {
		int64_t total = s->dom[c->domid].nodes;
		for (uint32_t i = 0; i < t->n; i++) {
			struct txe *e = t->e[i];
			struct node *n;
			bool under_fresh;
			if (e->state == TX_CLEAN || (e->state == TX_GONE && !e->del))
				continue;
			n = lookup(s, e->path);
			under_fresh = fresh_anc(t, e);
			if (e->state == TX_SET) {
				bool mine = e->perm[0].id == c->domid;
				if (!n || under_fresh)
					total += mine;
				else if (e->fresh)
					total += mine - (n->perm[0].id == c->domid) -
						 (int64_t)count_owned(n, false, c->domid);
				else
					total += mine - (n->perm[0].id == c->domid);
			} else if (n && !under_fresh) {
				total -= count_owned(n, true, c->domid);
			}
		}
		if (total > (int64_t)s->lim.nodes_per_domain)
			return -ENOSPC;
	}
	/* Parents sort before their children. */
	if (t->n)
		qsort(t->e, t->n, sizeof(*t->e), cmp_txe);
	for (uint32_t i = 0; i < t->n; i++) {
		struct txe *e = t->e[i];
		struct node *n;
		int err;
		if (e->state == TX_CLEAN || (e->state == TX_GONE && !e->del))
			continue;
		n = lookup(s, e->path);
		if (e->state == TX_GONE) {
			if (n && n->parent)
				subtree_rm(s, n, RM_EVENTS);
			continue;
		}
		if (n && e->fresh)
			while (n->nkids)
				subtree_rm(s, n->kids[n->nkids - 1], RM_ALL_EXACT);
		if (n) {
			err = node_set(s, n, e->val, e->vlen, e->perm, e->nperm);
		} else {
			size_t pl = parent_len(e->path);
			char pp[PATHBUF];
			memcpy(pp, e->path, pl);
			pp[pl] = '\0';
			n = lookup(s, pp);
			/* The parent is committed or sorted before us. */
			if (!n)
				return -EIO;
			n = node_create(s, n, e->path + pl + (pl > 1),
					strlen(e->path + pl + (pl > 1)), e->val,
					e->vlen, e->perm, e->nperm);
			err = n ? 0 : -ENOMEM;
		}
		/* Out of memory half-way leaves a partial commit: a known
		 * limit of this implementation (XSA-415 class). */
		if (err)
			return err;
		fire(s, e->path, n->perm, n->nperm, false);
	}
	return 0;
}

static struct tx *tx_by_id(struct conn *c, uint32_t id)
{
	for (struct tx *t = c->txs; t; t = t->next)
		if (t->id == id)
			return t;
	return NULL;
}

static void tx_unlink(struct conn *c, struct tx *t)
{
	for (struct tx **pp = &c->txs; *pp; pp = &(*pp)->next)
		if (*pp == t) {
			*pp = t->next;
			c->ntx--;
			return;
		}
}

/* ---- replies ------------------------------------------------------------ */

static void reply(struct req *r, const void *p, uint32_t len)
{
	r->s->ops.send(r->s->ctx, r->c->id, r->type, r->req_id, r->tx_id, p, len);
}

static int reply_ok(struct req *r)
{
	reply(r, "OK", 3);
	return 0;
}

static void reply_err(struct req *r, int err)
{
	const char *n = gnt_store_errname(err);

	r->s->ops.send(r->s->ctx, r->c->id, GNT_XS_ERROR, r->req_id, r->tx_id, n,
		       (uint32_t)strlen(n) + 1);
}

/* ---- operations --------------------------------------------------------- */

/* The nearest existing ancestor of a missing path; *k: levels missing. */
static int nearest(struct req *r, const char *path, char *anc,
		   struct view *a, uint32_t *k)
{
	strcpy(anc, path);
	*k = 1;
	for (;;) {
		int err;
		anc[parent_len(anc)] = '\0';
		if ((err = view_get(r, anc, a)))
			return err;
		if (a->exists)
			return 0;
		(*k)++;
	}
}

/* ENOENT if the connection has `perm` on the nearest existing ancestor,
 * EACCES if not: do not tell who may not look whether a node exists. */
static int missing_err(struct req *r, const char *path, unsigned perm)
{
	char anc[PATHBUF];
	struct view a;
	uint32_t k;
	int err = nearest(r, path, anc, &a, &k);

	if (err)
		return err;
	return (perm_for(r->s, r->c, a.perm, a.nperm) & perm) ? -ENOENT : -EACCES;
}

static int get_node(struct req *r, const char *path, struct view *v,
		    unsigned perm)
{
	int err = view_get(r, path, v);

	if (err)
		return err;
	if (!v->exists)
		return missing_err(r, path, perm);
	if (!(perm_for(r->s, r->c, v->perm, v->nperm) & perm))
		return -EACCES;
	return 0;
}

/* The "entry size" quota: value bytes plus 8 per permission, refused when
 * >= entry_size, as C xenstored refuses a record >= quota (its record also
 * holds a header and the children's names, which we do not count). */
static bool too_big(struct req *r, uint64_t vlen, uint32_t np)
{
	return !r->c->priv && vlen + 8u * np >= r->s->lim.entry_size;
}

static int path_arg(struct req *r, const char *pl, uint32_t len, char *path)
{
	const char *v[1];
	int err = args(pl, len, v, 1, 1);

	return err < 0 ? err : canon(r, v[0], path, NULL, false);
}

static int op_read(struct req *r, const char *pl, uint32_t len)
{
	char path[PATHBUF];
	struct view v;
	int err;

	if ((err = path_arg(r, pl, len, path)) ||
	    (err = get_node(r, path, &v, PERM_R)))
		return err;
	if (v.vlen > r->s->lim.payload_max)
		return -E2BIG;
	reply(r, v.val, v.vlen);
	return 0;
}

static int write_node(struct req *r, const char *path, const void *val,
		      uint32_t vlen, bool mkdir)
{
	struct gnt_store *s = r->s;
	struct perm pbuf[GNT_XS_PAYLOAD_MAX / 2];
	char anc[PATHBUF];
	struct view v, a;
	uint32_t k, np;
	size_t pos;
	int err;

	if ((err = view_get(r, path, &v)))
		return err;
	if (v.exists) {
		if (!(perm_for(s, r->c, v.perm, v.nperm) & PERM_W))
			return -EACCES;
		if (mkdir)
			return 0;
		if (too_big(r, vlen, v.nperm))
			return -ENOSPC;
		if (r->tx)
			return tx_put(r, path, val, vlen, v.perm, v.nperm, false);
		if ((err = node_set(s, v.n, val, vlen, NULL, 0)))
			return err;
		fire(s, path, v.n->perm, v.n->nperm, false);
		return 0;
	}
	if ((err = nearest(r, path, anc, &a, &k)))
		return err;
	if (!(perm_for(s, r->c, a.perm, a.nperm) & PERM_W))
		return -EACCES;
	/* New nodes inherit the parent's list; unprivileged creators own. */
	np = a.nperm;
	memcpy(pbuf, a.perm, np * sizeof(*pbuf));
	if (!r->c->priv)
		pbuf[0].id = r->c->domid;
	if (!r->c->priv) {
		uint64_t have = s->dom[r->c->domid].nodes;
		if (r->tx)
			have += r->tx->created;
		/* Checked up front: a failure creates nothing (XSA-414). */
		if (have + k > s->lim.nodes_per_domain)
			return -ENOSPC;
	}
	if (too_big(r, vlen, np))
		return -ENOSPC;
	if (r->tx && r->tx->n + k > s->lim.nodes_per_transaction)
		return -ENOSPC;
	pos = strcmp(anc, "/") ? strlen(anc) : 0;
	if (r->tx) {
		char pre[PATHBUF];
		while (path[pos]) {
			const char *q = strchr(path + pos + 1, '/');
			size_t end = q ? (size_t)(q - path) : strlen(path);
			bool leaf = !path[end];
			memcpy(pre, path, end);
			pre[end] = '\0';
			if ((err = tx_put(r, pre, leaf ? val : "", leaf ? vlen : 0,
					  pbuf, np, true)))
				return err;
			r->tx->created++;
			pos = end;
		}
		return 0;
	} else {
		struct node *parent = a.n, *top = NULL;
		while (path[pos]) {
			const char *q = strchr(path + pos + 1, '/');
			size_t end = q ? (size_t)(q - path) : strlen(path);
			bool leaf = !path[end];
			struct node *n = node_create(s, parent, path + pos + 1,
						     end - pos - 1, leaf ? val : "",
						     leaf ? vlen : 0, pbuf, np);
			if (!n) {
				if (top)
					subtree_rm(s, top, RM_QUIET);
				return -ENOMEM;
			}
			if (!top)
				top = n;
			parent = n;
			pos = end;
		}
		fire(s, path, pbuf, np, false);
		return 0;
	}
}

static int op_write(struct req *r, const char *pl, uint32_t len)
{
	char path[PATHBUF];
	const char *z = memchr(pl, '\0', len);
	int err;

	if (!z)
		return -EINVAL;
	if ((err = canon(r, pl, path, NULL, false)))
		return err;
	return write_node(r, path, z + 1, (uint32_t)(len - (uint32_t)(z + 1 - pl)),
			  false) ?: reply_ok(r);
}

static int op_mkdir(struct req *r, const char *pl, uint32_t len)
{
	char path[PATHBUF];
	int err;

	if ((err = path_arg(r, pl, len, path)))
		return err;
	return write_node(r, path, "", 0, true) ?: reply_ok(r);
}

static int op_rm(struct req *r, const char *pl, uint32_t len)
{
	char path[PATHBUF], anc[PATHBUF];
	struct view v, a;
	uint32_t k;
	int err;

	if ((err = path_arg(r, pl, len, path)) || (err = view_get(r, path, &v)))
		return err;
	if (!v.exists) {
		/* Absent is fine if the parent exists. */
		if ((err = nearest(r, path, anc, &a, &k)))
			return err;
		if (!(perm_for(r->s, r->c, a.perm, a.nperm) & PERM_W))
			return -EACCES;
		return k == 1 ? reply_ok(r) : -ENOENT;
	}
	if (!(perm_for(r->s, r->c, v.perm, v.nperm) & PERM_W))
		return -EACCES;
	if (!strcmp(path, "/"))
		return -EINVAL;
	if (r->tx) {
		/* The parent's children change: record it for the check. */
		strcpy(anc, path);
		anc[parent_len(anc)] = '\0';
		if ((err = view_get(r, anc, &a)) || (err = tx_rm(r, path)))
			return err;
	} else {
		subtree_rm(r->s, v.n, RM_EVENTS);
	}
	return reply_ok(r);
}

/* The children of a visible node as "a\0b\0", malloc'd into *out. */
static int children(struct req *r, const char *path, const struct view *v,
		    char **out, uint32_t *outlen)
{
	size_t plen = strlen(path), cap = 256, len = 0;
	char *buf = malloc(cap), cp[PATHBUF];
	const struct node *m = NULL;

	if (!buf)
		return -ENOMEM;
	if (!v->e || !v->e->fresh)
		m = v->n ? v->n : lookup(r->s, path);
	for (int pass = 0; pass < 2; pass++) {
		uint32_t cnt = pass ? (r->tx ? r->tx->n : 0) : (m ? m->nkids : 0);
		for (uint32_t i = 0; i < cnt; i++) {
			const char *name;
			size_t nl;
			if (pass == 0) {
				name = m->kids[i]->name;
				if (r->tx) {
					struct txe *e;
					snprintf(cp, sizeof(cp), "%s/%s",
						 plen > 1 ? path : "", name);
					e = tx_find(r->tx, cp, NULL);
					if (e && e->state == TX_GONE)
						continue;
				}
			} else {
				const struct txe *e = r->tx->e[i];
				size_t off = plen > 1 ? plen + 1 : 1;
				if (e->state != TX_SET || e->plen <= off ||
				    !is_anc(path, (uint32_t)plen, e->path) ||
				    strchr(e->path + off, '/'))
					continue;
				name = e->path + off;
				if (m && kid_find(m, name, strlen(name)))
					continue;
			}
			nl = strlen(name) + 1;
			if (len + nl > cap) {
				char *b;
				while (len + nl > cap)
					cap *= 2;
				if (!(b = realloc(buf, cap))) {
					free(buf);
					return -ENOMEM;
				}
				buf = b;
			}
			memcpy(buf + len, name, nl);
			len += nl;
		}
	}
	*out = buf;
	*outlen = (uint32_t)len;
	return 0;
}

static int op_directory(struct req *r, const char *pl, uint32_t len)
{
	char path[PATHBUF], *kids;
	struct view v;
	uint32_t klen;
	int err;

	if ((err = path_arg(r, pl, len, path)) ||
	    (err = get_node(r, path, &v, PERM_R)) ||
	    (err = children(r, path, &v, &kids, &klen)))
		return err;
	/* A listing larger than a payload is refused (XSA-72). */
	if (klen > r->s->lim.payload_max) {
		free(kids);
		return -E2BIG;
	}
	reply(r, kids, klen);
	free(kids);
	return 0;
}

static int op_directory_part(struct req *r, const char *pl, uint32_t len)
{
	struct gnt_store *s = r->s;
	char path[PATHBUF], *kids, gen[24];
	const char *a[2];
	struct node *n;
	struct view v;
	uint32_t klen, glen, maxlen, used = 0;
	uint64_t off;
	int err;

	if ((err = args(pl, len, a, 2, 2)) < 0)
		return err;
	if (!parse_uint(a[1], UINT32_MAX, &off))
		return -EINVAL;
	if ((err = canon(r, a[0], path, NULL, false)) ||
	    (err = get_node(r, path, &v, PERM_R)) ||
	    (err = children(r, path, &v, &kids, &klen)))
		return err;
	/* The generation tells the client whether the list changed between
	 * chunks; inside a transaction it is the committed node's. */
	n = v.n ? v.n : lookup(s, path);
	glen = (uint32_t)snprintf(gen, sizeof(gen), "%llu",
				  (unsigned long long)(n ? n->gen : 0)) + 1;
	memcpy(s->out, gen, glen);
	if (off < klen) {
		/* Whole names only, and room for the final extra NUL. */
		maxlen = s->lim.payload_max - glen - 1;
		while (off + used < klen) {
			uint32_t l = (uint32_t)strlen(kids + off + used) + 1;
			if (used + l > maxlen)
				break;
			used += l;
		}
		memcpy(s->out + glen, kids + off, used);
	}
	if (off + used >= klen)
		s->out[glen + used++] = '\0';
	free(kids);
	reply(r, s->out, glen + used);
	return 0;
}

static int op_get_perms(struct req *r, const char *pl, uint32_t len)
{
	char path[PATHBUF];
	struct view v;
	uint32_t o = 0;
	int err;

	if ((err = path_arg(r, pl, len, path)) ||
	    (err = get_node(r, path, &v, PERM_R)))
		return err;
	for (uint32_t i = 0; i < v.nperm; i++) {
		static const char acc[] = "nrwb";
		if (o + 8 > r->s->lim.payload_max)
			return -E2BIG;
		o += (uint32_t)snprintf(r->s->out + o, 8, "%c%u", acc[v.perm[i].acc],
					(unsigned)v.perm[i].id) + 1;
	}
	reply(r, r->s->out, o);
	return 0;
}

static int op_set_perms(struct req *r, const char *pl, uint32_t len)
{
	struct gnt_store *s = r->s;
	struct perm p[GNT_XS_PAYLOAD_MAX / 2];
	const char *a[GNT_XS_PAYLOAD_MAX / 2 + 1];
	char path[PATHBUF];
	struct view v;
	int n, err;

	if ((n = args(pl, len, a, 2, GNT_XS_PAYLOAD_MAX / 2 + 1)) < 0)
		return n;
	n--;
	for (int i = 0; i < n; i++) {
		const char *t = a[i + 1];
		const char *acc = strchr("nrwb", t[0]);
		if (!t[0] || !acc || !parse_domid(t + 1, &p[i].id))
			return -EINVAL;
		p[i].acc = (uint8_t)(acc - "nrwb");
	}
	if (!r->c->priv && (uint32_t)n > s->lim.perms_per_node)
		return -ENOSPC;
	if ((err = canon(r, a[0], path, NULL, false)) ||
	    (err = view_get(r, path, &v)))
		return err;
	if (!v.exists)
		return missing_err(r, path, PERM_W);
	if (!is_owner(s, r->c, v.perm))
		return -EACCES;
	/* Only the privileged change owners (XSA-352). */
	if (!r->c->priv && p[0].id != v.perm[0].id)
		return -EPERM;
	if (r->tx) {
		err = tx_put(r, path, v.val, v.vlen, p, (uint32_t)n, false);
	} else if (!(err = node_set(s, v.n, NULL, 0, p, (uint32_t)n))) {
		fire(s, path, v.n->perm, v.n->nperm, false);
	}
	return err ?: reply_ok(r);
}

static int op_watch(struct req *r, const char *pl, uint32_t len)
{
	struct gnt_store *s = r->s;
	struct sdom *d = &s->dom[r->c->domid];
	const char *a[3];
	char path[PATHBUF];
	struct watch *w;
	uint32_t rel;
	int err;

	/* A third string (a depth, Xen master only) is accepted, ignored. */
	if ((err = args(pl, len, a, 2, 3)) < 0)
		return err;
	if ((err = canon(r, a[0], path, &rel, true)))
		return err;
	for (w = r->c->watches; w; w = w->next)
		if (!strcmp(w->path, path) && !strcmp(w->token, a[1]))
			return -EEXIST;
	/* 4.17 refuses only once the count exceeds the quota, which lets a
	 * domain have quota+1 watches; we stop at the quota. */
	if (!r->c->priv && d->watches >= s->lim.watches_per_domain)
		return -E2BIG;
	w = calloc(1, sizeof(*w));
	if (!w || !(w->path = strdup(path)) || !(w->token = strdup(a[1]))) {
		if (w)
			free(w->path);
		free(w);
		return -ENOMEM;
	}
	w->rel = rel;
	w->next = r->c->watches;
	r->c->watches = w;
	d->watches++;
	reply_ok(r);
	/* Every new watch fires once at once, with its own path. */
	send_event(s, r->c, w, path);
	return 0;
}

static int op_unwatch(struct req *r, const char *pl, uint32_t len)
{
	const char *a[2];
	char path[PATHBUF];
	int err;

	if ((err = args(pl, len, a, 2, 2)) < 0)
		return err;
	if ((err = canon(r, a[0], path, NULL, true)))
		return err;
	for (struct watch **pp = &r->c->watches; *pp; pp = &(*pp)->next) {
		struct watch *w = *pp;
		if (!strcmp(w->path, path) && !strcmp(w->token, a[1])) {
			*pp = w->next;
			watch_free(w);
			r->s->dom[r->c->domid].watches--;
			return reply_ok(r);
		}
	}
	return -ENOENT;
}

static void conn_drop_state(struct gnt_store *s, struct conn *c)
{
	while (c->watches) {
		struct watch *w = c->watches;
		c->watches = w->next;
		watch_free(w);
		s->dom[c->domid].watches--;
	}
	while (c->txs) {
		struct tx *t = c->txs;
		c->txs = t->next;
		tx_free(t);
	}
	c->ntx = 0;
}

static int op_reset_watches(struct req *r, const char *pl, uint32_t len)
{
	/* As 4.17: watches and open transactions both go. */
	conn_drop_state(r->s, r->c);
	return reply_ok(r);
}

static int op_tx_start(struct req *r, const char *pl, uint32_t len)
{
	struct gnt_store *s = r->s;
	struct tx *t;
	char id[16];

	if (r->tx)
		return -EBUSY;
	if (!r->c->priv && r->c->ntx >= s->lim.transactions)
		return -ENOSPC;
	if (!(t = calloc(1, sizeof(*t))))
		return -ENOMEM;
	do
		t->id = ++s->next_tx;
	while (!t->id || tx_by_id(r->c, t->id));
	t->next = r->c->txs;
	r->c->txs = t;
	r->c->ntx++;
	reply(r, id, (uint32_t)snprintf(id, sizeof(id), "%u", t->id) + 1);
	return 0;
}

static int op_tx_end(struct req *r, const char *pl, uint32_t len)
{
	const char *a[1];
	struct tx *t = r->tx;
	int err;

	if (args(pl, len, a, 1, 1) < 0 || (strcmp(a[0], "T") && strcmp(a[0], "F")))
		return -EINVAL;
	if (!t)
		return -ENOENT;
	/* The transaction ends whatever the outcome. */
	err = a[0][0] == 'T' ? tx_commit(r, t) : 0;
	tx_unlink(r->c, t);
	tx_free(t);
	r->tx = NULL;
	return err ?: reply_ok(r);
}

static int op_get_domain_path(struct req *r, const char *pl, uint32_t len)
{
	const char *a[1];
	uint16_t d;
	char p[32];

	if (args(pl, len, a, 1, 1) < 0 || !parse_domid(a[0], &d))
		return -EINVAL;
	reply(r, p, (uint32_t)snprintf(p, sizeof(p), "/local/domain/%u", d) + 1);
	return 0;
}

/* One domid argument of a privileged domain-management request. */
static int dom_arg(struct req *r, const char *pl, uint32_t len, int nargs,
		   const char **a, uint16_t *d)
{
	if (!r->c->priv)
		return -EACCES;
	if (args(pl, len, a, nargs, nargs) < 0 || !parse_domid(a[0], d))
		return -EINVAL;
	return 0;
}

static void introduce(struct gnt_store *s, uint16_t domid)
{
	s->dom[domid].introduced = true;
	fire_special(s, "@introduceDomain");
}

static int op_introduce(struct req *r, const char *pl, uint32_t len)
{
	const char *a[3];
	uint64_t x;
	uint16_t d;
	int err;

	if ((err = dom_arg(r, pl, len, 3, a, &d)))
		return err;
	/* The ring (gfn) and event channel are the transport's business. */
	if (d >= DOMID_LIMIT || !parse_uint(a[1], UINT64_MAX, &x) ||
	    !parse_uint(a[2], UINT32_MAX, &x))
		return -EINVAL;
	/* A second INTRODUCE of a live domain is accepted quietly (4.17
	 * uses it to rebind the event channel). */
	if (!r->s->dom[d].introduced)
		introduce(r->s, d);
	return reply_ok(r);
}

static int release(struct gnt_store *s, uint16_t domid, bool rm_dir);

static int op_release(struct req *r, const char *pl, uint32_t len)
{
	const char *a[1];
	uint16_t d;
	int err;

	if ((err = dom_arg(r, pl, len, 1, a, &d)))
		return err;
	if (d == 0)
		return -EINVAL;
	if (d >= DOMID_LIMIT || !r->s->dom[d].introduced)
		return -ENOENT;
	/* Reply first: the requester itself may be among the closed ones.
	 * As Xen, /local/domain/<d> stays for the toolstack to remove. */
	reply_ok(r);
	release(r->s, d, false);
	return 0;
}

static int op_is_introduced(struct req *r, const char *pl, uint32_t len)
{
	const char *a[1];
	uint16_t d;
	int err;

	if ((err = dom_arg(r, pl, len, 1, a, &d)))
		return err;
	reply(r, r->s->dom[d].introduced ? "T" : "F", 2);
	return 0;
}

static int op_resume(struct req *r, const char *pl, uint32_t len)
{
	const char *a[1];
	uint16_t d;
	int err;

	if ((err = dom_arg(r, pl, len, 1, a, &d)))
		return err;
	if (!r->s->dom[d].introduced)
		return -ENOENT;
	/* Nothing to clear: the store keeps no shutdown flag. */
	return reply_ok(r);
}

static int op_set_target(struct req *r, const char *pl, uint32_t len)
{
	const char *a[2];
	uint16_t d, t;
	int err;

	if ((err = dom_arg(r, pl, len, 2, a, &d)))
		return err;
	if (!parse_domid(a[1], &t))
		return -EINVAL;
	if (!r->s->dom[d].introduced || !r->s->dom[t].introduced)
		return -ENOENT;
	r->s->dom[d].target = t;
	r->s->dom[d].has_target = true;
	return reply_ok(r);
}

static int op_control(struct req *r, const char *pl, uint32_t len)
{
	static const char help[] = "check\nhelp\nprint\n";
	const char *a[8];

	if (!r->c->priv)
		return -EACCES;
	if (args(pl, len, a, 1, 8) < 0)
		return -EINVAL;
	if (!strcmp(a[0], "check"))
		return gnt_store_check(r->s) ? -EIO : reply_ok(r);
	if (!strcmp(a[0], "print"))
		return reply_ok(r);
	if (!strcmp(a[0], "help")) {
		reply(r, help, sizeof(help));
		return 0;
	}
	return -EINVAL;
}

/* ---- connections and the entry point ------------------------------------ */

static struct conn *conn_by_id(const struct gnt_store *s, uint32_t id)
{
	for (struct conn *c = s->conns; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

int gnt_store_conn_open(struct gnt_store *s, uint16_t domid, bool privileged,
			uint32_t *conn)
{
	struct conn *c;

	if (domid >= DOMID_LIMIT)
		return -EINVAL;
	if (s->nconns >= s->lim.connections)
		return -ENOSPC;
	if (!(c = calloc(1, sizeof(*c))))
		return -ENOMEM;
	do
		c->id = ++s->next_conn;
	while (!c->id || conn_by_id(s, c->id));
	c->domid = domid;
	c->priv = privileged;
	c->next = s->conns;
	s->conns = c;
	s->nconns++;
	*conn = c->id;
	return 0;
}

static void conn_free(struct gnt_store *s, struct conn *c)
{
	conn_drop_state(s, c);
	free(c);
}

void gnt_store_conn_close(struct gnt_store *s, uint32_t id)
{
	for (struct conn **pp = &s->conns; *pp; pp = &(*pp)->next) {
		struct conn *c = *pp;
		if (c->id == id) {
			*pp = c->next;
			s->nconns--;
			conn_free(s, c);
			return;
		}
	}
}

typedef int (*op_fn)(struct req *, const char *, uint32_t);

static const struct {
	op_fn fn;
	bool tx; /* works inside a transaction: tx_id is looked up */
} ops_tab[] = {
	[GNT_XS_CONTROL] = {op_control, false},
	[GNT_XS_DIRECTORY] = {op_directory, true},
	[GNT_XS_READ] = {op_read, true},
	[GNT_XS_GET_PERMS] = {op_get_perms, true},
	[GNT_XS_WATCH] = {op_watch, false},
	[GNT_XS_UNWATCH] = {op_unwatch, false},
	[GNT_XS_TRANSACTION_START] = {op_tx_start, true},
	[GNT_XS_TRANSACTION_END] = {op_tx_end, true},
	[GNT_XS_INTRODUCE] = {op_introduce, false},
	[GNT_XS_RELEASE] = {op_release, false},
	[GNT_XS_GET_DOMAIN_PATH] = {op_get_domain_path, false},
	[GNT_XS_WRITE] = {op_write, true},
	[GNT_XS_MKDIR] = {op_mkdir, true},
	[GNT_XS_RM] = {op_rm, true},
	[GNT_XS_SET_PERMS] = {op_set_perms, true},
	[GNT_XS_IS_DOMAIN_INTRODUCED] = {op_is_introduced, false},
	[GNT_XS_RESUME] = {op_resume, false},
	[GNT_XS_SET_TARGET] = {op_set_target, false},
	[GNT_XS_RESET_WATCHES] = {op_reset_watches, false},
	[GNT_XS_DIRECTORY_PART] = {op_directory_part, true},
};

int gnt_store_request(struct gnt_store *s, uint32_t conn, uint32_t type,
		      uint32_t req_id, uint32_t tx_id, const void *payload,
		      uint32_t len)
{
	struct conn *c = conn_by_id(s, conn);
	struct req r = {s, c, NULL, type, req_id, tx_id};
	int err;

	if (!c)
		return -EBADF;
	if (len > s->lim.payload_max)
		return -EMSGSIZE;
	if (!payload)
		payload = "";
	if (type >= sizeof(ops_tab) / sizeof(ops_tab[0]) || !ops_tab[type].fn) {
		reply_err(&r, ENOSYS);
		return 0;
	}
	if (ops_tab[type].tx && tx_id && !(r.tx = tx_by_id(c, tx_id))) {
		reply_err(&r, ENOENT);
		return 0;
	}
	/* A handler replies on success and returns 0, or returns -errno and
	 * has sent nothing; it may have closed c (RELEASE). */
	err = ops_tab[type].fn(&r, payload, len);
	if (err)
		reply_err(&r, err);
	return 0;
}

/* ---- domains ------------------------------------------------------------ */

int gnt_store_domain_introduce(struct gnt_store *s, uint16_t domid,
			       const char *name)
{
	struct conn sys = {.domid = 0, .priv = true};
	struct req r = {s, &sys, NULL, 0, 0, 0};
	struct perm p = {domid, 0};
	char path[64], val[16];
	struct node *dir;
	size_t nl;
	int err;

	if (!domid || domid >= DOMID_LIMIT || !name)
		return -EINVAL;
	nl = strlen(name);
	if (!nl || nl > 63)
		return -EINVAL;
	for (size_t i = 0; i < nl; i++)
		if (name[i] < 0x20 || name[i] > 0x7e)
			return -EINVAL;
	if (s->dom[domid].introduced)
		return -EEXIST;
	/* The domain owns its directory (libxl instead gives it to dom0 with
	 * read access for the domain). */
	snprintf(path, sizeof(path), "/local/domain/%u", domid);
	dir = lookup(s, path);
	if ((err = write_node(&r, path, "", 0, true)))
		return err;
	if ((err = node_set(s, lookup(s, path), NULL, 0, &p, 1)))
		goto err_rm;
	snprintf(path, sizeof(path), "/local/domain/%u/domid", domid);
	snprintf(val, sizeof(val), "%u", domid);
	if ((err = write_node(&r, path, val, (uint32_t)strlen(val), false)) ||
	    (err = node_set(s, lookup(s, path), NULL, 0, &p, 1)))
		goto err_rm;
	snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
	if ((err = write_node(&r, path, name, (uint32_t)nl, false)) ||
	    (err = node_set(s, lookup(s, path), NULL, 0, &p, 1)))
		goto err_rm;
	introduce(s, domid);
	return 0;

err_rm:
	if (!dir) {
		snprintf(path, sizeof(path), "/local/domain/%u", domid);
		if ((dir = lookup(s, path)))
			subtree_rm(s, dir, RM_QUIET);
	}
	return err;
}

static int release(struct gnt_store *s, uint16_t domid, bool rm_dir)
{
	struct conn **pp = &s->conns;
	char path[32];
	struct node *n;

	/* Its connections go first: the transport hears of each. */
	while (*pp) {
		struct conn *c = *pp;
		if (c->domid != domid) {
			pp = &c->next;
			continue;
		}
		*pp = c->next;
		s->nconns--;
		uint32_t id = c->id;
		conn_free(s, c);
		if (s->ops.conn_gone)
			s->ops.conn_gone(s->ctx, id);
	}
	for (uint32_t d = 0; d < DOMID_LIMIT; d++)
		if (s->dom[d].has_target && s->dom[d].target == domid)
			s->dom[d].has_target = false;
	if (rm_dir) {
		snprintf(path, sizeof(path), "/local/domain/%u", domid);
		if ((n = lookup(s, path)))
			subtree_rm(s, n, RM_EVENTS);
	}
	/* What it still owns goes to dom0, and it is struck from every list,
	 * so that a new domain with its id inherits nothing (XSA-322).
	 * Overlays of open transactions are not rewritten. */
	for (n = s->root; n; n = next_pre(n, s->root)) {
		uint32_t k = 1;
		if (n->perm[0].id == domid) {
			n->perm[0].id = 0;
			s->dom[domid].nodes--;
			s->dom[0].nodes++;
		}
		for (uint32_t i = 1; i < n->nperm; i++)
			if (n->perm[i].id != domid)
				n->perm[k++] = n->perm[i];
		n->nperm = k;
	}
	memset(&s->dom[domid], 0, sizeof(s->dom[domid]));
	fire_special(s, "@releaseDomain");
	return 0;
}

int gnt_store_domain_release(struct gnt_store *s, uint16_t domid)
{
	if (!domid)
		return -EINVAL;
	if (!s->dom[domid].introduced)
		return -ENOENT;
	return release(s, domid, true);
}

/* ---- store -------------------------------------------------------------- */

void gnt_store_limits_default(struct gnt_store_limits *l)
{
	l->nodes_per_domain = 1000;
	l->watches_per_domain = 128;
	l->entry_size = 2048;
	l->transactions = 10;
	l->perms_per_node = 5;
	l->nodes_per_transaction = 1024;
	l->path_max_rel = 2048;
	l->path_max_abs = 3072;
	l->payload_max = GNT_XS_PAYLOAD_MAX;
	l->connections = 4096;
}

struct gnt_store *gnt_store_create(const struct gnt_store_ops *ops, void *ctx,
				   const struct gnt_store_limits *lim)
{
	static const struct perm none0 = {0, 0};
	struct gnt_store *s;
	struct node *local;

	if (!ops || !ops->send || !(s = calloc(1, sizeof(*s))))
		return NULL;
	s->ops = *ops;
	s->ctx = ctx;
	if (lim)
		s->lim = *lim;
	else
		gnt_store_limits_default(&s->lim);
	if (s->lim.payload_max > GNT_XS_PAYLOAD_MAX)
		s->lim.payload_max = GNT_XS_PAYLOAD_MAX;
	if (s->lim.path_max_abs > PATHBUF - 1)
		s->lim.path_max_abs = PATHBUF - 1;
	if (s->lim.path_max_rel > s->lim.path_max_abs)
		s->lim.path_max_rel = s->lim.path_max_abs;
	if (!(s->dom = calloc(NDOMIDS, sizeof(*s->dom))))
		goto err_free;
	if (!(s->root = node_create(s, NULL, "", 0, "", 0, &none0, 1)))
		goto err_free;
	if (!(local = node_create(s, s->root, "local", 5, "", 0, &none0, 1)) ||
	    !node_create(s, local, "domain", 6, "", 0, &none0, 1))
		goto err_tree;
	s->dom[0].introduced = true;
	return s;

err_tree:
	subtree_free(s, s->root);
err_free:
	free(s->dom);
	free(s);
	return NULL;
}

void gnt_store_destroy(struct gnt_store *s)
{
	if (!s)
		return;
	while (s->conns) {
		struct conn *c = s->conns;
		s->conns = c->next;
		conn_free(s, c);
	}
	subtree_free(s, s->root);
	free(s->dom);
	free(s);
}

void gnt_store_stats(const struct gnt_store *s, struct gnt_store_stats *st)
{
	memset(st, 0, sizeof(*st));
	st->nodes = s->nnodes;
	for (const struct conn *c = s->conns; c; c = c->next) {
		st->connections++;
		st->transactions += c->ntx;
		for (const struct watch *w = c->watches; w; w = w->next)
			st->watches++;
	}
}

uint32_t gnt_store_domain_nodes(const struct gnt_store *s, uint16_t domid)
{
	return s->dom[domid].nodes;
}

bool gnt_store_domain_introduced(const struct gnt_store *s, uint16_t domid)
{
	return s->dom[domid].introduced;
}

int gnt_store_check(const struct gnt_store *s)
{
	uint32_t *nodes = calloc(NDOMIDS, sizeof(*nodes));
	uint32_t *watches = calloc(NDOMIDS, sizeof(*watches));
	uint32_t total = 0;
	int err = 0;

	if (!nodes || !watches) {
		err = -ENOMEM;
		goto out;
	}
	for (struct node *n = s->root; n; n = next_pre(n, s->root)) {
		nodes[n->perm[0].id]++;
		total++;
		for (uint32_t i = 0; i < n->nkids; i++)
			if (n->kids[i]->parent != n || n->kids[i]->idx != i)
				err = -EIO;
	}
	for (const struct conn *c = s->conns; c; c = c->next) {
		uint32_t ntx = 0;
		for (const struct watch *w = c->watches; w; w = w->next)
			watches[c->domid]++;
		for (const struct tx *t = c->txs; t; t = t->next)
			ntx++;
		if (ntx != c->ntx)
			err = -EIO;
	}
	if (total != s->nnodes)
		err = -EIO;
	for (uint32_t d = 0; d < NDOMIDS; d++)
		if (nodes[d] != s->dom[d].nodes || watches[d] != s->dom[d].watches)
			err = -EIO;
out:
	free(nodes);
	free(watches);
	return err;
}
