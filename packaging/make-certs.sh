#!/usr/bin/env bash
# Creates the certificates sealpool's daemons and their clients use for mTLS: a CA, a server
# certificate (serverAuth) for sealkmsd or sealpoold, and client certificates (clientAuth):
# storage servers (OU=storage-server: sealpoold's identity towards sealkmsd), admins (OU=admin:
# kmscmd towards sealkmsd) and backup clients (OU=backup-client: the sealpool client towards
# sealpoold). Roles come from the OU; each daemon's config maps a CN to what it may do. See
# docs/kms.md, "Certificates", and docs/operations.md, "Certificates for a packaged install".
#
#   make-certs.sh [options] OUTDIR
#     --server-name NAME   DNS name in the server certificate (repeatable; default localhost)
#     --server-ip IP       IP address in the server certificate (repeatable; default 127.0.0.1)
#     --server-file NAME   write the server pair as NAME.crt/NAME.key (default server)
#     --no-server          issue no server certificate (add identities to an existing OUTDIR)
#     --storage CN         a storage-server client certificate (repeatable)
#     --storage-file NAME  write the (single) --storage pair as NAME.crt/NAME.key (default: CN)
#     --admin CN           an admin client certificate (repeatable)
#     --client CN          a backup-client certificate for sealpoold's client API (repeatable)
#     --ca-name CN         the CN of a new CA (default "sealpool KMS CA")
#     --days N             validity of server and client certificates (default 825)
#     --ca-days N          validity of a new CA (default 3650)
#
# Re-running with the same OUTDIR reuses its CA (ca.crt, ca.key) and adds or replaces the named
# identities, the server pair included unless --no-server. Writes OUTDIR/<name>.crt and
# OUTDIR/<name>.key (keys mode 0600, owned by the caller: chown each to the user of the daemon
# that reads it). Keep ca.key offline once the identities exist.
set -euo pipefail

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }

server_names=()
server_ips=()
storage=()
admins=()
clients=()
server_file=server
no_server=0
storage_file=""
ca_name="sealpool KMS CA"
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
    --no-server) no_server=1; shift ;;
    --storage-file) storage_file="$2"; shift 2 ;;
    --ca-name) ca_name="$2"; shift 2 ;;
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

if [ -n "$storage_file" ] && [ ${#storage[@]} -ne 1 ]; then
  echo "make-certs.sh: --storage-file names the pair of exactly one --storage" >&2
  exit 2
fi
for name in "$server_file" "$storage_file"; do
  if [ -n "$name" ] && ! [[ "$name" =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$ ]] || [ "$name" = ca ]; then
    echo "make-certs.sh: \"$name\" is not a usable file name (letters, digits, . _ -; not ca)" >&2
    exit 2
  fi
done
if [ "$no_server" = 0 ] && [ "$storage_file" = "$server_file" ]; then
  echo "make-certs.sh: --storage-file and --server-file name the same pair" >&2
  exit 2
fi
if ! [[ "$ca_name" =~ ^[A-Za-z0-9][A-Za-z0-9\ ._-]{0,63}$ ]]; then
  echo "make-certs.sh: \"$ca_name\" is not a usable CA name (letters, digits, space, . _ -)" >&2
  exit 2
fi

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
    -subj "/O=sealpool/CN=$ca_name" \
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
if [ "$no_server" = 0 ]; then
  issue "$server_file" "/O=sealpool/OU=server/CN=${server_names[0]}" "$tmp/server.ext"
fi

cat > "$tmp/client.ext" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
EXT
for cn in "${storage[@]}"; do
  issue "${storage_file:-$cn}" "/O=sealpool/OU=storage-server/CN=$cn" "$tmp/client.ext"
done
for cn in "${admins[@]}"; do issue "$cn" "/O=sealpool/OU=admin/CN=$cn" "$tmp/client.ext"; done
for cn in "${clients[@]}"; do issue "$cn" "/O=sealpool/OU=backup-client/CN=$cn" "$tmp/client.ext"; done
chmod 644 "$out/ca.crt"
