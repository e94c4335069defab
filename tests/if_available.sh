#!/usr/bin/env bash
# Runs a test's command when what it needs is installed, else prints what is missing and exits 77,
# which CTest reports as skipped (SKIP_RETURN_CODE 77). tests/*.cmake register every test this way,
# so a test whose tool is missing shows up as skipped instead of silently not existing.
#   if_available.sh [--cmd PROGRAM]... [--path FILE_OR_DIR]... [--python-module PYTHON MODULE]... -- COMMAND ARGS...
set -uo pipefail
missing=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do
  case "$1" in
    --cmd) command -v "$2" > /dev/null 2>&1 || missing+=("the program $2"); shift 2 ;;
    --path) [ -e "$2" ] || missing+=("$2"); shift 2 ;;
    --python-module) "$2" -c "import $3" > /dev/null 2>&1 || missing+=("the Python module $3 for $2"); shift 3 ;;
    *) echo "if_available.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[ "${1:-}" = "--" ] || { echo "if_available.sh: missing -- COMMAND" >&2; exit 2; }
shift
if [ ${#missing[@]} -gt 0 ]; then
  printf 'SKIPPED: needs %s (make deps installs it)\n' "${missing[@]}"
  exit 77
fi
exec "$@"
