/* SPDX-License-Identifier: MIT */
/*
 * hv/budget.c - gntd's descriptors, shared out between domains.
 *
 * Every unit is a memfd of gntd's (two once mapped read-only), every
 * exposure a file, every event channel handle and binding a few more.  One
 * domain making one-page units in a loop would otherwise take all of gntd's
 * RLIMIT_NOFILE, and every other domain's next populate, map or bind would
 * fail.  So each descriptor gntd holds because of a domain's own request is
 * charged to that domain, and a domU may hold at most its share of what gntd
 * may open: (limit - HV_FD_RESERVE) / share.  Together, domUs never take the
 * reserve, which stays for gntd itself, its connections and dom0.  dom0 is
 * bounded only by the real limit, as Xen bounds dom0 by nothing but memory.
 */
#include "hv.h"

#include <errno.h>
#include <stdio.h>
#include <sys/resource.h>

static uint32_t used[GNT_NR_DOMIDS];
static uint64_t used_domus;   /* the sum over domUs */
static uint64_t per_dom, all_domus;

static unsigned long read_nr_open(void)
{
	unsigned long n = 0;
	FILE *f = fopen("/proc/sys/fs/nr_open", "re");

	if (f) {
		if (fscanf(f, "%lu", &n) != 1)
			n = 0;
		fclose(f);
	}
	return n;
}

/* As high as the kernel lets us (and no higher than max_fds, if set): the
 * soft limit to the hard one, and as root (CAP_SYS_RESOURCE) both to
 * fs.nr_open.  A refusal quietly leaves the lower one. */
static rlim_t raise_nofile(uint32_t max_fds)
{
	struct rlimit rl, up;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	want = read_nr_open();
	if (!want)
		want = rl.rlim_max;
	if (max_fds && max_fds < want)
		want = max_fds;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) {
		up = (struct rlimit){.rlim_cur = want, .rlim_max = want};
		if (setrlimit(RLIMIT_NOFILE, &up) == 0)
			return want;
		want = rl.rlim_max;
	}
	up = (struct rlimit){.rlim_cur = want, .rlim_max = rl.rlim_max};
	return setrlimit(RLIMIT_NOFILE, &up) == 0 ? want : rl.rlim_cur;
}

void hv_budget_init(uint32_t share, uint32_t max_fds)
{
	rlim_t lim = raise_nofile(max_fds);

	if (lim == RLIM_INFINITY || lim > UINT32_MAX)
		lim = UINT32_MAX;
	all_domus = lim > HV_FD_RESERVE ? lim - HV_FD_RESERVE : 0;
	per_dom = all_domus / (share ? share : 1);
	hv_log("descriptors: limit %llu; a domU may hold %llu of them, domUs together %llu",
	       (unsigned long long)lim, (unsigned long long)per_dom,
	       (unsigned long long)all_domus);
}

int hv_budget_charge(uint16_t domid, uint32_t n)
{
	if (domid >= GNT_NR_DOMIDS)
		return -EINVAL;
	if (domid != 0) {
		if (used[domid] + (uint64_t)n > per_dom || used_domus + n > all_domus)
			return -EMFILE;
	}
	hv_budget_force(domid, n);
	return 0;
}

void hv_budget_force(uint16_t domid, uint32_t n)
{
	if (domid >= GNT_NR_DOMIDS)
		return;
	used[domid] += n;
	if (domid != 0)
		used_domus += n;
}

void hv_budget_uncharge(uint16_t domid, uint32_t n)
{
	if (domid >= GNT_NR_DOMIDS)
		return;
	used[domid] -= n;
	if (domid != 0)
		used_domus -= n;
}

uint32_t hv_budget_used(uint16_t domid)
{
	return domid < GNT_NR_DOMIDS ? used[domid] : 0;
}
