"""Keystone v3: request bodies, catalog selection, token parsing and the
session's cache and 401 handling, driven with canned values (no sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from overcast.auth.keystone import CatalogEndpoint
from overcast.auth.keystone import EndpointNotFound
from overcast.auth.keystone import KeystoneCredentials
from overcast.auth.keystone import KeystoneSession
from overcast.auth.keystone import ServiceCatalog
from overcast.auth.keystone import parse_expiry
from overcast.auth.keystone import parse_token_response
from overcast.auth.keystone import token_request
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.runtime.effects import Call
from overcast.runtime.effects import Headers
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.redact import Secret

PASSWORD = "s3cret-Passw0rd"
APP_SECRET = "app-cred-secret-value"
ISSUED = "2024-05-01T10:00:00.000000Z"
EXPIRES = "2024-05-01T11:00:00.000000Z"

CATALOG: list[dict[str, Any]] = [
    {"type": "compute", "name": "nova", "endpoints": [
        {"interface": "public", "region": "RegionOne", "region_id": "RegionOne",
         "url": "https://nova.one.example/v2.1/"},
        {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne",
         "url": "http://nova.one.internal/v2.1"},
        {"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo",
         "url": "https://nova.two.example/v2.1"},
    ]},
    {"type": "volumev3", "name": "cinderv3", "endpoints": [
        {"interface": "public", "region_id": "RegionOne", "url": "https://cinder.one/v3/p1"},
    ]},
    {"type": "block-storage", "name": "cinder", "endpoints": [
        {"interface": "public", "region_id": "RegionTwo", "url": "https://bs.two/v3/p1"},
    ]},
    {"type": "image", "name": "glance", "endpoints": [
        {"interface": "publicURL", "region": "RegionOne", "url": "https://glance.one"},
        {"interface": "public", "url": "https://glance.noregion"},
        {"interface": "public", "region": "RegionOne"},  # no url: skipped
    ]},
]


def password_credentials(**kwargs: Any) -> KeystoneCredentials:
    values: dict[str, Any] = {"auth_url": "https://keystone.example:5000/v3",
                              "username": "alice", "password": Secret(PASSWORD),
                              "project_name": "demo"}
    values.update(kwargs)
    return KeystoneCredentials(**values)


def token_response(status: int = 201, body: Any = None, token: str | None = "tok-123",
                   *, catalog: Any = CATALOG) -> Response:
    if body is None:
        body = {"token": {"expires_at": EXPIRES, "issued_at": ISSUED, "methods": ["password"],
                          "project": {"id": "p1", "name": "demo"}, "user": {"id": "u1"},
                          "catalog": catalog}}
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["X-Subject-Token"] = token
    return Response(status, Headers(headers), json.dumps(body).encode(),
                    url="https://keystone.example:5000/v3/auth/tokens", method="POST")


# -- credentials -------------------------------------------------------------------------------


def test_password_body_scopes_to_a_project_by_name() -> None:
    body = password_credentials(user_domain="Users", project_domain="Projects").auth_body()
    identity = body["auth"]["identity"]
    assert identity["methods"] == ["password"]
    assert identity["password"]["user"] == {"name": "alice", "domain": {"name": "Users"},
                                            "password": PASSWORD}
    assert body["auth"]["scope"] == {"project": {"name": "demo",
                                                 "domain": {"name": "Projects"}}}


def test_password_body_scopes_to_a_project_by_id() -> None:
    body = password_credentials(project_name=None, project_id="abc123").auth_body()
    assert body["auth"]["scope"] == {"project": {"id": "abc123"}}


def test_application_credential_body_has_no_scope() -> None:
    creds = KeystoneCredentials(auth_url="https://k.example/identity",
                                application_credential_id="ac1",
                                application_credential_secret=Secret(APP_SECRET))
    body = creds.auth_body()
    assert body == {"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": "ac1", "secret": APP_SECRET}}}}
    assert isinstance(creds.application_credential_secret, Secret)
    assert creds.token_url == "https://k.example/identity/v3/auth/tokens"
    assert APP_SECRET not in repr(creds)


@pytest.mark.parametrize(("url", "expected"), [
    ("https://k.example:5000/v3", "https://k.example:5000/v3/auth/tokens"),
    ("https://k.example:5000/v3/", "https://k.example:5000/v3/auth/tokens"),
    ("https://k.example:5000", "https://k.example:5000/v3/auth/tokens"),
])
def test_token_url(url: str, expected: str) -> None:
    assert password_credentials(auth_url=url).token_url == expected


def test_credentials_are_checked() -> None:
    with pytest.raises(InvalidInput):
        password_credentials(password=None)
    with pytest.raises(InvalidInput):
        password_credentials(project_name=None)
    with pytest.raises(InvalidInput):
        password_credentials(auth_url="keystone.example")
    with pytest.raises(NotSupported):
        password_credentials(auth_url="https://k.example/v2.0")
    with pytest.raises(InvalidInput):
        KeystoneCredentials(auth_url="https://k", application_credential_id="only-id")


def test_token_request_is_resendable_and_unsigned() -> None:
    request = token_request(password_credentials())
    assert request.method == "POST" and request.is_idempotent and not request.sign
    assert request.url == "https://keystone.example:5000/v3/auth/tokens"
    assert PASSWORD not in repr(request) and PASSWORD not in repr(password_credentials())


# -- catalog ---------------------------------------------------------------------------------------


def test_catalog_selects_by_type_region_and_interface() -> None:
    catalog = ServiceCatalog.from_json(CATALOG)
    assert catalog.url_for(["compute"], region="RegionOne") == "https://nova.one.example/v2.1"
    assert catalog.url_for(["compute"], region="RegionOne", interface="internal") == (
        "http://nova.one.internal/v2.1")
    assert catalog.url_for(["compute"], region="RegionTwo") == "https://nova.two.example/v2.1"
    assert catalog.url_for(["compute"]) == "https://nova.one.example/v2.1"  # first listed
    assert catalog.regions() == ["RegionOne", "RegionTwo"]


def test_catalog_tries_service_types_in_order() -> None:
    catalog = ServiceCatalog.from_json(CATALOG)
    types = ("block-storage", "volumev3")
    assert catalog.url_for(types, region="RegionOne") == "https://cinder.one/v3/p1"
    assert catalog.url_for(types, region="RegionTwo") == "https://bs.two/v3/p1"


def test_catalog_reads_v2_style_interfaces_and_skips_broken_entries() -> None:
    catalog = ServiceCatalog.from_json(CATALOG)
    found = catalog.find(["image"], region="RegionOne", interface="publicURL")
    assert found == CatalogEndpoint("image", "glance", "public", "RegionOne",
                                    "https://glance.one")
    images = [e for e in catalog.endpoints if e.service_type == "image"]
    assert len(images) == 2 and images[1].region is None
    assert ServiceCatalog.from_json(None).endpoints == ()
    assert ServiceCatalog.from_json([{"type": "x", "endpoints": ["junk"]}, "junk"]).endpoints == ()


def test_missing_endpoint_names_what_the_catalog_has() -> None:
    catalog = ServiceCatalog.from_json(CATALOG)
    with pytest.raises(EndpointNotFound) as caught:
        catalog.url_for(["compute"], region="RegionThree", interface="admin")
    text = str(caught.value)
    assert "RegionThree" in text and "admin" in text and "compute/public/RegionOne" in text
    assert isinstance(caught.value, ProviderError) and caught.value.code == "EndpointNotFound"
    assert catalog.find(["network"]) is None


# -- token answers -----------------------------------------------------------------------------


def test_token_is_parsed() -> None:
    token = parse_token_response(token_response())
    assert token.value.reveal() == "tok-123"
    assert token.expires_at == parse_expiry(EXPIRES)
    assert token.lifetime(now=0.0) == 3600.0  # from issued_at, whatever the local clock
    assert token.project_id == "p1" and token.user_id == "u1"
    assert token.methods == ("password",)
    assert token.catalog.url_for(["compute"]) == "https://nova.one.example/v2.1"
    assert "tok-123" not in repr(token)


def test_expiry_formats() -> None:
    assert parse_expiry("2024-05-01T11:00:00Z") == parse_expiry("2024-05-01T11:00:00.000000Z")
    assert parse_expiry("2024-05-01T11:00:00") == parse_expiry("2024-05-01T11:00:00+00:00")


def test_lifetime_without_issued_at_counts_from_now() -> None:
    body = {"token": {"expires_at": EXPIRES, "catalog": []}}
    token = parse_token_response(token_response(body=body))
    assert token.issued_at is None
    assert token.lifetime(now=parse_expiry(EXPIRES) - 100) == 100


def test_refused_credentials_are_invalid_credentials() -> None:
    body = {"error": {"code": 401, "title": "Unauthorized",
                      "message": f"bad password {PASSWORD}"}}
    with pytest.raises(InvalidCredentials) as caught:
        parse_token_response(token_response(401, body, None), secrets=(Secret(PASSWORD),))
    assert PASSWORD not in str(caught.value) and "bad password" in str(caught.value)


@pytest.mark.parametrize("response", [
    token_response(500, {"error": {"message": "boom"}}, None),
    token_response(201, None, None),  # no X-Subject-Token
    token_response(201, {"token": {"issued_at": ISSUED}}),  # no expires_at
    token_response(201, {"nothing": True}),
])
def test_unusable_answers_are_provider_errors(response: Response) -> None:
    with pytest.raises(ProviderError):
        parse_token_response(response)


# -- the session, driven by hand ---------------------------------------------------------------


def drive(op: Any, answer: Callable[[Any], Any]) -> Any:
    """Run an operation, answering each effect with ``answer(effect)``."""
    value: Any = None
    try:
        while True:
            effect = op.send(value)
            value = answer(effect)
    except StopIteration as stop:
        return stop.value


class Cloud:
    """Answers the session's effects: the clock, Keystone and one API."""

    def __init__(self) -> None:
        self.now = 1_000.0
        self.tokens = 0
        self.api_statuses: list[int] = []
        self.sent: list[Request] = []

    def __call__(self, effect: Any) -> Any:
        if isinstance(effect, Call):
            return self.now
        assert isinstance(effect, Request)
        self.sent.append(effect)
        if effect.url.endswith("/auth/tokens"):
            self.tokens += 1
            return token_response(token=f"tok-{self.tokens}")
        status = self.api_statuses.pop(0) if self.api_statuses else 200
        return Response(status, Headers({}), b"{}", url=effect.url, method=effect.method)


def session(**kwargs: Any) -> KeystoneSession:
    services = {"compute": ("compute",), "volume": ("block-storage", "volumev3"),
                "network": ("network",)}
    return KeystoneSession(password_credentials(), services, **kwargs)


def test_session_caches_the_token_with_the_endpoints() -> None:
    cloud, keystone = Cloud(), session(region="RegionTwo")
    first = drive(keystone.token(), cloud)
    assert first.extra["endpoint:compute"] == "https://nova.two.example/v2.1"
    assert first.extra["endpoint:volume"] == "https://bs.two/v3/p1"
    assert "endpoint:network" not in first.extra and first.extra["project_id"] == "p1"
    cloud.now += 3000
    assert drive(keystone.token(), cloud) is first
    assert cloud.tokens == 1
    cloud.now += 600  # within the margin before expiry: renewed
    assert drive(keystone.token(), cloud).token.reveal() == "tok-2"
    with pytest.raises(EndpointNotFound):
        keystone.endpoint(first, "network")


def test_session_sends_with_the_token_and_renews_it_after_a_401() -> None:
    cloud, keystone = Cloud(), session(region="RegionOne", interface="internal")
    cloud.api_statuses = [200, 401, 200]
    resp = drive(keystone.send("compute", "GET", "/servers/detail",
                               headers={"OpenStack-API-Version": "compute 2.79"}), cloud)
    assert resp.status == 200
    api = cloud.sent[-1]
    assert api.url == "http://nova.one.internal/v2.1/servers/detail"
    assert api.headers["X-Auth-Token"] == "tok-1"
    assert api.headers["OpenStack-API-Version"] == "compute 2.79"
    resp = drive(keystone.send("compute", "POST", "/servers", body=b"{}"), cloud)
    assert resp.status == 200 and cloud.tokens == 2
    apis = [r for r in cloud.sent if not r.url.endswith("/auth/tokens")]
    assert [r.headers["X-Auth-Token"] for r in apis] == ["tok-1", "tok-1", "tok-2"]


def test_session_gives_up_after_a_fresh_token_is_refused() -> None:
    cloud, keystone = Cloud(), session()
    cloud.api_statuses = [401, 401]
    with pytest.raises(InvalidCredentials) as caught:
        drive(keystone.send("compute", "GET", "/flavors"), cloud)
    assert cloud.tokens == 2 and PASSWORD not in str(caught.value)


def test_session_with_no_usable_endpoint_fails_at_once() -> None:
    cloud, keystone = Cloud(), session(region="Nowhere")
    with pytest.raises(EndpointNotFound):
        drive(keystone.token(), cloud)
    with pytest.raises(InvalidInput):
        session(interface="private")
