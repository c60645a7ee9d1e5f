#!/usr/bin/env bash
# The .deb test (CTest: package_deb, label "package"; docs/testing.md, "The package test").
#
#   deb_test.sh BUILD_DIR SOURCE_DIR VERSION PROGRAM...
#
# Takes the .deb in $SEALPOOL_DEB (packaging/test.sh passes the one cpack built), or builds one
# with cpack from BUILD_DIR into a temporary folder. Then checks, without installing anything on
# this machine: the control fields; that Depends declares the package of every shared library
# the programs load; the contents (every PROGRAM, the units, the configs as conffiles, the docs,
# man pages, the certificate script, nothing else); the maintainer scripts; that the units, the
# default configs and postinst agree on paths; and, from a `dpkg-deb -x` tree, that each program
# runs (--help, --version = VERSION), that the daemons accept the default configs
# (--check-config) and that systemd-analyze accepts the units (when it is installed).
set -euo pipefail

build=$1 src=$2 version=$3
shift 3
programs=("$@")

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

for tool in dpkg-deb dpkg-query; do
  command -v "$tool" >/dev/null || { echo "deb_test: $tool missing (dpkg)"; exit 1; }
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sealpool-deb-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

deb=${SEALPOOL_DEB:-}
if [ -z "$deb" ]; then
  echo "deb_test: building the .deb with cpack into $tmp/cpack"
  (cd "$tmp" && cpack -G DEB -B "$tmp/cpack" --config "$build/CPackConfig.cmake" >"$tmp/cpack.log" 2>&1) || {
    cat "$tmp/cpack.log" >&2
    echo "deb_test: cpack failed" >&2
    exit 1
  }
  deb=$(ls "$tmp"/cpack/sealpool_*.deb)
fi
[ -f "$deb" ] || { echo "deb_test: no .deb at $deb" >&2; exit 1; }
echo "deb_test: $deb ($(du -h "$deb" | cut -f1))"

# --- control fields -------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
[ "$(field Package)" = sealpool ] || fail "Package is '$(field Package)', not sealpool"
[ "$(field Version)" = "$version" ] || fail "Version is '$(field Version)', not $version"
[ "$(field Architecture)" = "$(dpkg --print-architecture)" ] ||
  fail "Architecture is '$(field Architecture)'"
maint=$(field Maintainer)
[[ "$maint" =~ ^[^\<]+\ \<[^@\>]+@[^\>]+\>$ ]] || fail "Maintainer '$maint' is not 'Name <email>'"
desc=$(dpkg-deb -f "$deb" Description)
[ -n "$(printf '%s\n' "$desc" | head -1)" ] || fail "Description has no summary line"
[ "$(printf '%s\n' "$desc" | wc -l)" -ge 3 ] || fail "Description has no extended description"
[ "$(printf '%s\n' "$desc" | sed -n 1p)" != "$(printf '%s\n' "$desc" | sed -n 2p | sed 's/^ //')" ] ||
  fail "Description repeats its summary line"
depends=$(field Depends)
[ -n "$depends" ] || fail "Depends is empty"
case ", $depends," in *", adduser"*) ;; *) fail "Depends lacks adduser: $depends" ;; esac
case ", $depends," in *", libc6 ("*|*" libc6 ("*) ;; *) fail "Depends lacks libc6 (dpkg-shlibdeps did not run?): $depends" ;; esac
ok "control: $(field Package) $(field Version) $(field Architecture); Depends: $depends"

# --- contents -------------------------------------------------------------------------------
dpkg-deb -c "$deb" >"$tmp/contents"
# "./usr/sbin/sealpoold" for each regular file, owner and mode kept aside.
awk '$1 !~ /^d/ {print $6}' "$tmp/contents" | sed 's#^\./#/#' | sort >"$tmp/files"
awk '$2 != "root/root" {print}' "$tmp/contents" >"$tmp/not-root"
[ ! -s "$tmp/not-root" ] || fail "files not owned by root/root: $(cat "$tmp/not-root")"

has() { grep -qxF "$1" "$tmp/files"; }
expected=()
for p in "${programs[@]}"; do
  if has "/usr/sbin/$p"; then expected+=("/usr/sbin/$p"); section=8
  elif has "/usr/bin/$p"; then expected+=("/usr/bin/$p"); section=1
  else fail "program $p (a target of this build) is not in the .deb: does it have an install() rule?"; continue
  fi
  case $p in sealkmsd|sealpoold|crcontrol|keydictutil) want=8 ;; *) want=1 ;; esac
  expected+=("/usr/share/man/man$want/$p.$want.gz")
done
expected+=(
  /lib/systemd/system/sealkmsd.service /lib/systemd/system/sealpoold.service
  /etc/sealpool/sealkmsd.toml /etc/sealpool/sealpoold.toml
  /usr/share/sealpool/make-certs.sh
  /usr/share/doc/sealpool/README.md /usr/share/doc/sealpool/index.md
)
for d in "$src"/docs/*.md; do
  [ "$(basename "$d")" = README.md ] || expected+=("/usr/share/doc/sealpool/$(basename "$d")")
done
for f in "${expected[@]}"; do has "$f" || fail "missing from the .deb: $f"; done
printf '%s\n' "${expected[@]}" | sort >"$tmp/expected"
comm -23 "$tmp/files" "$tmp/expected" >"$tmp/extra"
[ ! -s "$tmp/extra" ] || fail "unexpected files in the .deb: $(tr '\n' ' ' <"$tmp/extra")"
ok "contents: $(wc -l <"$tmp/files") files, ${#programs[@]} programs (${programs[*]})"

# --- control archive: conffiles and maintainer scripts ---------------------------------------
mkdir "$tmp/control"
dpkg-deb -e "$deb" "$tmp/control"
printf '/etc/sealpool/sealkmsd.toml\n/etc/sealpool/sealpoold.toml\n' >"$tmp/want-conffiles"
if ! diff <(sort "$tmp/control/conffiles" 2>/dev/null) "$tmp/want-conffiles" >/dev/null; then
  fail "conffiles is not exactly the two configs: $(cat "$tmp/control/conffiles" 2>/dev/null)"
fi
for s in postinst prerm postrm; do
  if [ ! -x "$tmp/control/$s" ]; then fail "control: $s missing or not executable"; continue; fi
  sh -n "$tmp/control/$s" || fail "control: $s does not parse (sh -n)"
done
# postrm must not delete data: no rm -r anywhere in the maintainer scripts.
if grep -nE '\brm[[:space:]]+(-[a-zA-Z]*r|-[a-zA-Z]*R|--recursive)' "$tmp/control"/post* "$tmp/control"/prerm; then
  fail "a maintainer script removes folders recursively"
fi
ok "control archive: conffiles, postinst, prerm, postrm"

# --- the extracted tree ---------------------------------------------------------------------
root="$tmp/root"
dpkg-deb -x "$deb" "$root"
for p in "${programs[@]}"; do
  bin=""
  for d in usr/sbin usr/bin; do [ -e "$root/$d/$p" ] && bin=$root/$d/$p; done
  [ -n "$bin" ] || continue
  [ -x "$bin" ] || { fail "$p is not executable"; continue; }
  if ldd "$bin" | grep -q "not found"; then fail "$p: $(ldd "$bin" | grep 'not found')"; fi
  if ! "$bin" --help >"$tmp/help" 2>&1; then fail "$p --help exits non-zero"; continue; fi
  grep -q "$p" "$tmp/help" || fail "$p --help does not name $p"
  v=$("$bin" --version 2>&1) || v="(exit $?) $v"
  case $p in
    sealkmsd|sealpoold|kmscmd|sealpool|crcontrol|keydictutil) [ "$v" = "$p $version" ] || fail "$p --version says '$v', not '$p $version'" ;;
    # Programs from other branches: if they answer --version, it must be this version.
    *) case $v in "(exit "*) echo "note: $p has no --version" ;;
         *) [[ "$v" == *"$version"* ]] || fail "$p --version says '$v', not $version" ;; esac ;;
  esac
  # Depends must cover the package of every library the program links directly (NEEDED; the
  # libraries those pull in are their packages' business).
  ldd "$bin" >"$tmp/ldd"
  readelf -d "$bin" | sed -n 's/.*(NEEDED).*Shared library: \[\(.*\)\]/\1/p' | while read -r soname; do
    lib=$(awk -v s="$soname" '$1 == s && $2 == "=>" {print $3}' "$tmp/ldd")
    [ -n "$lib" ] || { echo "FAIL: $p: $soname does not resolve"; continue; }
    real=$(readlink -f "$lib")
    pkg=$(dpkg-query -S "$real" 2>/dev/null || dpkg-query -S "${real#/usr}" 2>/dev/null || dpkg-query -S "$lib" 2>/dev/null || true)
    pkg=${pkg%%:*}
    if [ -z "$pkg" ]; then echo "note: $p: no package owns $lib"; continue; fi
    # The package, or a name it Provides (libspdlog1.10 provides libspdlog1.10-fmt9).
    names="$pkg $(dpkg-query -W -f='${Provides}' "$pkg" 2>/dev/null | sed 's/([^)]*)//g; s/,/ /g')"
    declared=""
    for n in $names; do
      case ", $depends," in *", $n "*|*", $n,"*|*"| $n "*|*"| $n,"*) declared=$n ;; esac
    done
    [ -n "$declared" ] || echo "FAIL: $p loads $lib ($pkg), which Depends does not declare"
  done >"$tmp/libcheck"
  if grep -q '^FAIL' "$tmp/libcheck"; then fail "$(grep '^FAIL' "$tmp/libcheck" | sed 's/^FAIL: //')"; fi
  grep '^note' "$tmp/libcheck" || true
  ok "$p runs from the extracted tree: --help, --version '$v', libraries declared"
done

# The default configs parse with the packaged daemons (parser only: no TLS files needed).
for d in sealkmsd sealpoold; do
  if out=$("$root/usr/sbin/$d" --config "$root/etc/sealpool/$d.toml" --check-config 2>&1); then
    ok "$d --check-config accepts /etc/sealpool/$d.toml"
  else
    fail "$d --check-config rejects the packaged /etc/sealpool/$d.toml: $out"
  fi
done

# --- units, configs and postinst agree --------------------------------------------------------
unit=$root/lib/systemd/system
key() { sed -n "s/^$2=//p" "$unit/$1"; }
toml() { sed -n "s/^$2[[:space:]]*=[[:space:]]*\"\\([^\"]*\\)\".*/\\1/p" "$root/etc/sealpool/$1"; }
for u in sealkmsd sealpoold; do
  for cmd in $(key $u.service ExecStart | awk '{print $1}') $(key $u.service ExecStartPre | awk '{print $1}'); do
    [ -x "$root$cmd" ] || fail "$u.service runs $cmd, which the .deb does not ship"
  done
  key $u.service ExecStart | grep -q -- "--config /etc/sealpool/$u.toml" ||
    fail "$u.service does not start $u with --config /etc/sealpool/$u.toml"
  grep -qx "Type=notify" "$unit/$u.service" || fail "$u.service is not Type=notify"
  for k in NoNewPrivileges=yes ProtectSystem=strict PrivateTmp=yes ProtectHome=yes; do
    grep -qx "$k" "$unit/$u.service" || fail "$u.service lacks $k"
  done
done
under() { case "$1" in "$2"/*) return 0 ;; *) return 1 ;; esac; }
# sealkmsd: the store in its StateDirectory, the audit log in its LogsDirectory.
under "$(toml sealkmsd.toml path)" "/var/lib/$(key sealkmsd.service StateDirectory)" ||
  fail "sealkmsd.toml [store].path $(toml sealkmsd.toml path) is outside the unit's StateDirectory"
under "$(toml sealkmsd.toml audit_log)" "/var/log/$(key sealkmsd.service LogsDirectory)" ||
  fail "sealkmsd.toml [store].audit_log is outside the unit's LogsDirectory"
grep -qx "User=sealkms" "$unit/sealkmsd.service" || fail "sealkmsd.service does not run as sealkms"
# sealpoold: the pool is its StateDirectory, the audit log in its LogsDirectory, the catalog
# backups under a ReadWritePaths, the admin socket (default /run/sealpool/admin.sock) in its
# RuntimeDirectory.
[ "$(toml sealpoold.toml path)" = "/var/lib/$(key sealpoold.service StateDirectory)" ] ||
  fail "sealpoold.toml [pool].path is not the unit's StateDirectory"
under "$(toml sealpoold.toml audit_log)" "/var/log/$(key sealpoold.service LogsDirectory)" ||
  fail "sealpoold.toml [pool].audit_log is outside the unit's LogsDirectory"
rw=$(key sealpoold.service ReadWritePaths | sed 's/^-//')
under "$(toml sealpoold.toml catalog_backup_dir)" "$rw" ||
  fail "sealpoold.toml catalog_backup_dir is outside the unit's ReadWritePaths ($rw)"
[ "$(key sealpoold.service RuntimeDirectory)" = sealpool ] ||
  fail "sealpoold.service's RuntimeDirectory is not /run/sealpool (the admin socket's folder)"
grep -qx "User=sealpool" "$unit/sealpoold.service" || fail "sealpoold.service does not run as sealpool"
admin_group=$(toml sealpoold.toml group)
grep -qx "SupplementaryGroups=$admin_group" "$unit/sealpoold.service" ||
  fail "sealpoold.service lacks SupplementaryGroups=$admin_group ([admin].group)"
# postinst creates the users, the admin group and the folders above.
for w in "adduser --system" "sealpool-admin" " sealpool\$" " sealkms\$" /var/lib/sealpool/pool \
         /var/lib/sealpool/kms /var/log/sealpool/pool /var/log/sealpool/kms "$rw"; do
  grep -qE -- "$w" "$tmp/control/postinst" || fail "postinst does not mention '$w'"
done
ok "units, default configs and postinst agree on users, folders and paths"

if command -v systemd-analyze >/dev/null; then
  # Verified against this machine's systemd, with the programs' paths pointed into the
  # extracted tree (verify checks that each Exec program exists).
  mkdir "$tmp/units"
  for u in sealkmsd sealpoold; do
    sed "s#=/usr/sbin/#=$root/usr/sbin/#g" "$unit/$u.service" >"$tmp/units/$u.service"
  done
  if out=$(systemd-analyze verify --man=no "$tmp/units/sealkmsd.service" \
      "$tmp/units/sealpoold.service" 2>&1); then
    ok "systemd-analyze verify: both units"
  else
    fail "systemd-analyze verify: $out"
  fi
else
  echo "note: systemd-analyze not installed; units not verified by systemd"
fi

if [ "$failures" -ne 0 ]; then
  echo "deb_test: $failures failure(s)" >&2
  exit 1
fi
echo "deb_test: all checks passed"
