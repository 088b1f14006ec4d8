/* SPDX-License-Identifier: MIT */
/*
 * tests/abi/abi_dump.c - print one line "NAME key=value ..." for every
 * constant, type and member that include/gnt/xen.h declares (the X-macro
 * list abi_list.h, which gen-list.awk derives from that header).
 *
 * check-abi.sh compiles this file twice and compares the outputs: once
 * against gnt/xen.h, once with -DABI_XEN against Xen's public headers from
 * libxen-dev.  The two headers define the same names, so they cannot share a
 * translation unit.
 *
 * What is printed is what a binary depends on: a constant's value and type
 * (i32, u32, ...: GNTCOPY_* being int and GTF_* unsigned changes what ~ and
 * comparisons do), a type's size, alignment and integer kind, a member's
 * offset, size and integer kind ("-" for aggregates, pointers and arrays:
 * Xen's guest handles are structs where gnt has plain pointers).
 */
#ifdef ABI_XEN
/* The interface version gnt/xen.h reproduces; pinned rather than taken as
 * "latest" (__XEN_TOOLS__), so newer headers are compared at this version. */
#define __XEN_INTERFACE_VERSION__ 0x00040e00
#include <stdint.h>
#include <xen/xen.h>
#include <xen/event_channel.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#else
#include "gnt/xen.h"
#endif

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

/* 1 signed integer, 0 unsigned integer, -1 anything else */
#define ABI_SIGN(x)                                                                        \
	_Generic((x), char: CHAR_MIN < 0, signed char: 1, short: 1, int: 1, long: 1,        \
		 long long: 1, _Bool: 0, unsigned char: 0, unsigned short: 0, unsigned: 0,   \
		 unsigned long: 0, unsigned long long: 0, default: -1)

static const char *kind(int sign, size_t size)
{
	static char b[16];

	if (sign < 0)
		return "-";
	snprintf(b, sizeof(b), "%c%zu", sign ? 'i' : 'u', size * CHAR_BIT);
	return b;
}

static void constant(const char *name, int sign, size_t size, long long s, unsigned long long u)
{
	if (sign)
		printf("%s value=%lld type=%s\n", name, s, kind(sign, size));
	else
		printf("%s value=%llu type=%s\n", name, u, kind(sign, size));
}

#define ABI_CONST(n)                                                                        \
	constant(#n, ABI_SIGN(n), sizeof(n), (long long)(n), (unsigned long long)(n));
#define ABI_TYPE(t)                                                                         \
	printf("%s size=%zu align=%zu type=%s\n", #t, sizeof(t), _Alignof(t),               \
	       kind(ABI_SIGN(*(t *)0), sizeof(t)));
#define ABI_FIELD(t, f)                                                                     \
	printf("%s.%s offset=%zu size=%zu type=%s\n", #t, #f, offsetof(t, f),               \
	       sizeof(((t *)0)->f), kind(ABI_SIGN(((t *)0)->f), sizeof(((t *)0)->f)));

int main(void)
{
#include "abi_list.h"
	return 0;
}
