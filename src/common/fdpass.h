/* SPDX-License-Identifier: MIT */
/* common/fdpass.h - descriptors over AF_UNIX sockets (SCM_RIGHTS), the one
 * way gntd and libgnt attach and take them. */
#ifndef GNT_FDPASS_H
#define GNT_FDPASS_H

#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Attach n (> 0) descriptors to mh.  buf: the caller's, aligned for a
 * cmsghdr and at least CMSG_SPACE(n * sizeof(int)) bytes. */
static inline void gnt__fds_attach(struct msghdr *mh, void *buf, const int *fds, uint32_t n)
{
	struct cmsghdr *cm;

	mh->msg_control = buf;
	mh->msg_controllen = CMSG_SPACE(sizeof(int) * n);
	cm = CMSG_FIRSTHDR(mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
}

/* Take the descriptors that came with mh: into fds[*n..max), the rest are
 * closed (never leaked).  Returns how many had to be closed for lack of
 * room. */
static inline uint32_t gnt__fds_take(struct msghdr *mh, int *fds, uint32_t *n, uint32_t max)
{
	uint32_t dropped = 0;

	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		int k, *in;
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		in = (int *)(void *)CMSG_DATA(cm);
		for (int i = 0; i < k; i++) {
			if (fds && *n < max) {
				fds[(*n)++] = in[i];
			} else {
				close(in[i]);
				dropped++;
			}
		}
	}
	return dropped;
}

#endif
