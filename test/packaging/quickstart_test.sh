#!/usr/bin/env bash
# The README's first command, as a newcomer runs it, on the existing build (--no-build): it must
# bring both daemons up, back up and restore the sample bit-exact twice, print the pool's mode,
# statistics and keys, run again on what it left, and stop both daemons cleanly.
#
#   quickstart_test.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
tmp=$(mktemp -d)
dir=$tmp/qs
cleanup() {
  # Whatever happened, no daemon outlives the test.
  for d in sealpoold sealkmsd; do
    if [ -f "$dir/$d.pid" ]; then kill -KILL "$(cat "$dir/$d.pid")" 2>/dev/null || true; fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect FILE REGEX WHAT
  grep -Eq -- "$2" "$1" || { cat "$1" >&2; fail "$3: no line matching /$2/"; }
}

qs() { "$src/packaging/quickstart.sh" --no-build --build-dir "$build" --dir "$dir" "$@"; }

# 1. First run: everything from nothing.
qs > "$tmp/run1.out" 2>&1 || { cat "$tmp/run1.out" >&2; fail "first run exited $?"; }
expect "$tmp/run1.out" '^==> generating certificates' "first run makes certificates"
expect "$tmp/run1.out" '^==> creating the key store' "first run creates the key store"
expect "$tmp/run1.out" '^==> creating key group kg-quickstart' "first run creates the key group"
[ "$(grep -c 'restored bit-exact' "$tmp/run1.out")" = 2 ] || fail "two restores checked"
expect "$tmp/run1.out" '^Mode +: GET=Yes PUT=Yes DEREF=Yes' "crcontrol --getmode"
expect "$tmp/run1.out" 'Data Store statistics' "crcontrol --dsstat banner"
expect "$tmp/run1.out" '^Images +: 2$' "two images in the pool"
expect "$tmp/run1.out" '^Dedup ratio +: [0-9.]+x' "a dedup ratio"
expect "$tmp/run1.out" '^1 +active +rk-' "keydictutil --list shows the active KEK"
expect "$tmp/run1.out" 'quickstart.sh --stop --dir' "how to stop the daemons"
kms_pid=$(cat "$dir/sealkmsd.pid")
pool_pid=$(cat "$dir/sealpoold.pid")
kill -0 "$kms_pid" && kill -0 "$pool_pid" || fail "both daemons run after the first run"

# The commands it advertises work as printed.
(
  export SEALPOOL_CONFIG=$dir/client.toml SEALPOOL_ADMIN_SOCKET=$dir/admin.sock
  head -c 3000000 /dev/urandom > "$tmp/blob"
  "$build/tools/sealpool/sealpool" backup backups extra "$tmp/blob" --quiet
  "$build/tools/sealpool/sealpool" restore backups extra -o "$tmp/blob.back" --quiet
  cmp "$tmp/blob" "$tmp/blob.back"
  "$build/tools/admin/crcontrol" --dsstat --json > "$tmp/dsstat.json"
) || fail "the advertised client and admin commands"
grep -q '"images": *3' "$tmp/dsstat.json" || { cat "$tmp/dsstat.json" >&2; fail "three images"; }

# 2. Run again: it reuses the running daemons and the pool, and adds two backups.
qs > "$tmp/run2.out" 2>&1 || { cat "$tmp/run2.out" >&2; fail "second run"; }
expect "$tmp/run2.out" '^==> sealkmsd already running' "second run reuses sealkmsd"
expect "$tmp/run2.out" '^==> sealpoold already running' "second run reuses sealpoold"
if grep -q 'generating certificates\|creating the key store' "$tmp/run2.out"; then
  fail "second run re-created certificates or the key store"
fi
expect "$tmp/run2.out" '^Images +: 5$' "five images after the second run"
[ "$(cat "$dir/sealpoold.pid")" = "$pool_pid" ] || fail "sealpoold was restarted"

# 3. --stop: both daemons exit (SIGTERM), cleanly: their logs say so, the pool stays.
qs --stop > "$tmp/stop.out" 2>&1 || { cat "$tmp/stop.out" >&2; fail "--stop"; }
expect "$tmp/stop.out" "^stopped sealpoold \\(pid $pool_pid\\)" "--stop stops sealpoold"
expect "$tmp/stop.out" "^stopped sealkmsd \\(pid $kms_pid\\)" "--stop stops sealkmsd"
! kill -0 "$pool_pid" 2>/dev/null || fail "sealpoold still runs"
! kill -0 "$kms_pid" 2>/dev/null || fail "sealkmsd still runs"
expect "$dir/sealpoold.log" 'sealpoold stopped' "sealpoold logged a clean stop"
[ -d "$dir/pool" ] || fail "--stop kept the pool"

# 4. After a stop, a run brings the same pool back: the five images are still there.
qs > "$tmp/run3.out" 2>&1 || { cat "$tmp/run3.out" >&2; fail "run after --stop"; }
expect "$tmp/run3.out" '^Images +: 7$' "the pool survived the stop"

# 5. --clean stops and removes the folder; a folder it did not make is refused.
qs --clean > "$tmp/clean.out" 2>&1 || { cat "$tmp/clean.out" >&2; fail "--clean"; }
[ ! -e "$dir" ] || fail "--clean left $dir"
mkdir -p "$tmp/other" && touch "$tmp/other/keep"
if "$src/packaging/quickstart.sh" --no-build --build-dir "$build" --dir "$tmp/other" --clean \
    > "$tmp/other.out" 2>&1; then
  fail "--clean of a folder quickstart.sh did not make"
fi
expect "$tmp/other.out" 'not made by quickstart.sh' "the refusal says why"
[ -f "$tmp/other/keep" ] || fail "a foreign folder lost a file"
echo "quickstart: ok"
