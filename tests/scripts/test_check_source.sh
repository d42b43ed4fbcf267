#!/usr/bin/env bash
# Tests of scripts/check-source itself: each case writes one file into a
# throwaway directory, runs the checker on it, and compares the whole
# output with the one problem expected (or with "ok"), so a rule that
# stops firing fails here, and so does one that fires on good text.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
readonly CHECK=$ROOT/scripts/check-source
TMP=$(mktemp -d /tmp/payq-check-source.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
FAILED=0
CASES=0

# The marker words in pieces: this file is checked by the checker too.
T='TO''DO'
F='FIX''ME'
X='XX''X'
H='HA''CK'
L81=$(printf '%081d' 0)
L80=$(printf '%080d' 0)
# 80 two-byte characters: the width counts characters, not bytes.
WIDE=$(printf 'é%.0s' $(seq 80))

fail() {
    echo "FAIL: $*"
    FAILED=$((FAILED + 1))
}

# check FILE CONTENT EXPECT: writes CONTENT (printf %b escapes) to FILE
# under $TMP and runs the checker on it. EXPECT is "ok", or the
# problems "LINE: what" (one per line, \n between) it must report, and
# nothing else.
check() {
    local file=$1 content=$2 expect=$3 out want rc=0
    CASES=$((CASES + 1))
    rm -rf "${TMP:?}"/*
    mkdir -p "$TMP/$(dirname "$file")"
    printf '%b' "$content" >"$TMP/$file"
    out=$(cd "$TMP" && "$CHECK" "$file" 2>/dev/null) || rc=$?
    if [[ $expect == ok ]]; then
        [[ $rc -eq 0 && $out == "check-source: ok (1 files)" ]] ||
            fail "$file: wanted ok, got exit $rc: $out"
    else
        want=$(printf '%b\n' "$expect" | sed "s|^|$file:|")
        [[ $rc -eq 1 && $out == "$want" ]] ||
            fail "$file: wanted '$want', got exit $rc: $out"
    fi
}

# C sources: every rule.
check a.c 'int a;\n' ok
check long.c "$L81\n" '1: longer than 80 characters'
check long2.c "int a;\n$L81\n" '2: longer than 80 characters'
check exact.c "$L80\n" ok
check wide.c "$WIDE\n" ok
# A tab in a string is left alone by clang-format, but not by us.
check tab.c 'char t[] = "\t";\n' '1: tab character'
check tab2.c 'int\ta;\n' '1: not as clang-format writes it\n1: tab character'
check trail.c 'int a; \n' \
    '1: not as clang-format writes it\n1: trailing whitespace'
check format.c 'int a;\nint  b;\n' '2: not as clang-format writes it'
check format2.c 'int f(void) { return 0; }\n' \
    '1: not as clang-format writes it'
check utf8.c 'char c = 0; /* \xff */\n' '1: invalid UTF-8'
check strcpy.c 'strcpy(d, s);\n' '1: banned function strcpy()'
check strcat.c 'x = strcat (d, s);\n' \
    '1: banned function strcat()\n1: not as clang-format writes it'
check sprintf.c 'sprintf(b, "%%d", 1);\n' '1: banned function sprintf()'
check atoi.c 'n = atoi(s);\n' '1: banned function atoi()'
check strtok.c 'p = strtok(s, ",");\n' '1: banned function strtok()'
check gets.c 'gets(b);\n' '1: banned function gets()'
check snprintf.c 'snprintf(b, sizeof(b), "%%d", 1);\n' ok
check prefixed.c 'my_strcpy(d, s); /* atoi is banned */\n' ok
check todo.c "/* $T: later */\n" "1: marker not in form '$T(#N): reason'"
check todo-bare.c "/* $T */\n" "1: marker not in form '$T(#N): reason'"
check fixme.c "/* $F: later */\n" "1: marker not in form '$T(#N): reason'"
check xxx.c "/* $X */\n" "1: marker not in form '$T(#N): reason'"
check hack.c "/* $H */\n" "1: marker not in form '$T(#N): reason'"
check todo-x.c "/* $T(#x): why */\n" "1: marker not in form '$T(#N): reason'"
check todo-colon.c "/* $T(#4) why */\n" "1: marker not in form '$T(#N): reason'"
check todo-empty.c "/* $T(#4): */\n" "1: marker not in form '$T(#N): reason'"
check todo-two.c "/* $T(#4): why, $F */\n" \
    "1: marker not in form '$T(#N): reason'"
check todo-punct.sql "-- $T(#4): --\n" "1: marker not in form '$T(#N): reason'"
check todo-good.c "/* $T(#4): why not yet */\n" ok
check todo-quoted.c "/* $T(#4): \`f()\` is slow */\n" ok
check todo-good.h "/* $T(#12): a reason; $T(#3): another */\n" ok

# SQL, CMake and scripts: width and markers.
check m/0001_x.sql "-- $T: later\n" "1: marker not in form '$T(#N): reason'"
check m/0002_x.sql "-- $T(#4): why\nselect 1;\n" ok
check m/0003_x.sql "select 1;\n-- $L81\n" '2: longer than 80 characters'
check sub/CMakeLists.txt "# $F\n" "1: marker not in form '$T(#N): reason'"
check CMakeLists.txt "# $L81\n" '1: longer than 80 characters'
check cmake/x.cmake "# $T later\n" "1: marker not in form '$T(#N): reason'"
check scripts/tool "#!/bin/sh\n# $H\n" "2: marker not in form '$T(#N): reason'"
check scripts/tool "# $L81\n" '1: longer than 80 characters'
check scripts/tool "# $T(#4): why\n" ok
# Other shell scripts (bench/): markers only.
check bench/x.sh "# $X\n" "1: marker not in form '$T(#N): reason'"
check bench/x.sh "# $L81\n" ok

# Several files: every problem, sorted by file and line, and a count.
CASES=$((CASES + 1))
rm -rf "${TMP:?}"/*
printf 'int\ta;\n%s\n' "$L81" >"$TMP/b.c"
printf -- '-- %s\n' "$F" >"$TMP/a.sql"
rc=0
out=$(cd "$TMP" && "$CHECK" b.c a.sql 2>"$TMP/err") || rc=$?
want="a.sql:1: marker not in form '$T(#N): reason'
b.c:1: not as clang-format writes it
b.c:1: tab character
b.c:2: longer than 80 characters"
[[ $rc -eq 1 && $out == "$want" ]] || fail "two files: exit $rc: $out"
grep -qx 'check-source: 4 problem(s) in 2 files' "$TMP/err" ||
    fail "two files: count: $(cat "$TMP/err")"

# A file it does not check, or none at all, is refused: not passed.
CASES=$((CASES + 1))
printf 'x\n' >"$TMP/README.md"
rc=0
(cd "$TMP" && "$CHECK" README.md >/dev/null 2>&1) || rc=$?
[[ $rc -eq 2 ]] || fail "README.md: wanted exit 2, got $rc"
rc=0
(cd "$TMP" && "$CHECK" missing.c >/dev/null 2>&1) || rc=$?
[[ $rc -eq 2 ]] || fail "missing.c: wanted exit 2, got $rc"

# The checker passes its own rules, and so does this test.
CASES=$((CASES + 1))
"$CHECK" "$CHECK" "${BASH_SOURCE[0]}" >/dev/null ||
    fail "the checker or this test breaks the rules"

if ((FAILED > 0)); then
    echo "test_check_source: $FAILED of $CASES cases failed"
    exit 1
fi
echo "test_check_source: $CASES cases passed"
