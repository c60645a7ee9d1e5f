#!/usr/bin/env bash
# Stops the Ceph that ceph-up.sh DIR started: radosgw, then the OSD, then the monitor, each by
# the pid ceph-up.sh recorded, and only if /proc/PID/cmdline still names DIR's conf file (a pid
# reused by another process is left alone). SIGKILL: the cluster is throw-away (memstore).
# Waits until each is gone. Leaves DIR itself (the caller removes it).
# Usage: ceph-down.sh DIR
set -uo pipefail
dir=${1:?usage: ceph-down.sh DIR}
dir=$(cd "$dir" && pwd) || exit 1
conf=$dir/ceph.conf
for n in rgw osd mon; do
  f=$dir/$n.spid
  [ -f "$f" ] || continue
  pid=$(cat "$f")
  if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$conf"; then
    kill -KILL "$pid" 2>/dev/null
    for _ in $(seq 1 200); do
      [ -e "/proc/$pid" ] || break
      # a zombie (parent gone or not reaping) counts as gone
      [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" = Z ] && break
      sleep 0.01
    done
  fi
  rm -f "$f"
done
exit 0
