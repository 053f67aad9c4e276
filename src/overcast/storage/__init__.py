"""Object storage: containers (buckets) of objects, one API for every provider.

>>> from overcast.storage import Provider, get_driver
>>> Local = get_driver(Provider.LOCAL)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import lazy_exports

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
    from overcast.storage.base import Container
    from overcast.storage.base import Object
    from overcast.storage.base import Prefix
    from overcast.storage.base import StorageDriver
    from overcast.storage.copying import copy
    from overcast.storage.copying import copy_async
    from overcast.storage.drivers.azure_blobs import AzureBlobsStorageDriver
    from overcast.storage.drivers.google_storage import GoogleStorageDriver
    from overcast.storage.drivers.local import LocalStorageDriver
    from overcast.storage.drivers.s3 import S3StorageDriver
    from overcast.storage.drivers.swift import SwiftStorageDriver


class Provider(metaclass=Catalog):
    """The built-in storage drivers (plugins are found by their own names)."""

    AZURE_BLOBS: DriverRef[AzureBlobsStorageDriver] = DriverRef(
        "azure_blobs", "azure_blobs:AzureBlobsStorageDriver"
    )
    GOOGLE_STORAGE: DriverRef[GoogleStorageDriver] = DriverRef(
        "google_storage", "google_storage:GoogleStorageDriver"
    )
    LOCAL: DriverRef[LocalStorageDriver] = DriverRef("local", "local:LocalStorageDriver")
    S3: DriverRef[S3StorageDriver] = DriverRef("s3", "s3:S3StorageDriver")
    SWIFT: DriverRef[SwiftStorageDriver] = DriverRef("swift", "swift:SwiftStorageDriver")


get_driver: DriverGetter[StorageDriver] = DriverGetter("storage")

__getattr__ = lazy_exports({
    **dict.fromkeys(("Container", "Object", "Prefix", "StorageDriver"), "overcast.storage.base"),
    **dict.fromkeys(("copy", "copy_async"), "overcast.storage.copying"),
})
