"""Apache Libcloud's names, for code that ports by changing its imports.

Libcloud code catches its own exception classes and asks for its own
``Provider`` constants. This module holds, once, what those names are in
overcast; each area's package (``overcast.storage``, ``overcast.compute``,
``overcast.dns``) exports them (:data:`EXPORTS`), so::

    from libcloud.storage.types import ContainerDoesNotExistError, Provider
    from libcloud.storage.providers import get_driver

becomes ``from overcast.storage import ContainerDoesNotExistError, Provider,
get_driver``.

* **Exceptions** are aliases of overcast's classes (``ContainerDoesNotExistError``
  *is* :class:`~overcast.errors.ContainerNotFound`), so ``except`` clauses
  written for Libcloud catch what overcast raises.
* **Provider constants** Libcloud has and overcast serves are registered in
  each area's ``Provider`` (drivers and presets such as ``MINIO``). The others
  are in :data:`UNSERVED`: ``Provider.X`` is still a constant (Libcloud's
  string), and ``get_driver(Provider.X)`` raises
  :class:`~overcast.errors.NotSupported` saying what to use instead.
* ``DRIVERS``, ``set_driver`` and ``OLD_CONSTANT_TO_NEW_MAPPING`` of each area's
  ``providers``/``types`` modules, the storage base's ``CHUNK_SIZE`` and
  ``DEFAULT_CONTENT_TYPE``, and the compute base's address helpers.

``docs/libcloud-compat.md`` lists every known remaining difference.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import Final

from overcast import errors
from overcast.registry import driver_table
from overcast.registry import set_driver as _set_driver

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_CONTENT_TYPE",
    "EXPORTS",
    "UNSERVED",
    "Unserved",
    "is_private_subnet",
    "is_valid_ip_address",
    "unserved_advice",
    "unserved_constant",
]

# -- exceptions -------------------------------------------------------------------------

# libcloud.common.types (exported by every area)
LibcloudError = errors.OvercastError
InvalidCredsError = errors.InvalidCredentials
InvalidCredsException = errors.InvalidCredentials
#: overcast raises ProviderError for an answer it cannot read, with the rest of
#: the provider's errors: catching this catches those too.
MalformedResponseError = errors.ProviderError
ProviderError = errors.ProviderError
#: A 503 that outlived the retries is a ProviderError with status 503.
ServiceUnavailableError = errors.ProviderError
#: libcloud.common.exceptions: a 429 that outlived the retries.
RateLimitReachedError = errors.RateLimited

# libcloud.storage.types
ContainerError = errors.ContainerError
ContainerAlreadyExistsError = errors.ContainerAlreadyExists
ContainerDoesNotExistError = errors.ContainerNotFound
ContainerIsNotEmptyError = errors.ContainerIsNotEmpty
#: overcast checks names (of containers and objects alike) before any request.
InvalidContainerNameError = errors.InvalidInput
ObjectError = errors.ObjectError
ObjectDoesNotExistError = errors.ObjectNotFound
ObjectHashMismatchError = errors.IntegrityError

# libcloud.compute.types: DeploymentError and DeploymentException are
# overcast.compute.deployment.DeploymentError (exported from there, see EXPORTS).
# KeyPairError is outside that module's __all__ but imported from it by EC2
# programs; its one subclass there is KeyPairDoesNotExistError.
KeyPairError = errors.KeyPairNotFound
KeyPairDoesNotExistError = errors.KeyPairNotFound

# libcloud.dns.types
ZoneError = errors.ZoneError
ZoneAlreadyExistsError = errors.ZoneAlreadyExists
ZoneDoesNotExistError = errors.ZoneNotFound
RecordError = errors.RecordError
RecordAlreadyExistsError = errors.RecordAlreadyExists
RecordDoesNotExistError = errors.RecordNotFound

# -- constants and helpers of Libcloud's modules ---------------------------------------------

#: libcloud.storage.base.CHUNK_SIZE: the read size Libcloud's streams use
#: (overcast's transfers choose their own; the value is kept for code that uses it).
CHUNK_SIZE: Final = 8096
#: libcloud.storage.base.DEFAULT_CONTENT_TYPE: what an upload without one is stored as.
DEFAULT_CONTENT_TYPE: Final = "application/octet-stream"


def is_private_subnet(ip: str) -> bool:
    """Whether the IPv4 address ``ip`` is in a private range (10/8, 172.16/12,
    192.168/16, or 127/8 loopback), as Libcloud's compute base tells it."""
    import ipaddress  # here: only these helpers need it

    try:
        address = ipaddress.IPv4Address(ip)
    except ValueError:
        return False
    return any(address in ipaddress.IPv4Network(net)
               for net in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "127.0.0.0/8"))


def is_valid_ip_address(address: str, family: int = 2) -> bool:
    """Whether ``address`` is an IP address of ``family`` (``socket.AF_INET``, 2,
    or ``socket.AF_INET6``, 10), as Libcloud's compute base tells it."""
    import ipaddress

    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return parsed.version == (6 if family == 10 else 4)


class _DriverTable(Mapping[str, tuple[str, str]]):
    """An area's ``DRIVERS``: name -> ``(module, class name)``, read live from
    the registry (so :func:`set_driver`'s registrations show)."""

    def __init__(self, area: str) -> None:
        self.area = area

    def __getitem__(self, name: str) -> tuple[str, str]:
        return driver_table(self.area)[name]

    def __iter__(self) -> Iterator[str]:
        return iter(driver_table(self.area))

    def __len__(self) -> int:
        return len(driver_table(self.area))

    def __repr__(self) -> str:
        return f"<overcast.{self.area}.DRIVERS {dict(self)!r}>"


STORAGE_DRIVERS: Final = _DriverTable("storage")
COMPUTE_DRIVERS: Final = _DriverTable("compute")
DNS_DRIVERS: Final = _DriverTable("dns")


def set_storage_driver(provider: str, module: str, klass: str) -> type:
    """Register a storage driver class under ``provider`` (Libcloud's ``set_driver``)."""
    return _set_driver("storage", provider, module, klass)


def set_compute_driver(provider: str, module: str, klass: str) -> type:
    """Register a compute driver class under ``provider`` (Libcloud's ``set_driver``)."""
    return _set_driver("compute", provider, module, klass)


def set_dns_driver(provider: str, module: str, klass: str) -> type:
    """Register a DNS driver class under ``provider`` (Libcloud's ``set_driver``)."""
    return _set_driver("dns", provider, module, klass)


# -- Provider constants overcast does not serve --------------------------------------------

_NONE: Final = "overcast has no driver for it: use Apache Libcloud for it, or register one "\
    "(set_driver, or an entry point in overcast.drivers.{area})"
_S3_LIKE: Final = "use Provider.S3 with endpoint={url!r} (its S3-compatible API)"
_SWIFT_LIKE: Final = "it is OpenStack Swift: use Provider.OPENSTACK_SWIFT with " \
    "ex_force_auth_url= (the provider's Keystone)"
_NOVA_LIKE: Final = "it is OpenStack: use Provider.OPENSTACK with auth_url= " \
    "(the provider's Keystone)"
_EC2_LIKE: Final = "use Provider.EC2 with endpoint={url!r} (its EC2-compatible API)"
_EC2_REGION: Final = "Libcloud retired it too: use Provider.EC2 with region={region!r}"

#: Libcloud 3.9.1's Provider constants overcast serves no driver or preset for:
#: area -> constant -> (Libcloud's string, what to use instead).
UNSERVED: Final[Mapping[str, Mapping[str, tuple[str, str]]]] = {
    "storage": {
        "ALIYUN_OSS": ("aliyun_oss", _NONE),
        "BACKBLAZE_B2": ("backblaze_b2", _S3_LIKE.format(
            url="https://s3.<region>.backblazeb2.com")),
        "CLOUDFILES_SWIFT": ("cloudfiles_swift", "Libcloud retired it too: use "
                             "Provider.OPENSTACK_SWIFT"),
        "CLOUDFILES_UK": ("cloudfiles_uk", "Libcloud retired it too: use Provider.CLOUDFILES "
                          "with region='lon'"),
        "CLOUDFILES_US": ("cloudfiles_us", "Libcloud retired it too: use Provider.CLOUDFILES"),
        "DUMMY": ("dummy", "for tests, use Provider.LOCAL on a temporary directory"),
        "KTUCLOUD": ("ktucloud", _NONE),
        "NIMBUS": ("nimbus", _NONE),
        "NINEFOLD": ("ninefold", _NONE),
        "OVH": ("ovh", _SWIFT_LIKE),
    },
    "compute": {
        **{name: (value, _NONE) for name, value in (
            ("ABIQUO", "abiquo"), ("ALIYUN_ECS", "aliyun_ecs"), ("AURORACOMPUTE", "aurora_compute"),
            ("BRIGHTBOX", "brightbox"),
            ("CISCOCCS", "ciscoccs"), ("CLOUDFRAMES", "cloudframes"),
            ("CLOUDSCALE", "cloudscale"), ("CLOUDSIGMA", "cloudsigma"),
            ("CLOUDSIGMA_US", "cloudsigma_us"),
            ("DIMENSIONDATA", "dimensiondata"),
            ("EQUINIXMETAL", "equinixmetal"), ("EXOSCALE", "exoscale"), ("GANDI", "gandi"),
            ("GIG_G8", "gig_g8"), ("GRIDSCALE", "gridscale"),
            ("HPCLOUD", "hpcloud"), ("IBM", "ibm"), ("IKOULA", "ikoula"),
            ("INTERNETSOLUTIONS", "internetsolutions"), ("KAMATERA", "kamatera"),
            ("KTUCLOUD", "ktucloud"), ("KUBEVIRT", "kubevirt"),
            ("MAXIHOST", "maxihost"), ("NINEFOLD", "ninefold"), ("NTTA", "ntta"),
            ("NTTCIS", "nttcis"), ("ONAPP", "onapp"), ("OPENNEBULA", "opennebula"),
            ("OPSOURCE", "opsource"), ("OUTSCALE", "outscale"), ("RIMUHOSTING", "rimuhosting"),
            ("RUNABOVE", "runabove"), ("SCALEWAY", "scaleway"), ("TERREMARK", "terremark"),
            ("UPCLOUD", "upcloud"), ("VCL", "vcl"), ("VCLOUD", "vcloud"), ("VPSNET", "vpsnet"),
            ("VSPHERE", "vsphere"),
        )},
        "DUMMY": ("dummy", "for tests, use Provider.LIBVIRT with uri='test:///default'"),
        "EUCALYPTUS": ("eucalyptus", _EC2_LIKE.format(url="https://<host>:8773/services/compute")),
        "NIMBUS": ("nimbus", _EC2_LIKE.format(url="https://<host>:8444")),
        "OUTSCALE_INC": ("outscale_inc", _EC2_LIKE.format(
            url="https://api.<region>.outscale.com")),
        "OUTSCALE_SAS": ("outscale_sas", _EC2_LIKE.format(
            url="https://api.<region>.outscale.com")),
        "OVH": ("ovh", _NOVA_LIKE),
        "RACKSPACE": ("rackspace", _NOVA_LIKE),
        "RACKSPACE_FIRST_GEN": ("rackspace_first_gen", _NONE),
        **{name: (value, "Libcloud retired it too: use Provider.RACKSPACE") for name, value in (
            ("RACKSPACE_NOVA_BETA", "rackspace_nova_beta"),
            ("RACKSPACE_NOVA_DFW", "rackspace_nova_dfw"),
            ("RACKSPACE_NOVA_LON", "rackspace_nova_lon"),
            ("RACKSPACE_NOVA_ORD", "rackspace_nova_ord"),
            ("RACKSPACE_UK", "rackspace_uk"),
        )},
        **{name: (value, _EC2_REGION.format(region=region)) for name, value, region in (
            ("EC2_AP_NORTHEAST", "ec2_ap_northeast", "ap-northeast-1"),
            ("EC2_AP_NORTHEAST1", "ec2_ap_northeast_1", "ap-northeast-1"),
            ("EC2_AP_NORTHEAST2", "ec2_ap_northeast_2", "ap-northeast-2"),
            ("EC2_AP_SOUTHEAST", "ec2_ap_southeast", "ap-southeast-1"),
            ("EC2_AP_SOUTHEAST2", "ec2_ap_southeast_2", "ap-southeast-2"),
            ("EC2_CA_CENTRAL1", "ec2_ca_central_1", "ca-central-1"),
            ("EC2_EU", "ec2_eu_west", "eu-west-1"),
            ("EC2_EU_WEST", "ec2_eu_west", "eu-west-1"),
            ("EC2_EU_WEST2", "ec2_eu_west_london", "eu-west-2"),
            ("EC2_SA_EAST", "ec2_sa_east", "sa-east-1"),
            ("EC2_US_EAST", "ec2_us_east", "us-east-1"),
            ("EC2_US_EAST_OHIO", "ec2_us_east_ohio", "us-east-2"),
            ("EC2_US_WEST", "ec2_us_west", "us-west-1"),
            ("EC2_US_WEST_OREGON", "ec2_us_west_oregon", "us-west-2"),
        )},
    },
    "dns": {
        **{name: (value, _NONE) for name, value in (
            ("AURORADNS", "auroradns"), ("BUDDYNS", "buddyns"), ("DNSIMPLE", "dnsimple"),
            ("DNSPOD", "dnspod"), ("DURABLEDNS", "durabledns"), ("GANDI", "gandi"),
            ("GANDI_LIVE", "gandi_live"), ("GODADDY", "godaddy"), ("LIQUIDWEB", "liquidweb"),
            ("LUADNS", "luadns"), ("NFSN", "nfsn"), ("NSONE", "nsone"), ("ONAPP", "onapp"),
            ("POINTDNS", "pointdns"), ("RCODEZERO", "rcodezero"), ("VULTR", "vultr"),
            ("WORLDWIDEDNS", "worldwidedns"), ("ZERIGO", "zerigo"), ("ZONOMI", "zonomi"),
        )},
        "DUMMY": ("dummy", "for tests, use Provider.ZONEFILE on a temporary directory"),
        "RACKSPACE_UK": ("rackspace_uk", "use Provider.RACKSPACE with region='uk'"),
        "RACKSPACE_US": ("rackspace_us", "use Provider.RACKSPACE (region='us', the default)"),
    },
}

#: Libcloud's OLD_CONSTANT_TO_NEW_MAPPING of each area: retired strings -> the
#: constant to use instead (the retired ones are NotSupported, saying so).
OLD_CONSTANTS: Final[Mapping[str, Mapping[str, str]]] = {
    "storage": {"cloudfiles_us": "cloudfiles", "cloudfiles_uk": "cloudfiles",
                "cloudfiles_swift": "openstack_swift"},
    "compute": {
        "rackspace_uk": "rackspace_first_gen",
        **dict.fromkeys(("rackspace_nova_beta", "rackspace_nova_dfw", "rackspace_nova_lon",
                         "rackspace_nova_ord"), "rackspace"),
        **dict.fromkeys((value for name, (value, _) in UNSERVED["compute"].items()
                         if name.startswith("EC2_")), "ec2"),
    },
    "dns": {"rackspace_us": "rackspace", "rackspace_uk": "rackspace"},
}
STORAGE_OLD_CONSTANT_TO_NEW_MAPPING: Final = OLD_CONSTANTS["storage"]
COMPUTE_OLD_CONSTANT_TO_NEW_MAPPING: Final = OLD_CONSTANTS["compute"]
DNS_OLD_CONSTANT_TO_NEW_MAPPING: Final = OLD_CONSTANTS["dns"]


class Unserved(str):
    """A Libcloud ``Provider`` constant overcast serves no driver for: the
    string Libcloud gives it, and ``advice``, what to use instead."""

    advice: str

    def __new__(cls, value: str, advice: str) -> Unserved:
        made = super().__new__(cls, value)
        made.advice = advice
        return made


def unserved_constant(area: str, name: str) -> Unserved | None:
    """``Provider.<name>`` of ``area`` when it is a Libcloud constant overcast
    does not serve (None otherwise)."""
    found = UNSERVED.get(area, {}).get(name)
    if found is None:
        return None
    value, advice = found
    return Unserved(value, advice.format(area=area))


def unserved_advice(area: str, value: str) -> str | None:
    """The NotSupported message for Libcloud's ``value`` (a constant's string)
    in ``area``, or None when it is no Libcloud constant."""
    for name, (string, advice) in UNSERVED.get(area, {}).items():
        if string == value:
            return (f"Apache Libcloud's {area} Provider.{name} ({value!r}): "
                    f"{advice.format(area=area)}")
    return None


def _exports(area: str, names: tuple[str, ...], own: tuple[str, ...] = ()) -> dict[str, str]:
    found = {name: f"overcast.compat:{name}" for name in names}
    found.update({name: f"overcast.compat:{area.upper()}_{name}" for name in own})
    found["set_driver"] = f"overcast.compat:set_{area}_driver"
    return found


_COMMON: Final = ("InvalidCredsError", "InvalidCredsException", "LibcloudError",
                  "MalformedResponseError", "ProviderError", "RateLimitReachedError",
                  "ServiceUnavailableError")

#: What each area's package exports from here: name -> ``"overcast.compat:attr"``
#: (for :func:`overcast.registry.lazy_exports`).
EXPORTS: Final[Mapping[str, Mapping[str, str]]] = {
    "storage": _exports("storage", (
        *_COMMON, "CHUNK_SIZE", "DEFAULT_CONTENT_TYPE", "ContainerAlreadyExistsError",
        "ContainerDoesNotExistError", "ContainerError", "ContainerIsNotEmptyError",
        "InvalidContainerNameError", "ObjectDoesNotExistError", "ObjectError",
        "ObjectHashMismatchError",
    ), ("DRIVERS", "OLD_CONSTANT_TO_NEW_MAPPING")),
    "compute": {
        **_exports("compute", (*_COMMON, "KeyPairDoesNotExistError", "KeyPairError",
                               "is_private_subnet", "is_valid_ip_address"),
                   ("DRIVERS", "OLD_CONSTANT_TO_NEW_MAPPING")),
        **dict.fromkeys(("DeploymentError", "DeploymentException"),
                        "overcast.compute.deployment:DeploymentError"),
    },
    "dns": _exports("dns", (
        *_COMMON, "RecordAlreadyExistsError", "RecordDoesNotExistError", "RecordError",
        "ZoneAlreadyExistsError", "ZoneDoesNotExistError", "ZoneError",
    ), ("DRIVERS", "OLD_CONSTANT_TO_NEW_MAPPING")),
}
