#!/usr/bin/env bash
# Brings up a working sealpool on embedded defaults and shows it working: installs what is
# missing, builds, generates certificates and a passphrase under a local folder, starts sealkmsd
# (built-in key store) and sealpoold there in the background, creates a key group and an LSU,
# backs up a sample directory twice (the second time with a few changes), restores both and
# checks them bit-exact, and prints the pool's mode, statistics and keys.
#
#   packaging/quickstart.sh [--dir DIR] [--no-build] [--build-dir DIR] [--client-dedup]
#   packaging/quickstart.sh --stop  [--dir DIR]     stop the daemons (they keep their data)
#   packaging/quickstart.sh --clean [--dir DIR]     stop them and remove DIR
#
#     --dir DIR        where everything lives (default ./quickstart)
#     --no-build       use the binaries already built in the build folder
#     --build-dir DIR  the build folder (default ./build, or $SEALPOOL_BUILD_DIR)
#     --client-dedup   allow the quickstart client client-side dedup (`sealpool backup
#                      --client-dedup`; [[client]] client_dedup in sealpoold.toml; off otherwise)
#
# Run again, it reuses what is there: the certificates, the key store, the pool and running
# daemons; each run adds two new backups. Everything listens on 127.0.0.1 only (ports chosen by
# the kernel, written to DIR/*.port). Not for production: the key store's passphrase is a file
# beside it (docs/kms.md says how a real one is kept), and the daemons run as you.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

dir=./quickstart
build=${SEALPOOL_BUILD_DIR:-$repo/build}
do_build=1
action=run
client_dedup=false
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || usage; dir=$2; shift 2 ;;
    --dir=*) dir=${1#--dir=}; shift ;;
    --build-dir) [ $# -ge 2 ] || usage; build=$2; shift 2 ;;
    --build-dir=*) build=${1#--build-dir=}; shift ;;
    --no-build) do_build=0; shift ;;
    --client-dedup) client_dedup=true; shift ;;
    --stop) action=stop; shift ;;
    --clean) action=clean; shift ;;
    -h|--help) usage 0 ;;
    *) echo "quickstart.sh: unknown argument '$1' (--help lists them)" >&2; exit 2 ;;
  esac
done
if [ "$action" != run ] && [ ! -d "$dir" ]; then
  echo "quickstart.sh: $dir does not exist: nothing to stop or remove"
  exit 0
fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
marker=$dir/.sealpool-quickstart
if [ -n "$(ls -A "$dir")" ] && [ ! -f "$marker" ]; then
  echo "quickstart.sh: $dir is not empty and was not made by quickstart.sh: choose another --dir" >&2
  exit 2
fi
touch "$marker"
build=$(mkdir -p "$build" && cd "$build" && pwd)

say() { printf '\n==> %s\n' "$*"; }
die() { printf 'quickstart.sh: %s\n' "$*" >&2; exit 1; }

# pid_alive PIDFILE: the daemon recorded there still runs (the same program: a pid the kernel
# handed to something else since does not count). A binary rebuilt or reinstalled while the
# daemon runs shows as "/path/sealpoold (deleted)" in /proc/PID/exe: still the same daemon.
pid_alive() {
  [ -f "$1" ] || return 1
  local pid name exe
  pid=$(cat "$1")
  name=$(basename "$1" .pid)
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || return 1
  exe=${exe% (deleted)}
  [ "$(basename "$exe")" = "$name" ]
}

# stop_daemon NAME PIDFILE: SIGTERM, then wait for the exit (sealpoold drains its streams first).
stop_daemon() {
  local name=$1 pidfile=$2 pid i
  if ! pid_alive "$pidfile"; then
    rm -f "$pidfile"
    return 0
  fi
  pid=$(cat "$pidfile")
  kill -TERM "$pid"
  for i in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; echo "stopped $name (pid $pid)"; return 0; }
    sleep 0.1
  done
  die "$name (pid $pid) did not stop within 60 s; its log: $dir/$name.log"
}

if [ "$action" = stop ] || [ "$action" = clean ]; then
  stop_daemon sealpoold "$dir/sealpoold.pid"
  stop_daemon sealkmsd "$dir/sealkmsd.pid"
  if [ "$action" = clean ]; then
    rm -rf "$dir"
    echo "removed $dir"
  fi
  exit 0
fi

# --- build ------------------------------------------------------------------------------------
bins=(sealkmsd sealpoold kmscmd sealpool crcontrol keydictutil)
if [ "$do_build" = 1 ]; then
  say "installing what is missing (packaging/install-deps.sh)"
  "$here/install-deps.sh"
  say "building ${bins[*]} in $build"
  if [ ! -f "$build/CMakeCache.txt" ]; then
    cmake -S "$repo" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${SEALPOOL_BUILD_TYPE:-Release}" >/dev/null
  fi
  cmake --build "$build" --target "${bins[@]}"
fi
declare -A bin
for b in "${bins[@]}"; do
  p=$(find "$build/daemon" "$build/tools" -maxdepth 3 -type f -name "$b" -perm -u+x 2>/dev/null | head -n1)
  [ -n "$p" ] || die "$b is not built in $build (run without --no-build)"
  bin[$b]=$p
done

# --- certificates, passphrase, configs -------------------------------------------------------
certs=$dir/certs
umask 077
if [ ! -f "$certs/poold.crt" ]; then
  say "generating certificates in $certs (packaging/make-certs.sh)"
  "$here/make-certs.sh" --storage quickstart-pool --admin kms-admin --client quickstart-client \
    "$certs" >/dev/null
  "$here/make-certs.sh" --server-file poold "$certs" >/dev/null
fi
mkdir -p "$dir/kms"
if [ ! -f "$dir/kms/passphrase" ]; then
  openssl rand -base64 32 > "$dir/kms/passphrase"
fi
# sealpoold's host key (issue 17): lets a key group created with kek_mode "public"
# (keydictutil --addgroup G --kek-mode public) back up with sealkmsd down. Mode 0600.
if [ ! -f "$dir/host.key" ]; then
  (umask 077 && openssl rand -hex 32 > "$dir/host.key")
fi

cat > "$dir/sealkmsd.toml" <<EOF
# Written by packaging/quickstart.sh. Reference: docs/kms.md.
[server]
listen = "127.0.0.1:0"
ca = "certs/ca.crt"
cert = "certs/server.crt"
key = "certs/server.key"
port_file = "sealkmsd.port"
[store]
path = "kms/keystore"
passphrase_file = "kms/passphrase"
audit_log = "kms/audit.jsonl"
[log]
level = "info"
[admins]
cns = ["kms-admin"]
[[storage_server]]
cn = "quickstart-pool"
pool_id = "quickstart-pool"
key_groups = ["kg-quickstart"]
EOF

kmscmd() {
  "${bin[kmscmd]}" --server "127.0.0.1:$(cat "$dir/sealkmsd.port")" --ca "$certs/ca.crt" \
    --cert "$certs/kms-admin.crt" --key "$certs/kms-admin.key" "$@"
}

# wait_for NAME PIDFILE FILE...: the daemon is up once every FILE exists; its log otherwise.
wait_for() {
  local name=$1 pidfile=$2 i f ok
  shift 2
  for i in $(seq 1 300); do
    pid_alive "$pidfile" || { tail -n 20 "$dir/$name.log" >&2; die "$name exited during start (log: $dir/$name.log)"; }
    ok=1
    for f in "$@"; do [ -e "$f" ] || ok=0; done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  die "$name did not come up within 30 s (log: $dir/$name.log)"
}

# --- sealkmsd ---------------------------------------------------------------------------------
kms_started=0
if [ ! -f "$dir/kms/keystore" ]; then
  say "creating the key store (sealkmsd --init-store)"
  "${bin[sealkmsd]}" --config "$dir/sealkmsd.toml" --init-store
fi
if pid_alive "$dir/sealkmsd.pid"; then
  say "sealkmsd already running (pid $(cat "$dir/sealkmsd.pid"))"
else
  say "starting sealkmsd (built-in key store; log $dir/sealkmsd.log)"
  kms_started=1
  rm -f "$dir/sealkmsd.port"
  nohup "${bin[sealkmsd]}" --config "$dir/sealkmsd.toml" >>"$dir/sealkmsd.log" 2>&1 </dev/null &
  echo $! > "$dir/sealkmsd.pid"
  wait_for sealkmsd "$dir/sealkmsd.pid" "$dir/sealkmsd.port"
fi

# A key group with an active root key: sealpoold's KEKs are wrapped by it.
if ! kmscmd group list --json | grep -q '"kg-quickstart"'; then
  say "creating key group kg-quickstart and its root key (kmscmd)"
  kmscmd group create kg-quickstart
  key=$(kmscmd key create kg-quickstart --json | sed -n 's/.*"\(rk-[A-Za-z0-9._-]*\)".*/\1/p' | head -n1)
  [ -n "$key" ] || die "kmscmd key create printed no key id"
  kmscmd key activate "$key"
fi

# --- sealpoold --------------------------------------------------------------------------------
cat > "$dir/sealpoold.toml" <<EOF
# Written by packaging/quickstart.sh. Reference: docs/server.md.
[pool]
path = "pool"
audit_log = "pool-audit.jsonl"
[server]
listen = "127.0.0.1:0"
ca = "certs/ca.crt"
cert = "certs/poold.crt"
key = "certs/poold.key"
port_file = "sealpoold.port"
[admin]
socket = "admin.sock"
[metrics]
listen = ""
[kms]
address = "127.0.0.1:$(cat "$dir/sealkmsd.port")"
server_name = "localhost"
ca = "certs/ca.crt"
cert = "certs/quickstart-pool.crt"
key = "certs/quickstart-pool.key"
pool_id = "quickstart-pool"
[keys]
host_key_file = "host.key"
[[key_group]]
name = "kg-quickstart"
[[lsu]]
name = "backups"
key_group = "kg-quickstart"
client_delete = true
[[client]]
cn = "quickstart-client"
client_dedup = $client_dedup
[[client.access]]
lsu = "backups"
allow = ["backup", "restore", "delete"]
EOF

if [ "$kms_started" = 1 ] && pid_alive "$dir/sealpoold.pid"; then
  say "sealkmsd was restarted on a new port: restarting sealpoold to follow it"
  stop_daemon sealpoold "$dir/sealpoold.pid"
fi
if pid_alive "$dir/sealpoold.pid"; then
  say "sealpoold already running (pid $(cat "$dir/sealpoold.pid"))"
else
  say "starting sealpoold (pool in $dir/pool; log $dir/sealpoold.log)"
  rm -f "$dir/sealpoold.port" "$dir/admin.sock"
  nohup "${bin[sealpoold]}" --config "$dir/sealpoold.toml" >>"$dir/sealpoold.log" 2>&1 </dev/null &
  echo $! > "$dir/sealpoold.pid"
  wait_for sealpoold "$dir/sealpoold.pid" "$dir/sealpoold.port" "$dir/admin.sock"
fi

cat > "$dir/client.toml" <<EOF
# Written by packaging/quickstart.sh: the backup client's settings (docs/cli.md).
server = "127.0.0.1:$(cat "$dir/sealpoold.port")"
server_name = "localhost"
ca = "certs/ca.crt"
cert = "certs/quickstart-client.crt"
key = "certs/quickstart-client.key"
lsus = ["backups"]
EOF
export SEALPOOL_CONFIG=$dir/client.toml
export SEALPOOL_ADMIN_SOCKET=$dir/admin.sock
sealpool() { "${bin[sealpool]}" "$@"; }
crcontrol() { "${bin[crcontrol]}" "$@"; }
keydictutil() { "${bin[keydictutil]}" "$@"; }

# --- a sample backed up twice, restored and checked -------------------------------------------
run=$(date +%Y%m%d-%H%M%S)-$$
work=$dir/run-$run
mkdir -p "$work/sample/docs" "$work/sample/data"
umask 022
say "making a sample directory ($work/sample)"
cp -r "$repo/docs/." "$work/sample/docs/"
head -c $((8 << 20)) /dev/urandom > "$work/sample/data/blob-1.bin"
head -c $((4 << 20)) /dev/urandom > "$work/sample/data/blob-2.bin"
ln -s docs/README.md "$work/sample/README-link"
chmod 0640 "$work/sample/data/blob-2.bin"
cp -a "$work/sample" "$work/expected-1"

say "backing up the sample: sealpool backup backups sample-$run-1 $work/sample"
sealpool backup backups "sample-$run-1" "$work/sample"

# A few changes: one file edited in the middle, one added, one removed.
printf 'changed by quickstart.sh at %s\n' "$run" | dd of="$work/sample/data/blob-1.bin" \
  bs=1 seek=$((3 << 20)) conv=notrunc status=none
head -c $((1 << 20)) /dev/urandom > "$work/sample/data/new.bin"
rm "$work/sample/data/blob-2.bin"
cp -a "$work/sample" "$work/expected-2"

say "backing up again after a few changes: sealpool backup backups sample-$run-2 $work/sample"
sealpool backup backups "sample-$run-2" "$work/sample"

say "restoring sample-$run-1 through tar: sealpool restore backups sample-$run-1 -o - | tar -x"
mkdir -p "$work/restored-1"
sealpool restore backups "sample-$run-1" -o - --quiet | tar -x -C "$work/restored-1"
say "restoring sample-$run-2: sealpool restore backups sample-$run-2 --extract DIR"
sealpool restore backups "sample-$run-2" --extract "$work/restored-2" --quiet
for n in 1 2; do
  diff -r --no-dereference "$work/expected-$n" "$work/restored-$n" ||
    die "sample-$run-$n restored differently from what was backed up ($work/restored-$n)"
  echo "sample-$run-$n: restored bit-exact ($(du -sb "$work/restored-$n" | cut -f1) bytes compared)"
done
rm -rf "$work"

say "sealpool ls backups"
sealpool ls backups
say "crcontrol --getmode"
crcontrol --getmode
say "crcontrol --dsstat"
crcontrol --dsstat
say "keydictutil --list"
keydictutil --list

bindir=$(dirname "${bin[sealpool]}")
admindir=$(dirname "${bin[crcontrol]}")
cat <<EOF

sealpool is running in $dir: sealkmsd (pid $(cat "$dir/sealkmsd.pid")) and sealpoold (pid $(cat "$dir/sealpoold.pid")).
Next, in this shell:

  export SEALPOOL_CONFIG=$dir/client.toml SEALPOOL_ADMIN_SOCKET=$dir/admin.sock
  export PATH=$bindir:$admindir:\$PATH
  sealpool backup backups my-etc /etc          # a directory, as a pax tar
  sealpool ls                                  # every LSU of client.toml's lsus
  sealpool restore backups my-etc --extract /tmp/my-etc
  crcontrol --dsstat
  keydictutil --rotate kg-quickstart          # a new KEK for new segments

Docs: README.md, docs/cli.md (every command), docs/operations.md, docs/kms.md.
Stop the daemons:    $0 --stop --dir $dir
Remove everything:   $0 --clean --dir $dir
EOF
