"""Object storage: containers (buckets) of objects, one API for every provider.

>>> from overcast.storage import Provider, get_driver
>>> Local = get_driver(Provider.LOCAL)
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, overload

__all__ = [
    "Container",
    "Object",
    "Prefix",
    "Provider",
    "StorageDriver",
    "copy",
    "copy_async",
    "get_driver",
]

if TYPE_CHECKING:
    from overcast.storage.base import Container, Object, Prefix, StorageDriver
    from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
    from overcast.storage.drivers.google_storage import GoogleStorageDriver
    from overcast.storage.drivers.local import LocalStorageDriver
    from overcast.storage.drivers.s3 import S3StorageDriver
    from overcast.storage.drivers.swift import SwiftStorageDriver
    from overcast.storage.transfer import copy, copy_async


class Provider(StrEnum):
    """The built-in storage drivers."""

    AZURE_BLOBS = "azure_blobs"
    GOOGLE_STORAGE = "google_storage"
    LOCAL = "local"
    S3 = "s3"
    SWIFT = "swift"


@overload
def get_driver(provider: Literal[Provider.AZURE_BLOBS]) -> type[AzureBlobsStorageDriver]: ...
@overload
def get_driver(provider: Literal[Provider.GOOGLE_STORAGE]) -> type[GoogleStorageDriver]: ...
@overload
def get_driver(provider: Literal[Provider.LOCAL]) -> type[LocalStorageDriver]: ...
@overload
def get_driver(provider: Literal[Provider.S3]) -> type[S3StorageDriver]: ...
@overload
def get_driver(provider: Literal[Provider.SWIFT]) -> type[SwiftStorageDriver]: ...
@overload
def get_driver(provider: Provider | str) -> type[StorageDriver]: ...
def get_driver(provider: Provider | str) -> type[StorageDriver]:
    """The storage driver class for ``provider`` (a :class:`Provider` or a plugin name)."""
    from overcast.registry import get_driver as _get

    cls: Any = _get("storage", str(provider))
    driver: type[StorageDriver] = cls
    return driver


def __getattr__(name: str) -> Any:
    if name in {"Container", "Object", "Prefix", "StorageDriver"}:
        from overcast.storage import base

        return getattr(base, name)
    if name in {"copy", "copy_async"}:
        from overcast.storage import transfer

        return getattr(transfer, name)
    raise AttributeError(name)
