#!/bin/sh
# Writes a gzipped man page from a program's --help (build time; no help2man needed).
#   gen-man.sh PROGRAM NAME SECTION VERSION OUT.gz
# The page is the --help text verbatim (no fill), with NAME, SEE ALSO and the docs' location.
set -eu
prog=$1 name=$2 section=$3 version=$4 out=$5

# Run through PATH so that the Usage: line says "NAME", not this build folder's path.
bindir=$(mktemp -d)
trap 'rm -rf "$bindir"' EXIT
ln -s "$(readlink -f "$prog")" "$bindir/$name"
help=$(PATH="$bindir:$PATH" "$name" --help 2>&1) || {
  echo "gen-man.sh: $prog --help failed" >&2
  exit 1
}
# The summary: the first sentence of the first paragraph of --help ("NAME: " dropped).
summary=$(printf '%s\n' "$help" | sed -n '/[^[:space:]]/,/^[[:space:]]*$/p' | tr '\n' ' ' |
  sed -e "s/^$name: //" -e 's/\([.:]\) .*/\1/' -e 's/[.:[:space:]]*$//')

# roff: a backslash prints as \e; a line starting with . or ' would be a request.
escape() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }

tmp="$out.tmp"
{
  printf '.TH %s %s "" "sealpool %s" "sealpool"\n' "$(echo "$name" | tr a-z A-Z)" \
    "$section" "$version"
  printf '.SH NAME\n%s \\- %s\n' "$name" "$(printf '%s\n' "$summary" | escape)"
  printf '.SH DESCRIPTION\nThe output of \\fB%s \\-\\-help\\fR:\n.PP\n.nf\n' "$name"
  printf '%s\n' "$help" | escape
  printf '.fi\n.SH SEE ALSO\n'
  printf 'The documentation in /usr/share/doc/sealpool/: README.md, and index.md, which lists\n'
  printf 'every page (operations.md, server.md, kms.md, cli.md, ...).\n'
} > "$tmp"
gzip -9n -c "$tmp" > "$out"
rm -f "$tmp"
