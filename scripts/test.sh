#!/usr/bin/env bash
# Install everything the tests need, then lint, type-check and run the whole suite.
source "$(dirname "$0")/env.sh"
install_overcast "test,docs"
bash scripts/install-servers.sh
echo "== ruff"
"$PY" -m ruff check src tests bench examples
echo "== mypy --strict"
"$PY" -m mypy src examples
echo "== mkdocs build --strict"
site=$(mktemp -d)
NO_MKDOCS_2_WARNING=1 "$PY" -m mkdocs build --strict --quiet -d "$site"
rm -rf "$site"
echo "== pytest"
set +e
"$PY" -m pytest -n 2 -p no:cacheprovider --durations=25 "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest ran no test: that is a failure" >&2
  exit 1
fi
exit "$rc"
