#!/usr/bin/env bash
# tests/compat/check-abi-compat.sh BUILDDIR LIB... - the drop-in libraries in
# BUILDDIR/compat against Xen's ABI.  For each LIB (a soname):
#
#   libxenstore.so.4, libxenctrl.so.4.17, libxengnttab.so.1, libxenevtchn.so.1
#     - the file is there (a missing one FAILS: nothing is skipped)
#     - its SONAME is LIB, it NEEDS libgnt.so.0 and no Xen library, and
#       libgnt.so.0 is next to it (so LD_LIBRARY_PATH=BUILDDIR/compat is all
#       a program needs)
#     - its version nodes (with their parents) and its exported symbols,
#       each in its node, equal tests/compat/abi/LIB.syms exactly
#     - each of those symbols is exported at the same node by Debian's own
#       library, when libxen-dev's is installed (the list is the interface)
#     - it loads with every symbol resolved (ldd -r: bind-now)
#     - the Xen headers declaring its interface compile alone (C and C++)
#   libxenvchan.so.4.17
#     - Debian's unmodified libxenvchan loads against the drop-ins: each
#       Xen library it NEEDS resolves into BUILDDIR/compat, and every symbol
#       and version it imports resolves there (ldd -r: bind-now)
#
# Prints PASS/FAIL lines and ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
if [ $# -lt 2 ]; then
	echo "usage: tests/compat/check-abi-compat.sh BUILDDIR LIB..." >&2
	exit 2
fi
B=$1
shift
C=$(cd "$B" 2>/dev/null && pwd)/compat
sysdir=/usr/lib/x86_64-linux-gnu
expdir=tests/compat/abi
out=$B/abi-compat
passed=0
failed=0
pass() { echo "PASS $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
mkdir -p "$out"

# "node NAME [PARENT]" lines, then "NODE SYMBOL" lines, of a shared object
exports() {
	objdump -p "$1" | awk '
		/^Version definitions:/ { on = 1; next }
		on && /^$/ { exit }
		on && $2 == "0x01" { next }          # the file name, not a node
		on && NF == 4 { if (n) print line; line = "node " $4; n = 1; next }
		on && NF == 1 { line = line " " $1 }
		END { if (n) print line }'
	objdump -T "$1" | awk '$4 != "*UND*" && $2 ~ /g/ && $NF !~ /^VERS/ { print $(NF-1), $NF }' | sort
}

headers_of() {
	case $1 in
	libxenstore.so.4) echo xenstore.h xenstore_lib.h ;;
	libxenctrl.so.4.17) echo xenctrl.h ;;
	libxengnttab.so.1) echo xengnttab.h ;;
	libxenevtchn.so.1) echo xenevtchn.h ;;
	esac
}

check_headers() { # lib
	for h in $(headers_of "$1"); do
		printf '#include <%s>\n' "$h" >"$out/hdr-$h.c"
		if cc -std=gnu11 -Wall -Wextra -Werror -fsyntax-only "$out/hdr-$h.c" >"$out/hdr-$h.log" 2>&1; then
			pass "$1: <$h> compiles (C)"
		else
			fail "$1: <$h> compiles (C)" "$(head -n1 "$out/hdr-$h.log")"
		fi
		if c++ -Wall -Werror -fsyntax-only -x c++ "$out/hdr-$h.c" >"$out/hdr-$h.cc.log" 2>&1; then
			pass "$1: <$h> compiles (C++)"
		else
			fail "$1: <$h> compiles (C++)" "$(head -n1 "$out/hdr-$h.cc.log")"
		fi
	done
}

# ldd -r: every symbol and version resolved; prints what did not
unresolved() { # file
	LD_LIBRARY_PATH=$C ldd -r "$1" 2>&1 | grep -E 'undefined symbol|not found|version .* not' || true
}

check_dropin() { # lib
	local lib=$1 f=$C/$1 exp=$expdir/$1.syms
	if [ ! -e "$f" ]; then
		fail "$lib: present in $C" "missing (not built on this branch?)"
		return
	fi
	pass "$lib: present in $C"
	local soname
	soname=$(objdump -p "$f" | awk '$1 == "SONAME" { print $2 }')
	[ "$soname" = "$lib" ] && pass "$lib: SONAME" || fail "$lib: SONAME" "'$soname'"
	local needed
	needed=$(objdump -p "$f" | awk '$1 == "NEEDED" { print $2 }' | tr '\n' ' ')
	if [[ " $needed " == *" libgnt.so.0 "* ]] && [[ " $needed " != *" libxen"* ]]; then
		pass "$lib: NEEDS libgnt.so.0, no Xen library ($needed)"
	else
		fail "$lib: NEEDS libgnt.so.0, no Xen library" "NEEDED: $needed"
	fi
	[ -e "$C/libgnt.so.0" ] && pass "$lib: libgnt.so.0 beside it" ||
		fail "$lib: libgnt.so.0 beside it" "missing in $C"
	if [ ! -f "$exp" ]; then
		fail "$lib: expected list" "$exp missing"
	else
		grep -v '^#' "$exp" >"$out/$lib.want"
		exports "$f" >"$out/$lib.got"
		if diff -u "$out/$lib.want" "$out/$lib.got" >"$out/$lib.diff"; then
			pass "$lib: nodes and exports = $exp ($(grep -vc '^node' "$out/$lib.want") symbols)"
		else
			fail "$lib: nodes and exports = $exp" "$(grep -E '^[-+][^-+]' "$out/$lib.diff" | tr '\n' ' ')"
		fi
		if [ -e "$sysdir/$lib" ]; then
			exports "$sysdir/$lib" >"$out/$lib.debian"
			local extra
			extra=$(grep -vxF -f "$out/$lib.debian" "$out/$lib.want" | tr '\n' ' ')
			[ -z "$extra" ] && pass "$lib: every listed node/symbol is Debian's too" ||
				fail "$lib: every listed node/symbol is Debian's too" "not in $sysdir/$lib: $extra"
		else
			fail "$lib: Debian's library to compare with" "$sysdir/$lib missing (libxen-dev)"
		fi
	fi
	local u
	u=$(unresolved "$f")
	[ -z "$u" ] && pass "$lib: loads, every symbol resolved" || fail "$lib: loads, every symbol resolved" "$u"
	check_headers "$lib"
}

check_vchan() { # Debian's libxenvchan against the drop-ins
	local lib=libxenvchan.so.4.17 f=$sysdir/libxenvchan.so.4.17
	if [ ! -e "$f" ]; then
		fail "$lib: Debian's library" "$f missing (libxenmisc4.17)"
		return
	fi
	local dep where
	for dep in $(objdump -p "$f" | awk '$1 == "NEEDED" && $2 ~ /^libxen/ { print $2 }'); do
		where=$(LD_LIBRARY_PATH=$C ldd "$f" | awk -v d="$dep" '$1 == d { print $3 }')
		if [ "$where" = "$C/$dep" ]; then
			pass "$lib: $dep is the drop-in"
		else
			fail "$lib: $dep is the drop-in" "resolves to '${where:-nothing}', not $C/$dep"
		fi
	done
	local u
	u=$(unresolved "$f")
	[ -z "$u" ] && pass "$lib: loads against the drop-ins, every symbol resolved" ||
		fail "$lib: loads against the drop-ins, every symbol resolved" "$u"
}

for tool in objdump ldd cc c++ awk; do
	command -v $tool >/dev/null || fail "tool $tool" "not installed"
done
for lib in "$@"; do
	case $lib in
	libxenvchan.so.4.17) check_vchan ;;
	*) check_dropin "$lib" ;;
	esac
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
