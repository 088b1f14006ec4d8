# gnt - the Xen grant-table system on plain Linux.  Plain GNU Make.
#   make          gntd, gnt, libgnt (.so + .a), gnt-bench, gnt-demo
#   make check    every test, normal build and ASan+UBSan build
#   make demo     the demo, with its own private gntd
#   make bench    benchmarks (figures beside same-run baselines)

BUILD    ?= build
SANITIZE ?=
CC       ?= cc
CFLAGS   ?= -O2 -g
WARN     := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
BASEFL   := -std=gnu11 -fno-strict-aliasing -pthread -Iinclude -Isrc $(WARN)
ifeq ($(SANITIZE),1)
BASEFL   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDSAN    := -fsanitize=address,undefined
endif
ALLCFLAGS = $(BASEFL) $(CFLAGS)
LDLIBS   := -pthread

CORE_SRC := $(wildcard src/core/*.c) src/common/status.c
HV_SRC   := src/hv/gntd.c src/hv/ops.c src/hv/backing.c src/hv/revoke.c src/hv/evtchn.c src/hv/gntdev.c \
            src/hv/xs.c src/hv/xfer.c src/hv/budget.c src/common/rundir.c
LIB_SRC  := src/lib/transport.c src/lib/grant.c src/lib/memory.c src/lib/map.c \
            src/lib/foreign.c src/lib/unmap_async.c src/lib/lost.c \
            src/lib/control.c src/lib/evtchn.c src/lib/xs.c src/lib/vchan.c src/lib/gntdev.c \
            src/lib/dir.c src/lib/compare.c \
            src/common/rundir.c src/common/status.c
CLI_SRC  := $(wildcard src/cli/*.c)
UNIT_SRC := $(wildcard tests/unit/*.c)
INTEG_SRC:= $(wildcard tests/integration/*.c)
HOST_SRC := $(wildcard tests/hostile/*.c)
TESTLIB  := tests/runner.c tests/helpers.c

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
pic = $(patsubst %.c,$(BUILD)/pic/%.o,$(1))

BINS := $(BUILD)/bin/gntd $(BUILD)/bin/gnt $(BUILD)/bin/gnt-bench $(BUILD)/bin/gnt-demo
LIBS := $(BUILD)/lib/libgnt.so $(BUILD)/lib/libgnt.a
TESTS:= $(BUILD)/tests/unit $(BUILD)/tests/integration $(BUILD)/tests/hostile

.PHONY: all tests check demo bench bench-median clean format
all: $(BINS) $(LIBS)
tests: all $(TESTS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -MMD -MP -c $< -o $@
$(BUILD)/pic/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALLCFLAGS) -fPIC -DGNT_BUILDING_LIB -MMD -MP -c $< -o $@

$(BUILD)/bin/gntd: $(call obj,$(HV_SRC) $(CORE_SRC))
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)
$(BUILD)/lib/libgnt.a: $(call obj,$(LIB_SRC))
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^
$(BUILD)/lib/libgnt.so: $(call pic,$(LIB_SRC)) src/lib/libgnt.map
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -shared -Wl,-soname,libgnt.so.0 -Wl,--version-script=src/lib/libgnt.map \
	  -o $@ $(call pic,$(LIB_SRC)) $(LDLIBS)
$(BUILD)/bin/gnt: $(call obj,$(CLI_SRC)) $(BUILD)/lib/libgnt.a
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)
$(BUILD)/bin/gnt-bench: $(call obj,bench/gnt-bench.c) $(BUILD)/lib/libgnt.a
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS) -lm
$(BUILD)/bin/gnt-demo: $(call obj,demo/gnt-demo.c) $(BUILD)/lib/libgnt.a
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)
$(BUILD)/tests/unit: $(call obj,$(UNIT_SRC) $(CORE_SRC) tests/runner.c)
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)
$(BUILD)/tests/integration: $(call obj,$(INTEG_SRC) $(TESTLIB)) $(BUILD)/lib/libgnt.a | $(BUILD)/bin/gntd
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)
$(BUILD)/tests/hostile: $(call obj,$(HOST_SRC) $(TESTLIB)) $(BUILD)/lib/libgnt.a | $(BUILD)/bin/gntd
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $^ $(LDLIBS)

# compat: the drop-in Xen libraries (src/compat), with Xen's sonames and
# version nodes, each linked to libgnt.so.0 (found next to it through
# $ORIGIN), so that a process loading several has one libgnt state and
# LD_LIBRARY_PATH=$(BUILD)/compat is all a Xen program needs.
COMPAT   := $(BUILD)/compat
XS_SRC   := src/compat/xenstore.c
XC_SRC   := src/compat/xenctrl.c src/compat/dominfo.c
COMPAT_LIBS += $(COMPAT)/libxengnttab.so.1 $(COMPAT)/libxenevtchn.so.1 \
	       $(COMPAT)/libxenstore.so.4 $(COMPAT)/libxenctrl.so.4.17
# link a drop-in: $(call compat_so,soname,map,objects)
compat_so = $(CC) $(LDSAN) -shared -Wl,-soname,$(1) -Wl,--version-script=$(2) -Wl,-z,defs \
	    -Wl,-rpath,'$$ORIGIN' -o $@ $(3) -L$(COMPAT) -l:libgnt.so.0 $(LDLIBS)
$(COMPAT)/libgnt.so.0: $(BUILD)/lib/libgnt.so
	@mkdir -p $(@D)
	ln -sf ../lib/libgnt.so $@
$(COMPAT)/libxengnttab.so.1.2: $(call pic,src/compat/gnttab.c) src/compat/libxengnttab.map $(COMPAT)/libgnt.so.0
	$(call compat_so,libxengnttab.so.1,src/compat/libxengnttab.map,$(call pic,src/compat/gnttab.c))
$(COMPAT)/libxenevtchn.so.1.2: $(call pic,src/compat/evtchn.c) src/compat/libxenevtchn.map $(COMPAT)/libgnt.so.0
	$(call compat_so,libxenevtchn.so.1,src/compat/libxenevtchn.map,$(call pic,src/compat/evtchn.c))
$(COMPAT)/libxenstore.so.4.0: $(call pic,$(XS_SRC)) src/compat/libxenstore.map $(COMPAT)/libgnt.so.0
	$(call compat_so,libxenstore.so.4,src/compat/libxenstore.map,$(call pic,$(XS_SRC)))
$(COMPAT)/libxenctrl.so.4.17.0: $(call pic,$(XC_SRC)) src/compat/libxenctrl.map $(COMPAT)/libgnt.so.0
	$(call compat_so,libxenctrl.so.4.17,src/compat/libxenctrl.map,$(call pic,$(XC_SRC)))
$(COMPAT)/libxengnttab.so.1: $(COMPAT)/libxengnttab.so.1.2
	ln -sf $(<F) $@
$(COMPAT)/libxenevtchn.so.1: $(COMPAT)/libxenevtchn.so.1.2
	ln -sf $(<F) $@
$(COMPAT)/libxenstore.so.4: $(COMPAT)/libxenstore.so.4.0
	ln -sf $(<F) $@
$(COMPAT)/libxenctrl.so.4.17: $(COMPAT)/libxenctrl.so.4.17.0
	ln -sf $(<F) $@
# gnt-bench's xenvchan_* figures: Debian's libxenvchan as installed, run on
# the drop-ins (gnt-bench sets LD_LIBRARY_PATH to $(BUILD)/compat).
all: $(BUILD)/bin/xenvchan-peer
$(BUILD)/bin/xenvchan-peer: $(call obj,bench/xenvchan-peer.c) $(COMPAT_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $(call obj,bench/xenvchan-peer.c) \
	  /usr/lib/x86_64-linux-gnu/libxenvchan.so.4.17 -Wl,-rpath-link,$(COMPAT) $(LDLIBS)
# Tests of the drop-ins: the test program links them and the shared libgnt
# (one libgnt state for helpers and drop-ins alike), and Debian's
# libxenvchan as installed.
COMPAT_TEST_SRC := $(wildcard tests/compat/*.c)
tests: $(BUILD)/tests/compat
$(BUILD)/tests/compat: $(call obj,$(COMPAT_TEST_SRC) $(TESTLIB)) $(COMPAT_LIBS) | $(BUILD)/bin/gntd
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $(call obj,$(COMPAT_TEST_SRC) $(TESTLIB)) -Wl,-rpath,'$$ORIGIN/../compat' \
	  -L$(COMPAT) -l:libxengnttab.so.1 -l:libxenevtchn.so.1 -l:libxenstore.so.4 \
	  -l:libxenctrl.so.4.17 -l:libgnt.so.0 /usr/lib/x86_64-linux-gnu/libxenvchan.so.4.17 \
	  -Wl,-rpath-link,$(COMPAT) -ldl $(LDLIBS)

check:
	@tests/check.sh

demo: all
	@$(BUILD)/bin/gnt-demo

bench: all
	@$(BUILD)/bin/gnt-bench

# the target lines N times (default 5), each judged by its median ratio
bench-median: all
	@bench/median.py -n $(or $(N),5) --bench $(BUILD)/bin/gnt-bench

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan

# the drop-in blocks above add their libraries to COMPAT_LIBS
all: $(COMPAT_LIBS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
