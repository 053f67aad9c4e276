"""AWS credentials found the way the AWS CLI finds them, and kept fresh.

:meth:`AwsCredentials.resolve <overcast.auth.aws_sigv4.AwsCredentials.resolve>`
calls :func:`resolve_aws_credentials` when no key is given. The order is the
AWS CLI's (botocore's credential chain):

1. ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY`` / ``AWS_SESSION_TOKEN``
   (skipped when a ``profile`` is passed explicitly);
2. the profile (``profile``, else ``AWS_PROFILE``, else ``default``) of
   ``~/.aws/config`` (``AWS_CONFIG_FILE``) and ``~/.aws/credentials``
   (``AWS_SHARED_CREDENTIALS_FILE``), in botocore's order within it:
   ``role_arn`` with ``source_profile`` or ``credential_source`` (STS
   ``AssumeRole``, signed with the source's credentials), ``role_arn`` with
   ``web_identity_token_file``; web identity from ``AWS_WEB_IDENTITY_TOKEN_FILE``
   + ``AWS_ROLE_ARN`` (STS ``AssumeRoleWithWebIdentity``); IAM Identity Center
   (``sso_session`` naming an ``[sso-session NAME]`` section, or the legacy
   ``sso_start_url``/``sso_region``, with ``sso_account_id`` and
   ``sso_role_name``: the access token ``aws sso login`` cached in
   ``~/.aws/sso/cache/<sha1 of the session name or start URL>.json`` exchanged
   for the role's credentials by ``GetRoleCredentials`` on
   ``portal.sso.<region>.amazonaws.com``, or ``AWS_ENDPOINT_URL_SSO``); keys in
   the credentials file; ``credential_process``; keys in the config file;
3. ECS container credentials (``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` or
   ``AWS_CONTAINER_CREDENTIALS_FULL_URI``, with ``AWS_CONTAINER_AUTHORIZATION_TOKEN``
   or ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``);
4. EC2 instance metadata, IMDSv2 (a session token by ``PUT``, then the role's
   credentials), unless ``AWS_EC2_METADATA_DISABLED=true``.

Static keys come back as :class:`AwsCredentials`. Temporary ones come back as
an :class:`AwsCredentialSource`: nothing is fetched when the driver is built;
the driver's ``_refresh`` hook runs the fetch (runtime effects: ``Request`` for
STS and the metadata endpoints, ``Run`` for ``credential_process``) before the
first signed request, and again before they expire. Concurrent requests that
find them stale wait for one fetch (an ``Exclusive`` effect on the source's gate).

Both say where they came from in ``source`` (``"environment"``,
``"~/.aws/credentials [default]"``, ``"instance metadata (IMDSv2)"``, ...), for
``overcast profile show``. ``AWS_ENDPOINT_URL_STS`` (or ``AWS_ENDPOINT_URL``)
sends STS requests elsewhere (a local emulator).
"""

from __future__ import annotations

import datetime
import os
import shlex
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from typing import cast
from urllib.parse import urlencode
from urllib.parse import urlsplit

from overcast import xml
from overcast.auth.aws_sigv4 import AwsCredentials
from overcast.auth.aws_sigv4 import sign_request
from overcast.driver import BaseDriver
from overcast.errors import InvalidCredentials
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import TransportError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Delegate
from overcast.runtime.effects import Effect
from overcast.runtime.effects import Exclusive
from overcast.runtime.effects import Gate
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.policy import RetryPolicy
from overcast.runtime.redact import Secret
from overcast.runtime.redact import redact_text
from overcast.runtime.transports.base import Timeouts

if TYPE_CHECKING:
    from overcast.runtime.process import Completed

__all__ = [
    "AwsCredentialSource",
    "AwsProfile",
    "MetadataClient",
    "load_profile",
    "region_or_default",
    "resolve_aws_credentials",
    "resolve_aws_region",
]


def _parse_json(text: str | bytes) -> Any:
    """``json.loads``; :mod:`json` loads with the first credential source that
    reads it (a process, a cache file, a container endpoint), not at import."""
    import json

    return json.loads(text)


#: Where ECS and EKS serve container credentials over plain HTTP.
ECS_HOST: Final = "http://169.254.170.2"
_CONTAINER_HOSTS: Final = frozenset(
    {"127.0.0.1", "localhost", "::1", "169.254.170.2", "169.254.170.23", "fd00:ec2::23"}
)
IMDS_ENDPOINT: Final = "http://169.254.169.254"
IMDS_TOKEN_TTL: Final = "21600"
#: Seconds allowed for a metadata answer (the CLI's default is 1 s).
METADATA_TIMEOUT: Final = 2.0
#: How long before their expiry temporary credentials are renewed (at most a
#: quarter of their lifetime).
REFRESH_MARGIN: Final = 300.0
STS_VERSION: Final = "2011-06-15"

Fetch = Callable[[float, "AwsCredentialSource"], Op[tuple[AwsCredentials, float | None]]]


class AwsCredentialSource:
    """Temporary AWS credentials: fetched by an operation, renewed before expiry.

    ``source`` says where they come from. :meth:`current` gives the credentials
    to sign with; :meth:`refresh` the operation to run first when they are
    missing or about to expire (``None`` when they are fresh). Drivers call it
    from their ``_refresh`` hook through :func:`refresh_credentials`.
    """

    def __init__(self, fetch: Fetch, source: str, *,
                 secrets: tuple[Secret, ...] = ()) -> None:
        self.source = source
        self._fetch = fetch
        self._gate = Gate()
        self._current: AwsCredentials | None = None
        self._expires: float | None = None
        self._renew_at: float | None = None
        self._static_secrets = secrets
        self._client: MetadataClient | None = None
        self._owner: BaseDriver | None = None
        #: How many times the credentials were fetched (tests and diagnostics).
        self.fetches = 0

    def __repr__(self) -> str:
        return f"AwsCredentialSource(source={self.source!r})"

    def bind(self, driver: Any) -> None:
        """Note the driver that uses these credentials: the metadata client
        shares its transports and hooks and is closed with it."""
        if self._owner is None and isinstance(driver, BaseDriver):
            self._owner = driver

    def metadata_client(self) -> MetadataClient:
        """The client that reaches instance metadata and container credentials:
        one attempt, a one-second connect timeout (made on first use)."""
        client = self._client
        if client is None:
            owner = self._owner
            options = getattr(owner, "_options", {})
            client = MetadataClient(**{k: v for k, v in options.items() if k in _SHARED_OPTIONS})
            if owner is not None:
                owner._adopt(client)
            self._client = client
        return client

    @property
    def access_key(self) -> str | None:
        """The current access key id (``None`` before the first fetch)."""
        return None if self._current is None else self._current.access_key

    @property
    def expires_at(self) -> float | None:
        """When the current credentials expire (Unix time), if known."""
        return self._expires

    def current(self) -> AwsCredentials:
        """The credentials to sign with now."""
        credentials = self._current
        if credentials is None:
            raise InvalidCredentials(f"AWS credentials from {self.source} were not fetched yet")
        return credentials

    def secrets(self) -> tuple[Secret, ...]:
        """Values to keep out of any text: the current secret key and token, and
        what the source itself holds (a source profile's key)."""
        held = () if self._current is None else self._current.secrets()
        return held + self._static_secrets

    def stale(self, now: float) -> bool:
        """Whether the credentials must be fetched before signing at ``now``."""
        return self._current is None or (self._renew_at is not None and now >= self._renew_at)

    def refresh(self, now: float) -> Op[None] | None:
        """``None`` if fresh at ``now``, else the operation that renews them."""
        return self._renew(now) if self.stale(now) else None

    def _renew(self, now: float) -> Op[None]:
        yield Exclusive(self._gate, self._renew_once(now))

    def _renew_once(self, now: float) -> Op[None]:
        if not self.stale(now):  # another request renewed them while this one waited
            return
        try:
            credentials, expires = yield from self._fetch(now, self)
        except (InvalidCredentials, ProviderError):
            if self._current is not None and self._expires is not None and now < self._expires:
                # Still valid: keep signing with them and try again next time.
                import logging  # only on this rare path: not at import

                logging.getLogger("overcast.auth").warning(
                    "renewing AWS credentials from %s failed; the current ones "
                    "are used until they expire", self.source, exc_info=True)
                return
            raise
        self.fetches += 1
        self._current = credentials
        self._expires = expires
        if expires is None:
            self._renew_at = None
        else:
            self._renew_at = expires - min(REFRESH_MARGIN, max(0.0, expires - now) / 4)

    def ensure(self, now: float) -> Op[AwsCredentials]:
        """Operation: fresh credentials (fetched first if need be)."""
        renew = self.refresh(now)
        if renew is not None:
            yield from renew
        return self.current()


#: Options of the driver that the metadata client shares (how it sends).
_SHARED_OPTIONS: Final = ("sync_transport", "async_transport", "hooks", "pool_size")


class MetadataClient(BaseDriver):
    """Instance metadata and container credentials as a small driver of their
    own: plain HTTP to a local address, tried once with a one-second connect
    timeout, so outside AWS the chain gives up at once instead of retrying.
    Requests reach it through :class:`~overcast.runtime.effects.Delegate`."""

    name: ClassVar[str] = "aws-metadata"

    def __init__(self, **options: Any) -> None:
        super().__init__(retry=RetryPolicy(max_attempts=1),
                         timeout=Timeouts(connect=1.0, read=METADATA_TIMEOUT, total=15.0),
                         **options)


def _reach(source: AwsCredentialSource, op: Op[Any], where: str) -> Op[Any]:
    """Run ``op`` on the metadata client; no answer is InvalidCredentials."""
    try:
        result: Any = yield Delegate(source.metadata_client(), op)
    except (TransportError, OperationTimeout) as exc:
        raise InvalidCredentials(
            f"no AWS credentials were found: {source.source} did not answer at {where} "
            f"({exc}); give credentials, or set them in the environment or a profile"
        ) from None
    return result


# -- the shared files ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AwsProfile:
    """One profile: its settings merged from the config file and then the
    credentials file (the credentials file wins), and where each came from."""

    name: str
    settings: Mapping[str, str]
    origin: Mapping[str, str]
    found: bool

    def get(self, key: str) -> str | None:
        """A setting, or ``None``."""
        value = self.settings.get(key)
        return value if value else None


def _paths(env: Mapping[str, str]) -> tuple[str, str]:
    home = env.get("HOME") or os.path.expanduser("~")

    def expand(path: str) -> str:
        return home + path[1:] if path.startswith("~") else path

    credentials = expand(env.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials")
    config = expand(env.get("AWS_CONFIG_FILE") or "~/.aws/config")
    return credentials, config


def _read(path: str) -> dict[str, dict[str, str]]:
    """The sections of an INI file, each ``{key: value}`` (values stripped);
    ``{}`` when there is no such file (the common case of explicit keys: no
    parser is loaded for it)."""
    if not os.path.isfile(path):
        return {}
    import configparser  # here: loaded only when there is a file to read

    parser = configparser.RawConfigParser()
    try:
        parser.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError) as exc:
        raise InvalidCredentials(f"cannot read {path}: {type(exc).__name__}") from None
    return {name: {key: value.strip() for key, value in parser.items(name)}
            for name in parser.sections()}


def load_profile(name: str, environ: Mapping[str, str] | None = None) -> AwsProfile:
    """The profile ``name`` of the shared config and credentials files."""
    env = os.environ if environ is None else environ
    credentials_path, config_path = _paths(env)
    settings: dict[str, str] = {}
    origin: dict[str, str] = {}
    found = False
    config = _read(config_path)
    section = "default" if name == "default" else f"profile {name}"
    if section not in config and name == "default":
        section = "profile default"
    if section in config:
        found = True
        for key, value in config[section].items():
            settings[key] = value
            origin[key] = f"{config_path} [{section}]"
    credentials = _read(credentials_path)
    if name in credentials:
        found = True
        for key, value in credentials[name].items():
            settings[key] = value
            origin[key] = f"{credentials_path} [{name}]"
    return AwsProfile(name, settings, origin, found)


def resolve_aws_region(profile: str | None = None,
                       environ: Mapping[str, str] | None = None) -> str | None:
    """The region the AWS CLI would use: ``AWS_REGION``, ``AWS_DEFAULT_REGION``,
    then the profile's ``region`` in the config file; ``None`` if none is set."""
    env = os.environ if environ is None else environ
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION")
    if region:
        return region
    name = profile or env.get("AWS_PROFILE") or "default"
    return load_profile(name, env).get("region")


def region_or_default(region: str | None, *, profile: str | None = None,
                      endpoint: str | None = None, default: str = "us-east-1") -> str:
    """``region`` if given; else, for AWS itself (no ``endpoint``), the one
    the AWS CLI would use (:func:`resolve_aws_region`); else ``default``."""
    if region is not None:
        return region
    if endpoint is None:
        return resolve_aws_region(profile) or default
    return default


# -- the chain -------------------------------------------------------------------------


def _static(profile: AwsProfile, want_file: str) -> AwsCredentials | None:
    key, secret = profile.get("aws_access_key_id"), profile.get("aws_secret_access_key")
    where = profile.origin.get("aws_access_key_id", "")
    if not key or not secret or not where.startswith(want_file):
        return None
    token = profile.get("aws_session_token")
    return AwsCredentials(key, Secret(secret), Secret(token) if token else None, source=where)


def resolve_aws_credentials(
    *, profile: str | None = None, environ: Mapping[str, str] | None = None,
) -> AwsCredentials | AwsCredentialSource:
    """The first credentials of the AWS CLI's chain (see the module's text)."""
    env = os.environ if environ is None else environ
    if profile is None and env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        session = env.get("AWS_SESSION_TOKEN")
        return AwsCredentials(env["AWS_ACCESS_KEY_ID"], Secret(env["AWS_SECRET_ACCESS_KEY"]),
                              Secret(session) if session else None, source="environment")
    named = profile is not None or bool(env.get("AWS_PROFILE"))
    name = profile or env.get("AWS_PROFILE") or "default"
    found = _from_profile(name, env, seen=())
    if found is not None:
        return found
    credentials_path, config_path = _paths(env)
    if named and not load_profile(name, env).found:
        raise InvalidCredentials(
            f"no AWS profile {name!r} in {credentials_path} or {config_path}"
        )
    container = _container(env)
    if container is not None:
        return container
    if env.get("AWS_EC2_METADATA_DISABLED", "").lower() != "true":
        return _instance_metadata(env)
    raise InvalidCredentials(
        f"no AWS credentials given, none in the environment, none for profile {name!r} in "
        f"{credentials_path} or {config_path}, no container credentials, and instance "
        "metadata is disabled"
    )


def _from_profile(name: str, env: Mapping[str, str],
                  seen: tuple[str, ...]) -> AwsCredentials | AwsCredentialSource | None:
    if name in seen:
        raise InvalidCredentials(f"AWS profiles loop through source_profile: "
                                 f"{' -> '.join((*seen, name))}")
    profile = load_profile(name, env)
    if profile.get("role_arn"):
        return _assume_role(profile, env, (*seen, name))
    if not seen:  # the environment's web identity serves the chosen profile only
        web = _web_identity(env.get("AWS_WEB_IDENTITY_TOKEN_FILE"), env.get("AWS_ROLE_ARN"),
                            env.get("AWS_ROLE_SESSION_NAME"), env, "environment (web identity)")
        if web is not None:
            return web
    if profile.get("sso_session") or profile.get("sso_start_url"):
        return _sso(profile, env)
    credentials_path, config_path = _paths(env)
    static = _static(profile, credentials_path)
    if static is not None:
        return static
    command = profile.get("credential_process")
    if command:
        return _process(command, f"credential_process (profile {name})")
    return _static(profile, config_path)


# -- STS -------------------------------------------------------------------------------


def _sts_endpoint(env: Mapping[str, str], region: str | None) -> str:
    explicit = env.get("AWS_ENDPOINT_URL_STS") or env.get("AWS_ENDPOINT_URL")
    if explicit:
        return explicit.rstrip("/") + "/"
    if region:
        return f"https://sts.{region}.amazonaws.com/"
    return "https://sts.amazonaws.com/"


def _expiry(value: Any, what: str) -> float | None:
    if value in (None, ""):
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).strip()).timestamp()
    except ValueError:
        raise InvalidCredentials(f"{what}: unreadable expiration {value!r}") from None


def _sts_credentials(resp: Response, action: str, secrets: tuple[Secret, ...],
                     source: str) -> tuple[AwsCredentials, float | None]:
    root = xml.parse(resp.body)
    if not resp.ok:
        code = xml.text(root, "Error", "Code") or str(resp.status)
        message = redact_text(xml.text(root, "Error", "Message") or resp.text[:200], secrets)
        text = f"STS {action} failed ({source}): {code}: {message}"
        if resp.status in (400, 401, 403):
            raise InvalidCredentials(text)
        raise ProviderError(text, status=resp.status, code=code)
    found = xml.path(root, f"{action}Result", "Credentials")
    key = xml.text(found, "AccessKeyId")
    secret = xml.text(found, "SecretAccessKey")
    token = xml.text(found, "SessionToken")
    if not key or not secret or not token:
        raise ProviderError(f"STS {action} answered without credentials ({source})",
                            status=resp.status)
    credentials = AwsCredentials(key.strip(), Secret(secret.strip()), Secret(token.strip()),
                                 source=source)
    return credentials, _expiry(xml.text(found, "Expiration"), f"STS {action}")


def _form(params: dict[str, str]) -> bytes:
    return urlencode(params).encode()


_FORM: Final = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def _session_name(profile: AwsProfile | None, now: float) -> str:
    name = profile.get("role_session_name") if profile is not None else None
    return name or f"overcast-{int(now)}"


def _assume_role(profile: AwsProfile, env: Mapping[str, str],
                 seen: tuple[str, ...]) -> AwsCredentialSource:
    role = profile.get("role_arn") or ""
    token_file = profile.get("web_identity_token_file")
    if token_file:
        web = _web_identity(token_file, role, profile.get("role_session_name"), env,
                            f"web identity (profile {profile.name})")
        assert web is not None
        return web
    base: AwsCredentials | AwsCredentialSource | None
    source_profile = profile.get("source_profile")
    credential_source = profile.get("credential_source")
    if source_profile and credential_source:
        raise InvalidCredentials(f"AWS profile {profile.name!r} has both source_profile and "
                                 "credential_source")
    if source_profile:
        if source_profile == profile.name:  # its own keys sign the AssumeRole
            credentials_path, config_path = _paths(env)
            base = _static(profile, credentials_path) or _static(profile, config_path)
        else:
            base = _from_profile(source_profile, env, seen)
        what = f"profile {source_profile}"
    elif credential_source == "Environment":
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        token = env.get("AWS_SESSION_TOKEN")
        base = (AwsCredentials(key, Secret(secret), Secret(token) if token else None,
                               source="environment") if key and secret else None)
        what = "the environment"
    elif credential_source == "Ec2InstanceMetadata":
        base, what = _instance_metadata(env), "instance metadata"
    elif credential_source == "EcsContainer":
        base, what = _container(env), "container credentials"
    else:
        raise InvalidCredentials(f"AWS profile {profile.name!r} has role_arn but neither "
                                 "source_profile nor a known credential_source")
    if base is None:
        raise InvalidCredentials(f"AWS profile {profile.name!r}: no credentials in {what} "
                                 "to assume its role with")
    region = resolve_aws_region(profile.name, env) or None
    endpoint = _sts_endpoint(env, region)
    sign_region = region or "us-east-1"
    params = {"Action": "AssumeRole", "Version": STS_VERSION, "RoleArn": role}
    for key, name in (("duration_seconds", "DurationSeconds"), ("external_id", "ExternalId")):
        if profile.get(key):
            params[name] = profile.get(key) or ""
    source = f"assume role {role} (profile {profile.name}, from {what})"
    source_credentials = base

    def fetch(now: float, _: AwsCredentialSource) -> Op[tuple[AwsCredentials, float | None]]:
        signer = source_credentials
        if isinstance(signer, AwsCredentialSource):
            signer = yield from signer.ensure(now)
        body = _form({**params, "RoleSessionName": _session_name(profile, now)})
        request = Request("POST", endpoint, dict(_FORM), body=body, idempotent=True)
        signed = sign_request(request, signer, sign_region, "sts", now)
        resp: Response = yield Request(
            "POST", endpoint, dict(signed.headers), body=body, idempotent=True, sign=False)
        return _sts_credentials(resp, "AssumeRole", signer.secrets(), source)

    held = base.secrets() if isinstance(base, AwsCredentials) else ()
    return AwsCredentialSource(fetch, source, secrets=held)


def _web_identity(token_file: str | None, role: str | None, session: str | None,
                  env: Mapping[str, str], source: str) -> AwsCredentialSource | None:
    if not token_file or not role:
        return None
    endpoint = _sts_endpoint(env, env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION"))
    path = token_file

    def fetch(now: float, _: AwsCredentialSource) -> Op[tuple[AwsCredentials, float | None]]:
        token: str = yield Call(_read_token_file, path)  # re-read: the file is rotated
        body = _form({
            "Action": "AssumeRoleWithWebIdentity", "Version": STS_VERSION, "RoleArn": role,
            "RoleSessionName": session or f"overcast-{int(now)}", "WebIdentityToken": token,
        })
        resp: Response = yield Request("POST", endpoint, dict(_FORM), body=body,
                                       idempotent=True, sign=False)
        return _sts_credentials(resp, "AssumeRoleWithWebIdentity", (Secret(token),), source)

    return AwsCredentialSource(fetch, f"{source}: {role}")


def _read_token_file(path: str, what: str = "the web identity token file") -> str:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip()
    except OSError as exc:
        raise InvalidCredentials(f"cannot read {what} {path}: "
                                 f"{exc.strerror or type(exc).__name__}") from None


# -- IAM Identity Center (SSO) --------------------------------------------------------


def _sso_settings(profile: AwsProfile, env: Mapping[str, str]) -> tuple[str, str, str, str]:
    """``(start URL, SSO region, cache key, what)`` of an SSO profile: from its
    ``[sso-session NAME]`` section (the token provider configuration), else its
    own ``sso_start_url``/``sso_region`` (the legacy one)."""
    session = profile.get("sso_session")
    start_url, region = profile.get("sso_start_url"), profile.get("sso_region")
    if session:
        _, config_path = _paths(env)
        config = _read(config_path)
        section = f"sso-session {session}"
        if section not in config:
            raise InvalidCredentials(f"AWS profile {profile.name!r} names sso_session "
                                     f"{session!r}, but {config_path} has no [{section}]")
        values = config[section]
        for key, own in (("sso_start_url", start_url), ("sso_region", region)):
            if own and values.get(key) and own != values[key]:
                raise InvalidCredentials(f"AWS profile {profile.name!r}: its {key} differs "
                                         f"from the one of [{section}]")
        start_url = values.get("sso_start_url") or start_url
        region = values.get("sso_region") or region
        cache_key, what = session, f"sso-session {session}"
    else:
        cache_key, what = start_url or "", start_url or ""
    if not start_url or not region:
        raise InvalidCredentials(f"AWS profile {profile.name!r}: IAM Identity Center needs "
                                 "sso_start_url and sso_region")
    return start_url, region, cache_key, what


def _sso(profile: AwsProfile, env: Mapping[str, str]) -> AwsCredentialSource:
    """IAM Identity Center: the access token ``aws sso login`` cached in
    ``~/.aws/sso/cache/<sha1>.json`` exchanged for the role's credentials
    (``GetRoleCredentials``, ``GET /federation/credentials`` on the portal)."""
    import hashlib

    account, role = profile.get("sso_account_id"), profile.get("sso_role_name")
    if not account or not role:
        raise InvalidCredentials(f"AWS profile {profile.name!r}: IAM Identity Center needs "
                                 "sso_account_id and sso_role_name")
    _, region, cache_key, what = _sso_settings(profile, env)
    home = env.get("HOME") or os.path.expanduser("~")
    digest = hashlib.sha1(cache_key.encode("utf-8"), usedforsecurity=False).hexdigest()
    cache = os.path.join(home, ".aws", "sso", "cache", f"{digest}.json")
    base = (env.get("AWS_ENDPOINT_URL_SSO") or env.get("AWS_ENDPOINT_URL")
            or f"https://portal.sso.{region}.amazonaws.com").rstrip("/")
    url = f"{base}/federation/credentials?" + urlencode(
        {"role_name": role, "account_id": account})
    source = f"IAM Identity Center (profile {profile.name}, {what}): {account}/{role}"
    login = f"run 'aws sso login --profile {profile.name}'"

    def fetch(now: float, _: AwsCredentialSource) -> Op[tuple[AwsCredentials, float | None]]:
        token: Secret = yield Call(_sso_token, cache, now, login)
        resp: Response = yield Request(
            "GET", url, {"x-amz-sso_bearer_token": token.reveal(), "Accept": "application/json"},
            sign=False)
        if resp.status in (401, 403):
            kind = resp.headers.get("x-amzn-ErrorType", "").split(":")[0] or str(resp.status)
            raise InvalidCredentials(f"{source}: GetRoleCredentials refused the cached token "
                                     f"({kind}): {login}")
        data = _metadata_json(resp, source).get("roleCredentials")
        if not isinstance(data, dict):
            raise ProviderError(f"{source}: GetRoleCredentials answered no roleCredentials",
                                status=resp.status)
        found, _expires = _json_credentials(
            {"AccessKeyId": data.get("accessKeyId"), "SecretAccessKey": data.get("secretAccessKey"),
             "SessionToken": data.get("sessionToken")}, "SessionToken", source)
        expiration = data.get("expiration")
        expires = float(expiration) / 1000 if isinstance(expiration, int | float) else None
        return found, expires

    return AwsCredentialSource(fetch, source)


def _sso_token(path: str, now: float, login: str) -> Secret:
    """The access token of an SSO token cache file, if it has not expired."""
    try:
        with open(path, encoding="utf-8") as f:
            data = _parse_json(f.read())
    except FileNotFoundError:
        raise InvalidCredentials(f"no cached IAM Identity Center token ({path}): {login}") \
            from None
    except (OSError, ValueError) as exc:
        raise InvalidCredentials(f"cannot read the IAM Identity Center token cache {path}: "
                                 f"{type(exc).__name__}") from None
    token = data.get("accessToken") if isinstance(data, dict) else None
    if not isinstance(token, str) or not token:
        raise InvalidCredentials(f"the IAM Identity Center token cache {path} holds no "
                                 f"accessToken: {login}")
    expires = _expiry(str(data.get("expiresAt", "")).replace("Z", "+00:00"),
                      f"the IAM Identity Center token cache {path}")
    if expires is None or expires <= now:
        raise InvalidCredentials(f"the cached IAM Identity Center token has expired: {login}")
    return Secret(token)


# -- credential_process ----------------------------------------------------------------


def _process(command: str, source: str) -> AwsCredentialSource:
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise InvalidCredentials(f"{source}: cannot split the command: {exc}") from None
    if not argv:
        raise InvalidCredentials(f"{source}: the command is empty")

    from overcast.runtime.process import Run

    def fetch(now: float, _: AwsCredentialSource) -> Op[tuple[AwsCredentials, float | None]]:
        # Process effects are not in the HTTP effects' union: cast, as restic does.
        done: Completed = yield cast("Effect", Run(argv, timeout=60))
        if done.returncode != 0:
            err = done.stderr.decode("utf-8", "replace").strip()[-300:]
            raise InvalidCredentials(f"{source} exited with {done.returncode}: {err}")
        try:
            data = _parse_json(done.stdout)
        except ValueError:
            raise InvalidCredentials(f"{source} printed no JSON") from None
        if not isinstance(data, dict) or data.get("Version") != 1:
            raise InvalidCredentials(f"{source} printed no Version 1 credentials")
        return _json_credentials(data, "SessionToken", source)

    return AwsCredentialSource(fetch, source)


def _json_credentials(data: Mapping[str, Any], token_key: str,
                      source: str) -> tuple[AwsCredentials, float | None]:
    key, secret, token = data.get("AccessKeyId"), data.get("SecretAccessKey"), data.get(token_key)
    if not isinstance(key, str) or not isinstance(secret, str) or not key or not secret:
        raise InvalidCredentials(f"{source} gave no AccessKeyId and SecretAccessKey")
    session = Secret(token) if isinstance(token, str) and token else None
    return (AwsCredentials(key, Secret(secret), session, source=source),
            _expiry(data.get("Expiration"), source))


# -- container and instance metadata ---------------------------------------------------


def _container(env: Mapping[str, str]) -> AwsCredentialSource | None:
    relative = env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
    full = env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI")
    if relative:
        url = ECS_HOST + relative
    elif full:
        parts = urlsplit(full)
        if parts.scheme != "https" and (parts.hostname or "") not in _CONTAINER_HOSTS:
            raise InvalidCredentials(
                "AWS_CONTAINER_CREDENTIALS_FULL_URI must be https or a loopback or "
                f"container-agent address: {parts.hostname!r}")
        url = full
    else:
        return None
    token_file = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
    token = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN")
    source = "container credentials (ECS)"

    def fetch(now: float, owner: AwsCredentialSource,
              ) -> Op[tuple[AwsCredentials, float | None]]:
        headers = {"Accept": "application/json"}
        if token_file:
            value: str = yield Call(_read_token_file, token_file,
                                    "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")
            headers["Authorization"] = value
        elif token:
            headers["Authorization"] = token
        resp: Response = yield from _reach(owner, _get(url, headers), url)
        return _json_credentials(_metadata_json(resp, source), "Token", source)

    return AwsCredentialSource(fetch, source)


def _metadata_json(resp: Response, source: str) -> dict[str, Any]:
    if resp.status in (401, 403):
        raise InvalidCredentials(f"{source} refused the request ({resp.status})")
    if not resp.ok:
        raise ProviderError(f"{source} answered {resp.status}", status=resp.status)
    try:
        data = _parse_json(resp.body)
    except ValueError:
        raise ProviderError(f"{source} answered no JSON", status=resp.status) from None
    if not isinstance(data, dict):
        raise ProviderError(f"{source} answered no credentials", status=resp.status)
    if data.get("Code") not in (None, "Success"):
        raise InvalidCredentials(f"{source}: {data.get('Code')}: {data.get('Message', '')}")
    return data


def _get(url: str, headers: dict[str, str]) -> Op[Response]:
    resp: Response = yield Request("GET", url, headers, sign=False)
    return resp


def _imds(base: str, source: str) -> Op[tuple[AwsCredentials, float | None]]:
    """IMDSv2: a session token, the role's name, then its credentials."""
    roles = f"{base}/latest/meta-data/iam/security-credentials/"
    resp: Response = yield Request(
        "PUT", f"{base}/latest/api/token", {"X-aws-ec2-metadata-token-ttl-seconds": IMDS_TOKEN_TTL},
        idempotent=True, sign=False)
    if not resp.ok:
        raise InvalidCredentials(f"{source}: no session token ({resp.status})")
    token = {"X-aws-ec2-metadata-token": resp.text.strip()}
    resp = yield Request("GET", roles, token, sign=False)
    if resp.status == 404 or (resp.ok and not resp.text.strip()):
        raise InvalidCredentials(f"{source}: the instance has no IAM role")
    if not resp.ok:
        raise ProviderError(f"{source} answered {resp.status}", status=resp.status)
    role = resp.text.strip().splitlines()[0].strip()
    resp = yield Request("GET", roles + role, token, sign=False)
    return _json_credentials(_metadata_json(resp, source), "Token", f"{source}: {role}")


def _instance_metadata(env: Mapping[str, str]) -> AwsCredentialSource:
    base = (env.get("AWS_EC2_METADATA_SERVICE_ENDPOINT") or IMDS_ENDPOINT).rstrip("/")
    source = "instance metadata (IMDSv2)"

    def fetch(now: float, owner: AwsCredentialSource,
              ) -> Op[tuple[AwsCredentials, float | None]]:
        found: tuple[AwsCredentials, float | None] = yield from _reach(
            owner, _imds(base, source), base)
        return found

    return AwsCredentialSource(fetch, source)
