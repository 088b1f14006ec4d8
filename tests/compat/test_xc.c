/* SPDX-License-Identifier: MIT */
/*
 * The minimal libxenctrl.so.4.17 drop-in: xc_interface_open/close and
 * xc_domain_getinfo with Xen 4.17's xc_dominfo_t, from dom0 (gntd's domain
 * table) and from a domain (EPERM, as XEN_DOMCTL_getdomaininfo).
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <xenctrl.h>

#include "../runner.h"
#include "fixture.h"

#if defined(__x86_64__)
/* the layout Debian's binaries were built with (xen-inventory.md F) */
_Static_assert(sizeof(xc_dominfo_t) == 112, "xc_dominfo_t");
_Static_assert(offsetof(xc_dominfo_t, shutdown_reason) == 12, "shutdown_reason");
_Static_assert(offsetof(xc_dominfo_t, handle) == 80, "handle");
#endif

TEST(xc_getinfo_from_dom0)
{
	xc_interface *xc;
	xc_dominfo_t info[64];
	unsigned int a, b;
	int n, seen = 0;

	tc_gntd_start();
	a = tc_domain("xca");
	b = tc_domain("xcb");
	xc = xc_interface_open(NULL, NULL, XC_OPENFLAG_NON_REENTRANT);
	CHECK(xc);
	memset(info, 0xAA, sizeof(info));
	n = xc_domain_getinfo(xc, 0, 64, info);
	CHECK(n >= 2);
	for (int i = 0; i < n; i++) {
		if (i)
			CHECK(info[i].domid > info[i - 1].domid); /* ascending */
		if (info[i].domid == a || info[i].domid == b) {
			seen++;
			CHECK(!info[i].dying && !info[i].shutdown && !info[i].crashed);
			CHECK(info[i].running);
			CHECK_EQ(info[i].ssidref, 0); /* the rest zeroed */
		}
	}
	CHECK_EQ(seen, 2);
	/* the first domain at or after first_domid: the caller checks domid */
	CHECK_EQ(xc_domain_getinfo(xc, b, 1, info), 1);
	CHECK_EQ(info[0].domid, b);
	CHECK_EQ(xc_domain_getinfo(xc, a, 1, info), 1);
	CHECK_EQ(info[0].domid, a);
	errno = 0;
	CHECK_EQ(xc_domain_getinfo(xc, b + 1, 1, info), -1); /* none after b */
	CHECK_EQ(errno, ESRCH);
	CHECK_EQ(xc_domain_getinfo(xc, 0, 0, info), 0);
	CHECK_EQ(xc_interface_close(xc), 0);
	CHECK_EQ(xc_interface_close(NULL), 0);
	tc_gntd_stop();
}

static void getinfo_in_domain(void *arg)
{
	xc_interface *xc = xc_interface_open(NULL, NULL, 0);
	xc_dominfo_t info;

	(void)arg;
	CHECK(xc); /* opening works in any domain, as privcmd does */
	errno = 0;
	CHECK_EQ(xc_domain_getinfo(xc, 0, 1, &info), -1);
	CHECK_EQ(errno, EPERM); /* the domctl is the control domain's */
	xc_interface_close(xc);
}

TEST(xc_getinfo_from_a_domain_is_eperm)
{
	tc_gntd_start();
	CHECK_EQ(tc_run_in(tc_domain("xcd"), getinfo_in_domain, NULL), 0);
	tc_gntd_stop();
}

TEST(xc_open_without_gntd)
{
	setenv("GNT_NO_DAEMON", "1", 1);
	errno = 0;
	CHECK(!xc_interface_open(NULL, NULL, 0));
	CHECK(errno != 0);
}
