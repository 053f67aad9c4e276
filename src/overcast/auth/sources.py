"""Which source supplied a driver's credentials, for ``overcast profile show``.

Every driver that finds credentials by itself (AWS, Google, Azure, OpenStack:
``docs/credentials.md``) records where they came from. :func:`credential_info`
reads that back from any driver as one small value whose secret, if any, is a
:class:`~overcast.runtime.redact.Secret` (it prints as ``***``)::

    >>> info = credential_info(S3StorageDriver())           # doctest: +SKIP
    >>> info.source, info.identity, str(info.secret)         # doctest: +SKIP
    ('/home/me/.aws/credentials [default]', 'AKIA...', '***')

Nothing is fetched: temporary credentials not fetched yet have no identity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from overcast.runtime.redact import Secret

__all__ = ["CredentialInfo", "credential_info"]


@dataclass(frozen=True, slots=True)
class CredentialInfo:
    """Where a driver's credentials came from.

    ``provider`` is ``"aws"``, ``"google"``, ``"azure"`` or ``"openstack"``;
    ``source`` names the place (``"explicit"``, ``"environment"``, a file and
    section, ``"instance metadata (IMDSv2)"``, ...); ``identity`` is the
    non-secret half when known (access key id, client id, user); ``secret`` the
    secret half (a ``Secret``, never shown); ``expires_at`` when temporary
    credentials expire (Unix time), if known.
    """

    provider: str
    source: str
    identity: str | None = None
    secret: Secret | None = None
    expires_at: float | None = None


def credential_info(driver: Any) -> CredentialInfo | None:
    """What supplied ``driver``'s credentials; ``None`` for a driver that only
    takes them explicitly."""
    from overcast.auth.aws_credentials import AwsCredentialSource
    from overcast.auth.aws_sigv4 import AwsCredentials

    aws = getattr(driver, "_credentials", None)
    if isinstance(aws, AwsCredentials):
        return CredentialInfo("aws", aws.source, aws.access_key, aws.secret_key)
    if isinstance(aws, AwsCredentialSource):
        current = aws._current
        return CredentialInfo("aws", aws.source, aws.access_key,
                              None if current is None else current.secret_key, aws.expires_at)
    google = getattr(driver, "_google", None)
    if google is None and type(getattr(driver, "_metadata", None)).__name__ == (
            "MetadataCredentials"):  # the GCE driver inside the cloud
        return CredentialInfo("google", "GCE metadata server")
    if google is not None and hasattr(google, "source"):
        account = google.account
        identity = getattr(account, "client_email", None) or getattr(account, "client_id", None)
        return CredentialInfo("google", google.source, identity)
    source = getattr(driver, "credential_source", None)
    if isinstance(source, str):
        provider = getattr(driver, "credential_provider", None) or (
            "openstack" if hasattr(driver, "session") else "azure")
        identity = getattr(driver, "username", None) or getattr(driver, "key", None) or getattr(
            driver, "account", None) or getattr(driver, "user", None)
        secret = next((s for s in driver._secrets()), None) if source == "explicit" else None
        return CredentialInfo(provider, source, identity if isinstance(identity, str) else None,
                              secret)
    return None
