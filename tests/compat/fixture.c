/* SPDX-License-Identifier: MIT */
/* tests/compat/fixture.c - helpers.h for tests that cannot include it. */
#include "../helpers.h"
#include "fixture.h"

void tc_gntd_start(void)
{
	th_gntd_start();
}

void tc_gntd_stop(void)
{
	th_gntd_stop();
}

unsigned int tc_domain(const char *name)
{
	return th_domain(name);
}

int tc_run_in(unsigned int dom, void (*fn)(void *), void *arg)
{
	return th_wait(th_spawn(dom, fn, arg));
}
