#!/usr/bin/env bash
# Fails when a tracked file is an executable binary (ELF, Mach-O, PE) or
# larger than 2 MB: build outputs belong in bin/, never in the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
while IFS= read -r -d '' f; do
  [ -f "$f" ] || continue
  size=$(stat -c %s "$f")
  if [ "$size" -gt 2097152 ]; then
    echo "tracked file $f is $((size / 1048576)) MiB (over 2 MB): keep build outputs and data out of git" >&2
    bad=1
  fi
  magic=$(head -c 4 "$f" | od -An -tx1 | tr -d ' \n')
  case "$magic" in
    7f454c46 | cffaedfe | cefaedfe | feedface | feedfacf | 4d5a*)
      echo "tracked file $f is an executable binary: remove it (git rm --cached) and rebuild with make build" >&2
      bad=1 ;;
  esac
done < <(git ls-files -z)
exit "$bad"
