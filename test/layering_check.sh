#!/usr/bin/env bash
# Checks the dependency direction of DESIGN.md on the sources: each layer includes only the
# layers it may depend on. Prints every violation and exits 1 if there is any.
set -euo pipefail
root=${1:-.}
cd "$root"
# layer -> regex of the project folders it must NOT include
declare -A forbidden=(
  [base]='^(crypto|storage|kms|daemon|tools|proto)/'
  [crypto]='^(storage|kms|daemon|tools|proto)/|grpc|rocksdb'
  [storage]='^(kms|daemon|tools|proto)/|grpc'
  [kms]='^(storage|daemon|tools)/'
  [tools]='^(storage/(?!chunking/)|kms/|daemon/)'
)
bad=0
for layer in "${!forbidden[@]}"; do
  [ -d "$layer" ] || continue
  while IFS= read -r -d '' f; do
    while IFS= read -r inc; do
      if printf '%s\n' "$inc" | grep -Pq "${forbidden[$layer]}"; then
        echo "layering: $f includes \"$inc\" ($layer may not depend on it)"
        bad=1
      fi
    done < <(grep -oP '^\s*#\s*include\s*[<"]\K[^>"]+' "$f" || true)
  done < <(find "$layer" -type f \( -name '*.h' -o -name '*.cc' \) -print0)
done
if [ "$bad" -ne 0 ]; then exit 1; fi
echo "layering: ok"
