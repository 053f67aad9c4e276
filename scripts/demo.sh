#!/usr/bin/env bash
# Install overcast and run its demo on drivers that need no cloud
# (local storage, zone files, libvirt's built-in test hypervisor).
source "$(dirname "$0")/env.sh"
# libvirt-python builds against the system libvirt (Debian: libvirt-dev);
# the backup step drives restic.
missing=()
while read -r pkg; do
  [ -n "$pkg" ] && ! dpkg -s "$pkg" >/dev/null 2>&1 && missing+=("$pkg")
done < <(cat scripts/servers/libvirt.apt scripts/servers/restic.apt)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "== apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# HAProxy, for the load balancer step.
if ! dpkg -s haproxy >/dev/null 2>&1; then
  echo "== apt: installing haproxy"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends haproxy >/dev/null
fi
install_overcast "dns,libvirt"
exec "$PY" -m overcast.demo "$@"
