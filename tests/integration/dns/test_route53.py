"""The Route 53 driver against a real moto server, beyond the DNS contract.

* pagination with the real page sizes: 105 zones (ListHostedZones pages of
  100) and 310 record sets in one zone (ListResourceRecordSets pages of 300),
  checking each page request on the wire;
* a CreateHostedZone whose answer is lost (a proxy forwards it to moto and then
  drops the connection) leaves exactly one zone;
* boto3 reads what overcast wrote, and overcast reads what boto3 wrote;
* the secret key never reaches logs, errors or reprs;
* error mapping and throttling retries, against a fixture server speaking
  Route 53's error XML (moto cannot throttle or reject credentials).
"""

from __future__ import annotations

import http.client
import logging
import math
import threading
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs
from urllib.parse import urlsplit

import boto3
import pytest

from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.drivers.route53 import Route53DNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import Hooks
from overcast.runtime.policy import RequestEvent
from overcast.runtime.policy import RetryPolicy
from servers.dns_route53 import ACCESS_KEY
from servers.dns_route53 import SECRET_KEY
from servers.dns_route53 import make_driver
from servers.fakeapi import FakeAPI
from servers.fakeapi import FakeRequest
from servers.fakeapi import FakeResponse
from servers.modes import MODES
from servers.modes import call
from servers.moto_server import MotoServer
from servers.moto_server import moto_server

pytestmark = pytest.mark.server

API = "/2013-04-01"


def unique(prefix: str = "r53") -> str:
    return f"{prefix}{uuid.uuid4().hex[:10]}.example.test."


@pytest.fixture
def moto(request: pytest.FixtureRequest) -> MotoServer:
    return moto_server(request)


@pytest.fixture
def boto(moto: MotoServer) -> Any:
    return boto3.client(
        "route53",
        endpoint_url=moto.url,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )


class Recorder:
    """Collects the request events of a driver."""

    def __init__(self) -> None:
        self.events: list[RequestEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: RequestEvent) -> None:
        with self.lock:
            self.events.append(event)

    def clear(self) -> None:
        with self.lock:
            self.events.clear()

    def matching(self, method: str, path: str) -> list[dict[str, list[str]]]:
        """The query parameters of each request to exactly ``path``."""
        found = []
        for event in self.events:
            parts = urlsplit(event.url)
            if event.method == method and parts.path == path:
                found.append(parse_qs(parts.query))
        return found


def recorded_driver(
    request: pytest.FixtureRequest, **kwargs: Any
) -> tuple[Route53DNSDriver, Recorder]:
    recorder = Recorder()
    driver = make_driver(request, hooks=Hooks(on_request=[recorder]), **kwargs)
    return driver, recorder


def in_threads(fn: Callable[[Any], Any], items: list[Any], workers: int = 8) -> list[Any]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


# -- pagination with the real page sizes ------------------------------------------------------


@pytest.fixture(scope="module")
def many_zones(request: pytest.FixtureRequest) -> Iterator[list[Zone]]:
    """105 zones made through the driver (concurrently), deleted afterwards."""
    driver = make_driver(request)
    domains = [unique("page") for _ in range(105)]
    zones = in_threads(driver.create_zone, domains)
    yield zones
    in_threads(driver.delete_zone, zones)
    driver.close()


def test_list_zones_crosses_pages_of_100(
    request: pytest.FixtureRequest, mode: str, many_zones: list[Zone]
) -> None:
    driver, recorder = recorded_driver(request)
    assert driver.page_size == 100
    with driver:
        listed = call(mode, driver, "list_zones")
        iterated = call(mode, driver, "iterate_zones")
    ids = [z.id for z in listed]
    assert len(ids) == len(set(ids)), "a zone was listed twice"
    assert {z.id for z in many_zones} <= set(ids)
    assert [z.id for z in iterated] == ids
    by_id = {z.id: z for z in listed}
    for made in many_zones:
        assert by_id[made.id].domain == made.domain
    pages = recorder.matching("GET", f"{API}/hostedzone")
    per_listing = math.ceil(len(ids) / 100)
    assert per_listing >= 2
    assert len(pages) == 2 * per_listing  # list_zones, then iterate_zones
    for params in pages:
        assert params["maxitems"] == ["100"]
    first, second = pages[0], pages[1]
    assert "marker" not in first
    assert second["marker"][0]  # the NextMarker of page 1 was sent


def test_list_records_crosses_pages_of_300(request: pytest.FixtureRequest) -> None:
    driver, recorder = recorded_driver(request)
    assert driver.record_page_size == 300
    with driver:
        zone = driver.create_zone(unique("rec"))
        try:
            in_threads(
                lambda i: driver.create_record_set(
                    f"h{i:03d}", zone, RecordType.A, [f"10.0.{i // 250}.{i % 250 + 1}"],
                    {"ttl": 60},
                ),
                list(range(310)),
            )
            for mode in MODES:
                recorder.clear()
                records = call(mode, driver, "list_record_sets", zone)
                names = sorted(r.name for r in records if r.type == "A")
                assert names == [f"h{i:03d}" for i in range(310)], mode
                assert {str(r.type) for r in records} == {"A", "SOA", "NS"}
                assert len(records) == 312
                assert len({r.id for r in records}) == 312
                pages = recorder.matching("GET", f"{API}/hostedzone/{zone.id}/rrset")
                assert len(pages) == 2, mode
                assert pages[0] == {"maxitems": ["300"]}
                assert pages[1]["maxitems"] == ["300"]
                assert pages[1]["name"][0].endswith(zone.domain)
                assert pages[1]["type"] == ["A"]
            one = driver.get_record_set(zone.id, "h123:A")
            assert one.values == ["10.0.0.124"]
            assert one.ttl == 60
        finally:
            recorder.clear()
            assert driver.delete_zone(zone) is True
        # 310 sets fit in one change batch; then the zone itself goes.
        assert len(recorder.matching("POST", f"{API}/hostedzone/{zone.id}/rrset")) == 1
        assert len(recorder.matching("DELETE", f"{API}/hostedzone/{zone.id}")) == 1
        with pytest.raises(ZoneNotFound):
            driver.get_zone(zone.id)


def test_small_pages_are_followed(request: pytest.FixtureRequest, mode: str) -> None:
    driver, recorder = recorded_driver(request, page_size=2, record_page_size=2)
    with driver:
        zones = [driver.create_zone(unique("small")) for _ in range(3)]
        try:
            zone = zones[0]
            for i in range(5):
                driver.create_record_set(f"n{i}", zone, RecordType.TXT, [f"v{i}"])
            recorder.clear()
            records = call(mode, driver, "list_record_sets", zone)
            assert sorted(r.name for r in records if r.type == "TXT") == [
                f"n{i}" for i in range(5)
            ]
            assert len(recorder.matching("GET", f"{API}/hostedzone/{zone.id}/rrset")) == 4
            listed = {z.id for z in call(mode, driver, "list_zones")}
            assert {z.id for z in zones} <= listed
        finally:
            for made in zones:
                driver.delete_zone(made)


# -- a create whose answer is lost ------------------------------------------------------------


class DroppingProxy:
    """Forwards HTTP requests to moto; drops the connection of the first
    ``POST /2013-04-01/hostedzone``, after forwarding it (``after=True``: moto
    made the zone) or before (``after=False``: moto never saw it)."""

    def __init__(self, target: str, *, after: bool) -> None:
        self.target = urlsplit(target)
        self.after = after
        self.dropped = False
        self.creates_received = 0
        self.creates_forwarded = 0
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                create = self.command == "POST" and urlsplit(self.path).path == f"{API}/hostedzone"
                drop = False
                with proxy.lock:
                    if create:
                        proxy.creates_received += 1
                        if not proxy.dropped:
                            proxy.dropped = drop = True
                if drop and not proxy.after:
                    self.close_connection = True
                    return
                status, headers, data = proxy.forward(self.command, self.path,
                                                      dict(self.headers.items()), body)
                if create:
                    with proxy.lock:
                        proxy.creates_forwarded += 1
                if drop:
                    self.close_connection = True  # moto answered; the client never hears it
                    return
                self.send_response(status)
                for key, value in headers:
                    if key.lower() not in ("content-length", "connection", "transfer-encoding",
                                           "server", "date"):
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = handle_one  # noqa: N815

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def forward(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        conn = http.client.HTTPConnection(
            self.target.hostname or "127.0.0.1", self.target.port, timeout=30
        )
        try:
            conn.request(method, path, body=body or None, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            conn.close()

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> DroppingProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("after", [True, False], ids=["dropped-after-moto", "dropped-before-moto"])
def test_lost_create_zone_answer_leaves_one_zone(
    moto: MotoServer, boto: Any, mode: str, after: bool
) -> None:
    domain = unique("lost")
    with DroppingProxy(moto.url, after=after) as proxy:
        driver = Route53DNSDriver(ACCESS_KEY, SECRET_KEY, endpoint=proxy.url, timeout=30)
        with driver:
            zone = call(mode, driver, "create_zone", domain)
        assert proxy.dropped
    try:
        zones = boto.list_hosted_zones_by_name(DNSName=domain)["HostedZones"]
        same = [z for z in zones if z["Name"] == domain]
        assert len(same) == 1, same
        assert same[0]["Id"] == f"/hostedzone/{zone.id}"
        assert zone.domain == domain
        assert proxy.creates_forwarded == 1
        # Lost after moto made it: found by its CallerReference, not sent again.
        # Lost before moto saw it: nothing found, so sent once more.
        assert proxy.creates_received == (1 if after else 2)
        assert same[0]["CallerReference"] == zone.extra["caller_reference"]
    finally:
        boto.delete_hosted_zone(Id=f"/hostedzone/{zone.id}")


# -- boto3 and overcast read each other ----------------------------------------------------------


def test_boto3_reads_what_overcast_wrote(
    request: pytest.FixtureRequest, boto: Any, mode: str
) -> None:
    driver = make_driver(request)
    with driver:
        zone = call(mode, driver, "create_zone", unique("ob"), extra={"comment": "from overcast"})
        try:
            call(mode, driver, "create_record_set", "www", zone, RecordType.A,
                 ["192.0.2.1", "192.0.2.2"], {"ttl": 120})
            long_text = "x" * 300 + " naïve"
            call(mode, driver, "create_record_set", "", zone, RecordType.TXT,
                 ["v=spf1 -all", long_text])
            call(mode, driver, "create_record_set", "", zone, RecordType.MX,
                 [f"10 mail.{zone.domain}"])
            got = boto.get_hosted_zone(Id=zone.id)["HostedZone"]
            assert got["Name"] == zone.domain
            assert got["Config"]["Comment"] == "from overcast"
            sets = boto.list_resource_record_sets(HostedZoneId=zone.id)["ResourceRecordSets"]
            by_key = {(s["Name"], s["Type"]): s for s in sets}
            www = by_key[(f"www.{zone.domain}", "A")]
            assert www["TTL"] == 120
            assert sorted(r["Value"] for r in www["ResourceRecords"]) == ["192.0.2.1", "192.0.2.2"]
            txt = by_key[(zone.domain, "TXT")]
            values = [r["Value"] for r in txt["ResourceRecords"]]
            assert '"v=spf1 -all"' in values
            split = '"' + "x" * 255 + '" "' + "x" * 45 + ' na\\195\\175ve"'
            assert split in values
            mx = by_key[(zone.domain, "MX")]
            assert [r["Value"] for r in mx["ResourceRecords"]] == [f"10 mail.{zone.domain}"]
        finally:
            call(mode, driver, "delete_zone", zone)
    assert boto.list_hosted_zones_by_name(DNSName=zone.domain)["HostedZones"] == [] or all(
        z["Name"] != zone.domain
        for z in boto.list_hosted_zones_by_name(DNSName=zone.domain)["HostedZones"]
    )


def test_overcast_reads_what_boto3_wrote(
    request: pytest.FixtureRequest, boto: Any, mode: str
) -> None:
    domain = unique("bo")
    made = boto.create_hosted_zone(
        Name=domain, CallerReference=uuid.uuid4().hex,
        HostedZoneConfig={"Comment": "from boto3", "PrivateZone": False},
    )["HostedZone"]
    zone_id = made["Id"].rsplit("/", 1)[-1]
    boto.change_resource_record_sets(
        HostedZoneId=zone_id,
        ChangeBatch={"Changes": [
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": f"api.{domain}", "Type": "AAAA", "TTL": 90,
                "ResourceRecords": [{"Value": "2001:db8::1"}, {"Value": "2001:db8::2"}]}},
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": f"txt.{domain}", "Type": "TXT", "TTL": 90,
                "ResourceRecords": [{"Value": '"hello" " world"'}]}},
            {"Action": "CREATE", "ResourceRecordSet": {
                "Name": f"_sip._tcp.{domain}", "Type": "SRV", "TTL": 90,
                "ResourceRecords": [{"Value": "10 5 5060 sip.example.test"}]}},
        ]},
    )
    driver = make_driver(request)
    with driver:
        zone = call(mode, driver, "get_zone", zone_id)
        assert zone.domain == domain
        assert zone.extra["comment"] == "from boto3"
        assert zone.id in [z.id for z in call(mode, driver, "list_zones")]
        records = {(r.name, str(r.type)): r for r in call(mode, driver, "list_record_sets", zone)}
        api = records[("api", "AAAA")]
        assert sorted(api.values) == ["2001:db8::1", "2001:db8::2"]
        assert api.ttl == 90
        assert records[("txt", "TXT")].values == ["hello world"]
        assert records[("_sip._tcp", "SRV")].values == ["10 5 5060 sip.example.test."]
        fetched = call(mode, driver, "get_record_set", zone.id, "api:AAAA")
        assert sorted(fetched.values) == sorted(api.values)
        # overcast changes and deletes what boto3 made; boto3 sees it.
        call(mode, driver, "update_record_set", fetched, None, None, ["2001:db8::9"], ttl=30)
        sets = boto.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]
        api_set = next(s for s in sets if s["Name"] == f"api.{domain}")
        assert api_set["ResourceRecords"] == [{"Value": "2001:db8::9"}]
        assert api_set["TTL"] == 30
        assert call(mode, driver, "delete_zone", zone) is True
    zones = boto.list_hosted_zones_by_name(DNSName=domain)["HostedZones"]
    assert [z for z in zones if z["Name"] == domain] == []


# -- driver behaviour on moto -----------------------------------------------------------------


def test_zone_comment_update_and_unsupported_changes(
    request: pytest.FixtureRequest, mode: str
) -> None:
    driver = make_driver(request)
    with driver:
        zone = call(mode, driver, "create_zone", unique("upd"), extra={"comment": "one"})
        try:
            assert zone.extra["comment"] == "one"
            updated = call(mode, driver, "update_zone", zone, None, None, None,
                           {"comment": "two"})
            assert updated.extra["comment"] == "two"
            assert call(mode, driver, "get_zone", zone.id).extra["comment"] == "two"
            assert call(mode, driver, "get_zone", f"/hostedzone/{zone.id}").id == zone.id
            with pytest.raises(NotSupported):
                call(mode, driver, "update_zone", zone, "other.example.test.")
            with pytest.raises(NotSupported):
                call(mode, driver, "update_zone", zone, None, None, 300)
            with pytest.raises(NotSupported):
                call(mode, driver, "create_zone", unique(), "slave")
            with pytest.raises(InvalidInput):
                call(mode, driver, "create_zone", unique(), "master", -1)
            with_ttl = call(mode, driver, "create_zone", unique("ttl"), "master", 300)
            assert with_ttl.ttl is None  # Route 53 keeps no zone TTL
            call(mode, driver, "delete_zone", with_ttl)
            with pytest.raises(InvalidInput):
                call(mode, driver, "create_zone", "bad..name")
            with pytest.raises(ZoneAlreadyExists):
                call(mode, driver, "create_zone", zone.domain.upper())
        finally:
            driver.delete_zone(zone)


def test_record_rename_and_type_change(request: pytest.FixtureRequest, mode: str) -> None:
    driver = make_driver(request)
    with driver:
        zone = driver.create_zone(unique("mv"))
        try:
            record = call(mode, driver, "create_record_set", "old", zone, RecordType.A, "192.0.2.1")
            assert record.ttl == 300  # DEFAULT_RECORD_TTL
            assert record.id == "old:A"
            moved = call(mode, driver, "update_record_set", record, "new", None, None)
            assert moved.id == "new:A"
            assert driver.get_record_set(zone.id, "new:A").values == ["192.0.2.1"]
            with pytest.raises(RecordNotFound):
                driver.get_record_set(zone.id, "old:A")
            cname = call(mode, driver, "update_record_set", moved, None, RecordType.CNAME,
                         "target.example.test.")
            assert cname.id == "new:CNAME"
            assert [r.type for r in driver.list_record_sets(zone) if r.name == "new"] == ["CNAME"]
            driver.create_record_set("other", zone, RecordType.A, "192.0.2.5")
            with pytest.raises(RecordAlreadyExists):
                call(mode, driver, "update_record_set", cname, "other", RecordType.A, "192.0.2.6")
            with pytest.raises(InvalidInput):  # other data beside a CNAME
                call(mode, driver, "create_record_set", "new", zone, RecordType.TXT, "x")
            wild = call(mode, driver, "create_record_set", "*", zone, RecordType.A, "192.0.2.7")
            assert wild.id == "*:A"
            assert driver.get_record_set(zone.id, "*:A").name == "*"
        finally:
            driver.delete_zone(zone)


def test_missing_things(request: pytest.FixtureRequest, mode: str) -> None:
    driver, recorder = recorded_driver(request)
    with driver:
        with pytest.raises(ZoneNotFound):
            call(mode, driver, "get_zone", "ZNOSUCHZONE0000")
        sent = len(recorder.events)
        with pytest.raises(ZoneNotFound):  # cannot be a zone id: nothing sent
            call(mode, driver, "get_zone", "no/such zone")
        assert len(recorder.events) == sent
        ghost = Zone("ZNOSUCHZONE0000", "ghost.example.test.", "master", None, driver=driver)
        with pytest.raises(ZoneNotFound):
            call(mode, driver, "list_record_sets", ghost)
        with pytest.raises(ZoneNotFound):
            call(mode, driver, "delete_zone", ghost)
        with pytest.raises(ZoneNotFound):
            call(mode, driver, "get_record_set", "ZNOSUCHZONE0000", "www:A")


# -- secrets ------------------------------------------------------------------------------------


def test_secret_never_in_logs_or_errors(
    moto: MotoServer, caplog: pytest.LogCaptureFixture, mode: str
) -> None:
    secret = "S3cr3t/" + uuid.uuid4().hex
    token = "T0ken/" + uuid.uuid4().hex
    caplog.set_level(logging.DEBUG)
    driver = Route53DNSDriver("AKIDLOGTEST", secret, token, endpoint=moto.url)
    texts = [repr(driver), str(driver), repr(driver._credentials)]
    with driver:
        zone = call(mode, driver, "create_zone", unique("log"))
        call(mode, driver, "create_record_set", "www", zone, RecordType.A, "192.0.2.1")
        call(mode, driver, "list_record_sets", zone)
        for fn, args in (("get_zone", ("ZNOSUCHZONE0000",)),
                         ("get_record_set", (zone.id, "nope:A"))):
            with pytest.raises((ZoneNotFound, RecordNotFound)) as info:
                call(mode, driver, fn, *args)
            texts += [str(info.value), repr(info.value)]
        call(mode, driver, "delete_zone", zone)
    assert "-> POST" in caplog.text  # requests were logged, with their headers
    assert "x-amz-security-token': '***'" in caplog.text
    for text in [caplog.text, *texts]:
        assert secret not in text
        assert token not in text


# -- errors and throttling, against Route 53's error XML -----------------------------------------

ERROR = (
    '<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/">'
    "<Error><Type>Sender</Type><Code>{code}</Code><Message>{message}</Message></Error>"
    "<RequestId>req-123</RequestId></ErrorResponse>"
)
EMPTY_ZONES = (
    '<?xml version="1.0"?><ListHostedZonesResponse xmlns="https://route53.amazonaws.com/doc/'
    '2013-04-01/"><HostedZones/><IsTruncated>false</IsTruncated><MaxItems>100</MaxItems>'
    "</ListHostedZonesResponse>"
)


def fake_driver(url: str, **kwargs: Any) -> Route53DNSDriver:
    kwargs.setdefault("retry", RetryPolicy(max_attempts=3, base=0.01, cap=0.02))
    return Route53DNSDriver(ACCESS_KEY, SECRET_KEY, endpoint=url, **kwargs)


def test_throttling_is_retried_then_succeeds(mode: str) -> None:
    api = FakeAPI()
    answers = [FakeResponse.xml(ERROR.format(code="Throttling", message="Rate exceeded"), 400),
               FakeResponse.xml(ERROR.format(code="Throttling", message="Rate exceeded"), 400),
               FakeResponse.xml(EMPTY_ZONES)]

    @api.route("GET", f"{API}/hostedzone")
    def zones(req: FakeRequest) -> FakeResponse:
        return answers.pop(0)

    with api.serving() as url, fake_driver(url) as driver:
        assert call(mode, driver, "list_zones") == []
    assert len(api.requests) == 3
    for seen in api.requests:  # each attempt signed for route53
        assert "/us-east-1/route53/aws4_request" in (seen.header("Authorization") or "")


def test_throttling_that_does_not_stop_raises_rate_limited(mode: str) -> None:
    api = FakeAPI()

    @api.route("POST", f"{API}/hostedzone")
    def create(req: FakeRequest) -> FakeResponse:
        return FakeResponse.xml(ERROR.format(code="Throttling", message="Rate exceeded"), 400)

    @api.route("GET", f"{API}/hostedzonesbyname")
    def by_name(req: FakeRequest) -> FakeResponse:
        return FakeResponse.xml(
            "<ListHostedZonesByNameResponse><HostedZones/><IsTruncated>false</IsTruncated>"
            "</ListHostedZonesByNameResponse>"
        )

    with api.serving() as url, fake_driver(url) as driver, pytest.raises(RateLimited):
        call(mode, driver, "create_zone", "throttled.example.test.")
    # A throttled create was not processed, so resending it is safe.
    assert len([r for r in api.requests if r.method == "POST"]) == 3


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [
        (403, "AccessDenied", InvalidCredentials),
        (403, "InvalidClientTokenId", InvalidCredentials),
        (403, "SignatureDoesNotMatch", InvalidCredentials),
        (400, "InvalidInput", InvalidInput),
        (404, "NoSuchHostedZone", ZoneNotFound),
        (400, "SomethingNew", ProviderError),
    ],
)
def test_error_codes_are_mapped(mode: str, status: int, code: str, error: type[Exception]) -> None:
    api = FakeAPI()

    @api.route("GET", f"{API}/hostedzone/(?P<zone_id>[^/]+)")
    def get(req: FakeRequest, zone_id: str) -> FakeResponse:
        # A provider message that echoes the secret must not leak it.
        return FakeResponse.xml(ERROR.format(code=code, message=f"bad {SECRET_KEY} x"), status)

    with api.serving() as url, fake_driver(url) as driver, pytest.raises(error) as info:
        call(mode, driver, "get_zone", "Z123")
    assert SECRET_KEY not in str(info.value)
    if isinstance(info.value, ProviderError):
        assert (info.value.status, info.value.code, info.value.request_id) == (
            status, code, "req-123"
        )


def test_create_record_race_maps_invalid_change_batch(mode: str) -> None:
    """Route 53 answers a CREATE of an existing set with InvalidChangeBatch (moto
    instead makes a second set): the driver's read saw nothing, the write lost."""
    api = FakeAPI()
    zone_xml = (
        "<GetHostedZoneResponse><HostedZone><Id>/hostedzone/Z1</Id><Name>race.example.test.</Name>"
        "<CallerReference>x</CallerReference></HostedZone></GetHostedZoneResponse>"
    )

    @api.route("GET", f"{API}/hostedzone/Z1")
    def get(req: FakeRequest) -> FakeResponse:
        return FakeResponse.xml(zone_xml)

    @api.route("GET", f"{API}/hostedzone/Z1/rrset")
    def listing(req: FakeRequest) -> FakeResponse:
        return FakeResponse.xml(
            "<ListResourceRecordSetsResponse><ResourceRecordSets/><IsTruncated>false"
            "</IsTruncated></ListResourceRecordSetsResponse>"
        )

    @api.route("POST", f"{API}/hostedzone/Z1/rrset")
    def change(req: FakeRequest) -> FakeResponse:
        return FakeResponse.xml(
            '<?xml version="1.0"?><InvalidChangeBatch xmlns="https://route53.amazonaws.com/doc/'
            '2013-04-01/"><Messages><Message>Tried to create resource record set '
            "[name='www.race.example.test.', type='A'] but it already exists</Message>"
            "</Messages><RequestId>r</RequestId></InvalidChangeBatch>",
            400,
        )

    with api.serving() as url, fake_driver(url) as driver:
        zone = driver.get_zone("Z1")
        with pytest.raises(RecordAlreadyExists):
            call(mode, driver, "create_record_set", "www", zone, RecordType.A, "192.0.2.1")
    body = api.requests[-1].body.decode()
    assert "<Action>CREATE</Action>" in body
    assert "<Name>www.race.example.test.</Name>" in body
    assert "<TTL>300</TTL>" in body


def test_constructor_checks_without_network() -> None:
    with pytest.raises(InvalidInput):
        Route53DNSDriver(ACCESS_KEY, SECRET_KEY, page_size=101)
    with pytest.raises(InvalidInput):
        Route53DNSDriver(ACCESS_KEY, SECRET_KEY, record_page_size=0)
    with pytest.raises(InvalidCredentials):
        Route53DNSDriver(ACCESS_KEY)
    driver = Route53DNSDriver(ACCESS_KEY, SECRET_KEY)
    assert driver.endpoint == "https://route53.amazonaws.com"
    assert SECRET_KEY not in repr(driver)
    assert driver._sync is None and driver._async is None  # nothing opened
