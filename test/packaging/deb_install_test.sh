#!/usr/bin/env bash
# Installs, reinstalls (the upgrade path), removes and purges the .deb for real, with dpkg, in a
# throwaway root: a private mount namespace (unshare -m) in which /etc, /var and /usr are
# overlays whose writable layers are in a temporary folder. Everything dpkg and the maintainer
# scripts write (users in /etc/passwd, /var/lib/dpkg, the programs, the folders) lands in that
# folder and is deleted at the end; the machine's own files never change. Needs root, a
# merged-/usr system (/lib -> usr/lib) and overlayfs in a mount namespace; exits 77 (skipped)
# without them. Not run by packaging/test.sh (docs/testing.md, "The package test").
#
#   deb_install_test.sh SEALPOOL.deb
set -euo pipefail

deb=$(readlink -f "$1")
[ -f "$deb" ] || { echo "deb_install_test: no .deb at $1" >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then echo "SKIPPED: needs root"; exit 77; fi
if [ ! -L /lib ]; then echo "SKIPPED: /lib is not a symlink (not merged-/usr)"; exit 77; fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sealpool-deb-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for d in etc var usr; do mkdir -p "$tmp/$d-upper" "$tmp/$d-work"; done

if ! unshare -m --propagation private true 2>/dev/null; then
  echo "SKIPPED: cannot make a mount namespace"
  exit 77
fi

unshare -m --propagation private bash -s "$deb" "$tmp" <<'INNER'
set -euo pipefail
deb=$1 tmp=$2
for d in etc var usr; do
  mount -t overlay overlay \
    -o "lowerdir=/$d,upperdir=$tmp/$d-upper,workdir=$tmp/$d-work" "/$d"
done
# From here on every write to /etc, /var and /usr goes to $tmp.

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }
owner_mode() { stat -c '%U:%G %a' "$1" 2>/dev/null || echo missing; }
export DEBIAN_FRONTEND=noninteractive

dpkg -i "$deb" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log"; fail "dpkg -i failed"; exit 1; }
ok "dpkg -i: $(dpkg-query -W -f='${Package} ${Version} ${Status}' sealpool)"
for u in sealpool sealkms; do
  getent passwd "$u" >/dev/null || fail "no user $u"
  [ "$(getent passwd "$u" | cut -d: -f7)" = /usr/sbin/nologin ] || fail "$u has a login shell"
  [ "$(getent passwd "$u" | cut -d: -f3)" -lt 1000 ] || fail "$u is not a system user"
done
getent group sealpool-admin >/dev/null || fail "no group sealpool-admin"
while read -r dir want; do
  got=$(owner_mode "$dir")
  [ "$got" = "$want" ] || fail "$dir is $got, not $want"
done <<'DIRS'
/var/lib/sealpool root:root 755
/var/lib/sealpool/pool sealpool:sealpool 700
/var/lib/sealpool/kms sealkms:sealkms 700
/var/log/sealpool/pool sealpool:sealpool 700
/var/log/sealpool/kms sealkms:sealkms 700
/var/backups/sealpool sealpool:sealpool 700
/etc/sealpool/kms root:root 755
DIRS
conffiles=$(dpkg-query -W -f='${Conffiles}' sealpool | awk '{print $1}' | sort | tr '\n' ' ')
[ "$conffiles" = "/etc/sealpool/sealkmsd.toml /etc/sealpool/sealpoold.toml " ] ||
  fail "dpkg's conffiles: $conffiles"
/usr/sbin/sealpoold --version | grep -q . || fail "installed sealpoold does not run"
/usr/sbin/sealpoold --config /etc/sealpool/sealpoold.toml --check-config >/dev/null ||
  fail "installed sealpoold rejects the installed config"
/usr/sbin/sealkmsd --config /etc/sealpool/sealkmsd.toml --check-config >/dev/null ||
  fail "installed sealkmsd rejects the installed config"
ok "users, groups, folders, conffiles and programs after install"

# Upgrade path: an operator's edit to a conffile survives a reinstall; postinst is idempotent
# and leaves an operator's folder mode alone.
sed -i 's/^level = "info"/level = "debug"/' /etc/sealpool/sealpoold.toml
chmod 0750 /var/lib/sealpool/pool
echo data >/var/lib/sealpool/pool/marker
dpkg -i "$deb" >"$tmp/reinstall.log" 2>&1 || { cat "$tmp/reinstall.log"; fail "reinstall failed"; }
grep -q '^level = "debug"' /etc/sealpool/sealpoold.toml || fail "reinstall overwrote the edited conffile"
[ "$(owner_mode /var/lib/sealpool/pool)" = "sealpool:sealpool 750" ] ||
  fail "reinstall changed /var/lib/sealpool/pool to $(owner_mode /var/lib/sealpool/pool)"
ok "reinstall keeps the edited config, the folder mode and the data"

dpkg -r sealpool >"$tmp/remove.log" 2>&1 || { cat "$tmp/remove.log"; fail "dpkg -r failed"; }
[ ! -e /usr/sbin/sealpoold ] || fail "remove left /usr/sbin/sealpoold"
[ -f /etc/sealpool/sealpoold.toml ] || fail "remove deleted the config"
[ -f /var/lib/sealpool/pool/marker ] || fail "remove deleted pool data"
ok "remove: programs gone; configs and data kept"

dpkg -P sealpool >"$tmp/purge.log" 2>&1 || { cat "$tmp/purge.log"; fail "dpkg -P failed"; }
[ ! -e /etc/sealpool/sealpoold.toml ] || fail "purge kept the config"
[ -f /var/lib/sealpool/pool/marker ] || fail "purge deleted pool data"
getent passwd sealpool >/dev/null || fail "purge removed the user sealpool while its data is left"
grep -q "purge kept" "$tmp/purge.log" || fail "purge did not say what it kept"
ok "purge with data left: configs gone, data and users kept ($(grep -o 'purge kept[^(]*' "$tmp/purge.log"))"

# With the data deleted by hand, a purge leaves nothing of the package behind.
rm -f /var/lib/sealpool/pool/marker
dpkg -i "$deb" >/dev/null 2>&1 && dpkg -P sealpool >"$tmp/purge2.log" 2>&1 ||
  { cat "$tmp/purge2.log"; fail "install + purge failed"; }
for p in /var/lib/sealpool /var/log/sealpool /var/backups/sealpool /etc/sealpool; do
  [ ! -e "$p" ] || fail "purge of an empty install left $p"
done
for u in sealpool sealkms; do getent passwd "$u" >/dev/null && fail "purge left the user $u"; done
getent group sealpool-admin >/dev/null && fail "purge left the group sealpool-admin"
ok "purge with no data left: folders, users and groups gone"

[ "$failures" -eq 0 ] || { echo "deb_install_test: $failures failure(s)" >&2; exit 1; }
echo "deb_install_test: all checks passed"
INNER
