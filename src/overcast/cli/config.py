"""Profiles of the ``overcast`` command: a TOML file, and secrets kept apart.

The file is ``$OVERCAST_CONFIG`` or ``~/.config/overcast/config.toml``::

    [profiles.backups]
    area = "storage"
    driver = "s3"
    endpoint = "http://127.0.0.1:8333"
    key = "AKID..."
    secret = "file"            # where the secret is kept: "keyring", "file" or absent

    [profiles.backups.options]
    region = "eu-west-1"

A secret never goes into that file. It goes to the OS keyring when the
``keyring`` package is importable and has a usable backend (and
``OVERCAST_SECRET_STORE`` is not ``file``), else to ``secrets.toml`` beside the
config, written with mode 0600. The config is read with :mod:`tomllib` and
written by the small writer below (flat tables of strings, numbers and
booleans are all a profile holds).
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Final

from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.runtime.redact import Secret

__all__ = [
    "Config",
    "Profile",
    "SecretStore",
    "config_path",
    "load",
    "parse_option",
]

#: A profile name: what ``PROFILE:container/key`` can carry without doubt.
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
#: The keyring service name secrets are stored under.
KEYRING_SERVICE: Final = "overcast"
_BARE_KEY: Final = re.compile(r"^[A-Za-z0-9_-]+$")


def config_path() -> Path:
    """Where the config lives: ``$OVERCAST_CONFIG`` or ``~/.config/overcast/config.toml``."""
    chosen = os.environ.get("OVERCAST_CONFIG")
    if chosen:
        return Path(chosen).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "overcast" / "config.toml"


def check_name(name: str) -> str:
    """``name`` if it can name a profile, else :class:`InvalidInput`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInput(
            f"invalid profile name {name!r}: letters, digits, '_', '.' and '-', "
            "starting with a letter or digit, at most 64 characters"
        )
    return name


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` as a constructor keyword: integers, ``true``/``false`` and
    floats are converted, anything else stays a string."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key.isidentifier():
        raise InvalidInput(f"an option is KEY=VALUE with KEY a Python identifier: {text!r}")
    lowered = value.lower()
    if lowered in ("true", "false"):
        return key, lowered == "true"
    for kind in (int, float):
        try:
            return key, kind(value)
        except ValueError:
            pass
    return key, value


@dataclass(slots=True)
class Profile:
    """One named set of driver settings (the secret is fetched on demand)."""

    name: str
    driver: str
    area: str = "storage"
    endpoint: str | None = None
    key: str | None = None
    #: Where the secret lives: ``"keyring"``, ``"file"`` or ``None`` (no secret).
    secret: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def as_table(self) -> dict[str, Any]:
        """The profile as written to the config (no secret in it)."""
        table: dict[str, Any] = {"area": self.area, "driver": self.driver}
        for name in ("endpoint", "key", "secret"):
            value = getattr(self, name)
            if value is not None:
                table[name] = value
        if self.options:
            table["options"] = dict(self.options)
        return table

    @classmethod
    def from_table(cls, name: str, table: Mapping[str, Any]) -> Profile:
        """A profile read back from the config; InvalidInput if it is malformed."""
        driver = table.get("driver")
        area = table.get("area", "storage")
        options = table.get("options", {})
        if not isinstance(driver, str) or not isinstance(area, str) or not isinstance(
            options, dict
        ):
            raise InvalidInput(f"profile {name!r} in the config is malformed")
        strings = {k: table.get(k) for k in ("endpoint", "key", "secret")}
        if any(v is not None and not isinstance(v, str) for v in strings.values()):
            raise InvalidInput(f"profile {name!r} in the config is malformed")
        return cls(name, driver, area, strings["endpoint"], strings["key"], strings["secret"],
                   dict(options))


# -- the TOML writer ---------------------------------------------------------------


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise InvalidInput(f"cannot write {type(value).__name__} to the config")


def dumps(data: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> str:
    """TOML text of nested tables of strings, numbers, booleans and lists."""
    lines = [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in data.items()
             if not isinstance(v, Mapping)]
    for key, value in data.items():
        if isinstance(value, Mapping):
            path = (*prefix, key)
            lines.append(("\n" if lines else "") + "[" + ".".join(map(_toml_key, path)) + "]")
            lines.append(dumps(value, path).rstrip("\n"))
    return "\n".join(line for line in lines if line) + "\n"


def _write_private(path: Path, text: str, mode: int) -> None:
    """Replace ``path`` atomically with ``text``, created with ``mode``."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as source:
            return tomllib.load(source)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}") from None


# -- secrets -------------------------------------------------------------------------


class SecretStore:
    """Secrets of profiles: the OS keyring where usable, else a 0600 file."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "secrets.toml"

    @staticmethod
    def keyring() -> Any | None:
        """The ``keyring`` module if it is importable and has a usable backend."""
        if os.environ.get("OVERCAST_SECRET_STORE", "auto") == "file":
            return None
        try:
            keyring = importlib.import_module("keyring")
            fail = importlib.import_module("keyring.backends.fail")
        except ImportError:
            return None
        try:
            backend = keyring.get_keyring()
        except Exception:
            return None
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 1) <= 0:
            return None
        return keyring

    def put(self, profile: str, secret: Secret) -> str:
        """Store ``profile``'s secret; where it went (``"keyring"`` or ``"file"``)."""
        ring = self.keyring()
        if ring is not None:
            try:
                ring.set_password(KEYRING_SERVICE, profile, secret.reveal())
                return "keyring"
            except Exception:  # a locked or broken keyring: fall back to the file
                pass
        table = _read_toml(self.path)
        table[profile] = secret.reveal()
        _write_private(self.path, dumps(table), 0o600)
        os.chmod(self.path, 0o600)
        return "file"

    def get(self, profile: str, where: str) -> Secret | None:
        """``profile``'s secret from ``where``; None if it is not there."""
        if where == "keyring":
            ring = self.keyring()
            value = ring.get_password(KEYRING_SERVICE, profile) if ring is not None else None
            return None if value is None else Secret(value)
        value = _read_toml(self.path).get(profile)
        return Secret(value) if isinstance(value, str) else None

    def delete(self, profile: str, where: str | None) -> None:
        """Forget ``profile``'s secret (nothing if it has none)."""
        if where == "keyring":
            ring = self.keyring()
            if ring is not None:
                with contextlib.suppress(Exception):
                    ring.delete_password(KEYRING_SERVICE, profile)
        table = _read_toml(self.path)
        if profile in table:
            del table[profile]
            _write_private(self.path, dumps(table), 0o600)


# -- the config ------------------------------------------------------------------------


class Config:
    """The profiles of the config file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        data = _read_toml(path)
        tables = data.get("profiles", {})
        if not isinstance(tables, dict):
            raise InvalidInput(f"{path}: [profiles] must be a table")
        self.profiles: dict[str, Profile] = {
            name: Profile.from_table(name, table) for name, table in tables.items()
            if isinstance(table, dict)
        }
        self.secrets = SecretStore(path.parent)

    def get(self, name: str) -> Profile:
        """The profile ``name``; :class:`NotFound` naming the known ones."""
        try:
            return self.profiles[name]
        except KeyError:
            known = ", ".join(sorted(self.profiles)) or "none"
            raise NotFound(name, f"no profile {name!r} (known: {known})") from None

    def save(self) -> None:
        """Write the config (mode 0600: it may name accounts and endpoints)."""
        data = {"profiles": {n: p.as_table() for n, p in sorted(self.profiles.items())}}
        _write_private(self.path, dumps(data), 0o600)

    def add(self, profile: Profile, secret: Secret | None) -> None:
        """Add or replace a profile, storing its secret apart."""
        check_name(profile.name)
        old = self.profiles.get(profile.name)
        if old is not None and old.secret is not None and secret is None:
            self.secrets.delete(profile.name, old.secret)
        if secret is not None:
            profile.secret = self.secrets.put(profile.name, secret)
        self.profiles[profile.name] = profile
        self.save()

    def remove(self, name: str) -> None:
        """Remove a profile and its secret."""
        profile = self.get(name)
        self.secrets.delete(name, profile.secret)
        del self.profiles[name]
        self.save()

    def secret_of(self, profile: Profile) -> Secret | None:
        """The profile's secret; InvalidInput if the store lost it."""
        if profile.secret is None:
            return None
        found = self.secrets.get(profile.name, profile.secret)
        if found is None:
            raise InvalidInput(
                f"the secret of profile {profile.name!r} is missing from the {profile.secret}: "
                "add the profile again"
            )
        return found


def load() -> Config:
    """The config at :func:`config_path`."""
    return Config(config_path())
