"""From what a user types to drivers: profiles, URL forms and local paths.

Storage locations are written as:

* ``PROFILE:container/key`` — the storage profile ``PROFILE``;
* ``s3://bucket/key``, ``azure://container/blob``, ``gs://bucket/key``,
  ``swift://container/object`` — the profile given with ``--profile`` if it is of
  that kind, else the only profile of that kind, else the kind's driver made
  with no arguments (credentials from the environment, where the driver looks);
* ``local:///path/container/key`` — the local driver; its root is the nearest
  directory above the path that holds the driver's ``.overcast`` directory, else
  the parent of the container (the last component for a container, the one
  before the last for an object);
* anything else is a path on this machine.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import Final

from overcast.cli.config import Config
from overcast.cli.config import Profile
from overcast.errors import InvalidInput

if TYPE_CHECKING:
    from overcast.driver import BaseDriver
    from overcast.storage.base import StorageDriver

__all__ = ["Location", "Resolver", "parse_size"]

#: URL schemes of storage: the driver each names and that driver's class, which
#: every profile of that kind has (presets are subclasses).
SCHEMES: Final = {
    "s3": ("s3", "overcast.storage.drivers.s3:S3StorageDriver"),
    "azure": ("azure_blobs", "overcast.storage.drivers.azure_blobs:AzureBlobsStorageDriver"),
    "gs": ("google_storage", "overcast.storage.drivers.google_storage:GoogleStorageDriver"),
    "swift": ("swift", "overcast.storage.drivers.swift:SwiftStorageDriver"),
}
_URL: Final = re.compile(r"^([a-z][a-z0-9+.-]*)://(.*)$", re.S)
#: ``NAME:`` at the start of a location: a profile reference (``./a:b`` is a file).
_PROFILE_REF: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_UNITS: Final = {"": 1, "b": 1, "k": 1024, "kb": 1000, "kib": 1024, "m": 1024**2,
                 "mb": 1000**2, "mib": 1024**2, "g": 1024**3, "gb": 1000**3, "gib": 1024**3}
#: Profile options that shape uploads (bytes, or sizes such as "8MiB"), not constructor keywords.
PART_OPTIONS: Final = {"part_size": "part_size", "part_threshold": "threshold",
                       "part_concurrency": "concurrency"}


def parse_size(value: object) -> int:
    """A byte count: an integer, or text such as ``8MiB``, ``5M``, ``1GB``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    match = re.fullmatch(r"\s*(\d+)\s*([A-Za-z]*)\s*", str(value))
    if match is None or match.group(2).lower() not in _UNITS:
        raise InvalidInput(f"not a size: {value!r} (e.g. 8388608, 8MiB, 5M)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


@dataclass(slots=True)
class Location:
    """A place for ``ls``/``cp``/``sync``: a local path, or a container and key
    (a key ending in ``/`` or empty is a prefix) on a storage driver."""

    text: str
    driver: StorageDriver | None = None
    container: str | None = None
    key: str = ""
    path: str | None = None

    @property
    def is_local(self) -> bool:
        """Whether this is a path on this machine."""
        return self.driver is None

    def url(self, key: str | None = None) -> str:
        """How this location (or ``key`` in its container) is shown to people."""
        if self.driver is None:
            return self.path or self.text
        prefix = self.text.split("://", 1)[0] + "://" if "://" in self.text else (
            self.text.split(":", 1)[0] + ":")
        if prefix == "local://" and self.driver is not None:
            root = getattr(self.driver, "root", "")
            return f"local://{root}/{self.container}/{self.key if key is None else key}"
        return f"{prefix}{self.container}/{self.key if key is None else key}"


def _load(target: str) -> type[Any]:
    import importlib

    module, _, name = target.partition(":")
    cls: type[Any] = getattr(importlib.import_module(module), name)
    return cls


def _local_root(path: str, container_level: bool) -> tuple[str, str, str]:
    """``(root, container, key)`` of a ``local://`` path (see the module)."""
    path = os.path.normpath(path)
    parts = [p for p in path.split(os.sep) if p]
    if not path.startswith(os.sep) or not parts:
        raise InvalidInput(f"a local URL needs an absolute path: local://{path}")
    for cut in range(len(parts) - 1, -1, -1):
        root = os.sep + os.sep.join(parts[:cut])
        if os.path.isdir(os.path.join(root, ".overcast")) and cut < len(parts):
            return root, parts[cut], "/".join(parts[cut + 1:])
    cut = len(parts) - 1 if container_level else len(parts) - 2
    if cut < 1:
        raise InvalidInput(f"cannot tell the root of local://{path}: name a deeper path")
    return os.sep + os.sep.join(parts[:cut]), parts[cut], "/".join(parts[cut + 1:])


class Resolver:
    """Makes drivers from profiles and locations, one driver per profile per run
    (so parallel transfers share its connection pools); :meth:`close` closes them."""

    def __init__(self, config: Config, profiles: list[str] | None = None) -> None:
        self.config = config
        self.profiles = list(profiles or [])
        self._drivers: dict[str, BaseDriver] = {}

    # -- drivers ---------------------------------------------------------------------

    def driver(self, profile: Profile, **overrides: Any) -> BaseDriver:
        """The driver of ``profile`` (made once per run unless ``overrides`` are given)."""
        cache_key = profile.name if not overrides else ""
        if cache_key and cache_key in self._drivers:
            return self._drivers[cache_key]
        from overcast.registry import get_driver

        cls = get_driver(profile.area, profile.driver)
        kwargs: dict[str, Any] = {}
        parts: dict[str, int] = {}
        for name, value in profile.options.items():
            if name in PART_OPTIONS:
                parts[PART_OPTIONS[name]] = parse_size(value)
            else:
                kwargs[name] = value
        if profile.key is not None:
            kwargs["key"] = profile.key
        secret = self.config.secret_of(profile)
        if secret is not None:
            kwargs["secret"] = secret
        if profile.endpoint is not None:
            kwargs["endpoint"] = profile.endpoint
        kwargs.update(overrides)
        try:
            driver = cls(**kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"profile {profile.name!r}: the {profile.driver} driver does not take these "
                f"settings ({', '.join(sorted(kwargs))}): {exc}"
            ) from None
        self._tune(driver, parts)
        if cache_key:
            self._drivers[cache_key] = driver
        return driver

    @staticmethod
    def _tune(driver: BaseDriver, parts: dict[str, int]) -> None:
        plan = getattr(driver, "part_plan", None)
        if parts and plan is not None:
            driver.part_plan = dataclasses.replace(plan, **parts)  # type: ignore[attr-defined]

    def tune_parts(self, driver: BaseDriver, part_size: int | None, concurrency: int | None
                   ) -> None:
        """Set the upload part size and parts in flight of ``driver`` (``cp --part-size``)."""
        parts: dict[str, int] = {}
        if part_size is not None:
            parts["part_size"] = part_size
            parts["threshold"] = part_size
        if concurrency is not None:
            parts["concurrency"] = concurrency
        self._tune(driver, parts)

    def area_driver(self, area: str, name: str | None = None) -> tuple[Profile, BaseDriver]:
        """The driver of the one profile of ``area`` chosen with ``--profile`` (or
        ``name``), or the only profile of that area."""
        profile = self.profile_for(area, name)
        return profile, self.driver(profile)

    def profile_for(self, area: str, name: str | None = None) -> Profile:
        """The profile of ``area`` the command should use."""
        if name is not None:
            chosen = self.config.get(name)
        elif self.profiles:
            matching = [self.config.get(p) for p in self.profiles]
            matching = [p for p in matching if p.area == area]
            if not matching:
                raise InvalidInput(f"none of the profiles given is a {area} profile")
            chosen = matching[0]
        else:
            matching = [p for p in self.config.profiles.values() if p.area == area]
            if len(matching) != 1:
                if not matching:
                    raise InvalidInput(
                        f"no {area} profile: add one with 'overcast profile add'")
                raise InvalidInput(
                    f"several {area} profiles ({', '.join(sorted(p.name for p in matching))}): "
                    "choose one with --profile")
            chosen = matching[0]
        if chosen.area != area:
            raise InvalidInput(f"profile {chosen.name!r} is a {chosen.area} profile, not {area}")
        return chosen

    def close(self) -> None:
        """Close every driver made in this run."""
        for driver in self._drivers.values():
            driver.close()
        self._drivers.clear()

    # -- storage locations -------------------------------------------------------------

    def _scheme_driver(self, scheme: str) -> StorageDriver:
        name, target = SCHEMES[scheme]
        cls = _load(target)
        candidates = [self.config.get(p) for p in self.profiles] or list(
            self.config.profiles.values())
        fitting = []
        for profile in candidates:
            if profile.area != "storage":
                continue
            from overcast.registry import get_driver

            if issubclass(get_driver("storage", profile.driver), cls):
                fitting.append(profile)
        if len(fitting) > 1:
            raise InvalidInput(
                f"several {scheme}:// profiles ({', '.join(sorted(p.name for p in fitting))}): "
                "choose one with --profile or write PROFILE:container/key")
        if fitting:
            return self._storage(fitting[0])
        key = f"<{scheme}>"
        if key not in self._drivers:
            from overcast.registry import get_driver

            self._drivers[key] = get_driver("storage", name)()
        return self._drivers[key]  # type: ignore[return-value]

    def _storage(self, profile: Profile) -> StorageDriver:
        from overcast.storage.base import StorageDriver

        if profile.area != "storage":
            raise InvalidInput(f"profile {profile.name!r} is a {profile.area} profile, "
                               "not storage")
        driver = self.driver(profile)
        assert isinstance(driver, StorageDriver)
        return driver

    def location(self, text: str, *, container_level: bool = False) -> Location:
        """Where ``text`` points (see the module for the forms)."""
        if not isinstance(text, str) or not text:
            raise InvalidInput("an empty location")
        match = _URL.match(text)
        if match is not None:
            scheme, rest = match.groups()
            if scheme == "local":
                return self._local(text, rest, container_level)
            if scheme not in SCHEMES:
                raise InvalidInput(
                    f"unknown scheme {scheme}:// (known: {', '.join([*SCHEMES, 'local'])}, "
                    "or PROFILE:container/key)")
            driver = self._scheme_driver(scheme)
            return self._split(text, driver, rest)
        name, sep, rest = text.partition(":")
        if sep and name in self.config.profiles:
            return self._split(text, self._storage(self.config.profiles[name]), rest)
        if sep and _PROFILE_REF.match(name) and not os.path.exists(text):
            # PROFILE:... with no such profile: never quietly a local file named so
            self.config.get(name)
        return Location(text, path=text)

    def _split(self, text: str, driver: StorageDriver, rest: str) -> Location:
        container, _, key = rest.partition("/")
        return Location(text, driver, container or None, key)

    def _local(self, text: str, path: str, container_level: bool) -> Location:
        from overcast.storage.drivers.local import LocalStorageDriver

        trailing = path.endswith("/")
        root, container, key = _local_root(path, container_level)
        if trailing and key:
            key += "/"
        cache = f"<local:{root}>"
        if cache not in self._drivers:
            self._drivers[cache] = LocalStorageDriver(root)
        driver = self._drivers[cache]
        assert isinstance(driver, LocalStorageDriver)
        return Location(text, driver, container, key)


def walk_files(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every regular file under ``root`` (relative path with ``/``, its stat), in
    name order, not following links to directories."""
    base = os.path.abspath(root)
    for directory, dirs, files in os.walk(base):
        dirs.sort()
        for name in sorted(files):
            full = os.path.join(directory, name)
            st = os.stat(full, follow_symlinks=False)
            if os.path.isfile(full) and not os.path.islink(full):
                rel = os.path.relpath(full, base).replace(os.sep, "/")
                yield rel, st
