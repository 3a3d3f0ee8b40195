#!/usr/bin/env bash
# Fails if a .node needs a newer glibc than MAX: reads the highest GLIBC_x.y symbol version among
# its dynamic symbols. usage: scripts/check-glibc.sh FILE.node MAX (e.g. 2.17)
set -euo pipefail
file="$1"
max="$2"
needed="$(objdump -T "$file" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)"
if [ -z "$needed" ]; then
  echo "$file: no GLIBC symbol versions found" >&2
  exit 1
fi
highest="$(printf '%s\n%s\n' "$needed" "$max" | sort -V | tail -1)"
if [ "$highest" != "$max" ]; then
  echo "$file needs glibc $needed, above the $max limit" >&2
  exit 1
fi
echo "$(basename "$file") needs glibc $needed (limit $max): ok"
