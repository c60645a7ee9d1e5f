#!/usr/bin/env bash
# Starts a throw-away single-node Ceph with an S3 endpoint for the S3 LSU's tests: one monitor,
# one memstore OSD (data in RAM), one radosgw (beast on 127.0.0.1), auth none, everything under
# DIR (conf, mon/osd data, logs, pid files, admin sockets), on free ports picked at start.
# Nothing touches /etc/ceph or /var/lib/ceph. Stop it with ceph-down.sh DIR.
#
# Usage: ceph-up.sh DIR [TIMEOUT_SECONDS [WATCH_PID]]
#   DIR must exist, be empty and short (admin sockets are AF_UNIX paths: <= 64 characters).
#   WATCH_PID: when that process ends (a test binary, even one that crashed), a watcher runs
#   ceph-down.sh DIR and removes DIR, so no cluster outlives its test.
# On success writes DIR/s3.env (shell syntax, also read by the C++ fixture):
#   S3_ENDPOINT=http://127.0.0.1:PORT  S3_ACCESS_KEY_ID=...  S3_SECRET_KEY_FILE=DIR/s3.secret
#   S3_REGION=us-east-1
# and prints the endpoint. Exit 0: radosgw answers a signed list-buckets with 200. Exit 77: the
# Ceph packages are missing (packaging/install-deps.sh installs them). Any other exit: it did
# not come up within the timeout (default 60 s); DIR/*.log say why, and whatever started is
# stopped again.
set -euo pipefail

dir=${1:?usage: ceph-up.sh DIR [TIMEOUT_SECONDS]}
timeout_s=${2:-60}
watch_pid=${3:-}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

for b in monmaptool ceph-mon ceph-osd radosgw radosgw-admin ceph curl; do
  if ! command -v "$b" >/dev/null 2>&1; then
    echo "ceph-up: $b not installed (packaging/install-deps.sh installs Ceph)" >&2
    exit 77
  fi
done
dir=$(cd "$dir" && pwd)
if [ ${#dir} -gt 64 ]; then
  echo "ceph-up: $dir is longer than 64 characters (admin sockets are AF_UNIX paths)" >&2
  exit 2
fi
if [ -n "$(ls -A "$dir")" ]; then
  echo "ceph-up: $dir is not empty" >&2
  exit 2
fi

deadline=$((SECONDS + timeout_s))
if [ -n "$watch_pid" ]; then
  # tail --pid returns when the process is gone; the watcher is in a session of its own.
  setsid bash -c 'tail --pid="$1" -f /dev/null; "$2/ceph-down.sh" "$3"
    [ -n "${SEALPOOL_KEEP_TEST_DIRS:-}" ] || rm -rf -- "$3"' \
    watcher "$watch_pid" "$here" "$dir" >/dev/null 2>&1 < /dev/null &
fi
fail() {
  echo "ceph-up: $*" >&2
  "$here/ceph-down.sh" "$dir" >/dev/null 2>&1 || true
  exit 1
}

# Free ports: bind port 0, read the port back (the kernel does not hand it out again at once).
read -r mon_port rgw_port < <(/usr/bin/python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))')

fsid=$(cat /proc/sys/kernel/random/uuid)
osd_uuid=$(cat /proc/sys/kernel/random/uuid)
access_key=sealpooltest$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
secret_key=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
conf=$dir/ceph.conf

cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind msgr2 = true
auth cluster required = none
auth service required = none
auth client required = none
ms cluster mode = crc
ms service mode = crc
ms client mode = crc
ms mon cluster mode = crc
ms mon service mode = crc
ms mon client mode = crc
run dir = $dir
log file = $dir/\$name.log
admin socket = $dir/\$name.asok
pid file = $dir/\$name.pid
keyring = $dir/keyring
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon warn on pool no redundancy = false
mon max pg per osd = 1000
paxos propose interval = 0.01
paxos min wait = 0.01
mon data avail warn = 2
mon data avail crit = 1
[mon.a]
mon data = $dir/mon-a
[osd.0]
osd data = $dir/osd-0
osd objectstore = memstore
memstore device bytes = 2147483648
[client.rgw]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw thread pool size = 64
rgw data = $dir/rgw
CONF
mkdir -p "$dir/mon-a" "$dir/osd-0" "$dir/rgw"

# Each daemon in its own session; its pid recorded for ceph-down.sh.
start() {  # NAME ARGS...
  local name=$1; shift
  setsid "$@" >"$dir/$name.out" 2>&1 < /dev/null &
  echo $! > "$dir/$name.spid"
}

monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$dir/monmap" \
  >"$dir/monmaptool.out" 2>&1 || fail "monmaptool failed (see $dir/monmaptool.out)"
ceph-mon -c "$conf" -i a --mkfs --monmap "$dir/monmap" >"$dir/mon-mkfs.out" 2>&1 ||
  fail "ceph-mon --mkfs failed (see $dir/mon-mkfs.out)"
start mon ceph-mon -c "$conf" -i a -f
ceph-osd -c "$conf" -i 0 --mkfs --osd-uuid "$osd_uuid" >"$dir/osd-mkfs.out" 2>&1 ||
  fail "ceph-osd --mkfs failed (see $dir/osd-mkfs.out)"

remaining() { echo $((deadline - SECONDS > 1 ? deadline - SECONDS : 1)); }
# The monitor answers: `osd create` blocks until it does (bounded by --connect-timeout).
id=$(ceph -c "$conf" --connect-timeout "$(remaining)" osd create "$osd_uuid" 2>"$dir/osd-create.out") ||
  fail "the monitor did not answer (see $dir/osd-create.out, $dir/mon.a.log)"
[ "$id" = 0 ] || fail "osd create returned '$id', not 0"
start osd ceph-osd -c "$conf" -i 0 -f
start rgw radosgw -c "$conf" -n client.rgw -f

# radosgw-admin waits for the cluster (its pools need the OSD up); bounded by timeout(1).
timeout "$(remaining)" radosgw-admin -c "$conf" user create --uid=test --display-name=test \
  --access-key="$access_key" --secret="$secret_key" >"$dir/user-create.out" 2>&1 ||
  fail "radosgw-admin user create failed (see $dir/user-create.out)"

umask 077
printf '%s' "$secret_key" > "$dir/s3.secret"
# Ready: a signed list-buckets answers 200 (curl signs with SigV4; S3 wants the payload hash
# header, which Debian's curl does not add itself).
code=000
while [ $SECONDS -lt $deadline ]; do
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
    --aws-sigv4 "aws:amz:us-east-1:s3" --user "$access_key:$(cat "$dir/s3.secret")" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "http://127.0.0.1:$rgw_port/" || true)
  [ "$code" = 200 ] && break
  for n in mon osd rgw; do
    kill -0 "$(cat "$dir/$n.spid")" 2>/dev/null || fail "$n exited (see $dir/$n.out and logs)"
  done
  sleep 0.05
done
[ "$code" = 200 ] || fail "radosgw did not answer 200 in ${timeout_s} s (last: $code)"

cat > "$dir/s3.env" <<ENV
S3_ENDPOINT=http://127.0.0.1:$rgw_port
S3_REGION=us-east-1
S3_ACCESS_KEY_ID=$access_key
S3_SECRET_KEY_FILE=$dir/s3.secret
CEPH_CONF=$conf
ENV
echo "http://127.0.0.1:$rgw_port"
