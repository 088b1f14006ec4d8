/* SPDX-License-Identifier: MIT */
/*
 * gnt/xen.h - the Xen hypervisor ABI that gnt reproduces: ids, GTF_* and
 * GNTMAP_* flags, GNTST_* status codes, GNTTABOP_* and XENMEM_* argument
 * structures.  Layouts are those of Xen's public headers on x86_64
 * (interface version 0x00040e00); every size and offset is pinned below
 * by _Static_assert and checked against libxen-dev by tests/abi.
 *
 * Field comments say who writes a field: [GST] the granting guest,
 * [XEN] gntd (the hypervisor), [IN]/[OUT] hypercall direction.
 */
#ifndef GNT_XEN_H
#define GNT_XEN_H

#include <stddef.h>
#include <stdint.h>

#define GNT_PAGE_SHIFT 12
#define GNT_PAGE_SIZE  4096u

typedef uint16_t domid_t;
typedef uint32_t grant_ref_t;
typedef uint32_t grant_handle_t;
typedef uint16_t grant_status_t;
typedef uint32_t evtchn_port_t;
typedef uint64_t xen_pfn_t;
typedef uint64_t xen_ulong_t;

/* Special domain ids. Real domains are < DOMID_FIRST_RESERVED. */
#define DOMID_FIRST_RESERVED 0x7FF0U
#define DOMID_SELF           0x7FF0U
#define DOMID_IO             0x7FF1U
#define DOMID_XEN            0x7FF2U
#define DOMID_COW            0x7FF3U
#define DOMID_INVALID        0x7FF4U
#define DOMID_IDLE           0x7FFFU
#define DOMID_MASK           0x7FFFU

/* Hypercall numbers (used as the op family on gnt's wire). */
#define __HYPERVISOR_memory_op        12
#define __HYPERVISOR_grant_table_op   20
#define __HYPERVISOR_event_channel_op 32

/* ---- Grant entries ------------------------------------------------ */

struct grant_entry_v1 {
	uint16_t flags;  /* [GST+XEN] GTF_* */
	domid_t  domid;  /* [GST] grantee */
	uint32_t frame;  /* [GST] gfn shared; [XEN] frame after transfer */
};
typedef struct grant_entry_v1 grant_entry_v1_t;

#define GTF_invalid          0U
#define GTF_permit_access    1U
#define GTF_accept_transfer  2U
#define GTF_transitive       3U
#define GTF_type_mask        3U
#define _GTF_readonly        2
#define GTF_readonly         (1U << _GTF_readonly)
#define _GTF_reading         3
#define GTF_reading          (1U << _GTF_reading)
#define _GTF_writing         4
#define GTF_writing          (1U << _GTF_writing)
#define _GTF_PWT             5
#define GTF_PWT              (1U << _GTF_PWT)
#define _GTF_PCD             6
#define GTF_PCD              (1U << _GTF_PCD)
#define _GTF_PAT             7
#define GTF_PAT              (1U << _GTF_PAT)
#define _GTF_sub_page        8
#define GTF_sub_page         (1U << _GTF_sub_page)
#define _GTF_transfer_committed 2
#define GTF_transfer_committed  (1U << _GTF_transfer_committed)
#define _GTF_transfer_completed 3
#define GTF_transfer_completed  (1U << _GTF_transfer_completed)

struct grant_entry_header {
	uint16_t flags;
	domid_t  domid;
};
typedef struct grant_entry_header grant_entry_header_t;

union grant_entry_v2 {
	grant_entry_header_t hdr;
	struct {
		grant_entry_header_t hdr;
		uint32_t pad0;
		uint64_t frame;
	} full_page;
	struct {
		grant_entry_header_t hdr;
		uint16_t page_off;
		uint16_t length;
		uint64_t frame;
	} sub_page;
	struct {
		grant_entry_header_t hdr;
		domid_t trans_domid;
		uint16_t pad0;
		grant_ref_t gref;
	} transitive;
	uint32_t __spacer[4];
};
typedef union grant_entry_v2 grant_entry_v2_t;

#define GNTTAB_NR_RESERVED_ENTRIES 8
#define GNTTAB_RESERVED_CONSOLE    0
#define GNTTAB_RESERVED_XENSTORE   1

/* ---- GNTTABOP_* ---------------------------------------------------- */

#define GNTTABOP_map_grant_ref       0
#define GNTTABOP_unmap_grant_ref     1
#define GNTTABOP_setup_table         2
#define GNTTABOP_dump_table          3
#define GNTTABOP_transfer            4
#define GNTTABOP_copy                5
#define GNTTABOP_query_size          6
#define GNTTABOP_unmap_and_replace   7
#define GNTTABOP_set_version         8
#define GNTTABOP_get_status_frames   9
#define GNTTABOP_get_version         10
#define GNTTABOP_swap_grant_ref      11
#define GNTTABOP_cache_flush         12

#define _GNTMAP_device_map      0
#define GNTMAP_device_map       (1 << _GNTMAP_device_map)
#define _GNTMAP_host_map        1
#define GNTMAP_host_map         (1 << _GNTMAP_host_map)
#define _GNTMAP_readonly        2
#define GNTMAP_readonly         (1 << _GNTMAP_readonly)
#define _GNTMAP_application_map 3
#define GNTMAP_application_map  (1 << _GNTMAP_application_map)
#define _GNTMAP_contains_pte    4
#define GNTMAP_contains_pte     (1 << _GNTMAP_contains_pte)
#define _GNTMAP_guest_avail0    16
#define GNTMAP_guest_avail_mask ((uint32_t)~0U << _GNTMAP_guest_avail0)

#define GNTST_okay              (0)
#define GNTST_general_error     (-1)
#define GNTST_bad_domain        (-2)
#define GNTST_bad_gntref        (-3)
#define GNTST_bad_handle        (-4)
#define GNTST_bad_virt_addr     (-5)
#define GNTST_bad_dev_addr      (-6)
#define GNTST_no_device_space   (-7)
#define GNTST_permission_denied (-8)
#define GNTST_bad_page          (-9)
#define GNTST_bad_copy_arg      (-10)
#define GNTST_address_too_big   (-11)
#define GNTST_eagain            (-12)
#define GNTST_no_space          (-13)

struct gnttab_map_grant_ref {
	uint64_t host_addr;      /* [IN] */
	uint32_t flags;          /* [IN] GNTMAP_* */
	grant_ref_t ref;         /* [IN] */
	domid_t dom;             /* [IN] granter */
	int16_t status;          /* [OUT] GNTST_* */
	grant_handle_t handle;   /* [OUT] */
	uint64_t dev_bus_addr;   /* [OUT] */
};
typedef struct gnttab_map_grant_ref gnttab_map_grant_ref_t;

struct gnttab_unmap_grant_ref {
	uint64_t host_addr;      /* [IN] 0 = ignore */
	uint64_t dev_bus_addr;   /* [IN] 0 = ignore */
	grant_handle_t handle;   /* [IN] */
	int16_t status;          /* [OUT] */
};
typedef struct gnttab_unmap_grant_ref gnttab_unmap_grant_ref_t;

struct gnttab_setup_table {
	domid_t dom;             /* [IN] */
	uint32_t nr_frames;      /* [IN] */
	int16_t status;          /* [OUT] */
	xen_pfn_t *frame_list;   /* [IN] buffer for nr_frames gfns */
};
typedef struct gnttab_setup_table gnttab_setup_table_t;

struct gnttab_dump_table {
	domid_t dom;
	int16_t status;
};
typedef struct gnttab_dump_table gnttab_dump_table_t;

struct gnttab_transfer {
	xen_pfn_t mfn;
	domid_t domid;
	grant_ref_t ref;
	int16_t status;
};
typedef struct gnttab_transfer gnttab_transfer_t;

#define _GNTCOPY_source_gref 0
#define GNTCOPY_source_gref  (1 << _GNTCOPY_source_gref)
#define _GNTCOPY_dest_gref   1
#define GNTCOPY_dest_gref    (1 << _GNTCOPY_dest_gref)

struct gnttab_copy_ptr {
	union {
		grant_ref_t ref;
		xen_pfn_t gmfn;
	} u;
	domid_t domid;
	uint16_t offset;
};

struct gnttab_copy {
	struct gnttab_copy_ptr source, dest;
	uint16_t len;
	uint16_t flags;          /* GNTCOPY_* */
	int16_t status;          /* [OUT] */
};
typedef struct gnttab_copy gnttab_copy_t;

struct gnttab_query_size {
	domid_t dom;             /* [IN] */
	uint32_t nr_frames;      /* [OUT] */
	uint32_t max_nr_frames;  /* [OUT] */
	int16_t status;          /* [OUT] */
};
typedef struct gnttab_query_size gnttab_query_size_t;

struct gnttab_set_version {
	uint32_t version;        /* [IN/OUT] */
};
typedef struct gnttab_set_version gnttab_set_version_t;

struct gnttab_get_status_frames {
	uint32_t nr_frames;
	domid_t dom;
	int16_t status;
	uint64_t *frame_list;
};
typedef struct gnttab_get_status_frames gnttab_get_status_frames_t;

struct gnttab_get_version {
	domid_t dom;
	uint16_t pad;
	uint32_t version;
};
typedef struct gnttab_get_version gnttab_get_version_t;

struct gnttab_swap_grant_ref {
	grant_ref_t ref_a;
	grant_ref_t ref_b;
	int16_t status;
};
typedef struct gnttab_swap_grant_ref gnttab_swap_grant_ref_t;

/* ---- XENMEM_* ------------------------------------------------------ */

#define XENMEM_increase_reservation 0
#define XENMEM_decrease_reservation 1
#define XENMEM_populate_physmap     6
#define XENMEM_exchange             11

struct xen_memory_reservation {
	xen_pfn_t *extent_start;   /* [IN/OUT] gfn list */
	xen_ulong_t nr_extents;
	uint32_t extent_order;
	uint32_t mem_flags;
	domid_t domid;
};
typedef struct xen_memory_reservation xen_memory_reservation_t;

/* XENMEM_exchange: give up in's extents for out.nr_extents new ones (each
 * one contiguous run of 2^out.extent_order pages), in chunks that are done
 * completely or not at all.  nr_exchanged: caller zeroes it; [OUT] input
 * extents done (a failed call can be resumed from there). */
struct xen_memory_exchange {
	struct xen_memory_reservation in;  /* [IN] gfns to give up */
	struct xen_memory_reservation out; /* [IN/OUT] gets the new gfns */
	xen_ulong_t nr_exchanged;          /* [IN/OUT] */
};
typedef struct xen_memory_exchange xen_memory_exchange_t;


/* ---- EVTCHNOP_* ---------------------------------------------------- */

#define EVTCHNOP_bind_interdomain 0
#define EVTCHNOP_bind_virq        1
#define EVTCHNOP_bind_pirq        2
#define EVTCHNOP_close            3
#define EVTCHNOP_send             4
#define EVTCHNOP_status           5
#define EVTCHNOP_alloc_unbound    6
#define EVTCHNOP_bind_ipi         7
#define EVTCHNOP_bind_vcpu        8
#define EVTCHNOP_unmask           9
#define EVTCHNOP_reset            10

#define EVTCHNSTAT_closed       0
#define EVTCHNSTAT_unbound      1
#define EVTCHNSTAT_interdomain  2
#define EVTCHNSTAT_pirq         3
#define EVTCHNSTAT_virq         4
#define EVTCHNSTAT_ipi          5

struct evtchn_alloc_unbound {
	domid_t dom, remote_dom;   /* [IN] */
	evtchn_port_t port;        /* [OUT] */
};
typedef struct evtchn_alloc_unbound evtchn_alloc_unbound_t;

struct evtchn_bind_interdomain {
	domid_t remote_dom;        /* [IN] */
	evtchn_port_t remote_port; /* [IN] */
	evtchn_port_t local_port;  /* [OUT] */
};
typedef struct evtchn_bind_interdomain evtchn_bind_interdomain_t;

struct evtchn_close {
	evtchn_port_t port;
};
typedef struct evtchn_close evtchn_close_t;

struct evtchn_send {
	evtchn_port_t port;
};
typedef struct evtchn_send evtchn_send_t;

struct evtchn_status {
	domid_t dom;               /* [IN] */
	evtchn_port_t port;        /* [IN] */
	uint32_t status;           /* [OUT] EVTCHNSTAT_* */
	uint32_t vcpu;             /* [OUT] */
	union {
		struct {
			domid_t dom;
		} unbound;
		struct {
			domid_t dom;
			evtchn_port_t port;
		} interdomain;
		uint32_t pirq;
		uint32_t virq;
	} u;
};
typedef struct evtchn_status evtchn_status_t;

struct evtchn_unmask {
	evtchn_port_t port;
};
typedef struct evtchn_unmask evtchn_unmask_t;

struct evtchn_reset {
	domid_t dom;
};
typedef struct evtchn_reset evtchn_reset_t;

/* ---- layout pins (x86_64, identical to Xen's public headers) -------- */
#ifdef __cplusplus
#define GNT__STATIC_ASSERT static_assert
#else
#define GNT__STATIC_ASSERT _Static_assert
#endif
#define GNT__ABI(t, sz) GNT__STATIC_ASSERT(sizeof(t) == (sz), #t " size")
#define GNT__OFF(t, f, o) GNT__STATIC_ASSERT(offsetof(t, f) == (o), #t "." #f)
GNT__ABI(grant_entry_v1_t, 8);
GNT__OFF(grant_entry_v1_t, domid, 2);
GNT__OFF(grant_entry_v1_t, frame, 4);
GNT__ABI(grant_entry_v2_t, 16);
GNT__ABI(gnttab_map_grant_ref_t, 32);
GNT__OFF(gnttab_map_grant_ref_t, flags, 8);
GNT__OFF(gnttab_map_grant_ref_t, ref, 12);
GNT__OFF(gnttab_map_grant_ref_t, dom, 16);
GNT__OFF(gnttab_map_grant_ref_t, status, 18);
GNT__OFF(gnttab_map_grant_ref_t, handle, 20);
GNT__OFF(gnttab_map_grant_ref_t, dev_bus_addr, 24);
GNT__ABI(gnttab_unmap_grant_ref_t, 24);
GNT__OFF(gnttab_unmap_grant_ref_t, handle, 16);
GNT__OFF(gnttab_unmap_grant_ref_t, status, 20);
GNT__ABI(gnttab_setup_table_t, 24);
GNT__OFF(gnttab_setup_table_t, nr_frames, 4);
GNT__OFF(gnttab_setup_table_t, status, 8);
GNT__OFF(gnttab_setup_table_t, frame_list, 16);
GNT__ABI(gnttab_dump_table_t, 4);
GNT__ABI(gnttab_transfer_t, 24);
GNT__OFF(gnttab_transfer_t, domid, 8);
GNT__OFF(gnttab_transfer_t, ref, 12);
GNT__OFF(gnttab_transfer_t, status, 16);
GNT__ABI(gnttab_copy_t, 40);
GNT__OFF(gnttab_copy_t, dest, 16);
GNT__OFF(gnttab_copy_t, len, 32);
GNT__OFF(gnttab_copy_t, flags, 34);
GNT__OFF(gnttab_copy_t, status, 36);
GNT__ABI(gnttab_query_size_t, 16);
GNT__OFF(gnttab_query_size_t, nr_frames, 4);
GNT__OFF(gnttab_query_size_t, max_nr_frames, 8);
GNT__OFF(gnttab_query_size_t, status, 12);
GNT__ABI(gnttab_set_version_t, 4);
GNT__ABI(gnttab_get_status_frames_t, 16);
GNT__ABI(gnttab_get_version_t, 8);
GNT__ABI(gnttab_swap_grant_ref_t, 12);
GNT__OFF(gnttab_swap_grant_ref_t, status, 8);
GNT__ABI(xen_memory_reservation_t, 32);
GNT__OFF(xen_memory_reservation_t, nr_extents, 8);
GNT__OFF(xen_memory_reservation_t, extent_order, 16);
GNT__OFF(xen_memory_reservation_t, domid, 24);
GNT__ABI(xen_memory_exchange_t, 72);
GNT__OFF(xen_memory_exchange_t, out, 32);
GNT__OFF(xen_memory_exchange_t, nr_exchanged, 64);
GNT__ABI(evtchn_alloc_unbound_t, 8);
GNT__OFF(evtchn_alloc_unbound_t, port, 4);
GNT__ABI(evtchn_bind_interdomain_t, 12);
GNT__OFF(evtchn_bind_interdomain_t, remote_port, 4);
GNT__OFF(evtchn_bind_interdomain_t, local_port, 8);
GNT__ABI(evtchn_close_t, 4);
GNT__ABI(evtchn_send_t, 4);
GNT__ABI(evtchn_status_t, 24);
GNT__OFF(evtchn_status_t, port, 4);
GNT__OFF(evtchn_status_t, status, 8);
GNT__OFF(evtchn_status_t, vcpu, 12);
GNT__OFF(evtchn_status_t, u, 16);
GNT__ABI(evtchn_unmask_t, 4);
GNT__ABI(evtchn_reset_t, 2);

#endif /* GNT_XEN_H */
