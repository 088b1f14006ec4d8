/* SPDX-License-Identifier: MIT */
/*
 * The claims of `gnt compare-sharing` (gnt/compare.h), each checked: refs,
 * hypercalls of each domain and messages per approach (counts, exact), the
 * contents verified, and what a crash of either side leaves.
 */
#include "../helpers.h"

static void counts(int approach, uint64_t n, uint64_t hc_recip)
{
	struct gnt_compare_result r;

	CHECK_EQ(gnt_compare_run(approach, n, &r), 0);
	CHECK(r.supported);
	CHECK(r.verified);
	CHECK_EQ(r.refs, n + gnt_dir_pages(n));
	CHECK_EQ(r.messages, 2); /* the directory ref; "done" */
	CHECK_EQ(r.hc_recip, hc_recip);
	/* setup_table (table grown once), populate (directory pages) */
	CHECK_EQ(r.hc_donor, 2);
}

TEST_TIMEOUT(compare_map_and_copy_counts, 120)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());
	static const uint64_t ns[] = {1, 16, 1025, 70000};

	for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++) {
		uint64_t b = (ns[k] + 65535) / 65536;
		/* directory: map + unmap; buffer: ceil(N/B) maps, ceil(N/B) unmaps */
		counts(GNT_CMP_MAP, ns[k], 2 + 2 * b);
		/* populate, directory map + unmap, ceil(N/B) copies, decrease */
		counts(GNT_CMP_COPY, ns[k], 4 + b);
	}
	th_expect_stats(&s0, 10000);
	th_gntd_stop();
}

static void crash(int approach, int granter_dies, enum gnt_compare_outcome want)
{
	enum gnt_compare_outcome o;
	CHECK_EQ(gnt_compare_crash(approach, granter_dies, &o), 0);
	if (o != want)
		FAIL("%s, %s killed: %s, expected %s", gnt_compare_name(approach),
		     granter_dies ? "granter" : "recipient", gnt_compare_outcome_str(o),
		     gnt_compare_outcome_str(want));
}

TEST(compare_crash_outcomes)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());

	crash(GNT_CMP_MAP, 1, GNT_CMP_KEEPS_WORKING);
	crash(GNT_CMP_MAP, 0, GNT_CMP_PAGES_RETURNED);
	crash(GNT_CMP_COPY, 1, GNT_CMP_NOT_APPLICABLE);
	crash(GNT_CMP_COPY, 0, GNT_CMP_PAGES_RETURNED);
	/* the pages moved: the receiver rewrites them after the sender's death;
	 * the sender holds none of them when the receiver dies */
	crash(GNT_CMP_TRANSFER, 1, GNT_CMP_NOT_APPLICABLE);
	crash(GNT_CMP_TRANSFER, 0, GNT_CMP_NOT_APPLICABLE);
	th_expect_stats(&s0, 10000);
	th_gntd_stop();
}

/* Transfer goes in rounds of 4096 pages (lib/compare.c: each page is a unit
 * of its own); gntd hands out 128 one-page units per populate call. */
static uint64_t div_up(uint64_t a, uint64_t b)
{
	return (a + b - 1) / b;
}

static void transfer_counts(uint64_t n)
{
	struct gnt_compare_result r;
	uint64_t rounds = div_up(n, 4096), last = n - (rounds - 1) * 4096;

	CHECK_EQ(gnt_compare_run(GNT_CMP_TRANSFER, n, &r), 0);
	CHECK(r.supported);
	CHECK(r.verified);
	/* n accept-transfer entries and the directory listing them */
	CHECK_EQ(r.refs, n + gnt_dir_pages(n));
	/* the directory ref; per round "transferred", and "go on" but after the last */
	CHECK_EQ(r.messages, 2 * rounds);
	/* directory map + unmap; per round the populate calls and one transfer */
	CHECK_EQ(r.hc_donor, 2 + (rounds - 1) * (4096 / 128 + 1) + div_up(last, 128) + 1);
	/* setup_table, populate (directory); one FRAME per page received (its
	 * unit is new to the process); a decrease per round but the last */
	CHECK_EQ(r.hc_recip, 2 + n + rounds - 1);
}

TEST_TIMEOUT(compare_transfer_counts, 120)
{
	struct gnt_hv_stats s0 = (th_gntd_start(), th_stats());

	transfer_counts(1);
	transfer_counts(129);
	transfer_counts(4097);
	th_expect_stats(&s0, 10000);
	th_gntd_stop();
}
