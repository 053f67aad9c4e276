"""Apache Libcloud's S3-compatible and Swift storage constants on the scripted
transport, in both modes: each preset's host and region rules (compared with
Libcloud 3.9.1's own driver for the same arguments), Libcloud's connection
keywords mapped onto ``endpoint`` (``libcloud_endpoint``) and the constants
overcast does not serve failing with advice."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from libcloud.storage.providers import get_driver as libcloud_driver

from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.runtime.options import libcloud_endpoint
from overcast.storage import Provider
from overcast.storage import get_driver
from overcast.storage.drivers.s3_compatible import S3_REGIONS
from overcast.storage.drivers.swift_compatible import RACKSPACE_AUTH_URL
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

NS = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
NO_BUCKETS = f"<ListAllMyBucketsResult {NS}><Buckets/></ListAllMyBucketsResult>"


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def preset(constant: str, *args: Any, **keywords: Any) -> Any:
    return get_driver(getattr(Provider, constant))("AKIDUNIT", "unit-secret", *args, **keywords)


def libcloud_host(constant: str, **keywords: Any) -> tuple[str, int, bool, str | None]:
    """Where Libcloud's own driver for ``constant`` connects, and its region."""
    from libcloud.storage.types import Provider as Theirs

    made = libcloud_driver(getattr(Theirs, constant))("AKIDUNIT", "unit-secret", **keywords)
    conn = made.connection
    return conn.host, int(conn.port), bool(conn.secure), getattr(made, "region_name", None)


def where(made: Any) -> tuple[str, int, bool]:
    url = urlsplit(made.endpoint)
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80), \
        url.scheme == "https"


# -- S3-compatible presets ---------------------------------------------------------------------

S3_CASES: list[tuple[str, dict[str, Any], str]] = [
    # constant, keywords, region overcast signs for
    ("MINIO", {"host": "localhost", "port": 9000, "secure": False}, "us-east-1"),
    ("DIGITALOCEAN_SPACES", {}, "nyc3"),
    ("DIGITALOCEAN_SPACES", {"region": "ams3"}, "ams3"),
    ("DIGITALOCEAN_SPACES", {"region": "sgp1"}, "sgp1"),
    ("SCALEWAY", {}, "fr-par"),
    ("SCALEWAY", {"region": "pl-waw"}, "pl-waw"),
    ("AURORAOBJECTS", {}, "us-east-1"),
    ("S3_RGW", {"host": "rgw.internal", "port": 7480}, "default"),
    ("S3_RGW", {"host": "rgw.internal", "region": "zg-1"}, "zg-1"),
    ("S3_RGW_OUTSCALE", {}, "eu-west-2"),
    ("S3_RGW_OUTSCALE", {"region": "us-east-2"}, "us-east-2"),
]


@pytest.mark.parametrize(("constant", "keywords", "region"), S3_CASES)
def test_a_preset_connects_where_libcloud_does(constant: str, keywords: dict[str, Any],
                                               region: str) -> None:
    made = preset(constant, **keywords)
    host, port, secure, their_region = libcloud_host(constant, **keywords)
    assert where(made) == (host, port, secure)
    assert made.region == region
    if their_region:
        assert made.region == their_region
    assert made.path_style  # a fixed host: buckets in the path, as Libcloud addresses them


def libcloud_constants(values: Any) -> list[str]:
    """Libcloud's storage Provider names whose values are in ``values``."""
    from libcloud.storage.types import Provider as Theirs

    return sorted(name for name, value in vars(Theirs).items()
                  if name.isupper() and value in values)


@pytest.mark.parametrize("constant", libcloud_constants(S3_REGIONS))
def test_a_regional_s3_constant_is_s3_in_libclouds_region(constant: str) -> None:
    made = preset(constant)
    value = getattr(Provider, constant)
    try:
        host, _, secure, their_region = libcloud_host(constant)
    except AttributeError:  # Libcloud 3.9.1 names S3_EU_WEST3 but has no driver for it
        assert made.region == S3_REGIONS[value]
        assert where(made) == (f"s3.{made.region}.amazonaws.com", 443, True)
        return
    assert made.region == S3_REGIONS[value] == their_region
    # AWS answers at s3.<region> and at Libcloud's older s3-<region> names alike.
    prefix, domain = host.split(".", 1)
    assert prefix in ("s3", f"s3-{made.region}")
    assert where(made) == (f"s3.{made.region}.{domain}".replace(
        f"s3.{made.region}.{made.region}.", f"s3.{made.region}."), 443, secure)


def test_a_regional_constant_takes_another_region_when_given() -> None:
    assert preset("S3_US_WEST", region="eu-west-1").region == "eu-west-1"


def test_a_preset_sends_to_its_host(mode: str) -> None:
    script = Script()
    script.expect("GET", "https://ams3.digitaloceanspaces.com/").reply(200, text=NO_BUCKETS)
    script.expect("GET", "http://localhost:9000/").reply(200, text=NO_BUCKETS)
    assert call(mode, preset("DIGITALOCEAN_SPACES", region="ams3", **script.options()),
                "list_containers") == []
    assert call(mode, preset("MINIO", host="localhost", port=9000, secure=False,
                             **script.options()), "list_containers") == []
    script.assert_done()


def test_a_regional_constant_sends_to_its_region(mode: str) -> None:
    script = Script()
    script.expect("GET", "https://s3.us-west-1.amazonaws.com/").reply(200, text=NO_BUCKETS)
    assert call(mode, preset("S3_US_WEST", **script.options()), "list_containers") == []
    script.assert_done()


@pytest.mark.parametrize(("constant", "keywords", "error", "message"), [
    ("MINIO", {}, InvalidInput, "needs host="),
    ("S3_RGW", {}, InvalidInput, "needs host="),
    ("DIGITALOCEAN_SPACES", {"region": "lon1"}, InvalidInput, "unknown region 'lon1'"),
    ("SCALEWAY", {"region": "us-east-1"}, InvalidInput, "unknown region"),
    ("S3_RGW_OUTSCALE", {"region": "mars-1"}, InvalidInput, "unknown region"),
    ("SCALEWAY", {"url": "https://s3.fr-par.scw.cloud"}, NotSupported, "url="),
    ("DIGITALOCEAN_SPACES", {"signature_version": "2"}, NotSupported, "Signature V4"),
    ("MINIO", {"host": "localhost", "endpoint": "http://localhost:9000"}, InvalidInput,
     "not both"),
])
def test_preset_errors_are_raised_before_anything_is_sent(
        constant: str, keywords: dict[str, Any], error: type[Exception], message: str) -> None:
    script = Script()
    with pytest.raises(error, match=message):
        preset(constant, **keywords, **script.options())
    assert script.received == []


def test_an_explicit_host_or_endpoint_wins_over_the_region_host() -> None:
    assert preset("DIGITALOCEAN_SPACES", host="cdn.example.com").endpoint == \
        "https://cdn.example.com"
    assert preset("AURORAOBJECTS", endpoint="http://127.0.0.1:8333").endpoint == \
        "http://127.0.0.1:8333"


# -- Swift presets -----------------------------------------------------------------------------

AUTH = "http://swift.test/auth/v1.0"
STORE = "http://swift.test/v1/AUTH_test"


def test_openstack_swift_takes_libclouds_auth_keywords() -> None:
    v1 = get_driver(Provider.OPENSTACK_SWIFT)("test:tester", "testing",
                                             ex_force_auth_url=AUTH)
    assert (v1.auth_url, v1.auth_version, v1.endpoint) == (AUTH, "1.0", "")
    v3 = get_driver(Provider.OPENSTACK_SWIFT)(
        "demo", "secret", ex_force_auth_url="http://keystone.test/v3",
        ex_force_auth_version="3.x_password", ex_tenant_name="demo", ex_domain_name="Default",
        ex_force_service_region="RegionTwo", ex_force_base_url=STORE)
    assert (v3.auth_version, v3.region, v3.endpoint) == ("3", "RegionTwo", STORE)


def test_openstack_swift_logs_in_and_lists(mode: str) -> None:
    script = Script()
    script.expect("GET", AUTH, headers={"X-Auth-User": "test:tester",
                                        "X-Auth-Key": "testing"}).reply(
        200, headers={"X-Auth-Token": "tk-1", "X-Storage-Url": STORE})
    script.expect("GET", STORE, params={"format": "json", "limit": "10000"},
                  headers={"X-Auth-Token": "tk-1"}).reply(200, json=[
                      {"name": "box", "count": 1, "bytes": 3}])
    made = get_driver(Provider.OPENSTACK_SWIFT)("test:tester", "testing",
                                               ex_force_auth_url=AUTH, **script.options())
    assert [c.name for c in call(mode, made, "list_containers")] == ["box"]
    script.assert_done()


def test_cloudfiles_authenticates_at_rackspace() -> None:
    made = get_driver(Provider.CLOUDFILES)("user", "api-key")
    assert (made.auth_url, made.auth_version, made.region) == (RACKSPACE_AUTH_URL, "1.0", "ord")
    other = get_driver(Provider.CLOUDFILES)("user", "api-key", region="lon",
                                           ex_force_base_url=STORE)
    assert (other.region, other.endpoint) == ("lon", STORE)


@pytest.mark.parametrize(("constant", "keywords", "error", "message"), [
    ("OPENSTACK_SWIFT", {}, InvalidInput, "ex_force_auth_url"),
    ("OPENSTACK_SWIFT", {"ex_force_auth_url": AUTH, "ex_force_auth_version": "2.0_password"},
     NotSupported, "2.0_password"),
    ("OPENSTACK_SWIFT", {"ex_force_auth_url": AUTH, "host": "swift.test"}, NotSupported,
     "ex_force_base_url"),
    ("CLOUDFILES", {"region": "lon"}, NotSupported, "ex_force_base_url"),
    ("CLOUDFILES", {"use_internal_url": True}, NotSupported, "use_internal_url"),
])
def test_swift_preset_errors(constant: str, keywords: dict[str, Any], error: type[Exception],
                             message: str) -> None:
    script = Script()
    with pytest.raises(error, match=message):
        get_driver(getattr(Provider, constant))("user", "key", **keywords, **script.options())
    assert script.received == []


# -- unserved constants ------------------------------------------------------------------------


@pytest.mark.parametrize(("constant", "advice"), [
    ("BACKBLAZE_B2", "use Provider.S3 with endpoint="),
    ("ALIYUN_OSS", "use Apache Libcloud for it, or register one"),
    ("NIMBUS", "use Apache Libcloud for it, or register one"),
])
def test_an_unserved_constant_is_not_supported_with_advice(constant: str, advice: str) -> None:
    with pytest.raises(NotSupported, match=f"Provider.{constant} ") as caught:
        get_driver(getattr(Provider, constant))
    assert advice in str(caught.value)


# -- libcloud_endpoint -------------------------------------------------------------------------


@pytest.mark.parametrize(("endpoint", "host", "port", "secure", "url"), [
    (None, None, None, True, None),
    ("https://s3.test", None, None, True, "https://s3.test"),
    (None, "s3.test", None, True, "https://s3.test"),
    (None, "s3.test", None, False, "http://s3.test"),
    (None, "localhost", 9000, False, "http://localhost:9000"),
    (None, "localhost", "9000", True, "https://localhost:9000"),
    (None, "10.0.0.5", 443, True, "https://10.0.0.5:443"),
    (None, "::1", 8080, False, "http://[::1]:8080"),
    (None, "[::1]", None, False, "http://[::1]"),
])
def test_libcloud_endpoint_combinations(endpoint: str | None, host: str | None,
                                        port: Any, secure: bool, url: str | None) -> None:
    assert libcloud_endpoint(endpoint, host, port, secure) == url


def test_libcloud_endpoint_keeps_a_path() -> None:
    assert libcloud_endpoint(None, "pdns.test", 8081, False, path="/api/v1") == \
        "http://pdns.test:8081/api/v1"


@pytest.mark.parametrize(("endpoint", "host", "port", "secure", "message"), [
    ("https://s3.test", "s3.test", None, True, "not both"),
    ("https://s3.test", "other.test", 9000, True, "not both"),
    (None, None, 9000, True, "needs host="),
    (None, "", None, True, "host must be"),
    (None, "http://s3.test", None, True, "host must be"),
    (None, "s3 .test", None, True, "host must be"),
    (None, "s3.test", 0, True, "port must be"),
    (None, "s3.test", 70000, True, "port must be"),
    (None, "s3.test", True, True, "port must be"),
    (None, "s3.test", "http", True, "port must be"),
    (None, "s3.test", None, "yes", "secure must be"),
])
def test_libcloud_endpoint_conflicts_and_bad_values_are_invalid(
        endpoint: str | None, host: Any, port: Any, secure: Any, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        libcloud_endpoint(endpoint, host, port, secure)


def test_endpoint_and_host_together_are_invalid_for_a_driver() -> None:
    script = Script()
    with pytest.raises(InvalidInput, match="not both"):
        get_driver(Provider.S3)("AKIDUNIT", "unit-secret", host="s3.test",
                                endpoint="https://s3.test", **script.options())
    assert script.received == []
