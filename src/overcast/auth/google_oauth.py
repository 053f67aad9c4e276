"""Google service-account credentials: a signed JWT exchanged for an OAuth2 access token.

The flow (RFC 7523, "JWT bearer" grant, as Google documents it for service
accounts): build a JWT whose claims name the service account (``iss``), the
scopes wanted (``scope``), the token endpoint (``aud``) and a validity window
(``iat``, ``exp`` = ``iat`` + 1 hour), sign it with the account's RSA private
key (RS256), and POST it to the token endpoint as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<jwt>``. The
answer holds ``access_token`` and ``expires_in``.

The JWT is built by pure functions (the clock is passed in); the exchange is an
operation (:func:`fetch_token`) that asks for the time and the signing as
:class:`~overcast.runtime.effects.Call` effects, so it never blocks an event
loop. Tokens are cached by :class:`overcast.auth.tokens.TokenCache`.

The private key is a :class:`~overcast.runtime.redact.Secret`: it never appears
in a repr, a log line or an error message. Signing needs the ``cryptography``
package, imported on first use.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from typing import Any
from typing import Final
from typing import Protocol
from urllib.parse import urlencode

from overcast.auth.tokens import AccessToken
from overcast.auth.tokens import TokenCache
from overcast.auth.tokens import parse_token_response
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.extras import require
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret

__all__ = [
    "DEFAULT_TOKEN_URI",
    "JWT_BEARER_GRANT",
    "AccessToken",
    "AuthorizedUser",
    "GoogleCredentials",
    "ServiceAccount",
    "TokenCache",
    "TokenSource",
    "application_default_file",
    "application_default_path",
    "authorized_user_from_info",
    "b64url",
    "build_assertion",
    "fetch_token",
    "fetch_user_token",
    "gce_metadata",
    "jwt_claims",
    "jwt_header",
    "parse_token_response",
    "read_credentials_file",
    "read_service_account_file",
    "service_account_from_info",
    "token_request",
]

#: Google's OAuth2 token endpoint (the ``token_uri`` of current key files).
DEFAULT_TOKEN_URI: Final = "https://oauth2.googleapis.com/token"
#: The grant type of the JWT-bearer flow (RFC 7523).
JWT_BEARER_GRANT: Final = "urn:ietf:params:oauth:grant-type:jwt-bearer"
#: How long a signed assertion is valid; Google accepts at most one hour.
ASSERTION_LIFETIME: Final = 3600


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """A service account's identity and key, as in its JSON key file."""

    client_email: str
    private_key: Secret
    private_key_id: str | None = None
    token_uri: str = DEFAULT_TOKEN_URI
    project_id: str | None = None

    def __repr__(self) -> str:
        return f"ServiceAccount({self.client_email!r}, private_key=***)"


@dataclass(frozen=True, slots=True)
class AuthorizedUser:
    """A user's OAuth2 client and refresh token (``type: authorized_user``:
    what ``gcloud auth application-default login`` writes)."""

    client_id: str
    client_secret: Secret
    refresh_token: Secret
    token_uri: str = DEFAULT_TOKEN_URI
    quota_project_id: str | None = None

    def __repr__(self) -> str:
        return f"AuthorizedUser({self.client_id!r}, client_secret=***, refresh_token=***)"


# -- key files -------------------------------------------------------------------------


def authorized_user_from_info(info: Mapping[str, Any]) -> AuthorizedUser:
    """An :class:`AuthorizedUser` from a parsed ``authorized_user`` file."""
    fields = {}
    for name in ("client_id", "client_secret", "refresh_token"):
        value = info.get(name)
        if not isinstance(value, str) or not value:
            raise InvalidInput(f"authorized_user credentials lack {name!r}")
        fields[name] = value
    quota = info.get("quota_project_id")
    return AuthorizedUser(fields["client_id"], Secret(fields["client_secret"]),
                          Secret(fields["refresh_token"]),
                          str(info.get("token_uri") or DEFAULT_TOKEN_URI),
                          quota if isinstance(quota, str) else None)


def read_credentials_file(path: str) -> ServiceAccount | AuthorizedUser:
    """Read a JSON credentials file, a service-account key or an authorized
    user's (blocking: run it as a ``Call``)."""
    info = _load_json(path)
    if isinstance(info, Mapping) and info.get("type") == "authorized_user":
        return authorized_user_from_info(info)
    return service_account_from_info(info)


def application_default_path(environ: Mapping[str, str] | None = None) -> str:
    """Where gcloud writes application-default credentials:
    ``$CLOUDSDK_CONFIG/application_default_credentials.json``, else
    ``~/.config/gcloud/...`` (``%APPDATA%\\gcloud\\...`` on Windows)."""
    env = os.environ if environ is None else environ
    config = env.get("CLOUDSDK_CONFIG")
    if not config:
        if os.name == "nt" and env.get("APPDATA"):
            config = os.path.join(env["APPDATA"], "gcloud")
        else:
            home = env.get("HOME") or os.path.expanduser("~")
            config = os.path.join(home, ".config", "gcloud")
    return os.path.join(config, "application_default_credentials.json")


def service_account_from_info(info: Mapping[str, Any]) -> ServiceAccount:
    """A :class:`ServiceAccount` from a parsed JSON key file.

    Raises :class:`~overcast.errors.InvalidInput` if it is not a service-account
    key (the message never includes the key).
    """
    if not isinstance(info, Mapping):
        raise InvalidInput("service-account credentials must be a JSON object")
    kind = info.get("type", "service_account")
    if kind != "service_account":
        raise InvalidInput(f"credentials of type {kind!r} are not a service-account key")
    email = info.get("client_email")
    key = info.get("private_key")
    if not isinstance(email, str) or not email:
        raise InvalidInput("service-account credentials lack 'client_email'")
    if not isinstance(key, str | Secret) or not key:
        raise InvalidInput("service-account credentials lack 'private_key'")
    key_id = info.get("private_key_id")
    token_uri = info.get("token_uri") or DEFAULT_TOKEN_URI
    project = info.get("project_id")
    return ServiceAccount(
        client_email=email,
        private_key=Secret(key),
        private_key_id=key_id if isinstance(key_id, str) and key_id else None,
        token_uri=str(token_uri),
        project_id=project if isinstance(project, str) else None,
    )


def _load_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise InvalidInput(f"cannot read credentials file {path!r}: {exc.strerror}") from None
    except ValueError:
        raise InvalidInput(f"credentials file {path!r} is not valid JSON") from None


def read_service_account_file(path: str) -> ServiceAccount:
    """Read a JSON key file (blocking: run it as a ``Call``)."""
    return service_account_from_info(_load_json(path))


# -- the JWT ---------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515, 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def jwt_header(account: ServiceAccount) -> dict[str, str]:
    """The JOSE header: RS256, and the key id when the key file names one."""
    header = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    return header


def jwt_claims(account: ServiceAccount, scope: str, now: float) -> dict[str, Any]:
    """The claim set asking ``account.token_uri`` for a token with ``scope`` at ``now``."""
    iat = int(now)
    return {
        "iss": account.client_email,
        "scope": scope,
        "aud": account.token_uri,
        "iat": iat,
        "exp": iat + ASSERTION_LIFETIME,
    }


def rsa_sign(account: ServiceAccount, data: bytes, *, what: str) -> bytes:
    """``data`` signed with the account's private key (RSASSA-PKCS1-v1_5, SHA-256),
    as JWT assertions and V4 signed URLs are. Costs an RSA signature: operations
    run it as a ``Call``. ``what`` names the signing for the missing-extra error.
    """
    # Imported here: only signing needs ``cryptography`` (the "google" extra), and
    # the token cache in this module is shared by drivers that never sign.
    require("cryptography", "google", what=what)
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        key = serialization.load_pem_private_key(
            account.private_key.reveal().encode("utf-8"), password=None
        )
    except (ValueError, TypeError):
        # Never chain: the library's message could quote the key material.
        raise InvalidCredentials(
            f"the private key of {account.client_email} is not a PEM RSA key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidCredentials(f"the private key of {account.client_email} is not an RSA key")
    return key.sign(data, padding.PKCS1v15(), hashes.SHA256())


def build_assertion(account: ServiceAccount, scope: str, now: float) -> str:
    """The signed JWT (``header.claims.signature``) for ``account`` at ``now``.

    Pure given ``now``; costs an RSA signature, so operations run it as a ``Call``.
    """
    header = b64url(json.dumps(jwt_header(account), separators=(",", ":")).encode())
    claims = b64url(json.dumps(jwt_claims(account, scope, now), separators=(",", ":")).encode())
    signing_input = f"{header}.{claims}".encode("ascii")
    signature = rsa_sign(account, signing_input, what="signing a service-account JWT")
    return f"{header}.{claims}.{b64url(signature)}"


# -- the exchange ------------------------------------------------------------------------


def token_request(token_uri: str, assertion: str) -> Request:
    """The POST that exchanges a signed assertion for an access token.

    It changes nothing on the server, so the runtime may resend it.
    """
    body = urlencode({"grant_type": JWT_BEARER_GRANT, "assertion": assertion}).encode("ascii")
    return Request(
        "POST",
        token_uri,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        body=body,
        idempotent=True,
        sign=False,
    )


def fetch_token(
    account: ServiceAccount, scope: str, *, driver: Any = None
) -> Op[tuple[Secret, float, float]]:
    """Operation: sign an assertion and exchange it; return ``(token, expires_in, now)``."""
    now: float = yield Call(time.time)
    assertion: str = yield Call(build_assertion, account, scope, now)
    resp: Response = yield token_request(account.token_uri, assertion)
    token, expires_in = parse_token_response(
        resp, driver=driver, secrets=(account.private_key, Secret(assertion))
    )
    return token, expires_in, now


def fetch_user_token(user: AuthorizedUser, *, driver: Any = None,
                     ) -> Op[tuple[Secret, float, float]]:
    """Operation: exchange an authorized user's refresh token for an access
    token (RFC 6749, 6); return ``(token, expires_in, now)``."""
    now: float = yield Call(time.time)
    body = urlencode({
        "grant_type": "refresh_token", "client_id": user.client_id,
        "client_secret": user.client_secret.reveal(),
        "refresh_token": user.refresh_token.reveal(),
    }).encode("ascii")
    resp: Response = yield Request(
        "POST", user.token_uri,
        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        body=body, idempotent=True, sign=False)
    token, expires_in = parse_token_response(
        resp, driver=driver, secrets=(user.client_secret, user.refresh_token))
    return token, expires_in, now


def application_default_file(environ: Mapping[str, str] | None = None,
                             ) -> tuple[str, str] | None:
    """The credentials file Google's libraries would use, and its source:
    ``GOOGLE_APPLICATION_CREDENTIALS``, else gcloud's application-default file
    if it exists; ``None`` when neither."""
    env = os.environ if environ is None else environ
    named = env.get("GOOGLE_APPLICATION_CREDENTIALS")
    if named:
        return named, f"GOOGLE_APPLICATION_CREDENTIALS ({named})"
    default = application_default_path(env)
    if os.path.isfile(default):
        return default, f"gcloud application-default credentials ({default})"
    return None


def gce_metadata(driver: Any) -> Callable[[], TokenSource]:
    """The last step of the chain for ``driver``: the GCE metadata server's
    token source (:mod:`overcast.auth.google_metadata`), made when the chain
    reaches it, sharing the driver's transports and closed with it."""

    def make() -> TokenSource:
        from overcast.auth.google_metadata import MetadataCredentials

        found = MetadataCredentials(driver=driver, options=getattr(driver, "_options", None))
        if hasattr(driver, "_companions"):  # a BaseDriver already set up
            driver._adopt(found.server)
        return found

    return make


class TokenSource(Protocol):
    """What supplies tokens when no credentials file is found: an object with a
    ``token()`` operation (the GCE metadata server's client)."""

    def token(self) -> Op[AccessToken]:
        """Operation: a cached or new access token."""
        ...


class GoogleCredentials:
    """A driver's Google credentials and the access tokens they get.

    Built from a driver constructor's arguments without any I/O: a key file
    named by ``credentials_file`` (or by ``secret``, Apache Libcloud's way) is
    read on first use, through a Call. ``key`` + ``secret`` may also be the
    service account's e-mail and its PEM private key. ``token()`` is an
    operation returning a cached or a new token; ``tokens.discard(token)`` after
    a 401 makes the next call fetch a fresh one.

    Given none of those, credentials are found as Google's client libraries
    find them (application default credentials): the file named by
    ``GOOGLE_APPLICATION_CREDENTIALS``, then gcloud's application-default file
    (:func:`application_default_path`), each a service-account key or an
    ``authorized_user`` (a refresh token), then ``metadata()``, the GCE
    metadata server's token source, when the driver gives one. ``source`` says
    which supplied them.
    """

    def __init__(self, *, key: str | None, secret: str | Secret | None,
                 credentials_file: str | os.PathLike[str] | None,
                 credentials_info: Mapping[str, Any] | None, token_uri: str | None, scope: str,
                 driver: Any, missing: str,
                 metadata: Callable[[], TokenSource] | None = None,
                 environ: Mapping[str, str] | None = None) -> None:
        self.scope = scope
        self.driver = driver
        self.tokens = TokenCache()
        self._token_uri = token_uri
        self._file: str | None = None
        self._metadata: TokenSource | None = None
        self.account: ServiceAccount | AuthorizedUser | None = None
        self.source = "explicit"
        if credentials_info is not None:
            self.account = self._with_token_uri(service_account_from_info(credentials_info))
        elif credentials_file is not None:
            self._file = os.fspath(credentials_file)
            self.source = f"credentials_file ({self._file})"
        elif key and secret:
            text = secret.reveal() if isinstance(secret, Secret) else str(secret)
            if "-----BEGIN" in text:
                self.account = self._with_token_uri(
                    service_account_from_info({"client_email": key, "private_key": text})
                )
            else:
                self._file = text
                self.source = f"credentials_file ({self._file})"
        else:
            env = os.environ if environ is None else environ
            found = application_default_file(env)
            if found is not None:
                self._file, self.source = found
            elif metadata is not None:
                self._metadata = metadata()
                self.source = "GCE metadata server"
            else:
                raise InvalidInput(
                    f"{missing}; none found in GOOGLE_APPLICATION_CREDENTIALS or "
                    f"{application_default_path(env)}", driver=driver)

    def _with_token_uri(self, account: Any) -> Any:
        return replace(account, token_uri=self._token_uri) if self._token_uri else account

    def secrets(self) -> tuple[Secret, ...]:
        """The private key or the user's client secret and refresh token, once
        known (to keep them out of any text)."""
        account = self.account
        if isinstance(account, ServiceAccount):
            return (account.private_key,)
        if isinstance(account, AuthorizedUser):
            return (account.client_secret, account.refresh_token)
        return ()

    def loaded(self) -> Op[ServiceAccount | AuthorizedUser]:
        """Operation: the credentials, reading their file on first use."""
        account = self.account
        if account is None:
            if self._file is None:
                raise InvalidCredentials(f"credentials from the {self.source} hold no key",
                                         driver=self.driver)
            found: ServiceAccount | AuthorizedUser = yield Call(read_credentials_file,
                                                                 self._file)
            account = self.account = self._with_token_uri(found)
        return account

    def service_account(self) -> Op[ServiceAccount]:
        """Operation: the service account (signing needs one), reading its key
        file on first use."""
        account = yield from self.loaded()
        if not isinstance(account, ServiceAccount):
            raise InvalidCredentials(
                f"this needs a service-account key; the {self.source} hold a user's "
                "credentials", driver=self.driver)
        return account

    def token(self) -> Op[AccessToken]:
        """Operation: the cached access token, or a new one (one token request)."""
        if self._metadata is not None:
            return (yield from self._metadata.token())
        now: float = yield Call(time.time)
        cached = self.tokens.current(now)
        if cached is not None:
            return cached
        account = yield from self.loaded()
        if isinstance(account, AuthorizedUser):
            token, expires_in, at = yield from fetch_user_token(account, driver=self.driver)
        else:
            token, expires_in, at = yield from fetch_token(account, self.scope,
                                                           driver=self.driver)
        return self.tokens.store(token, expires_in, at)
