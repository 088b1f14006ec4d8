/* SPDX-License-Identifier: MIT */
/*
 * tests/unit/fixture.h - what the core unit tests share: a fake struct
 * gnt_core_ops backed by malloc that counts what it hands out (so a test can
 * assert that every unit and table came back), a guest's view of its grant
 * table, one-op wrappers of the batched hypercalls, and a snapshot of the
 * whole observable core state (so an error path can be checked to change
 * nothing at all).
 *
 * Each test runs in its own forked child, so the counters start at zero.
 */
#ifndef GNT_TEST_UNIT_FIXTURE_H
#define GNT_TEST_UNIT_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../runner.h"
#include "core/core.h"

/* ---- the fake backing ------------------------------------------------- */

struct fake_counts {
	/* units: live (alloc minus free) and allocated in all; pages of live units */
	long units_live, units_total, pages_live;
	long tables_live, tables_total;
	/* successful unit_copy calls and the bytes they copied */
	long copies, copied_bytes;
	/* knobs: fail the unit_alloc call with this 1-based number (0: never),
	 * every table_alloc, every unit_copy */
	long fail_unit_alloc_at;
	bool fail_table_alloc, fail_copy;
	/* v2 status frames: live sets; knob: fail every status_alloc */
	long status_live;
	bool fail_status_alloc;
	/* called inside every unit_copy (a guest rewriting its table meanwhile) */
	void (*during_copy)(void *arg);
	void *during_copy_arg;
};
extern struct fake_counts fk;
extern const struct gnt_core_ops fake_ops;

/* Bytes of page `page` of a unit (through its fake backing). */
uint8_t *fake_page(const struct gnt_unit *u, uint32_t page);

/* ---- core and domains ------------------------------------------------- */

/* Limits used by fx_core() for dom0 and by fx_dom(). */
#define FX_GRANT_FRAMES 4u
#define FX_MAPTRACK_FRAMES 4u
#define FX_MAX_PAGES 64u

struct gnt_core *fx_core(void);
/* gnt_core_destroy, then CHECK that the fake got every unit and table back
 * (and, in the sanitizer build, that nothing leaked). */
void fx_destroy(struct gnt_core *c);
struct gnt_domain *fx_dom(struct gnt_core *c, const char *name);
struct gnt_domain *fx_dom_lim(struct gnt_core *c, const char *name, uint32_t grant_frames,
			      uint32_t maptrack_frames, uint64_t max_pages);
/* Populate one unit of npages in d (GNT_MEMF_one_unit); returns its base gfn. */
uint64_t fx_alloc(struct gnt_core *c, struct gnt_domain *d, uint32_t npages);
/* Bytes of the page at gfn of d (must be in d's p2m). */
uint8_t *fx_mem(struct gnt_domain *d, uint64_t gfn);

/* ---- the guest's side of a grant table -------------------------------- */

/* Write entry ref as a guest does: domid, frame, then (release) flags. */
void fx_grant(struct gnt_domain *g, grant_ref_t ref, uint16_t to, uint64_t gfn, uint16_t flags);
uint16_t fx_flags(const struct gnt_domain *g, grant_ref_t ref);
/* GTF_reading|GTF_writing of the entry. */
uint16_t fx_busy(const struct gnt_domain *g, grant_ref_t ref);
/* Pins held on ref (rd + wr of the active entry). */
uint32_t fx_pins(const struct gnt_domain *g, grant_ref_t ref);

/* ---- one-op hypercalls ------------------------------------------------ */

struct fx_map {
	int16_t status;
	grant_handle_t handle;
	uint64_t dev_bus_addr;
	struct gnt_unit *unit;
	uint32_t page;
};
struct fx_map fx_map_op(struct gnt_core *c, struct gnt_domain *self, uint32_t dom, grant_ref_t ref,
			uint32_t flags, uint64_t host_addr);
/* Map, returning the status; *h gets the handle (may be NULL). */
int16_t fx_map(struct gnt_core *c, struct gnt_domain *self, uint32_t dom, grant_ref_t ref,
	       uint32_t flags, grant_handle_t *h);
int16_t fx_unmap(struct gnt_core *c, struct gnt_domain *self, grant_handle_t h, uint64_t host_addr,
		 uint64_t dev_bus_addr);
int16_t fx_copy(struct gnt_core *c, struct gnt_domain *self, struct gnttab_copy op);

#define FX_RO (GNTMAP_host_map | GNTMAP_readonly)
#define FX_RW (GNTMAP_host_map)

/* ---- whole-state snapshots -------------------------------------------- */

/* Everything a caller can observe: per domain its state, memory, guest table,
 * active entries, pins and live maptrack entries; per unit its refs and
 * exposures; the stats; the fake's counters.  Free slots of maptrack are not
 * part of it (which slot a later handle gets is). */
struct fx_snap {
	uint8_t *buf;
	size_t len, cap;
	struct fx_mark *marks; /* where each part starts, to say what changed */
	size_t nmarks, mcap;
};
void fx_snap(struct gnt_core *c, struct fx_snap *s);
/* True if the state still equals s (prints where it differs).  Frees s. */
bool fx_snap_same(struct gnt_core *c, struct fx_snap *s);

/* Stats as right after gnt_core_create (dom0 only, nothing else). */
bool fx_stats_idle(struct gnt_core *c);

#endif
