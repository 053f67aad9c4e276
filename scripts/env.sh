# Sourced by the other scripts: picks the Python to use and installs overcast.
# On a Python that refuses system-wide installs (Debian's own, PEP 668), a
# virtual environment in .venv is made first (installing python3-venv if needed).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
managed=$("$PY" -c 'import os, sysconfig; print(os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED")))')
if [ "$managed" = "True" ] || [ -x .venv/bin/python ]; then
  if [ ! -x .venv/bin/python ]; then
    if ! "$PY" -m venv .venv 2>/dev/null; then
      apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
      "$PY" -m venv .venv
    fi
  fi
  PY="$ROOT/.venv/bin/python"
fi
export PY
# pip, quietly: its output is shown only when it fails, and then the command fails too.
pip_install() {
  local log
  log=$(mktemp)
  if ! PIP_ROOT_USER_ACTION=ignore "$PY" -m pip install -q --disable-pip-version-check "$@" >"$log" 2>&1; then
    cat "$log" >&2
    rm -f "$log"
    echo "pip install $* failed" >&2
    return 1
  fi
  rm -f "$log"
}
install_overcast() {  # $1: extras, e.g. "test"
  local spec="."
  [ -n "${1:-}" ] && spec=".[$1]"
  pip_install -e "$spec"
}
