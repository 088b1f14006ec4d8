/* SPDX-License-Identifier: MIT */
/*
 * core/core.h - gnt's hypervisor state machine: domains, frames (allocation
 * units and each domain's p2m), grant tables v1 and v2, active entries, maptrack
 * and exposures.  Pure: no syscalls, no sockets.  gntd drives it; unit tests
 * and fuzzers link it directly.  Backing memory is reached only through the
 * callbacks in struct gnt_core_ops.
 *
 * Every entry point returns 0 or a negative errno for failures of the whole
 * request; batched grant operations report GNTST_* per element.
 */
#ifndef GNT_CORE_H
#define GNT_CORE_H

#include <stdbool.h>
#include <stdint.h>

#include "gnt/xen.h"

#define GNT_MAX_DOMID      0x7FEFu
#define GNT_NR_DOMIDS      0x7FF0u
#define GNT_ENTRIES_PER_FRAME (GNT_PAGE_SIZE / sizeof(grant_entry_v1_t))
#define GNT_V2_ENTRIES_PER_FRAME (GNT_PAGE_SIZE / sizeof(grant_entry_v2_t))
#define GNT_STATUS_PER_FRAME (GNT_PAGE_SIZE / sizeof(grant_status_t))
#define GNT_MAPTRACK_PER_FRAME 256u /* Xen: 16-byte grant_mapping */
#define GNT_NO_UNIT UINT32_MAX
/* gnt extension to XENMEM_populate_physmap: put all extents in one unit. */
#define GNT_MEMF_one_unit (1u << 31)

struct gnt_core;
struct gnt_domain;
struct gnt_expo;
struct gnt_unit;

/* How the core reaches memory it does not own.  Implemented by gntd with
 * memfds; by unit tests with malloc. */
struct gnt_core_ops {
	/* Create backing for a unit of npages owned by domain owner; store a
	 * cookie in *backing.  Any error makes the unit fail as out of memory
	 * (gntd refuses a domain beyond its share of descriptors so). */
	int (*unit_alloc)(void *ctx, uint16_t owner, uint32_t npages, void **backing);
	void (*unit_free)(void *ctx, void *backing);
	/* Optional: the unit changed owner (a transfer delivered it). */
	void (*unit_owner)(void *ctx, void *backing, uint16_t owner);
	/* Copy len bytes between pages of units (offsets already validated). */
	int (*unit_copy)(void *ctx, void *src_backing, uint64_t src_off,
			 void *dst_backing, uint64_t dst_off, uint32_t len);
	/* Grant table memory of a domain: max_frames pages, zeroed. */
	int (*table_alloc)(void *ctx, uint16_t domid, uint32_t max_frames,
			   void **mem, void **backing);
	void (*table_free)(void *ctx, void *mem, void *backing, uint32_t max_frames);
	/* Optional (without it the domain stays at v1: set_version(2) is
	 * -ENOSYS): v2 status frames, npages zeroed pages that the domain may
	 * only read.  Kept until the domain is freed. */
	int (*status_alloc)(void *ctx, uint16_t domid, uint32_t npages, void **mem,
			    void **backing);
	void (*status_free)(void *ctx, void *mem, void *backing, uint32_t npages);
	/* Optional: revocation checked by the kernel (see gnt_expo).  Without
	 * expo_open an exposure is released as soon as its last handle goes. */
	int (*expo_open)(void *ctx, struct gnt_expo *x, struct gnt_unit *u);
	void (*expo_parked)(void *ctx, struct gnt_expo *x);
	void (*expo_free)(void *ctx, struct gnt_expo *x);
	/* Optional: set a port pending on gntd's own account (a bind's new
	 * port, a dead peer's final notification).  owner: who holds it. */
	void (*evtchn_notify)(void *ctx, uint16_t domid, uint32_t port, uint64_t owner);
	/* Optional: a port's peer went away (closed or died); it is unbound
	 * again.  Called before any evtchn_notify for it. */
	void (*evtchn_unbound)(void *ctx, uint16_t domid, uint32_t port, uint64_t owner);
	/* Optional: maptrack entry `handle` of self is about to be released
	 * (unmap, domain release, an undone map).  Called while the entry, its
	 * exposure and its pin are all still in place (gntd's unmap notify). */
	void (*handle_release)(void *ctx, struct gnt_domain *self, uint32_t handle);
};

struct gnt_limits {
	uint32_t max_grant_frames;     /* default 64, as Xen */
	uint32_t max_maptrack_frames;  /* default 1024, as Xen */
	uint64_t max_pages;            /* per-domain memory limit */
	uint32_t max_evtchn;           /* ports 0..max-1 (0 reserved); 0 = 1024:
					  ports 1..1023, as xl's event_channels=1023
					  (Xen's max_evtchn_port); at most 4096,
					  Xen's 2-level limit */
};

struct gnt_unit {
	uint32_t id;
	uint16_t owner;
	bool in_p2m;            /* still part of the owner's memory */
	uint32_t npages;
	uint64_t base_gfn;      /* in the owner's p2m */
	uint32_t refs;          /* p2m presence + exposures */
	void *backing;
	struct gnt_expo *expos; /* who may reach this unit, and how */
};

/* An exposure: domain `mapper` holds the unit's backing with `writable`
 * access.  It pins, in the owner's table, one covering grant per page of the
 * unit, because the kernel lets the mapper reach every page of it.
 *
 * With expo_open (gntd as root) each exposure has a kernel file of its own,
 * and its pins stay until the kernel has confirmed that nothing holds that
 * file any more:
 *   LIVE    handles > 0
 *   PARKED  no handles; a new map by the mapper revives it; gntd settles it
 *           soon (or at once when the granter wants to end a grant)
 *   LINGER  settled, but a process still holds the file (a mapping or a
 *           descriptor kept against the protocol): pinned until released */
enum gnt_expo_state { GNT_EXPO_LIVE = 0, GNT_EXPO_PARKED, GNT_EXPO_LINGER };

struct gnt_expo {
	struct gnt_expo *next;
	uint32_t unit;
	uint16_t mapper;
	bool writable;
	uint8_t state;         /* enum gnt_expo_state */
	uint32_t handles;      /* maptrack entries that use it */
	grant_ref_t *cover;    /* per page: the pinned covering ref */
	void *file;            /* expo_open's */
};

struct gnt_active {
	uint8_t rd, wr;        /* pins by mappings and copies, as Xen counts them
				  (8-bit; a new pin is refused once one reaches 128) */
	uint8_t xr, xw;        /* pins held by exposures of the unit (gnt only) */
	uint16_t domid;        /* the pinning domain */
	bool sub_page;         /* copy only: a v2 sub_page or transitive grant */
	bool trans;            /* a v2 transitive grant: holds a pin on
				  (trans_dom, trans_gref) per pin of its own */
	uint32_t unit;         /* latched at first pin */
	uint32_t page;
	uint64_t gfn;
	uint16_t start, length; /* the window copies may touch (0, 4096 unless
				   sub_page) */
	uint16_t trans_dom;
	uint32_t trans_gref;
};

/* A grant entry as read once from the shared table, whatever its version.
 * v2 status bits are merged into flags. */
struct gnt_entry {
	uint16_t flags, domid;
	uint64_t frame;             /* v1 frame, v2 full_page / sub_page frame */
	uint16_t page_off, length;  /* v2 sub_page */
	uint16_t trans_domid;       /* v2 transitive */
	uint32_t trans_gref;
};

struct gnt_maptrack {
	uint32_t ref;
	uint16_t dom;          /* granter */
	uint16_t flags;        /* GNTMAP_* bits 0-4; 0 = free */
	uint64_t host_addr;
	uint64_t dev_bus_addr;
	struct gnt_expo *expo;
	uint32_t next_free;
};

enum gnt_dom_state { GNT_DOM_ALIVE = 1, GNT_DOM_DYING = 2 };

struct gnt_domain {
	uint16_t id;
	enum gnt_dom_state state;
	char name[64];
	uint64_t max_pages, tot_pages;
	uint64_t next_gfn;
	/* p2m: units sorted by base_gfn */
	struct gnt_unit **p2m;
	uint32_t p2m_len, p2m_cap;
	uint32_t p2m_hint;          /* index of the last lookup's unit */
	/* grant table shared with the domain: v1 (8-byte entries) or v2
	 * (16-byte entries, GTF_reading/GTF_writing in the status frames) */
	grant_entry_v1_t *table;
	void *table_backing;
	uint32_t nr_frames, max_frames;
	uint32_t version;           /* 1 or 2 (set_version) */
	grant_status_t *status;     /* [GNTD] v2 status frames; NULL until the
				       first switch to v2, then kept */
	void *status_backing;
	struct gnt_active *active;  /* max_frames * 512 entries */
	uint32_t ext_pins;          /* pins held on our entries, exposures' too */
	uint32_t expo_pins;         /* of which exposures' */
	/* maptrack: mappings this domain holds of others' grants */
	struct gnt_maptrack *mt;
	uint32_t mt_len, mt_cap, mt_limit, mt_free, mt_used;
	/* event channels (evtchn.c) */
	struct gnt_evtchn *ev;
	uint32_t ev_len, ev_max;
	void *user;                 /* gntd's per-domain data */
};

struct gnt_core_stats {
	uint32_t domains, zombies, units;
	uint64_t frames, mappings, pins, exposures, lingering;
};

struct gnt_core *gnt_core_create(const struct gnt_core_ops *ops, void *ctx,
				 const struct gnt_limits *defaults);
void gnt_core_destroy(struct gnt_core *c);

/* Domains.  domid 0 is created by gnt_core_create.  want_id 0 = any. */
int gnt_core_domain_create(struct gnt_core *c, uint16_t want_id, const char *name,
			   const struct gnt_limits *lim, struct gnt_domain **out);
struct gnt_domain *gnt_core_domain(struct gnt_core *c, uint32_t id);
struct gnt_domain *gnt_core_domain_by_name(struct gnt_core *c, const char *name);
/* Release everything of d (its mappings, its memory).  What others still map
 * keeps d as a zombie (DYING) until unmapped; then d is freed.  d must not be
 * used after this returns. */
void gnt__core_domain_release(struct gnt_core *c, struct gnt_domain *d);
void gnt__evtchn_release(struct gnt_core *c, struct gnt_domain *d);
const struct gnt_core_ops *gnt__core_ops(struct gnt_core *c, void **ctx);
struct gnt_domain *gnt_core_domain_next(struct gnt_core *c, uint32_t after);

/* Hypercalls, on behalf of domain `self`.  Batched ones fill status fields
 * per element and return 0, or a negative errno for the whole batch. */
int gnt_core_map(struct gnt_core *c, struct gnt_domain *self,
		 struct gnttab_map_grant_ref *ops, uint32_t count,
		 struct gnt_unit **units, uint32_t *pages);
int gnt_core_unmap(struct gnt_core *c, struct gnt_domain *self,
		   struct gnttab_unmap_grant_ref *ops, uint32_t count);
int gnt_core_copy(struct gnt_core *c, struct gnt_domain *self,
		  struct gnttab_copy *ops, uint32_t count);
int gnt_core_setup_table(struct gnt_core *c, struct gnt_domain *self,
			 struct gnttab_setup_table *op, uint64_t *frames);
int gnt_core_query_size(struct gnt_core *c, struct gnt_domain *self,
			struct gnttab_query_size *op);
/* Grant table version (table.c).  set_version writes back the version in
 * effect, also on error; returns 0, -EINVAL (not 1 or 2), -ENOSYS (no v2
 * backing), -EBUSY (a ref >= 8 pinned), -ERANGE (to v1: a reserved entry
 * is transitive or names a frame >= 2^32), -ENOMEM. */
int gnt_core_set_version(struct gnt_core *c, struct gnt_domain *self,
			 struct gnttab_set_version *op);
/* -ESRCH no such domain, -EPERM another domain's, by a domain not dom0. */
int gnt_core_get_version(struct gnt_core *c, struct gnt_domain *self,
			 struct gnttab_get_version *op);
/* Status in op; frames[] gets op->nr_frames opaque frame numbers. */
int gnt_core_get_status_frames(struct gnt_core *c, struct gnt_domain *self,
			       struct gnttab_get_status_frames *op, uint64_t *frames);
/* GNTTABOP_swap_grant_ref: each op's two entries of self's table change
 * places; bad_gntref out of range, eagain while either is pinned. */
int gnt_core_swap_grant_ref(struct gnt_core *c, struct gnt_domain *self,
			    struct gnttab_swap_grant_ref *ops, uint32_t n);
/* Status frames the domain's table has now (v2), for nr_frames table frames. */
uint32_t gnt_core_status_frames(uint32_t nr_frames);
/* Entries the table holds now (nr_frames * 512 in v1, * 256 in v2). */
uint32_t gnt_core_nr_entries(const struct gnt_domain *d);
/* Read entry ref of d once; -EINVAL when ref is beyond the table. */
int gnt_core_entry(const struct gnt_domain *d, grant_ref_t ref, struct gnt_entry *e);
/* XENMEM: returns extents done (>= 0) or -errno; gfns written to gfns[]. */
long gnt_core_populate(struct gnt_core *c, struct gnt_domain *self,
		       struct xen_memory_reservation *r, uint64_t *gfns,
		       struct gnt_unit **first_unit);
long gnt_core_decrease(struct gnt_core *c, struct gnt_domain *self,
		       struct xen_memory_reservation *r, const uint64_t *gfns);

/* gntd: nothing holds x's file any more: release x (and its pins). */
void gnt_core_expo_settle(struct gnt_core *c, struct gnt_expo *x);
/* gntd: x's file is held elsewhere: keep its pins, never revive it. */
void gnt_core_expo_linger(struct gnt_core *c, struct gnt_expo *x);

struct gnt_unit *gnt_core_unit(struct gnt_core *c, uint32_t id);
struct gnt_unit *gnt_core_unit_of_gfn(struct gnt_domain *d, uint64_t gfn,
				      uint32_t *page);
void gnt_core_stats(struct gnt_core *c, struct gnt_core_stats *st);
/* Entries of d with a non-zero type (refs >= 8 and reserved ones). */
uint32_t gnt_core_entries_in_use(const struct gnt_domain *d);
const struct gnt_active *gnt_core_active(const struct gnt_domain *d, grant_ref_t ref);
const char *gnt_status_str(int16_t st);

#endif
