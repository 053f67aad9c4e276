"""The OpenStack APIs as every part of the driver uses them: the services it
asks Keystone's catalog for, Nova's microversion, and the checks of names (the
session, the fault reader, the error table and the pager are
:class:`overcast.auth.openstack.OpenStackService`'s)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final
from typing import Unpack

from overcast.auth.openstack import OpenStackService
from overcast.auth.openstack import moment
from overcast.compute.base import NodeDriver
from overcast.errors import InvalidInput
from overcast.runtime.api import RequestOptions
from overcast.runtime.effects import Request
from overcast.runtime.options import check_page_size
from overcast.runtime.redact import Secret

__all__ = ["TOKEN_KEY", "OpenStackApi", "moment", "whole"]

#: The metadata key (or image property) that carries a create's request token.
TOKEN_KEY: Final = "overcast-token"
#: The longest server, volume, snapshot and key pair name Nova and Cinder accept.
MAX_NAME: Final = 255
DEFAULT_PAGE_SIZE: Final = 100
DEFAULT_MICROVERSION: Final = "2.79"

#: Service keys of the session, and the catalog types that serve them, in order.
SERVICES: Final = {
    "compute": ("compute",),
    "image": ("image",),
    "volume": ("block-storage", "volumev3", "volume"),
    "network": ("network",),
}

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MICROVERSION = re.compile(r"\A(2)\.(\d{1,3})\Z")


def whole(value: Any, default: int = 0) -> int:
    """An integer from an API value (``default`` if it is none)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


class OpenStackApi(OpenStackService, NodeDriver):
    """Keystone auth and the Nova, Glance, Cinder and Neutron request plumbing
    (the base of every part of
    :class:`~overcast.compute.drivers.openstack.OpenStackNodeDriver`), on
    :class:`~overcast.auth.openstack.OpenStackService`.

    A request's path names its service: ``"compute:/servers/detail"``,
    ``"image:/v2/images"``, ``"volume:/volumes"``, ``"network:/v2.0/ports"``.
    """

    name: ClassVar[str] = "openstack"
    versioned: ClassVar[Mapping[str, str]] = {"image": "/v2", "network": "/v2.0"}

    def __init__(self, key: str | None, secret: str | Secret | None = None, *,
                 auth_url: str | None = None, project: str | None = None,
                 project_id: str | None = None,
                 user_domain: str = "Default", project_domain: str = "Default",
                 region: str | None = None, interface: str = "public",
                 application_credential_id: str | None = None,
                 application_credential_secret: str | Secret | None = None,
                 compute_microversion: str = DEFAULT_MICROVERSION,
                 page_size: int = DEFAULT_PAGE_SIZE, **options: Any) -> None:
        self._connect(key, secret, SERVICES, options, auth_url=auth_url, project=project,
                      project_id=project_id, user_domain=user_domain,
                      project_domain=project_domain, region=region, interface=interface,
                      application_credential_id=application_credential_id,
                      application_credential_secret=application_credential_secret)
        self.page_size = check_page_size(page_size, maximum=1000, driver=self)
        match = _MICROVERSION.match(str(compute_microversion))
        if match is None or int(match.group(2)) < 47:
            raise InvalidInput(
                f"compute_microversion must be 2.47 or later, as '2.N': "
                f"{compute_microversion!r}",
                driver=self,
            )
        self.microversion = str(compute_microversion)
        self._nova_headers = {
            "OpenStack-API-Version": f"compute {self.microversion}",
            "X-OpenStack-Nova-API-Version": self.microversion,
        }
        super().__init__(**options)

    # -- requests ---------------------------------------------------------------------------

    def _request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Request:
        """The request for ``method`` on ``service:/path``; Nova's carry the
        microversion the driver asks for."""
        request = super()._request(method, path, **options)
        if path.startswith("compute:"):
            return request.with_headers(self._nova_headers)
        return request

    def _check_name(self, name: Any, what: str, *, required: bool = True) -> None:
        """A server, volume, snapshot or key pair name: not blank, at most 255
        characters, no control characters (``None`` too, unless ``required``)."""
        if name is None and not required:
            return
        if not isinstance(name, str) or not name.strip():
            raise InvalidInput(f"a {what} name must be a non-empty string", driver=self)
        if len(name) > MAX_NAME:
            raise InvalidInput(
                f"a {what} name is at most {MAX_NAME} characters: {len(name)} given", driver=self
            )
        if _CONTROL.search(name):
            raise InvalidInput(f"a {what} name cannot hold control characters", driver=self)

    def _check_id(self, value: object, what: str) -> str:
        """An id given to a ``get_*``: a non-empty string."""
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"{what} must be a non-empty string", driver=self)
        return value
