"""Presets of the S3 driver for Apache Libcloud's S3-compatible providers.

Each class is :class:`~overcast.storage.drivers.s3.S3StorageDriver` with
Libcloud's constructor for that provider (the same positional parameters) and
its endpoint and region rules, taken from Libcloud 3.9.1's
``libcloud/storage/drivers``: MinIO and Ceph RGW need ``host``; DigitalOcean
Spaces, Scaleway and OUTSCALE pick the host from the region; AuroraObjects has
one host; the AWS regional constants (``S3_US_WEST``, ...) are S3 in one
region. Every request is signed with AWS Signature V4: a preset whose Libcloud
driver defaults to V2 (DigitalOcean Spaces, Ceph RGW) uses V4, which those
providers accept, and ``signature_version="2"`` is NotSupported.

An explicit ``host`` is used where Libcloud would ignore it (DigitalOcean
Spaces, OUTSCALE); ``endpoint=`` and every S3 keyword work too.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.runtime.redact import Secret
from overcast.storage.drivers.s3 import S3StorageDriver

__all__ = [
    "AuroraObjectsStorageDriver",
    "DigitalOceanSpacesStorageDriver",
    "MinIOStorageDriver",
    "S3RGWOutscaleStorageDriver",
    "S3RGWStorageDriver",
    "ScalewayStorageDriver",
    "regional",
]

DO_SPACES_HOSTS: Final = {
    "nyc3": "nyc3.digitaloceanspaces.com",
    "ams3": "ams3.digitaloceanspaces.com",
    "sfo2": "sfo2.digitaloceanspaces.com",
    "sgp1": "sgp1.digitaloceanspaces.com",
}
SCALEWAY_HOSTS: Final = {
    "fr-par": "s3.fr-par.scw.cloud",
    "nl-ams": "s3.nl-ams.scw.cloud",
    "pl-waw": "s3.pl-waw.scw.cloud",
}
OUTSCALE_HOSTS: Final = {
    "eu-west-1": "osu.eu-west-1.outscale.com",
    "eu-west-2": "osu.eu-west-2.outscale.com",
    "us-west-1": "osu.us-west-1.outscale.com",
    "us-east-2": "osu.us-east-2.outscale.com",
    "cn-southeast-1": "osu.cn-southeast-1.outscale.hk",
}
AURORA_OBJECTS_HOST: Final = "o.auroraobjects.eu"


class S3CompatibleDriver(S3StorageDriver):
    """What the presets share: the host from the region (``hosts``), a fixed
    host (``default_host``), or one the caller must give (``host_required``)."""

    #: Region -> host, for providers whose region picks the host.
    hosts: ClassVar[Mapping[str, str]] = {}
    default_host: ClassVar[str | None] = None
    host_required: ClassVar[bool] = False
    #: Libcloud keywords of this provider that change nothing here.
    ignored: ClassVar[tuple[str, ...]] = ()

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 secure: bool = True, host: str | None = None, port: int | None = None,
                 api_version: str | None = None, region: str | None = None,
                 **options: Any) -> None:
        """Libcloud's constructor of most S3-compatible drivers; ``region``
        defaults to the provider's (``default_region``)."""
        for name in self.ignored:
            options.pop(name, None)
        self._preset(key, secret, secure, host, port, region, options)

    def _preset(self, key: str | None, secret: str | Secret | None, secure: bool,
                host: str | None, port: int | None, region: str | None,
                options: dict[str, Any]) -> None:
        signature = options.pop("signature_version", None)
        if signature is not None and str(signature) != "4":
            raise NotSupported(
                f"{self.label}: overcast signs with AWS Signature V4 only "
                f"(signature_version={signature!r})", driver=self,
            )
        region = self.default_region if region is None else region
        if self.hosts and region not in self.hosts:
            raise InvalidInput(f"{self.label}: unknown region {region!r}; regions: "
                               f"{', '.join(self.hosts)}", driver=self)
        if host is None and options.get("endpoint") is None:
            host = self.hosts.get(region) or self.default_host
            if host is None and self.host_required:
                raise InvalidInput(f"{self.label} needs host= (or endpoint=)", driver=self)
        S3StorageDriver.__init__(self, key, secret, secure, host, port, region, **options)


class MinIOStorageDriver(S3CompatibleDriver):
    """MinIO (Libcloud's ``MINIO``): ``host`` is required."""

    name: ClassVar[str] = "minio"
    label: ClassVar[str] = "MinIO"
    host_required: ClassVar[bool] = True

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 secure: bool = True, host: str | None = None, port: int | None = None,
                 **options: Any) -> None:
        self._preset(key, secret, secure, host, port, options.pop("region", None), options)


class DigitalOceanSpacesStorageDriver(S3CompatibleDriver):
    """DigitalOcean Spaces (Libcloud's ``DIGITALOCEAN_SPACES``): the region
    (``nyc3``, ``ams3``, ``sfo2``, ``sgp1``) picks the host."""

    name: ClassVar[str] = "digitalocean_spaces"
    label: ClassVar[str] = "DigitalOcean Spaces"
    default_region: ClassVar[str] = "nyc3"
    hosts: ClassVar[Mapping[str, str]] = DO_SPACES_HOSTS


class ScalewayStorageDriver(S3CompatibleDriver):
    """Scaleway Object Storage (Libcloud's ``SCALEWAY``): the region (``fr-par``,
    ``nl-ams``, ``pl-waw``) picks the host unless ``host`` is given."""

    name: ClassVar[str] = "scaleway"
    label: ClassVar[str] = "Scaleway"
    default_region: ClassVar[str] = "fr-par"
    hosts: ClassVar[Mapping[str, str]] = SCALEWAY_HOSTS

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 secure: bool = True, host: str | None = None, port: int | None = None,
                 region: str = "fr-par", url: str | None = None, **options: Any) -> None:
        if url is not None:
            raise NotSupported("Scaleway: url= is not supported; give host= or endpoint=",
                               driver=self)
        self._preset(key, secret, secure, host, port, region, options)


class AuroraObjectsStorageDriver(S3CompatibleDriver):
    """PCextreme AuroraObjects (Libcloud's ``AURORAOBJECTS``), at ``o.auroraobjects.eu``."""

    name: ClassVar[str] = "auroraobjects"
    label: ClassVar[str] = "AuroraObjects"
    default_host: ClassVar[str | None] = AURORA_OBJECTS_HOST


class S3RGWStorageDriver(S3CompatibleDriver):
    """Ceph RADOS Gateway (Libcloud's ``S3_RGW``): ``host`` is required; the
    region is the zone group (``default``)."""

    name: ClassVar[str] = "s3_rgw"
    label: ClassVar[str] = "Ceph RGW"
    default_region: ClassVar[str] = "default"
    host_required: ClassVar[bool] = True
    ignored: ClassVar[tuple[str, ...]] = ("name",)  # Libcloud's display name


class S3RGWOutscaleStorageDriver(S3CompatibleDriver):
    """OUTSCALE Object Storage (Libcloud's ``S3_RGW_OUTSCALE``): the region picks the host."""

    name: ClassVar[str] = "s3_rgw_outscale"
    label: ClassVar[str] = "OUTSCALE"
    default_region: ClassVar[str] = "eu-west-2"
    hosts: ClassVar[Mapping[str, str]] = OUTSCALE_HOSTS


def regional(name: str, region: str) -> type[S3StorageDriver]:
    """Amazon S3 in ``region`` by default (Libcloud's per-region constants, such
    as ``S3_US_WEST``), registered as ``name``; the same constructor as S3."""
    doc = (f"Amazon S3 with region {region!r} by default (Apache Libcloud's "
           f"{name.upper()}); otherwise :class:`S3StorageDriver`.")
    return type(f"S3StorageDriver_{region.replace('-', '_')}", (S3StorageDriver,),
                {"name": name, "default_region": region, "__doc__": doc,
                 "__module__": __name__})


S3_REGIONS: Final = {
    "s3_ap_northeast": "ap-northeast-1", "s3_ap_northeast_1": "ap-northeast-1",
    "s3_ap_northeast_2": "ap-northeast-2", "s3_ap_south": "ap-south-1",
    "s3_ap_southeast": "ap-southeast-1", "s3_ap_southeast2": "ap-southeast-2",
    "s3_ca_central": "ca-central-1", "s3_cn_north": "cn-north-1",
    "s3_cn_northwest": "cn-northwest-1", "s3_eu_central": "eu-central-1",
    "s3_eu_north_1": "eu-north-1", "s3_eu_west": "eu-west-1", "s3_eu_west_2": "eu-west-2",
    "s3_eu_west_3": "eu-west-3", "s3_sa_east": "sa-east-1", "s3_us_east_2": "us-east-2",
    "s3_us_gov_west": "us-gov-west-1", "s3_us_west": "us-west-1",
    "s3_us_west_oregon": "us-west-2",
}
#: One class per regional constant: ``REGIONAL["s3_us_west"]``.
REGIONAL: Final = {name: regional(name, region) for name, region in S3_REGIONS.items()}


def __getattr__(name: str) -> type[S3StorageDriver]:
    """``s3_compatible.s3_us_west`` and the like: the regional presets by name."""
    try:
        return REGIONAL[name]
    except KeyError:
        raise AttributeError(name) from None
