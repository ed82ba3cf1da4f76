#!/bin/sh
# The marker library as an application gets it: installs the build into a
# temporary prefix, checks what was installed, builds the docs example with
# `pkg-config --cflags --libs mcsqueal-marker` against the installed shared
# library and runs it (--help; and a read that must fail cleanly with no
# database); the same for the lease example. Usage:
# test_marker_install.sh BUILD_DIR EXAMPLE_C LEASE_EXAMPLE_C
set -eu
build=$1
example=$2
lease_example=$3
tmp=$(mktemp -d /tmp/mcsq-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 ||
    { cat "$tmp/install.log"; fail "cmake --install"; }
libdir=$(find "$tmp/prefix" -name 'mcsqueal-marker.pc' -exec dirname {} \; | head -1)
[ -n "$libdir" ] || fail "no mcsqueal-marker.pc installed"
for f in include/mcsqueal/marker.h include/mcsqueal/lease.h include/mcsqueal/error.h bin/mcsqueal; do
    [ -f "$tmp/prefix/$f" ] || fail "$f not installed"
done
ls "$tmp"/prefix/lib*/libmcsqueal-marker.so.0 >/dev/null 2>&1 || fail "shared library not installed"
ls "$tmp"/prefix/lib*/libmcsqueal-marker.a >/dev/null 2>&1 || fail "static library not installed"

export PKG_CONFIG_PATH="$libdir"
flags=$(pkg-config --cflags --libs mcsqueal-marker libmariadb libmemcached) ||
    fail "pkg-config mcsqueal-marker"
echo "pkg-config: $flags"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$tmp/example" "$example" $flags ||
    fail "building the example against the installed library"
# shellcheck disable=SC2086
cc -std=c11 -Wall -Wextra -Werror -D_GNU_SOURCE -o "$tmp/lease_example" "$lease_example" $flags ||
    fail "building the lease example against the installed library"
# the static library links too (its dependencies come from --static)
sflags=$(pkg-config --static --cflags --libs mcsqueal-marker) || fail "pkg-config --static"
libs_dir=$(dirname "$(ls "$tmp"/prefix/lib*/libmcsqueal-marker.a | head -1)")
cat >"$tmp/s.c" <<'C'
#include <mcsqueal/marker.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    char out[256];
    const char *keys[] = {"user:42"};
    size_t lens[] = {7};
    if (mcsq_annotation_build(keys, lens, 1, "west", out, sizeof(out), NULL, NULL, 0) != 0)
        return 1;
    puts(out);
    return strcmp(out, "/* mcsqueal: user:42 @marker=west */") != 0;
}
C
# shellcheck disable=SC2086
cc -std=c11 -o "$tmp/s" "$tmp/s.c" -I"$tmp/prefix/include" "$libs_dir/libmcsqueal-marker.a" \
    $(pkg-config --libs libmemcached) || fail "linking the static library ($sflags)"
"$tmp/s" || fail "static example"
LD_LIBRARY_PATH="$libs_dir" "$tmp/example" --help | grep -q "write ID NAME" || fail "example --help"
# no server anywhere on port 1: a clean error, exit 1
if LD_LIBRARY_PATH="$libs_dir" "$tmp/example" --region west --regional 127.0.0.1:1 \
    --cluster 127.0.0.1:1 --master 127.0.0.1:1 --replica 127.0.0.1:1 read 1 2>"$tmp/err"; then
    fail "read with no servers succeeded"
fi
grep -q "marker_example:" "$tmp/err" || fail "no clear error: $(cat "$tmp/err")"
LD_LIBRARY_PATH="$libs_dir" "$tmp/lease_example" --help | grep -q "read ID | write ID NAME" ||
    fail "lease example --help"
if LD_LIBRARY_PATH="$libs_dir" "$tmp/lease_example" --cache 127.0.0.1:1 --db 127.0.0.1:1 \
    read 1 2>"$tmp/err"; then
    fail "lease read with no servers succeeded"
fi
grep -q "lease_example: memcached 127.0.0.1:1: cannot connect" "$tmp/err" ||
    fail "no clear lease error: $(cat "$tmp/err")"
# only the public API is exported
if nm -D --defined-only "$libs_dir/libmcsqueal-marker.so" | awk '{print $3}' | grep -v '^mcsq_'; then
    fail "symbols outside mcsq_ exported"
fi
echo "marker library install: ok"
