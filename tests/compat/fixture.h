/* SPDX-License-Identifier: MIT */
/*
 * tests/compat/fixture.h - the test helpers a test compiled against Xen's
 * xenctrl.h can use: its xen/ headers collide with gnt's, so helpers.h
 * stays in fixture.c.
 */
#ifndef GNT_TEST_COMPAT_FIXTURE_H
#define GNT_TEST_COMPAT_FIXTURE_H

void tc_gntd_start(void);
void tc_gntd_stop(void);
/* a new domain's id */
unsigned int tc_domain(const char *name);
/* run fn(arg) in a new process of dom; its exit status */
int tc_run_in(unsigned int dom, void (*fn)(void *), void *arg);

#endif
