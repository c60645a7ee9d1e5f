#!/usr/bin/env bash
# Stops or starts the radosgw of a cluster that ceph-up.sh DIR started, leaving the monitor and
# the OSD running (the fault tests: radosgw stopped or restarted in the middle of a backup or a
# restore). The same port and user: a started radosgw answers where the old one did.
#
# Usage: ceph-rgw.sh DIR stop|start [TIMEOUT_SECONDS]
#   stop:  SIGKILL the radosgw by the pid ceph-up.sh (or an earlier start) recorded, only if
#          /proc/PID/cmdline still names DIR's conf file; waits until it is gone and its port
#          refuses connections. Exit 0 also when it was not running.
#   start: starts radosgw again; waits (polling, no fixed sleep) until a signed list-buckets
#          answers 200. Exit 1 if it does not within the timeout (default 60 s), or if one is
#          running already.
set -uo pipefail
dir=${1:?usage: ceph-rgw.sh DIR stop|start [TIMEOUT_SECONDS]}
action=${2:?usage: ceph-rgw.sh DIR stop|start [TIMEOUT_SECONDS]}
timeout_s=${3:-60}
dir=$(cd "$dir" && pwd) || exit 1
conf=$dir/ceph.conf
[ -f "$dir/s3.env" ] || { echo "ceph-rgw: $dir/s3.env missing (ceph-up.sh did not finish)" >&2; exit 1; }
# shellcheck disable=SC1091
. "$dir/s3.env"
port=${S3_ENDPOINT##*:}
deadline=$((SECONDS + timeout_s))

running_pid() {
  local f=$dir/rgw.spid pid
  [ -f "$f" ] || return 1
  pid=$(cat "$f")
  [ -r "/proc/$pid/cmdline" ] || return 1
  [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$conf" || return 1
  echo "$pid"
}

# 0 when something accepts connections on the port.
port_open() {
  /usr/bin/python3 - "$port" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
sys.exit(0)
PY
}

case $action in
  stop)
    if pid=$(running_pid); then
      kill -KILL "$pid" 2>/dev/null
      while [ -e "/proc/$pid" ] && [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; do
        [ $SECONDS -lt $deadline ] || { echo "ceph-rgw: radosgw $pid did not exit" >&2; exit 1; }
        sleep 0.01
      done
    fi
    while port_open; do
      [ $SECONDS -lt $deadline ] || { echo "ceph-rgw: port $port still accepts" >&2; exit 1; }
      sleep 0.01
    done
    exit 0
    ;;
  start)
    if pid=$(running_pid); then
      echo "ceph-rgw: radosgw $pid is running already" >&2
      exit 1
    fi
    setsid radosgw -c "$conf" -n client.rgw -f >>"$dir/rgw.out" 2>&1 < /dev/null &
    echo $! > "$dir/rgw.spid"
    pid=$!
    code=000
    while [ $SECONDS -lt $deadline ]; do
      code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
        --aws-sigv4 "aws:amz:us-east-1:s3" --user "$S3_ACCESS_KEY_ID:$(cat "$S3_SECRET_KEY_FILE")" \
        -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "$S3_ENDPOINT/" || true)
      [ "$code" = 200 ] && exit 0
      kill -0 "$pid" 2>/dev/null || { echo "ceph-rgw: radosgw exited (see $dir/rgw.out)" >&2; exit 1; }
      sleep 0.05
    done
    echo "ceph-rgw: radosgw did not answer 200 in ${timeout_s} s (last: $code)" >&2
    exit 1
    ;;
  *)
    echo "ceph-rgw: unknown action '$action' (stop|start)" >&2
    exit 2
    ;;
esac
