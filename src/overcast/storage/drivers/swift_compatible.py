"""Presets of the Swift driver for Apache Libcloud's ``OPENSTACK_SWIFT`` and
``CLOUDFILES``, taking Libcloud's constructor and OpenStack keywords.

Libcloud's OpenStack keywords map onto :class:`SwiftStorageDriver`'s:
``ex_force_auth_url`` is ``auth_url``; ``ex_force_auth_version`` ``"1.0"`` is
TempAuth/v1 and ``"3.x_password"`` Keystone v3 (Keystone v2 and the other v3
flows are NotSupported: overcast does not speak them); ``ex_tenant_name`` is
the project, ``ex_domain_name`` the user's and project's domain;
``ex_force_service_region`` (else ``region``) the catalog region;
``ex_force_base_url`` the storage URL (``endpoint``).
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar
from typing import Final

from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.runtime.redact import Secret
from overcast.storage.drivers.swift import SwiftStorageDriver

__all__ = ["CloudFilesStorageDriver", "OpenStackSwiftStorageDriver"]

#: Libcloud's auth versions -> overcast's.
AUTH_VERSIONS: Final = {"1.0": "1.0", "1.1": "1.0", "3.x_password": "3", "3": "3"}
#: Rackspace's v1.0 authentication (user name and API key).
RACKSPACE_AUTH_URL: Final = "https://identity.api.rackspacecloud.com/v1.0"


class OpenStackSwiftStorageDriver(SwiftStorageDriver):
    """OpenStack Swift with Libcloud's constructor (Libcloud's ``OPENSTACK_SWIFT``)."""

    name: ClassVar[str] = "openstack_swift"
    default_auth_url: ClassVar[str | None] = None

    def __init__(self, key: str, secret: str | Secret | None = None, secure: bool = True,
                 host: str | None = None, port: int | None = None, region: str | None = None,
                 *, ex_force_auth_url: str | None = None,
                 ex_force_auth_version: str | None = None, ex_tenant_name: str | None = None,
                 ex_domain_name: str | None = None, ex_force_service_region: str | None = None,
                 ex_force_base_url: str | None = None, **options: Any) -> None:
        if host is not None or port is not None:
            raise NotSupported(
                "Swift: the storage URL comes from authentication; give ex_force_base_url= "
                "(or endpoint=) for another one, not host=/port=", driver=self,
            )
        auth_url = options.pop("auth_url", None) or ex_force_auth_url or self.default_auth_url
        if auth_url is None:
            raise InvalidInput("Swift needs ex_force_auth_url= (or auth_url=)", driver=self)
        version = options.pop("auth_version", None)
        if version is None:
            wanted = ex_force_auth_version or "1.0"
            version = AUTH_VERSIONS.get(str(wanted))
            if version is None:
                raise NotSupported(
                    f"Swift: ex_force_auth_version={wanted!r} is not supported; overcast "
                    f"speaks {', '.join(AUTH_VERSIONS)}", driver=self,
                )
        if ex_domain_name is not None:
            options.setdefault("user_domain", ex_domain_name)
            options.setdefault("project_domain", ex_domain_name)
        if ex_tenant_name is not None:
            options.setdefault("project", ex_tenant_name)
        if options.get("endpoint") is None and ex_force_base_url is not None:
            options["endpoint"] = ex_force_base_url
        super().__init__(key, secret, auth_url=auth_url, auth_version=version,
                         region=ex_force_service_region or region, **options)


class CloudFilesStorageDriver(OpenStackSwiftStorageDriver):
    """Rackspace Cloud Files (Libcloud's ``CLOUDFILES``): ``key`` is the user
    name and ``secret`` the API key, authenticated at Rackspace's v1.0 endpoint,
    which hands out the account's default region; another region needs
    ``ex_force_base_url``. ``use_internal_url`` is NotSupported."""

    name: ClassVar[str] = "cloudfiles"
    default_auth_url: ClassVar[str | None] = RACKSPACE_AUTH_URL

    def __init__(self, key: str, secret: str | Secret | None = None, secure: bool = True,
                 host: str | None = None, port: int | None = None, region: str = "ord",
                 use_internal_url: bool = False, **options: Any) -> None:
        if use_internal_url:
            raise NotSupported("Cloud Files: use_internal_url is not supported", driver=self)
        if region != "ord" and options.get("ex_force_base_url") is None \
                and options.get("endpoint") is None:
            # v1.0 authentication hands out one region's URL: never another's silently.
            raise NotSupported(
                f"Cloud Files: region={region!r} needs ex_force_base_url= (the region's "
                "storage URL); authentication gives the account's default region only",
                driver=self,
            )
        super().__init__(key, secret, secure, host, port, None, **options)
        self.region = region
