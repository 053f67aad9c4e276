"""Object storage: containers (buckets) of objects, one API for every provider.

>>> from overcast.storage import Provider, get_driver
>>> Local = get_driver(Provider.LOCAL)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from overcast.compat import EXPORTS
from overcast.registry import Catalog
from overcast.registry import DriverGetter
from overcast.registry import DriverRef
from overcast.registry import Preset
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
    *EXPORTS["storage"],
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
    from overcast.storage.drivers.s3 import S3StorageDriver as S3Driver
    from overcast.storage.drivers.s3_compatible import AuroraObjectsStorageDriver
    from overcast.storage.drivers.s3_compatible import DigitalOceanSpacesStorageDriver
    from overcast.storage.drivers.s3_compatible import MinIOStorageDriver
    from overcast.storage.drivers.s3_compatible import S3RGWOutscaleStorageDriver
    from overcast.storage.drivers.s3_compatible import S3RGWStorageDriver
    from overcast.storage.drivers.s3_compatible import ScalewayStorageDriver
    from overcast.storage.drivers.swift import SwiftStorageDriver
    from overcast.storage.drivers.swift_compatible import CloudFilesStorageDriver
    from overcast.storage.drivers.swift_compatible import OpenStackSwiftStorageDriver


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

    # Presets: Apache Libcloud's names for the drivers above set up for one provider.
    AURORAOBJECTS: Preset[AuroraObjectsStorageDriver] = Preset(
        "auroraobjects", "s3_compatible:AuroraObjectsStorageDriver")
    CLOUDFILES: Preset[CloudFilesStorageDriver] = Preset(
        "cloudfiles", "swift_compatible:CloudFilesStorageDriver")
    DIGITALOCEAN_SPACES: Preset[DigitalOceanSpacesStorageDriver] = Preset(
        "digitalocean_spaces", "s3_compatible:DigitalOceanSpacesStorageDriver")
    MINIO: Preset[MinIOStorageDriver] = Preset("minio", "s3_compatible:MinIOStorageDriver")
    OPENSTACK_SWIFT: Preset[OpenStackSwiftStorageDriver] = Preset(
        "openstack_swift", "swift_compatible:OpenStackSwiftStorageDriver")
    S3_RGW: Preset[S3RGWStorageDriver] = Preset("s3_rgw", "s3_compatible:S3RGWStorageDriver")
    S3_RGW_OUTSCALE: Preset[S3RGWOutscaleStorageDriver] = Preset(
        "s3_rgw_outscale", "s3_compatible:S3RGWOutscaleStorageDriver")
    SCALEWAY: Preset[ScalewayStorageDriver] = Preset(
        "scaleway", "s3_compatible:ScalewayStorageDriver")
    # Amazon S3 in one region each (Libcloud's per-region constants; the class is
    # the module's attribute of the constant's name).
    S3_AP_NORTHEAST: Preset[S3Driver] = Preset("s3_ap_northeast", "s3_compatible:")
    S3_AP_NORTHEAST1: Preset[S3Driver] = Preset("s3_ap_northeast_1", "s3_compatible:")
    S3_AP_NORTHEAST2: Preset[S3Driver] = Preset("s3_ap_northeast_2", "s3_compatible:")
    S3_AP_SOUTH: Preset[S3Driver] = Preset("s3_ap_south", "s3_compatible:")
    S3_AP_SOUTHEAST: Preset[S3Driver] = Preset("s3_ap_southeast", "s3_compatible:")
    S3_AP_SOUTHEAST2: Preset[S3Driver] = Preset("s3_ap_southeast2", "s3_compatible:")
    S3_CA_CENTRAL: Preset[S3Driver] = Preset("s3_ca_central", "s3_compatible:")
    S3_CN_NORTH: Preset[S3Driver] = Preset("s3_cn_north", "s3_compatible:")
    S3_CN_NORTHWEST: Preset[S3Driver] = Preset("s3_cn_northwest", "s3_compatible:")
    S3_EU_CENTRAL: Preset[S3Driver] = Preset("s3_eu_central", "s3_compatible:")
    S3_EU_NORTH1: Preset[S3Driver] = Preset("s3_eu_north_1", "s3_compatible:")
    S3_EU_WEST: Preset[S3Driver] = Preset("s3_eu_west", "s3_compatible:")
    S3_EU_WEST2: Preset[S3Driver] = Preset("s3_eu_west_2", "s3_compatible:")
    S3_EU_WEST3: Preset[S3Driver] = Preset("s3_eu_west_3", "s3_compatible:")
    S3_SA_EAST: Preset[S3Driver] = Preset("s3_sa_east", "s3_compatible:")
    S3_US_EAST2: Preset[S3Driver] = Preset("s3_us_east_2", "s3_compatible:")
    S3_US_GOV_WEST: Preset[S3Driver] = Preset("s3_us_gov_west", "s3_compatible:")
    S3_US_WEST: Preset[S3Driver] = Preset("s3_us_west", "s3_compatible:")
    S3_US_WEST_OREGON: Preset[S3Driver] = Preset("s3_us_west_oregon", "s3_compatible:")


get_driver: DriverGetter[StorageDriver] = DriverGetter("storage")

__getattr__ = lazy_exports({
    **dict.fromkeys(("Container", "Object", "Prefix", "StorageDriver"), "overcast.storage.base"),
    **dict.fromkeys(("copy", "copy_async"), "overcast.storage.copying"),
    **EXPORTS["storage"],
})
