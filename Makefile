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
HV_SRC   := src/hv/gntd.c src/hv/ops.c src/hv/backing.c src/hv/revoke.c src/hv/evtchn.c src/hv/gntdev.c src/hv/xs.c src/common/rundir.c
LIB_SRC  := src/lib/transport.c src/lib/grant.c src/lib/memory.c src/lib/map.c \
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

.PHONY: all tests check demo bench clean format
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

# compat: gnttab/evtchn
# Drop-ins for Debian's libxengnttab.so.1 / libxenevtchn.so.1, linked against
# libgnt.so.0 beside them (one libgnt state per process), so that
# LD_LIBRARY_PATH=$(BUILD)/compat is all a Xen program needs.
COMPAT_LIBS += $(BUILD)/compat/libxengnttab.so.1.2 $(BUILD)/compat/libxenevtchn.so.1.2
COMPAT_LDFLAGS = $(LDSAN) -shared -Wl,-rpath,'$$ORIGIN' -Wl,-z,now
all: $(COMPAT_LIBS)
$(BUILD)/compat/libgnt.so.0: $(BUILD)/lib/libgnt.so
	@mkdir -p $(@D)
	cp $< $@
$(BUILD)/compat/libxengnttab.so.1.2: $(call pic,src/compat/gnttab.c) src/compat/libxengnttab.map $(BUILD)/compat/libgnt.so.0
	$(CC) $(COMPAT_LDFLAGS) -Wl,-soname,libxengnttab.so.1 -Wl,--version-script=src/compat/libxengnttab.map \
	  -o $@ $(call pic,src/compat/gnttab.c) $(BUILD)/compat/libgnt.so.0 $(LDLIBS)
	ln -sf libxengnttab.so.1.2 $(@D)/libxengnttab.so.1
$(BUILD)/compat/libxenevtchn.so.1.2: $(call pic,src/compat/evtchn.c) src/compat/libxenevtchn.map $(BUILD)/compat/libgnt.so.0
	$(CC) $(COMPAT_LDFLAGS) -Wl,-soname,libxenevtchn.so.1 -Wl,--version-script=src/compat/libxenevtchn.map \
	  -o $@ $(call pic,src/compat/evtchn.c) $(BUILD)/compat/libgnt.so.0 $(LDLIBS)
	ln -sf libxenevtchn.so.1.2 $(@D)/libxenevtchn.so.1
# gnt-bench's xenvchan_* figures: Debian's libxenvchan as installed, run on
# the drop-ins (gnt-bench sets LD_LIBRARY_PATH to $(BUILD)/compat).
all: $(BUILD)/bin/xenvchan-peer
$(BUILD)/bin/xenvchan-peer: $(call obj,bench/xenvchan-peer.c) $(COMPAT_LIBS)
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $(call obj,bench/xenvchan-peer.c) \
	  /usr/lib/x86_64-linux-gnu/libxenvchan.so.4.17 -Wl,-rpath-link,$(BUILD)/compat $(LDLIBS)
# Tests of the drop-ins: one libgnt (the shared one) for helpers and drop-ins
# alike; Debian's libxenvchan is linked as installed.
COMPAT_TEST_SRC := $(wildcard tests/compat/*.c)
tests: $(BUILD)/tests/compat
$(BUILD)/tests/compat: $(call obj,$(COMPAT_TEST_SRC) $(TESTLIB)) $(COMPAT_LIBS) | $(BUILD)/bin/gntd
	@mkdir -p $(@D)
	$(CC) $(LDSAN) -o $@ $(call obj,$(COMPAT_TEST_SRC) $(TESTLIB)) $(BUILD)/compat/libgnt.so.0 \
	  $(COMPAT_LIBS) /usr/lib/x86_64-linux-gnu/libxenvchan.so.4.17 \
	  -Wl,-rpath-link,$(BUILD)/compat -ldl $(LDLIBS)

check:
	@tests/check.sh

demo: all
	@$(BUILD)/bin/gnt-demo

bench: all
	@$(BUILD)/bin/gnt-bench

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
