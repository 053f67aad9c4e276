"""The exception tree every overcast driver raises.

```
OvercastError
├── InvalidCredentials
├── NotSupported
├── InvalidInput            caught before any request is sent
├── NotFound                NodeNotFound, ContainerNotFound, ObjectNotFound, ...
├── AlreadyExists           ContainerAlreadyExists, ZoneAlreadyExists, ...
├── RateLimited             .retry_after
├── IntegrityError          a checksum or size did not match: nothing is kept
├── OperationTimeout        an operation ran past its total or read timeout
├── OutcomeUnknown          a non-idempotent request may or may not have taken effect
├── TransportError          the connection failed (after the retries the policy allows)
└── ProviderError           .status, .code, .message, .request_id
```

Every error carries the name of the driver that raised it (``.driver``). Messages
never contain secrets: the runtime redacts URLs and headers before they reach an
error, and drivers build messages from redacted provider text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AlreadyExists",
    "BackupJobNotFound",
    "BackupTargetNotFound",
    "BalancerNotFound",
    "ClusterNotFound",
    "ContainerAlreadyExists",
    "ContainerError",
    "ContainerIsNotEmpty",
    "ContainerNotFound",
    "DeployedContainerAlreadyExists",
    "DeployedContainerNotFound",
    "ImageNotFound",
    "IntegrityError",
    "InvalidCredentials",
    "InvalidInput",
    "KeyPairAlreadyExists",
    "KeyPairNotFound",
    "LocationNotFound",
    "MemberNotFound",
    "NodeNotFound",
    "NotFound",
    "NotSupported",
    "ObjectError",
    "ObjectNotFound",
    "OperationCancelled",
    "OperationTimeout",
    "OutcomeUnknown",
    "OvercastError",
    "ProviderError",
    "RateLimited",
    "RecordAlreadyExists",
    "RecordError",
    "RecordNotFound",
    "RecoveryPointNotFound",
    "SizeNotFound",
    "SnapshotNotFound",
    "TransportError",
    "VolumeNotFound",
    "ZoneAlreadyExists",
    "ZoneError",
    "ZoneNotFound",
]


class OvercastError(Exception):
    """Base class of every error overcast raises on purpose.

    ``driver`` is the short name of the driver that raised it (``"s3"``,
    ``"local"``, ...) or ``None`` when no driver was involved.
    """

    def __init__(self, message: str = "", *, driver: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.driver: str | None = driver_name(driver)

    def __str__(self) -> str:
        prefix = f"[{self.driver}] " if self.driver else ""
        return f"{prefix}{self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, driver={self.driver!r})"


def driver_name(driver: Any) -> str | None:
    """The short name of ``driver`` (a driver, a name, or ``None``) for messages."""
    if driver is None or isinstance(driver, str):
        return driver
    name = getattr(driver, "name", None)
    return name if isinstance(name, str) else type(driver).__name__


class InvalidCredentials(OvercastError):
    """The provider rejected the credentials (HTTP 401/403 on authentication)."""


class NotSupported(OvercastError):
    """The driver does not implement this operation or option."""


class InvalidInput(OvercastError, ValueError):
    """An argument is invalid. Raised before any request is sent."""


class NotFound(OvercastError, LookupError):
    """The named resource does not exist. ``.resource`` is its name or id."""

    kind = "resource"

    def __init__(self, resource: str = "", message: str = "", *, driver: Any = None) -> None:
        super().__init__(message or f"{self.kind} not found: {resource!r}", driver=driver)
        self.resource = resource


class AlreadyExists(OvercastError):
    """A resource with this name already exists. ``.resource`` is its name."""

    kind = "resource"

    def __init__(self, resource: str = "", message: str = "", *, driver: Any = None) -> None:
        super().__init__(message or f"{self.kind} already exists: {resource!r}", driver=driver)
        self.resource = resource


class RateLimited(OvercastError):
    """The provider throttled us and retries were exhausted.

    ``retry_after`` is the delay in seconds the provider asked for, if it said.
    """

    def __init__(
        self, message: str = "rate limited", *, retry_after: float | None = None, driver: Any = None
    ) -> None:
        super().__init__(message, driver=driver)
        self.retry_after = retry_after


class IntegrityError(OvercastError):
    """Data did not match its checksum or size; nothing was kept."""


class OperationTimeout(OvercastError, TimeoutError):
    """The operation exceeded its connect, read or total timeout."""


class OperationCancelled(OvercastError):
    """A sub-operation was cancelled because a sibling in the same batch failed."""


class TransportError(OvercastError, ConnectionError):
    """The connection to the provider failed and could not be retried further."""


class OutcomeUnknown(OvercastError):
    """A non-idempotent request was sent but its outcome is unknown.

    The connection dropped, timed out or a 5xx came back after the body may have
    reached the server, so the runtime did not resend it. The operation that sent
    it should look the resource up (by its request token) before trying again.
    ``status`` is the HTTP status if one was received.
    """

    def __init__(self, message: str, *, status: int | None = None, driver: Any = None) -> None:
        super().__init__(message, driver=driver)
        self.status = status


class ProviderError(OvercastError):
    """The provider answered with an error that has no more specific class.

    ``status`` is the HTTP status, ``code`` the provider's error code
    (``"NoSuchBucket"``, ``"InvalidParameterValue"``...), ``message`` its text and
    ``request_id`` the provider's request id, for support tickets.
    """

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 request_id: str | None = None, driver: Any = None) -> None:
        super().__init__(message, driver=driver)
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        parts = [super().__str__()]
        if self.status is not None:
            parts.append(f"status={self.status}")
        if self.code:
            parts.append(f"code={self.code}")
        if self.request_id:
            parts.append(f"request_id={self.request_id}")
        return " ".join(parts)


# Resource-specific errors: each names its kind so messages read naturally.


class ContainerError(OvercastError):
    """Any error about one storage container (Apache Libcloud's ``ContainerError``):
    the base of ContainerNotFound, ContainerAlreadyExists and ContainerIsNotEmpty."""


class ObjectError(OvercastError):
    """Any error about one stored object (Apache Libcloud's ``ObjectError``): the
    base of ObjectNotFound."""


class ZoneError(OvercastError):
    """Any error about one DNS zone (Apache Libcloud's ``ZoneError``): the base of
    ZoneNotFound and ZoneAlreadyExists."""


class RecordError(OvercastError):
    """Any error about one DNS record (Apache Libcloud's ``RecordError``): the base
    of RecordNotFound and RecordAlreadyExists."""


class NodeNotFound(NotFound):
    """No node (server, instance, domain) with this id."""

    kind = "node"


class ImageNotFound(NotFound):
    """No image with this id."""

    kind = "image"


class VolumeNotFound(NotFound):
    """No volume with this id."""

    kind = "volume"


class SnapshotNotFound(NotFound):
    """No volume snapshot with this id."""

    kind = "snapshot"


class KeyPairNotFound(NotFound):
    """No key pair with this name."""

    kind = "key pair"


class KeyPairAlreadyExists(AlreadyExists):
    """A key pair with this name already exists."""

    kind = "key pair"


class ContainerNotFound(NotFound, ContainerError):
    """No storage container (bucket) with this name."""

    kind = "container"


class ContainerAlreadyExists(AlreadyExists, ContainerError):
    """A storage container (bucket) with this name already exists."""

    kind = "container"


class ContainerIsNotEmpty(ContainerError):
    """A storage container cannot be deleted because it still holds objects."""


class ObjectNotFound(NotFound, ObjectError):
    """No object with this name in the container."""

    kind = "object"


class ZoneNotFound(NotFound, ZoneError):
    """No DNS zone with this id."""

    kind = "zone"


class ZoneAlreadyExists(AlreadyExists, ZoneError):
    """A DNS zone for this domain already exists."""

    kind = "zone"


class RecordNotFound(NotFound, RecordError):
    """No DNS record with this id."""

    kind = "record"


class RecordAlreadyExists(AlreadyExists, RecordError):
    """A DNS record set with this name and type already exists."""

    kind = "record"


class BalancerNotFound(NotFound):
    """No load balancer with this id."""

    kind = "load balancer"


class MemberNotFound(NotFound):
    """No member with this id in the load balancer."""

    kind = "member"


class ClusterNotFound(NotFound):
    """No container cluster with this id."""

    kind = "cluster"


class DeployedContainerNotFound(NotFound):
    """No deployed (running or stopped) container with this id: not to be
    confused with :class:`ContainerNotFound`, a storage bucket."""

    kind = "deployed container"


class DeployedContainerAlreadyExists(AlreadyExists):
    """A deployed container with this name already exists."""

    kind = "deployed container"


class BackupTargetNotFound(NotFound):
    """No backup target with this id."""

    kind = "backup target"


class LocationNotFound(NotFound):
    """No location (region, zone, data centre) with this id."""

    kind = "location"


class RecoveryPointNotFound(NotFound):
    """No recovery point with this id for the backup target."""

    kind = "recovery point"


class BackupJobNotFound(NotFound):
    """No backup job with this id for the backup target."""

    kind = "backup job"


class SizeNotFound(NotFound):
    """No node size (instance type, flavor) with this id."""

    kind = "size"
