# SPDX-License-Identifier: MIT
# tests/abi/gen-list.awk - list every Xen name that include/gnt/xen.h declares,
# as X-macro lines for abi_dump.c, one item per line:
#   ABI_CONST(NAME)            every object-like #define not named GNT_*
#   ABI_TYPE(T)                every struct/union tag and every typedef
#   ABI_FIELD(T, a.b)          every member of every struct/union, nested
#                              members included (a.b), arrays and pointers
#                              as a whole
# The list is derived from the header so that nothing added to it escapes the
# check.  The parser knows the C subset the header is written in (comments,
# object- and function-like macros, struct/union/typedef declarations, pin
# macro invocations at file scope); anything else stops it with an error,
# never with a silently shorter list.  Portable awk (mawk).
#   awk -f gen-list.awk include/gnt/xen.h > abi_list.h

function die(msg) {
	printf "gen-list.awk: %s: %s\n", FILENAME, msg > "/dev/stderr"
	failed = 1
	exit 1
}

function is_ident(t) { return t ~ /^[A-Za-z_][A-Za-z0-9_]*$/ }

function expect(t) {
	if (tok[pos] != t)
		die("expected '" t "' at token " pos " ('" tok[pos] "' after '" tok[pos - 1] "')")
	pos++
}

# Emit a type and its members.  key: "struct X", "union X" or a typedef name.
function define_type(key, list,    n, i, p) {
	if (key in fields)
		die("type " key " declared twice")
	fields[key] = list
	out[++nout] = "ABI_TYPE(" key ")"
	n = split(list, p, " ")
	for (i = 1; i <= n; i++)
		out[++nout] = "ABI_FIELD(" key ", " p[i] ")"
}

# A type specifier.  Returns "A<space-separated member paths>" for a struct
# or union whose members are known, "S" for anything else (scalars, pointers
# to incomplete types).
function parse_type(    kw, tag, list, name) {
	if (tok[pos] == "struct" || tok[pos] == "union") {
		kw = tok[pos++]
		tag = ""
		if (is_ident(tok[pos]))
			tag = tok[pos++]
		if (tok[pos] == "{") {
			pos++
			list = parse_members()
			expect("}")
			if (tag != "")
				define_type(kw " " tag, list)
			return "A" list
		}
		if (tag == "")
			die("struct without tag or body at token " pos)
		return ((kw " " tag) in fields) ? "A" fields[kw " " tag] : "S"
	}
	if (!is_ident(tok[pos]))
		die("expected a type at token " pos " ('" tok[pos] "')")
	name = tok[pos++]
	while (is_ident(tok[pos]) && is_ident(tok[pos + 1]))
		name = name " " tok[pos++]    # unsigned int, const T, ...
	return (name in fields) ? "A" fields[name] : "S"
}

# Declarators after a type: "*p, a[4], b".  Returns their member paths (with
# the paths inside each aggregate-typed, non-array, non-pointer member).
function parse_declarators(type, typedef_,    list, ptr, arr, name, n, i, sub_) {
	list = ""
	for (;;) {
		ptr = 0
		arr = 0
		while (tok[pos] == "*") {
			ptr = 1
			pos++
		}
		if (!is_ident(tok[pos]))
			die("expected a declarator at token " pos " ('" tok[pos] "')")
		name = tok[pos++]
		while (tok[pos] == "[") {
			arr = 1
			while (pos <= ntok && tok[pos] != "]")
				pos++
			expect("]")
		}
		if (typedef_) {
			# a typedef of an aggregate shares its members (checked once, on the tag)
			if (name in fields)
				die("typedef " name " declared twice")
			if (type ~ /^A/ && !ptr && !arr)
				fields[name] = substr(type, 2)
			out[++nout] = "ABI_TYPE(" name ")"
		} else {
			list = list " " name
			if (type ~ /^A/ && !ptr && !arr) {
				n = split(substr(type, 2), sub_, " ")
				for (i = 1; i <= n; i++)
					list = list " " name "." sub_[i]
			}
		}
		if (tok[pos] != ",")
			break
		pos++
	}
	expect(";")
	return list
}

function parse_members(    list, t) {
	list = ""
	while (pos <= ntok && tok[pos] != "}") {
		t = parse_type()
		list = list parse_declarators(t, 0)
	}
	sub(/^ /, "", list)
	return list
}

function tokenize(s,    t) {
	while (s != "") {
		if (match(s, /^[ \t\n]+/)) {
			s = substr(s, RLENGTH + 1)
			continue
		}
		if (match(s, /^[A-Za-z_][A-Za-z0-9_]*/) || match(s, /^[0-9][0-9A-Za-z]*/) ||
		    match(s, /^[][{};,*()]/)) {
			tok[++ntok] = substr(s, 1, RLENGTH)
			s = substr(s, RLENGTH + 1)
			continue
		}
		die("unexpected character '" substr(s, 1, 1) "' outside preprocessor lines")
	}
}

{ text = text $0 "\n" }

END {
	if (failed)
		exit 1
	if (text == "")
		die("empty input")
	# comments out; a comment becomes the newlines it spanned
	clean = ""
	while ((i = index(text, "/*")) > 0) {
		clean = clean substr(text, 1, i - 1)
		rest = substr(text, i + 2)
		j = index(rest, "*/")
		if (j == 0)
			die("unterminated comment")
		c = substr(rest, 1, j - 1)
		clean = clean " "
		nl = gsub(/\n/, "", c)
		while (nl-- > 0)
			clean = clean "\n"
		text = substr(rest, j + 2)
	}
	clean = clean text
	# preprocessor lines (with continuations) apart, the rest is C
	nlines = split(clean, line, "\n")
	body = ""
	for (l = 1; l <= nlines; l++) {
		s = line[l]
		if (s !~ /^[ \t]*#/) {
			body = body s "\n"
			continue
		}
		while (s ~ /\\$/ && l < nlines)
			s = substr(s, 1, length(s) - 1) " " line[++l]
		if (s !~ /^[ \t]*#[ \t]*define[ \t]/)
			continue
		sub(/^[ \t]*#[ \t]*define[ \t]+/, "", s)
		if (!match(s, /^[A-Za-z_][A-Za-z0-9_]*/))
			die("bad #define: " s)
		name = substr(s, 1, RLENGTH)
		if (substr(s, RLENGTH + 1, 1) == "(") {
			funmacro[name] = 1
			continue
		}
		if (name ~ /^GNT_/)    # gnt's own names (include guard, page size)
			continue
		out[++nout] = "ABI_CONST(" name ")"
	}
	tokenize(body)
	pos = 1
	while (pos <= ntok) {
		if (tok[pos] in funmacro) {
			# a pin such as GNT__ABI(t, 8);
			while (pos <= ntok && tok[pos] != ";")
				pos++
			expect(";")
		} else if (tok[pos] == "typedef") {
			pos++
			t = parse_type()
			parse_declarators(t, 1)
		} else {
			t = parse_type()
			if (tok[pos] != ";")
				die("file-scope object at token " pos " ('" tok[pos] "'): not an ABI header?")
			pos++
		}
	}
	for (k = 1; k <= nout; k++)
		print out[k]
}
