/* SPDX-License-Identifier: MIT */
/* common/status.c - Xen's messages for GNTST_* (GNTTABOP_error_msgs). */
#include <stdint.h>

const char *gnt_status_str(int16_t st);

const char *gnt_status_str(int16_t st)
{
	static const char *const msgs[] = {
		"okay", "undefined error", "unrecognised domain id",
		"invalid grant reference", "invalid mapping handle",
		"invalid virtual address", "invalid device address",
		"no spare translation slot in the I/O MMU", "permission denied",
		"bad page", "copy arguments cross page boundary",
		"page address size too large", "operation not done; try again",
		"out of space",
	};
	if (st > 0 || st < -13)
		return "unknown status";
	return msgs[-st];
}
