"""OpenStack credentials found as openstacksdk and the ``openstack`` CLI find them.

An OpenStack driver given no user, password, application credential or
``auth_url`` looks:

1. when ``OS_CLOUD`` names a cloud, for that cloud in ``clouds.yaml``, searched
   where openstacksdk searches: the file named by ``OS_CLIENT_CONFIG_FILE``,
   then ``./clouds.yaml``, ``~/.config/openstack/clouds.yaml`` and
   ``/etc/openstack/clouds.yaml`` (the first file that names the cloud wins);
   a ``secure.yaml`` beside it (same search path) adds its secrets;
2. otherwise, at the ``OS_*`` variables of an ``openrc`` file: ``OS_AUTH_URL``,
   ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_NAME`` (or
   ``OS_TENANT_NAME``), ``OS_PROJECT_ID``, ``OS_USER_DOMAIN_NAME``,
   ``OS_PROJECT_DOMAIN_NAME`` (``OS_DOMAIN_NAME`` for both),
   ``OS_REGION_NAME``, ``OS_INTERFACE``, and ``OS_APPLICATION_CREDENTIAL_ID`` /
   ``OS_APPLICATION_CREDENTIAL_SECRET``.

:func:`find_openstack_config` returns what it found, with ``source`` naming it
(``"clouds.yaml (/home/me/.config/openstack/clouds.yaml) cloud 'prod'"`` or
``"environment (OS_*)"``), for :class:`~overcast.auth.openstack.OpenStackService`
and ``overcast profile show``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from overcast.errors import InvalidCredentials
from overcast.extras import require
from overcast.runtime.redact import Secret

__all__ = ["OpenStackConfig", "clouds_yaml_paths", "find_openstack_config"]


@dataclass(frozen=True, slots=True)
class OpenStackConfig:
    """Keystone settings found outside the code, and where."""

    auth_url: str
    username: str | None
    password: Secret | None
    project_name: str | None
    project_id: str | None
    user_domain: str
    project_domain: str
    region: str | None
    interface: str | None
    application_credential_id: str | None
    application_credential_secret: Secret | None
    source: str

    def __repr__(self) -> str:
        who = self.application_credential_id or self.username
        return f"OpenStackConfig({self.auth_url!r}, {who!r}, source={self.source!r})"


def clouds_yaml_paths(environ: Mapping[str, str] | None = None,
                      name: str = "clouds.yaml") -> list[str]:
    """Where openstacksdk looks for ``clouds.yaml`` (or ``secure.yaml``), in order."""
    env = os.environ if environ is None else environ
    home = env.get("HOME") or os.path.expanduser("~")
    paths = []
    variable = "OS_CLIENT_CONFIG_FILE" if name == "clouds.yaml" else "OS_CLIENT_SECURE_FILE"
    if env.get(variable):
        paths.append(env[variable])
    paths += [os.path.join(os.getcwd(), name),
              os.path.join(home, ".config", "openstack", name),
              os.path.join("/etc", "openstack", name)]
    return paths


def _load(path: str) -> Mapping[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    # Here: only a clouds.yaml lookup needs PyYAML (the "openstack" extra).
    yaml: Any = require("yaml", "openstack", what="reading clouds.yaml", package="PyYAML")

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidCredentials(f"{path} is not valid YAML: {type(exc).__name__}") from None
    return data if isinstance(data, Mapping) else None


def _cloud(name: str, environ: Mapping[str, str]) -> tuple[Mapping[str, Any], str] | None:
    for path in clouds_yaml_paths(environ):
        data = _load(path)
        clouds = data.get("clouds") if data else None
        if isinstance(clouds, Mapping) and isinstance(clouds.get(name), Mapping):
            entry: dict[str, Any] = dict(clouds[name])
            for secure_path in clouds_yaml_paths(environ, "secure.yaml"):
                secure = _load(secure_path)
                extra = (secure or {}).get("clouds", {}).get(name)
                if isinstance(extra, Mapping):
                    entry = _merge(entry, extra)
                    break
            return entry, path
    return None


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _config(auth: Mapping[str, Any], top: Mapping[str, Any], source: str) -> OpenStackConfig:
    auth_url = _text(auth.get("auth_url"))
    if auth_url is None:
        raise InvalidCredentials(f"{source} has no auth_url")
    domain = _text(auth.get("domain_name"))
    password = _text(auth.get("password"))
    secret = _text(auth.get("application_credential_secret"))
    return OpenStackConfig(
        auth_url=auth_url,
        username=_text(auth.get("username")),
        password=Secret(password) if password else None,
        project_name=_text(auth.get("project_name") or auth.get("tenant_name")),
        project_id=_text(auth.get("project_id") or auth.get("tenant_id")),
        user_domain=_text(auth.get("user_domain_name")) or domain or "Default",
        project_domain=_text(auth.get("project_domain_name")) or domain or "Default",
        region=_text(top.get("region_name")),
        interface=_text(top.get("interface")),
        application_credential_id=_text(auth.get("application_credential_id")),
        application_credential_secret=Secret(secret) if secret else None,
        source=source,
    )


def find_openstack_config(environ: Mapping[str, str] | None = None) -> OpenStackConfig | None:
    """``OS_CLOUD``'s entry in ``clouds.yaml``, else the ``OS_*`` variables, else ``None``."""
    env = os.environ if environ is None else environ
    cloud = env.get("OS_CLOUD")
    if cloud:
        found = _cloud(cloud, env)
        if found is None:
            raise InvalidCredentials(
                f"OS_CLOUD={cloud!r}: no such cloud in {', '.join(clouds_yaml_paths(env))}")
        entry, path = found
        auth = entry.get("auth")
        return _config(auth if isinstance(auth, Mapping) else {}, entry,
                       f"clouds.yaml ({path}) cloud {cloud!r}")
    if not env.get("OS_AUTH_URL"):
        return None
    auth = {key.removeprefix("OS_").lower(): value for key, value in env.items()
            if key.startswith("OS_")}
    return _config(auth, auth, "environment (OS_*)")
