/* SPDX-License-Identifier: MIT */
/* gnt/gnt.h - everything libgnt offers. */
#ifndef GNT_GNT_H
#define GNT_GNT_H
#include "gnt/xen.h"
#include "gnt/grant.h"
#include "gnt/dir.h"
#include "gnt/compare.h"
#include "gnt/foreign.h"
#include "gnt/control.h"
#include "gnt/evtchn.h"
#include "gnt/ring.h"
#include "gnt/vchan.h"
#include "gnt/xs.h"
#endif
