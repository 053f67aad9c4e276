"""The per-value layer (Apache Libcloud's ``list_records``, ``get_record``,
``create_record``, ``update_record``, ``delete_record``) on the scripted
transport, both modes: the requests it sends through the record-set operations
(Route 53) and directly, one value a request (DigitalOcean)."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.dns.base import Record
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers.digitalocean import DigitalOceanDNSDriver
from overcast.dns.drivers.route53 import Route53DNSDriver
from overcast.errors import InvalidInput
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import Sent
from overcast.testing import call

# -- Route 53: ids "TYPE:name" shared by a set's values, TXT quoted -----------------------

R53 = "https://route53.amazonaws.com/2013-04-01"
NS = 'xmlns="https://route53.amazonaws.com/doc/2013-04-01/"'
RRSETS = f"{R53}/hostedzone/Z1/rrset"
CHANGED = (f'<?xml version="1.0"?><ChangeResourceRecordSetsResponse {NS}><ChangeInfo>'
           "<Id>/change/C1</Id><Status>PENDING</Status></ChangeInfo>"
           "</ChangeResourceRecordSetsResponse>")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def route53(script: Script) -> Route53DNSDriver:
    return Route53DNSDriver("AKIDUNIT", "unit-secret", page_size=2, record_page_size=2,
                            **script.options())


def r53_zone() -> Zone:
    return Zone("Z1", "example.com.", ZoneType.MASTER.value, None)


def rrset(name: str, rtype: str, *values: str, ttl: int = 300) -> str:
    records = "".join(f"<ResourceRecord><Value>{v}</Value></ResourceRecord>" for v in values)
    return (f"<ResourceRecordSet><Name>{name}</Name><Type>{rtype}</Type><TTL>{ttl}</TTL>"
            f"<ResourceRecords>{records}</ResourceRecords></ResourceRecordSet>")


def sets_page(*sets: str) -> str:
    return (f'<?xml version="1.0"?><ListResourceRecordSetsResponse {NS}><ResourceRecordSets>'
            f"{''.join(sets)}</ResourceRecordSets><IsTruncated>false</IsTruncated>"
            "</ListResourceRecordSetsResponse>")


def hosted_zone() -> str:
    return (f'<?xml version="1.0"?><GetHostedZoneResponse {NS}><HostedZone>'
            "<Id>/hostedzone/Z1</Id><Name>example.com.</Name><CallerReference>r"
            "</CallerReference></HostedZone><DelegationSet><NameServers>"
            "<NameServer>ns1.example.net</NameServer></NameServers></DelegationSet>"
            "</GetHostedZoneResponse>")


def has(*parts: str) -> Any:
    def check(sent: Sent) -> bool:
        body = sent.body.decode() if isinstance(sent.body, bytes) else str(sent.body)
        return all(part in body for part in parts)

    return check


def lookup(script: Script, name: str, rtype: str, answer: str) -> None:
    script.expect("GET", RRSETS, params={"maxitems": "1", "name": name, "type": rtype}).reply(
        200, text=answer)


def test_route53_lists_one_record_per_value_with_libclouds_ids(mode: str) -> None:
    script = Script()
    script.expect("GET", RRSETS, params={"maxitems": "2"}).reply(200, text=sets_page(
        rrset("example.com.", "MX", "10 mail.example.com.", "20 mx.example.net."),
        rrset("txt.example.com.", "TXT", '"hello world"'),
        rrset("www.example.com.", "A", "192.0.2.1", "192.0.2.2", ttl=60)))
    records = call(mode, route53(script), "list_records", r53_zone())
    assert [(r.id, r.name, r.type, r.data, r.ttl, r.extra) for r in records] == [
        ("MX:", "", "MX", "mail.example.com.", 300, {"priority": 10, "ttl": 300}),
        ("MX:", "", "MX", "mx.example.net.", 300, {"priority": 20, "ttl": 300}),
        ("TXT:txt", "txt", "TXT", '"hello world"', 300, {"ttl": 300}),
        ("A:www", "www", "A", "192.0.2.1", 60, {"ttl": 60}),
        ("A:www", "www", "A", "192.0.2.2", 60, {"ttl": 60}),
    ]
    script.assert_done()


def test_route53_get_record_reads_the_set_of_the_id(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{R53}/hostedzone/Z1").reply(200, text=hosted_zone())
    script.expect("GET", f"{R53}/hostedzone/Z1").reply(200, text=hosted_zone())
    lookup(script, "www.example.com.", "A",
           sets_page(rrset("www.example.com.", "A", "192.0.2.1", "192.0.2.2")))
    found = call(mode, route53(script), "get_record", "Z1", "A:www")
    assert (found.id, found.name, found.data) == ("A:www", "www", "192.0.2.1")
    script.assert_done()


def test_route53_a_second_create_adds_a_value_with_one_upsert(mode: str) -> None:
    script = Script()
    current = sets_page(rrset("www.example.com.", "A", "192.0.2.1", ttl=60))
    script.expect("GET", f"{R53}/hostedzone/Z1").reply(200, text=hosted_zone())
    lookup(script, "www.example.com.", "A", current)  # the set, for create_record
    lookup(script, "www.example.com.", "A", current)  # the set, for update_record_set
    script.expect("POST", RRSETS, match=has("<Action>UPSERT</Action>", "<TTL>60</TTL>",
                                            "<Value>192.0.2.1</Value>",
                                            "<Value>192.0.2.2</Value>")).reply(200, text=CHANGED)
    made = call(mode, route53(script), "create_record", "www", r53_zone(), "A", "192.0.2.2")
    assert (made.id, made.name, made.data, made.ttl) == ("A:www", "www", "192.0.2.2", 60)
    script.assert_done()


def test_route53_mx_priority_from_extra_and_quoted_txt_are_read_back(mode: str) -> None:
    script = Script()
    writes = {"MX": "<Value>10 mail.example.com.</Value>",
              "TXT": '<Value>"a \\"b\\""</Value>'}
    for name, rtype in (("example.com.", "MX"), ("txt.example.com.", "TXT")):
        script.expect("GET", f"{R53}/hostedzone/Z1").reply(200, text=hosted_zone())
        lookup(script, name, rtype, sets_page())
        script.expect("GET", RRSETS, params={"maxitems": "20", "name": name}).reply(
            200, text=sets_page())
        script.expect("POST", RRSETS, match=has("<Action>CREATE</Action>", writes[rtype])).reply(
            200, text=CHANGED)
    r53 = route53(script)
    mx = call(mode, r53, "create_record", "", r53_zone(), "MX", "mail.example.com.",
              {"priority": 10, "ttl": 300})
    assert (mx.id, mx.data, mx.extra, mx.ttl) == (
        "MX:", "mail.example.com.", {"priority": 10, "ttl": 300}, 300)
    txt = call(mode, r53, "create_record", "txt", r53_zone(), "TXT", '"a \\"b\\""')
    assert (txt.id, txt.data) == ("TXT:txt", '"a \\"b\\""')
    script.assert_done()


def test_route53_delete_record_keeps_the_other_values(mode: str) -> None:
    script = Script()
    both = sets_page(rrset("www.example.com.", "A", "192.0.2.1", "192.0.2.2"))
    script.expect("GET", f"{R53}/hostedzone/Z1").reply(200, text=hosted_zone())
    lookup(script, "www.example.com.", "A", both)
    lookup(script, "www.example.com.", "A", both)
    script.expect("POST", RRSETS, match=lambda sent: has(
        "<Action>UPSERT</Action>", "<Value>192.0.2.2</Value>")(sent) and not has(
        "192.0.2.1")(sent)).reply(200, text=CHANGED)
    record = Record("A:www", "www", "A", "192.0.2.1", r53_zone(), ttl=300)
    assert call(mode, route53(script), "delete_record", record) is True
    script.assert_done()


def test_route53_a_value_that_is_gone_is_record_not_found(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{R53}/hostedzone/Z1").reply(200, text=hosted_zone())
    lookup(script, "www.example.com.", "A",
           sets_page(rrset("www.example.com.", "A", "192.0.2.2")))
    record = Record("A:www", "www", "A", "192.0.2.1", r53_zone(), ttl=300)
    with pytest.raises(RecordNotFound):
        call(mode, route53(script), "delete_record", record)
    script.assert_done()


# -- DigitalOcean: the provider's ids, one request a value -----------------------------------

DO = "https://api.digitalocean.com/v2"
RECORDS = f"{DO}/domains/example.com/records"
AT_WWW = {"name": "www.example.com", "page": "1", "per_page": "2"}


def digitalocean(script: Script) -> DigitalOceanDNSDriver:
    return DigitalOceanDNSDriver("do-token", page_size=2, **script.options())


def do_zone() -> Zone:
    return Zone("example.com", "example.com.", ZoneType.MASTER.value, 1800)


def item(rid: int, name: str, rtype: str, data: str, **fields: Any) -> dict[str, Any]:
    return {"id": rid, "name": name, "type": rtype, "data": data, "ttl": 300, **fields}


def page(items: list[dict[str, Any]], next_page: int | None = None) -> dict[str, Any]:
    links = {"pages": {"next": f"{RECORDS}?page={next_page}"}} if next_page else {}
    return {"domain_records": items, "links": links, "meta": {"total": 9}}


def test_digitalocean_lists_values_past_page_one_with_their_own_ids(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params={"page": "1", "per_page": "2"}).reply(200, json=page(
        [item(1, "www", "A", "192.0.2.1"), item(2, "@", "MX", "mail.example.com.", priority=10)],
        2))
    script.expect("GET", RECORDS, params={"page": "2", "per_page": "2"}).reply(200, json=page(
        [item(3, "www", "A", "192.0.2.2")]))
    records = call(mode, digitalocean(script), "list_records", do_zone())
    assert sorted((r.id, r.name, r.type, r.data, r.extra) for r in records) == [
        ("1", "www", "A", "192.0.2.1", {}),
        ("2", "@", "MX", "mail.example.com", {"priority": 10}),
        ("3", "www", "A", "192.0.2.2", {}),
    ]
    script.assert_done()


def test_digitalocean_a_second_value_is_one_post(mode: str) -> None:
    script = Script()
    script.expect("GET", RECORDS, params=AT_WWW).reply(200, json=page(
        [item(1, "www", "A", "192.0.2.1", ttl=60)]))
    script.expect("POST", RECORDS, json={"type": "A", "name": "www", "data": "192.0.2.2",
                                         "ttl": 60}).reply(
        201, json={"domain_record": item(2, "www", "A", "192.0.2.2", ttl=60)})
    made = call(mode, digitalocean(script), "create_record", "www", do_zone(), "A", "192.0.2.2")
    assert (made.id, made.name, made.data, made.ttl) == ("2", "www", "192.0.2.2", 60)
    script.assert_done()


def test_digitalocean_a_value_it_has_or_a_cname_beside_data_sends_no_write(mode: str) -> None:
    script = Script()
    here = page([item(1, "www", "A", "192.0.2.1")])
    script.expect("GET", RECORDS, params=AT_WWW).reply(200, json=here)
    script.expect("GET", RECORDS, params=AT_WWW).reply(200, json=here)
    do = digitalocean(script)
    with pytest.raises(RecordAlreadyExists):
        call(mode, do, "create_record", "www", do_zone(), "A", "192.0.2.1")
    with pytest.raises(InvalidInput):
        call(mode, do, "create_record", "www", do_zone(), "CNAME", "other.example.com.")
    script.assert_done()


def test_digitalocean_delete_record_is_one_delete(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{DO}/domains/example.com").reply(
        200, json={"domain": {"name": "example.com", "ttl": 1800}})
    script.expect("GET", RECORDS, params={**AT_WWW, "type": "A"}).reply(200, json=page(
        [item(1, "www", "A", "192.0.2.1"), item(2, "www", "A", "192.0.2.2")]))
    script.expect("DELETE", f"{RECORDS}/2").reply(204)
    record = Record("2", "www", "A", "192.0.2.2", do_zone(), ttl=300)
    assert call(mode, digitalocean(script), "delete_record", record) is True
    script.assert_done()


def test_digitalocean_get_record_by_the_providers_id(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{DO}/domains/example.com").reply(
        200, json={"domain": {"name": "example.com", "ttl": 1800}})
    script.expect("GET", f"{RECORDS}/2").reply(
        200, json={"domain_record": item(2, "www", "A", "192.0.2.2")})
    found = call(mode, digitalocean(script), "get_record", "example.com", "2")
    assert (found.id, found.name, found.data, found.ttl) == ("2", "www", "192.0.2.2", 300)
    script.assert_done()


def test_digitalocean_get_record_of_an_unknown_id_is_record_not_found(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{DO}/domains/example.com").reply(
        200, json={"domain": {"name": "example.com", "ttl": 1800}})
    script.expect("GET", f"{RECORDS}/a%2Fb").reply(
        404, json={"id": "not_found", "message": "The resource you requested could not be found."})
    with pytest.raises(RecordNotFound):
        call(mode, digitalocean(script), "get_record", "example.com", "a/b")
    script.assert_done()


def test_invalid_input_sends_nothing(mode: str) -> None:
    script = Script()
    do = digitalocean(script)
    for args in (("bad name!", do_zone(), "A", "192.0.2.1"),
                 ("www", do_zone(), "A", "999.0.0.1"),
                 ("", do_zone(), "MX", "mail.example.com."),  # no priority anywhere
                 ("www", do_zone(), "A", 5)):
        with pytest.raises(InvalidInput):
            call(mode, do, "create_record", *args)
    record = Record("1", "www", "A", "192.0.2.1", do_zone())
    with pytest.raises(InvalidInput):
        call(mode, do, "update_record", record, None, None, "not an address")
    script.assert_done()
