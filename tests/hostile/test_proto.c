/* SPDX-License-Identifier: MIT */
#include "../helpers.h"
TEST(hostile_placeholder) { CHECK(1); }
