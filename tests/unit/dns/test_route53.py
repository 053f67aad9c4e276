"""The Route 53 driver on the scripted transport: the requests it sends and how
it reads the answers, in both modes, without a server."""

from __future__ import annotations

import uuid
from typing import Any
from xml.sax.saxutils import escape

import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
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
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call

API = "https://route53.amazonaws.com/2013-04-01"
NS = 'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"'
REFERENCE = uuid.UUID("00000000-0000-4000-8000-000000000001")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> Route53DNSDriver:
    options.setdefault("retry", RetryPolicy(max_attempts=3, base=0, cap=0))
    return Route53DNSDriver("AKIDUNIT", "unit-secret", page_size=2, record_page_size=2,
                            **options, **script.options())


def zone(zone_id: str = "Z1", domain: str = "example.com.") -> Zone:
    return Zone(zone_id, domain, ZoneType.MASTER.value, None)


def doc(root: str, inner: str) -> str:
    return f'<?xml version="1.0"?><{root} {NS}>{inner}</{root}>'


def hosted_zone(zone_id: str, name: str, reference: str = "ref") -> str:
    return (f"<HostedZone><Id>/hostedzone/{zone_id}</Id><Name>{name}</Name>"
            f"<CallerReference>{reference}</CallerReference>"
            "<Config><PrivateZone>false</PrivateZone></Config></HostedZone>")


def zones_page(ids: list[str], next_marker: str | None = None) -> str:
    inner = "".join(hosted_zone(i, f"{i.lower()}.example.") for i in ids)
    more = (f"<IsTruncated>true</IsTruncated><NextMarker>{next_marker}</NextMarker>"
            if next_marker else "<IsTruncated>false</IsTruncated>")
    return doc("ListHostedZonesResponse", f"<HostedZones>{inner}</HostedZones>{more}")


def by_name(zones: str = "") -> str:
    return doc("ListHostedZonesByNameResponse",
               f"<HostedZones>{zones}</HostedZones><IsTruncated>false</IsTruncated>")


def rrset(name: str, rtype: str, *values: str, ttl: int = 300) -> str:
    records = "".join(f"<ResourceRecord><Value>{escape(v)}</Value></ResourceRecord>"
                      for v in values)
    return (f"<ResourceRecordSet><Name>{name}</Name><Type>{rtype}</Type><TTL>{ttl}</TTL>"
            f"<ResourceRecords>{records}</ResourceRecords></ResourceRecordSet>")


def sets_page(*sets: str, following: tuple[str, str] | None = None) -> str:
    more = "<IsTruncated>false</IsTruncated>"
    if following is not None:
        more = (f"<IsTruncated>true</IsTruncated><NextRecordName>{following[0]}"
                f"</NextRecordName><NextRecordType>{following[1]}</NextRecordType>")
    return doc("ListResourceRecordSetsResponse",
               f"<ResourceRecordSets>{''.join(sets)}</ResourceRecordSets>{more}")


CHANGED = doc("ChangeResourceRecordSetsResponse",
              "<ChangeInfo><Id>/change/C1</Id><Status>PENDING</Status></ChangeInfo>")


def error(code: str, message: str, request_id: str = "req-1") -> str:
    return doc("ErrorResponse", f"<Error><Type>Sender</Type><Code>{code}</Code>"
               f"<Message>{message}</Message></Error><RequestId>{request_id}</RequestId>")


def has(*parts: str) -> Any:
    def check(sent: Sent) -> bool:
        return all(part in sent.text for part in parts)

    return check


# -- zones ----------------------------------------------------------------------------


def test_zones_are_listed_page_by_page_signed(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2"}).reply(
        200, text=zones_page(["ZA", "ZB"], "ZC"))
    script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2", "marker": "ZC"}).reply(
        200, text=zones_page(["ZC"]))
    zones = call(mode, driver(script), "list_zones")
    assert [(z.id, z.domain) for z in zones] == [
        ("ZA", "za.example."), ("ZB", "zb.example."), ("ZC", "zc.example.")]
    assert all("/us-east-1/route53/aws4_request" in s.headers["Authorization"]
               for s in script.received)
    script.assert_done()


def test_a_marker_sent_a_second_time_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2"}).reply(
        200, text=zones_page(["ZA"], "ZB"))
    script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2", "marker": "ZB"}).reply(
        200, text=zones_page(["ZB"], "ZB"))
    with pytest.raises(ProviderError, match="sent the marker 'ZB' a second time"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_an_unexpected_document_is_an_error_not_an_empty_listing(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2"}).reply(
        200, text=doc("ListHostedZonesByNameResponse", "<HostedZones/>"))
    with pytest.raises(ProviderError, match="expected a ListHostedZonesResponse document"):
        call(mode, driver(script), "list_zones")
    script.assert_done()


def test_a_zone_is_read_with_its_name_servers(mode: str) -> None:
    script = Script()
    delegation = ("<DelegationSet><NameServers><NameServer>ns-1.awsdns-1.org</NameServer>"
                  "<NameServer>ns-2.awsdns-2.com</NameServer></NameServers></DelegationSet>")
    script.expect("GET", f"{API}/hostedzone/Z1").reply(200, text=doc(
        "GetHostedZoneResponse", hosted_zone("Z1", "example.com.") + delegation))
    found = call(mode, driver(script), "get_zone", "/hostedzone/Z1")
    assert (found.id, found.domain, found.ttl) == ("Z1", "example.com.", None)
    assert found.extra["name_servers"] == ["ns-1.awsdns-1.org", "ns-2.awsdns-2.com"]
    script.assert_done()


def test_a_zone_is_created_with_a_caller_reference_once_its_name_is_free(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uuid, "uuid4", lambda: REFERENCE)
    reference = f"overcast-{REFERENCE.hex}"
    script = Script()
    script.expect("GET", f"{API}/hostedzonesbyname",
                  params={"dnsname": "new.example.", "maxitems": "2"}).reply(200, text=by_name())
    script.expect("POST", f"{API}/hostedzone", headers={"Content-Type": "text/xml"},
                  match=has("<Name>new.example.</Name>",
                            f"<CallerReference>{reference}</CallerReference>",
                            "<Comment>hi</Comment>")).reply(
        201, text=doc("CreateHostedZoneResponse", hosted_zone("ZNEW", "new.example.", reference)
                      + "<ChangeInfo><Id>/change/C9</Id></ChangeInfo>"))
    made = call(mode, driver(script), "create_zone", "New.Example", extra={"comment": "hi"})
    assert (made.id, made.domain, made.extra["change_id"]) == ("ZNEW", "new.example.",
                                                              "/change/C9")
    script.assert_done()


@pytest.mark.parametrize("landed", [True, False], ids=["made", "not-made"])
def test_a_lost_create_zone_answer_is_settled_by_the_caller_reference(
    mode: str, monkeypatch: pytest.MonkeyPatch, landed: bool
) -> None:
    monkeypatch.setattr(uuid, "uuid4", lambda: REFERENCE)
    reference = f"overcast-{REFERENCE.hex}"
    lookup = {"dnsname": "lost.example.", "maxitems": "2"}
    script = Script()
    script.expect("GET", f"{API}/hostedzonesbyname", params=lookup).reply(200, text=by_name())
    script.expect("POST", f"{API}/hostedzone").fail(sent=True)
    found = hosted_zone("ZLOST", "lost.example.", reference) if landed else ""
    script.expect("GET", f"{API}/hostedzonesbyname", params=lookup).reply(
        200, text=by_name(found))
    if not landed:  # nothing was made: the create is sent again
        script.expect("POST", f"{API}/hostedzone", match=has(reference)).reply(
            201, text=doc("CreateHostedZoneResponse",
                          hosted_zone("ZLOST", "lost.example.", reference)))
    made = call(mode, driver(script), "create_zone", "lost.example.")
    assert (made.id, made.extra["caller_reference"]) == ("ZLOST", reference)
    script.assert_done()


def test_a_zone_of_that_name_is_zone_already_exists_before_any_create(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzonesbyname",
                  params={"dnsname": "taken.example.", "maxitems": "2"}).reply(
        200, text=by_name(hosted_zone("ZT", "taken.example.")))
    with pytest.raises(ZoneAlreadyExists):
        call(mode, driver(script), "create_zone", "taken.example.")
    script.assert_done()


def test_a_zone_is_emptied_then_deleted(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("GET", rrsets, params={"maxitems": "2"}).reply(200, text=sets_page(
        rrset("example.com.", "NS", "ns-1.awsdns-1.org."),
        rrset("example.com.", "SOA", "ns-1.awsdns-1.org. hostmaster. 1 7200 900 1209600 86400"),
        following=("www.example.com.", "A")))
    script.expect("GET", rrsets, params={"maxitems": "2", "name": "www.example.com.",
                                         "type": "A"}).reply(
        200, text=sets_page(rrset("www.example.com.", "A", "192.0.2.1")))
    script.expect("POST", rrsets, match=has("<Action>DELETE</Action>",
                                            "<Name>www.example.com.</Name>")).reply(
        200, text=CHANGED)
    script.expect("DELETE", f"{API}/hostedzone/Z1").reply(
        200, text=doc("DeleteHostedZoneResponse", "<ChangeInfo><Id>/change/C2</Id></ChangeInfo>"))
    assert call(mode, driver(script), "delete_zone", zone()) is True
    assert "<Name>example.com.</Name>" not in script.received[2].text  # apex NS/SOA kept
    script.assert_done()


def test_a_zone_that_still_holds_sets_says_so(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone/Z1/rrset", params={"maxitems": "2"}).reply(
        200, text=sets_page())
    script.expect("DELETE", f"{API}/hostedzone/Z1").reply(
        400, text=error("HostedZoneNotEmpty", "The hosted zone contains resource records"))
    with pytest.raises(ProviderError, match="still holds record sets") as info:
        call(mode, driver(script), "delete_zone", zone())
    assert (info.value.code, info.value.request_id) == ("HostedZoneNotEmpty", "req-1")
    script.assert_done()


# -- record sets ------------------------------------------------------------------------


def test_record_sets_are_listed_past_page_one(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("GET", rrsets, params={"maxitems": "2"}).reply(200, text=sets_page(
        rrset("example.com.", "MX", "10 mail.example.com."),
        rrset("\\052.example.com.", "A", "192.0.2.9"),
        following=("txt.example.com.", "TXT")))
    script.expect("GET", rrsets, params={"maxitems": "2", "name": "txt.example.com.",
                                         "type": "TXT"}).reply(
        200, text=sets_page(rrset("txt.example.com.", "TXT", '"hello" " world"', ttl=60)))
    records = call(mode, driver(script), "list_record_sets", zone())
    assert [(r.id, r.name, r.values, r.ttl) for r in records] == [
        ("@:MX", "", ["10 mail.example.com."], 300),
        ("*:A", "*", ["192.0.2.9"], 300),
        ("txt:TXT", "txt", ["hello world"], 60),
    ]
    script.assert_done()


def test_a_record_cursor_sent_a_second_time_is_an_error(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    again = {"maxitems": "2", "name": "b.example.com.", "type": "A"}
    script.expect("GET", rrsets, params={"maxitems": "2"}).reply(200, text=sets_page(
        rrset("a.example.com.", "A", "192.0.2.1"), following=("b.example.com.", "A")))
    script.expect("GET", rrsets, params=again).reply(200, text=sets_page(
        rrset("b.example.com.", "A", "192.0.2.2"), following=("b.example.com.", "A")))
    with pytest.raises(ProviderError, match="a second time"):
        call(mode, driver(script), "list_record_sets", zone())
    script.assert_done()


def test_a_truncated_page_without_a_next_name_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone/Z1/rrset", params={"maxitems": "2"}).reply(
        200, text=doc("ListResourceRecordSetsResponse",
                      "<ResourceRecordSets/><IsTruncated>true</IsTruncated>"))
    with pytest.raises(ProviderError, match="no NextRecordName"):
        call(mode, driver(script), "list_record_sets", zone())
    script.assert_done()


def test_a_set_is_created_once_its_name_is_free(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("GET", rrsets, params={"maxitems": "20", "name": "www.example.com."}).reply(
        200, text=sets_page(rrset("zzz.example.com.", "A", "192.0.2.7")))
    script.expect("POST", rrsets, match=has(
        "<Action>CREATE</Action>", "<Name>www.example.com.</Name>", "<Type>A</Type>",
        "<TTL>60</TTL>", "<Value>192.0.2.1</Value>", "<Value>192.0.2.2</Value>")).reply(
        200, text=CHANGED)
    made = call(mode, driver(script), "create_record_set", "www", zone(), "A",
                ["192.0.2.1", "192.0.2.2"], ttl=60)
    assert (made.id, made.values, made.ttl, made.extra["change_id"]) == (
        "www:A", ["192.0.2.1", "192.0.2.2"], 60, "/change/C1")
    script.assert_done()


def test_a_set_that_exists_or_a_cname_beside_data_is_refused_before_any_change(
    mode: str,
) -> None:
    script = Script()
    lookup = {"maxitems": "20", "name": "www.example.com."}
    for _ in range(2):
        script.expect("GET", f"{API}/hostedzone/Z1/rrset", params=lookup).reply(
            200, text=sets_page(rrset("www.example.com.", "A", "192.0.2.1")))
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.9")
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver(script), "create_record_set", "www", zone(), "CNAME", "other.example.")
    script.assert_done()  # no change was sent


def test_a_create_that_lost_a_race_is_record_already_exists(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("GET", rrsets, params={"maxitems": "20", "name": "www.example.com."}).reply(
        200, text=sets_page())
    script.expect("POST", rrsets).reply(400, text=doc(
        "InvalidChangeBatch", "<Messages><Message>Tried to create resource record set "
        "[name='www.example.com.', type='A'] but it already exists</Message></Messages>"))
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.1")
    script.assert_done()


def test_a_set_is_updated_in_place_with_an_upsert(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("GET", rrsets, params={"maxitems": "1", "name": "www.example.com.",
                                         "type": "A"}).reply(
        200, text=sets_page(rrset("www.example.com.", "A", "192.0.2.1", ttl=60)))
    script.expect("POST", rrsets, match=has("<Action>UPSERT</Action>", "<TTL>60</TTL>",
                                            "<Value>192.0.2.5</Value>")).reply(200, text=CHANGED)
    updated = call(mode, driver(script), "update_record_set", record("www", "A", "192.0.2.1"),
                   None, None, ["192.0.2.5"])
    assert (updated.id, updated.values, updated.ttl) == ("www:A", ["192.0.2.5"], 60)
    script.assert_done()


def test_a_renamed_set_is_deleted_and_created_in_one_batch(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    old = rrset("old.example.com.", "A", "192.0.2.1", ttl=60)
    script.expect("GET", rrsets, params={"maxitems": "1", "name": "old.example.com.",
                                         "type": "A"}).reply(200, text=sets_page(old))
    script.expect("GET", rrsets, params={"maxitems": "20", "name": "new.example.com."}).reply(
        200, text=sets_page())
    script.expect("POST", rrsets, match=lambda sent: sent.text.index(
        "<Action>DELETE</Action><ResourceRecordSet><Name>old.example.com.</Name>")
        < sent.text.index("<Action>CREATE</Action><ResourceRecordSet><Name>new.example.com.")
    ).reply(200, text=CHANGED)
    moved = call(mode, driver(script), "update_record_set", record("old", "A", "192.0.2.1"),
                 "new", None, None)
    assert (moved.id, moved.values, moved.ttl) == ("new:A", ["192.0.2.1"], 60)
    script.assert_done()


def test_a_set_is_deleted_as_it_is_now(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    lookup = {"maxitems": "1", "name": "www.example.com.", "type": "A"}
    script.expect("GET", rrsets, params=lookup).reply(
        200, text=sets_page(rrset("www.example.com.", "A", "192.0.2.1", "192.0.2.2")))
    script.expect("POST", rrsets, match=has("<Action>DELETE</Action>", "<Value>192.0.2.2</Value>")
                  ).reply(200, text=CHANGED)
    script.expect("GET", rrsets, params=lookup).reply(200, text=sets_page())
    assert call(mode, driver(script), "delete_record_set", record("www", "A", "192.0.2.1")) is True
    with pytest.raises(RecordNotFound):
        call(mode, driver(script), "delete_record_set", record("www", "A", "192.0.2.1"))
    script.assert_done()


def test_a_delete_whose_answer_is_lost_is_settled_by_reading_the_set(mode: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    lookup = {"maxitems": "1", "name": "www.example.com.", "type": "A"}
    script.expect("GET", rrsets, params=lookup).reply(
        200, text=sets_page(rrset("www.example.com.", "A", "192.0.2.1")))
    script.expect("POST", rrsets).fail(sent=True)
    script.expect("GET", rrsets, params=lookup).reply(
        200, text=sets_page(rrset("www.example.com.", "A", "192.0.2.1")))
    script.expect("POST", rrsets).reply(200, text=CHANGED)  # still there: sent again
    assert call(mode, driver(script), "delete_record_set", record("www", "A", "192.0.2.1")) is True
    script.assert_done()


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (404, "NoSuchHostedZone", ZoneNotFound),
        (403, "SignatureDoesNotMatch", InvalidCredentials),
        (400, "InvalidClientTokenId", InvalidCredentials),
        (400, "InvalidDomainName", InvalidInput),
    ],
)
def test_error_codes_map_to_their_errors(mode: str, status: int, code: str,
                                         expected: type[Exception]) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone/Z1").reply(
        status, text=error(code, "refused unit-secret here"))
    with pytest.raises(expected) as info:
        call(mode, driver(script), "get_zone", "Z1")
    assert "unit-secret" not in str(info.value)
    script.assert_done()


def test_throttling_is_retried_then_rate_limited(mode: str) -> None:
    script = Script()
    for _ in range(2):
        script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2"}).reply(
            400, text=error("Throttling", "Rate exceeded"))
    script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2"}).reply(
        200, text=zones_page([]))
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("GET", rrsets, params={"maxitems": "20", "name": "www.example.com."}).reply(
        200, text=sets_page())
    for _ in range(3):  # a throttled change was not applied: even a create is resent
        script.expect("POST", rrsets).reply(
            400, text=error("PriorRequestNotComplete", "still applying"))
    assert call(mode, driver(script), "list_zones") == []
    with pytest.raises(RateLimited, match="PriorRequestNotComplete"):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.1")
    script.assert_done()


def test_a_server_error_keeps_its_code_and_request_id(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone/Z1").reply(
        500, text=error("InternalFailure", "oops", "req-500"),
        headers={"x-amzn-RequestId": "hdr-500"})
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "get_zone", "Z1")
    assert (info.value.status, info.value.code, info.value.request_id) == (
        500, "InternalFailure", "hdr-500")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "not-an-address")
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_zone", "bad..name")
    with pytest.raises(ZoneNotFound):  # cannot be a zone id
        call(mode, driver(script), "get_zone", "no/such zone")
    with pytest.raises(InvalidInput):
        Route53DNSDriver("AKIDUNIT", "unit-secret", page_size=101)
    with pytest.raises(InvalidInput):
        Route53DNSDriver("AKIDUNIT", "unit-secret", record_page_size=0)
    with pytest.raises(InvalidInput):
        Route53DNSDriver("AKIDUNIT", "unit-secret", endpoint="ftp://example.com")
    script.assert_done()
    assert script.received == []


def record(name: str, rtype: str, value: str) -> RecordSet:
    return RecordSet(f"{name}:{rtype}", name, rtype, value, zone(), ttl=60, values=[value])


# -- answers that are not the document asked for -----------------------------------------------


@pytest.mark.parametrize("root", ["ListHostedZonesResponse", "ErrorResponse", "Other"])
def test_a_record_listing_of_another_document_is_an_error(mode: str, root: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone/Z1/rrset", params={"maxitems": "2"}).reply(
        200, text=doc(root, "<ResourceRecordSets/><IsTruncated>false</IsTruncated>"))
    with pytest.raises(ProviderError, match="expected a ListResourceRecordSetsResponse"):
        call(mode, driver(script), "list_record_sets", zone())
    script.assert_done()


@pytest.mark.parametrize("root", ["ChangeResourceRecordSetsRequest", "ErrorResponse"])
def test_a_change_answered_with_another_document_is_an_error(mode: str, root: str) -> None:
    script = Script()
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("GET", rrsets, params={"maxitems": "20", "name": "www.example.com."}).reply(
        200, text=sets_page())
    script.expect("POST", rrsets).reply(200, text=doc(root, "<ChangeInfo><Id>/change/C1</Id>"
                                                            "</ChangeInfo>"))
    with pytest.raises(ProviderError, match="expected a ChangeResourceRecordSetsResponse"):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.1")
    script.assert_done()


def test_a_zone_answered_with_another_document_is_an_error(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/hostedzone/Z1").reply(200, text=doc(
        "ListHostedZonesResponse", hosted_zone("Z1", "example.com.")))
    with pytest.raises(ProviderError, match="expected a GetHostedZoneResponse"):
        call(mode, driver(script), "get_zone", "Z1")
    script.assert_done()


# -- zone-file imports: change batches -------------------------------------------------------


def _import_reads(script: Script, *sets: str) -> None:
    """What an import reads before it writes: the zones, then the zone's sets."""
    script.expect("GET", f"{API}/hostedzone", params={"maxitems": "2"}).reply(
        200, text=doc("ListHostedZonesResponse", "<HostedZones>"
                      f"{hosted_zone('Z1', 'example.com.')}</HostedZones>"
                      "<IsTruncated>false</IsTruncated>"))
    script.expect("GET", f"{API}/hostedzone/Z1/rrset", params={"maxitems": "2"}).reply(
        200, text=sets_page(rrset("example.com.", "SOA", "ns. host. 1 2 3 4 5"),
                            rrset("example.com.", "NS", "ns.example.net."), *sets))


def _actions(sent: Sent, action: str) -> int:
    return sent.text.count(f"<Action>{action}</Action>")


def test_an_import_is_one_change_batch(mode: str) -> None:
    script = Script()
    _import_reads(script)
    script.expect("POST", f"{API}/hostedzone/Z1/rrset", match=has(
        "<Comment>overcast import</Comment>",
        "<Name>mail.example.com.</Name><Type>A</Type><TTL>600</TTL>",
        '<Value>"hello world"</Value>')).reply(200, text=CHANGED)
    text = ('$ORIGIN example.com.\n$TTL 600\nmail IN A 192.0.2.1\nwww IN CNAME mail\n'
            'txt IN TXT "hello world"\n')
    assert call(mode, driver(script), "import_zone_from_bind_format", text).id == "Z1"
    assert _actions(script.received[-1], "CREATE") == 3
    script.assert_done()


def test_a_large_import_is_batched_within_the_limits_and_undone_if_a_batch_fails(
    mode: str
) -> None:
    script = Script()
    _import_reads(script)
    rrsets = f"{API}/hostedzone/Z1/rrset"
    script.expect("POST", rrsets, match=lambda s: _actions(s, "CREATE") == 1000).reply(
        200, text=CHANGED)
    script.expect("POST", rrsets, match=lambda s: _actions(s, "CREATE") == 200).reply(
        400, text=doc("InvalidChangeBatch", "<Messages><Message>Tried to create resource "
                      "record set [name='h1100.example.com.', type='A'] but it already exists"
                      "</Message></Messages>"))
    script.expect("POST", rrsets, match=lambda s: _actions(s, "DELETE") == 1000 and has(
        "<Comment>overcast import rolled back</Comment>")(s)).reply(200, text=CHANGED)
    lines = [f"h{i} IN A 192.0.2.{i % 250 + 1}" for i in range(1200)]
    text = "$ORIGIN example.com.\n$TTL 60\n" + "\n".join(lines) + "\n"
    with pytest.raises(RecordAlreadyExists) as info:
        call(mode, driver(script), "import_zone_from_bind_format", text)
    assert "1000 of 1200 record sets were written to example.com. before this error; " \
           "rolled back: " in info.value.message
    assert info.value.message.endswith(" and 990 more)")
    script.assert_done()


def test_an_import_does_not_replace_an_alias_set(mode: str) -> None:
    script = Script()
    _import_reads(script, (
        "<ResourceRecordSet><Name>www.example.com.</Name><Type>A</Type><AliasTarget>"
        "<HostedZoneId>Z2</HostedZoneId><DNSName>lb.example.net.</DNSName>"
        "<EvaluateTargetHealth>false</EvaluateTargetHealth></AliasTarget></ResourceRecordSet>"))
    with pytest.raises(NotSupported, match="alias"):
        call(mode, driver(script), "import_zone_from_bind_format",
             "$ORIGIN example.com.\n$TTL 60\nwww IN A 192.0.2.1\n", replace=True)
    script.assert_done()
