#!/usr/bin/env bash
# Creates the certificates sealkmsd and its clients use for mTLS: a project CA, the server
# certificate of sealkmsd (serverAuth), and client certificates (clientAuth) for storage
# servers (OU=storage-server) and admins (OU=admin). Roles come from the OU; sealkmsd's config
# maps each CN to what it may do. See docs/kms.md, "Certificates".
#
#   make-certs.sh [options] OUTDIR
#     --server-name NAME   DNS name in the server certificate (repeatable; default localhost)
#     --server-ip IP       IP address in the server certificate (repeatable; default 127.0.0.1)
#     --storage CN         a storage-server client certificate (repeatable)
#     --admin CN           an admin client certificate (repeatable)
#     --client CN          a backup-client certificate for sealpoold's client API (repeatable)
#     --server-file NAME   write the server pair as NAME.crt/NAME.key (default server)
#     --days N             validity of server and client certificates (default 825)
#     --ca-days N          validity of a new CA (default 3650)
#
# Re-running with the same OUTDIR reuses its CA (ca.crt, ca.key) and adds or replaces the named
# identities. Writes OUTDIR/<name>.crt and OUTDIR/<name>.key (keys mode 0600; the server's pair
# is server.crt/server.key). Keep ca.key offline once the identities exist.
set -euo pipefail

usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

server_names=()
server_ips=()
storage=()
admins=()
clients=()
server_file=server
days=825
ca_days=3650
out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --server-name) server_names+=("$2"); shift 2 ;;
    --server-ip) server_ips+=("$2"); shift 2 ;;
    --storage) storage+=("$2"); shift 2 ;;
    --admin) admins+=("$2"); shift 2 ;;
    --client) clients+=("$2"); shift 2 ;;
    --server-file) server_file="$2"; shift 2 ;;
    --days) days="$2"; shift 2 ;;
    --ca-days) ca_days="$2"; shift 2 ;;
    -h|--help) usage 0 ;;
    -*) echo "make-certs.sh: unknown option $1" >&2; usage 2 ;;
    *) [ -z "$out" ] || usage 2; out="$1"; shift ;;
  esac
done
[ -n "$out" ] || usage 2
[ ${#server_names[@]} -gt 0 ] || server_names=(localhost)
[ ${#server_ips[@]} -gt 0 ] || server_ips=(127.0.0.1)

for cn in "${storage[@]}" "${admins[@]}" "${clients[@]}"; do
  if ! [[ "$cn" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || [ "$cn" = server ] || [ "$cn" = ca ]; then
    echo "make-certs.sh: \"$cn\" is not a usable CN (letters, digits, . _ -; not ca/server)" >&2
    exit 2
  fi
done

umask 077
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

newkey() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

if [ ! -f "$out/ca.key" ] || [ ! -f "$out/ca.crt" ]; then
  newkey "$out/ca.key"
  openssl req -x509 -new -key "$out/ca.key" -sha256 -days "$ca_days" \
    -subj "/O=sealpool/CN=sealpool KMS CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -out "$out/ca.crt"
  echo "created CA $out/ca.crt"
fi

# issue NAME SUBJECT EXTFILE
issue() {
  local name=$1 subject=$2 ext=$3
  newkey "$out/$name.key"
  openssl req -new -key "$out/$name.key" -subj "$subject" -out "$tmp/$name.csr"
  openssl x509 -req -in "$tmp/$name.csr" -CA "$out/ca.crt" -CAkey "$out/ca.key" \
    -CAcreateserial -CAserial "$tmp/ca.srl" -days "$days" -sha256 -extfile "$ext" \
    -out "$out/$name.crt" 2>/dev/null
  chmod 600 "$out/$name.key"
  chmod 644 "$out/$name.crt"
  echo "created $out/$name.crt ($subject)"
}

san=""
for n in "${server_names[@]}"; do san+="${san:+,}DNS:$n"; done
for ip in "${server_ips[@]}"; do san+="${san:+,}IP:$ip"; done
cat > "$tmp/server.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=$san
EXT
issue "$server_file" "/O=sealpool/OU=server/CN=${server_names[0]}" "$tmp/server.ext"

cat > "$tmp/client.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
for cn in "${storage[@]}"; do issue "$cn" "/O=sealpool/OU=storage-server/CN=$cn" "$tmp/client.ext"; done
for cn in "${admins[@]}"; do issue "$cn" "/O=sealpool/OU=admin/CN=$cn" "$tmp/client.ext"; done
for cn in "${clients[@]}"; do issue "$cn" "/O=sealpool/OU=backup-client/CN=$cn" "$tmp/client.ext"; done
chmod 644 "$out/ca.crt"
