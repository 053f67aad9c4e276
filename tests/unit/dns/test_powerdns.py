"""The PowerDNS driver on the scripted transport: the requests it sends and how it
reads the answers, in both modes, without a server."""

from __future__ import annotations

from typing import Any

import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers import powerdns
from overcast.dns.drivers.powerdns import PowerDNSDriver
from overcast.dns.records import generic
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.policy import RetryPolicy
from overcast.testing import MODES
from overcast.testing import Script
from overcast.testing import call

API = "http://127.0.0.1:8081/api/v1/servers/localhost"
ZONE = f"{API}/zones/example.com."
KEY = {"X-API-Key": "pdns-key"}
DNSKEY = ("257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0r"
          "AK9iUzy1L53eKGQ==")


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def driver(script: Script, **options: Any) -> PowerDNSDriver:
    return PowerDNSDriver("pdns-key", **options, **script.options())


def zone(ttl: int | None = 300) -> Zone:
    return Zone("example.com.", "example.com.", ZoneType.MASTER.value, ttl)


def rrset(name: str, rtype: str, *contents: str, ttl: int = 300) -> dict[str, Any]:
    return {"name": name, "type": rtype, "ttl": ttl, "comments": [],
            "records": [{"content": c, "disabled": False} for c in contents]}


def zone_data(*rrsets: dict[str, Any], name: str = "example.com.") -> dict[str, Any]:
    return {"id": name, "name": name, "kind": "Native", "serial": 1, "rrsets": list(rrsets)}


def at(name: str, rtype: str | None = None) -> dict[str, str]:
    params = {"rrset_name": name}
    if rtype is not None:
        params["rrset_type"] = rtype
    return params


def patch(*rrsets: dict[str, Any]) -> dict[str, Any]:
    return {"rrsets": list(rrsets)}


def replace(name: str, rtype: str, *contents: str, ttl: int = 300) -> dict[str, Any]:
    return {"name": name, "type": rtype, "ttl": ttl, "changetype": "REPLACE",
            "records": [{"content": c, "disabled": False} for c in contents]}


# -- zones ------------------------------------------------------------------------------


def test_zones_are_listed_sorted_with_the_key(mode: str) -> None:
    script = Script()
    script.expect("GET", f"{API}/zones", params={"dnssec": "false"}, headers=KEY).reply(
        200, json=[{"id": "b.test.", "name": "b.test.", "kind": "Slave"},
                   {"id": "a.test.", "name": "a.test.", "kind": "Native", "account": "x"}])
    zones = call(mode, driver(script), "list_zones")
    assert [(z.id, z.type, z.ttl) for z in zones] == [("a.test.", "master", None),
                                                      ("b.test.", "slave", None)]
    assert zones[0].extra == {"kind": "Native", "account": "x"}
    script.assert_done()


def test_get_zone_takes_its_ttl_from_the_soa(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE, params=at("example.com.", "SOA")).reply(200, json=zone_data(
        rrset("example.com.", "SOA", "ns1. host. 1 2 3 4 5", ttl=120)))
    found = call(mode, driver(script), "get_zone", "example.com")  # the dot is added
    assert (found.id, found.domain, found.ttl) == ("example.com.", "example.com.", 120)
    script.assert_done()


def test_missing_zone_wrong_key_and_wrong_server_map_to_their_errors(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE).reply(404, json={"error": "Could not find domain"})
    script.expect("GET", f"{API}/zones", params={"dnssec": "false"}).reply(
        401, text="Unauthorized")
    script.expect("GET", f"{API}/zones", params={"dnssec": "false"}).reply(
        404, json={"error": "Not Found"})
    with pytest.raises(ZoneNotFound, match=r"example\.com\."):
        call(mode, driver(script), "list_record_sets", zone())
    with pytest.raises(InvalidCredentials, match="PowerDNS refused the credentials"):
        call(mode, driver(script), "list_zones")
    with pytest.raises(ProviderError, match="has no server 'localhost'") as info:
        call(mode, driver(script), "list_zones")
    assert (info.value.status, info.value.code) == (404, "NotFound")
    script.assert_done()


def test_a_refused_change_keeps_the_server_text_and_a_code(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE, params=at("ssh.example.com.")).reply(200, json=zone_data())
    script.expect("PATCH", ZONE).reply(422, json={
        "error": "Record ssh.example.com. IN DNSKEY is only allowed at apex"})
    with pytest.raises(ProviderError) as info:
        call(mode, driver(script), "create_record_set", "ssh", zone(), "DNSKEY", DNSKEY)
    assert (info.value.status, info.value.code) == (422, "UnprocessableEntity")
    assert "ssh.example.com. IN DNSKEY is only allowed at apex" in info.value.message
    script.assert_done()


def test_a_server_error_is_a_provider_error(mode: str) -> None:
    script = Script()
    script.expect("DELETE", ZONE).reply(500, json={"error": "database locked"})
    with pytest.raises(ProviderError, match="database locked") as info:
        call(mode, driver(script, retry=RetryPolicy(max_attempts=1)), "delete_zone", zone())
    assert (info.value.status, info.value.code) == (500, "InternalServerError")
    script.assert_done()


def test_create_zone_with_name_servers_and_a_ttl(mode: str) -> None:
    script = Script()
    made = zone_data(rrset("example.com.", "SOA", "ns1. host. 1 2 3 4 5", ttl=3600),
                     rrset("example.com.", "NS", "ns1.example.net.", ttl=3600))
    script.expect("POST", f"{API}/zones", json={
        "name": "example.com.", "kind": "Native", "nameservers": ["ns1.example.net."],
        "account": "team"}).reply(201, json=made)
    script.expect("PATCH", ZONE, json=patch(
        replace("example.com.", "SOA", "ns1. host. 1 2 3 4 5", ttl=60),
        replace("example.com.", "NS", "ns1.example.net.", ttl=60))).reply(204)
    created = call(mode, driver(script), "create_zone", "example.com", ZoneType.MASTER, 60,
                   {"nameservers": ["ns1.example.net"], "account": "team"})
    assert (created.id, created.ttl, created.extra["kind"]) == ("example.com.", 60, "Native")
    script.assert_done()


def test_create_zone_that_exists_is_zone_already_exists(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/zones").reply(409, json={"error": "Conflict"})
    with pytest.raises(ZoneAlreadyExists):
        call(mode, driver(script), "create_zone", "example.com")
    script.assert_done()


def test_a_create_whose_answer_is_lost_looks_the_zone_up(mode: str) -> None:
    script = Script()
    script.expect("POST", f"{API}/zones").fail(sent=True)
    script.expect("GET", ZONE).reply(200, json=zone_data())
    created = call(mode, driver(script), "create_zone", "example.com.")
    assert created.id == "example.com."
    script.assert_done()


def test_update_zone_puts_settings_and_sets_the_soa_ttl(mode: str) -> None:
    script = Script()
    soa = rrset("example.com.", "SOA", "ns1. host. 1 2 3 4 5", ttl=300)
    script.expect("PUT", ZONE, json={"account": "ops", "kind": "Master"}).reply(204)
    script.expect("GET", ZONE, params=at("example.com.", "SOA")).reply(
        200, json=zone_data(soa))
    script.expect("PATCH", ZONE, json=patch(
        replace("example.com.", "SOA", "ns1. host. 1 2 3 4 5", ttl=900))).reply(204)
    script.expect("GET", ZONE, params=at("example.com.", "SOA")).reply(
        200, json=zone_data({**soa, "ttl": 900}))
    changed = call(mode, driver(script), "update_zone", zone(), None, None, 900,
                   {"account": "ops", "kind": "master"})
    assert changed.ttl == 900
    script.assert_done()


# -- records ------------------------------------------------------------------------------


def test_records_are_read_from_the_zone_in_zone_file_order(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE).reply(200, json=zone_data(
        rrset("www.example.com.", "A", "192.0.2.1", "192.0.2.2"),
        rrset("txt.example.com.", "TXT", '"hello " "world"'),
        rrset("relay.example.com.", "TYPE260", "\\# 21 00030572656c6179076578616d706c65036e657400"),
        rrset("example.com.", "SOA", "ns1. host. 1 2 3 4 5"),
        {**rrset("off.example.com.", "A", "192.0.2.9"),
         "records": [{"content": "192.0.2.9", "disabled": True}]},
        rrset("empty.example.com.", "A"),
    ))
    found = call(mode, driver(script), "list_record_sets", zone())
    assert [(r.id, r.values) for r in found] == [
        ("@:SOA", ["ns1. host. 1 2 3 4 5"]),
        ("off:A", ["192.0.2.9"]),
        ("relay:AMTRELAY", ["0 0 3 relay.example.net."]),
        ("txt:TXT", ["hello world"]),
        ("www:A", ["192.0.2.1", "192.0.2.2"]),
    ]
    assert found[2].type is RecordType.AMTRELAY
    assert found[1].extra == {"disabled": ["192.0.2.9"]}
    script.assert_done()


def test_get_record_asks_for_one_rrset(mode: str) -> None:
    script = Script()
    px = "10 map822.example.net. mapx400.example.net."
    script.expect("GET", ZONE, params=at("h.example.com.", "TYPE26")).reply(200, json=zone_data(
        rrset("h.example.com.", "TYPE26", generic("PX", px))))
    script.expect("GET", ZONE, params=at("x.example.com.", "A")).reply(200, json=zone_data())
    script.expect("GET", ZONE, params=at("example.com.", "SOA")).reply(200, json=zone_data())
    found = call(mode, driver(script), "get_record_set", "example.com", "h:PX")
    assert (found.id, found.type, found.values) == ("h:PX", RecordType.PX, [px])
    with pytest.raises(RecordNotFound):
        call(mode, driver(script), "get_record_set", "example.com.", "x:A")
    with pytest.raises(RecordNotFound):
        call(mode, driver(script), "get_record_set", "example.com.", "not an id")
    script.assert_done()


@pytest.mark.parametrize(("rtype", "value", "sent_type", "content"), [
    ("TXT", 'say "hi"', "TXT", '"say \\"hi\\""'),
    ("MX", "10 mail.example.com", "MX", "10 mail.example.com."),
    ("SSHFP", "1 1 " + "AB" * 20, "SSHFP", "1 1 " + "ab" * 20),
    ("DNSKEY", DNSKEY, "DNSKEY", DNSKEY),
    ("CERT", "PKIX 12345 RSASHA256 dGVzdA==", "CERT", "1 12345 8 dGVzdA=="),
    ("HTTPS", '1 . alpn="h2,h3" port=8443', "HTTPS", "1 . alpn=h2,h3 port=8443"),
    ("LOC", "52 22 23 N 4 53 32 E -2m", "LOC",
     "52 22 23.000 N 4 53 32.000 E -2.00m 1.00m 10000.00m 10.00m"),
    ("WKS", "192.0.2.1 6 25", "TYPE11", "\\# 9 c00002010600000040"),
])
def test_values_are_sent_in_powerdns_form(
    mode: str, rtype: str, value: str, sent_type: str, content: str
) -> None:
    script = Script()
    script.expect("GET", ZONE, params=at("v.example.com.")).reply(200, json=zone_data())
    script.expect("PATCH", ZONE, json=patch(replace("v.example.com.", sent_type, content,
                                                    ttl=60))).reply(204)
    made = call(mode, driver(script), "create_record_set", "v", zone(), rtype, value, ttl=60)
    assert (made.id, made.values, made.ttl) == (f"v:{rtype}", [value], 60)
    script.assert_done()


def test_a_set_without_ttl_takes_the_soa_ttl(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE, params=at("www.example.com.")).reply(200, json=zone_data())
    script.expect("GET", ZONE, params=at("example.com.", "SOA")).reply(200, json=zone_data(
        rrset("example.com.", "SOA", "ns1. host. 1 2 3 4 5", ttl=1800)))
    script.expect("PATCH", ZONE, json=patch(replace("www.example.com.", "A", "192.0.2.1",
                                                    ttl=1800))).reply(204)
    made = call(mode, driver(script), "create_record_set", "www", zone(ttl=None), "A", "192.0.2.1")
    assert made.ttl == 1800
    script.assert_done()


def test_a_set_that_exists_or_a_cname_beside_data_is_refused_before_any_patch(
    mode: str,
) -> None:
    script = Script()
    here = zone_data(rrset("www.example.com.", "A", "192.0.2.1"),
                     rrset("www.example.com.", "RRSIG", "A 13 3 300 20300101000000 "
                           "20200101000000 1 example.com. dGVzdA=="))
    for _ in range(2):
        script.expect("GET", ZONE, params=at("www.example.com.")).reply(200, json=here)
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver(script), "create_record_set", "www", zone(), "A", "192.0.2.9")
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver(script), "create_record_set", "www", zone(), "CNAME", "other.example.")
    script.assert_done()  # no PATCH was sent


def record(name: str, rtype: str, *values: str, ttl: int = 300) -> RecordSet:
    return RecordSet(f"{name or '@'}:{rtype}", name, rtype, values[0], zone(), ttl=ttl,
                  values=list(values))


def test_update_keeps_the_ttl_in_one_replace(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE, params=at("www.example.com.", "A")).reply(200, json=zone_data(
        rrset("www.example.com.", "A", "192.0.2.1", ttl=120)))
    script.expect("PATCH", ZONE, json=patch(
        replace("www.example.com.", "A", "192.0.2.7", "192.0.2.8", ttl=120))).reply(204)
    updated = call(mode, driver(script), "update_record_set", record("www", "A", "192.0.2.1"),
                   None, None, ["192.0.2.7", "192.0.2.8"])
    assert (updated.values, updated.ttl) == (["192.0.2.7", "192.0.2.8"], 120)
    script.assert_done()


def test_rename_and_retype_is_one_patch(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE, params=at("old.example.com.", "A")).reply(200, json=zone_data(
        rrset("old.example.com.", "A", "192.0.2.1")))
    script.expect("GET", ZONE, params=at("new.example.com.")).reply(200, json=zone_data())
    script.expect("PATCH", ZONE, json=patch(
        {"name": "old.example.com.", "type": "A", "changetype": "DELETE"},
        replace("new.example.com.", "CNAME", "target.example.net."))).reply(204)
    moved = call(mode, driver(script), "update_record_set", record("old", "A", "192.0.2.1"),
                 "new", "CNAME", "target.example.net")
    assert (moved.id, moved.values) == ("new:CNAME", ["target.example.net"])
    script.assert_done()


def test_update_or_delete_of_a_missing_set_is_record_not_found(mode: str) -> None:
    script = Script()
    script.expect("GET", ZONE, params=at("gone.example.com.", "A")).reply(
        200, json=zone_data())
    script.expect("GET", ZONE, params=at("gone.example.com.", "A")).reply(
        200, json=zone_data())
    gone = record("gone", "A", "192.0.2.1")
    with pytest.raises(RecordNotFound):
        call(mode, driver(script), "update_record_set", gone, None, None, "192.0.2.2")
    with pytest.raises(RecordNotFound):
        call(mode, driver(script), "delete_record_set", gone)
    script.assert_done()


def test_delete_of_a_generic_type_names_it_as_powerdns_does(mode: str) -> None:
    script = Script()
    px = "10 map822.example.net. mapx400.example.net."
    script.expect("GET", ZONE, params=at("h.example.com.", "TYPE26")).reply(200, json=zone_data(
        rrset("h.example.com.", "TYPE26", generic("PX", px))))
    script.expect("PATCH", ZONE, json=patch(
        {"name": "h.example.com.", "type": "TYPE26", "changetype": "DELETE"})).reply(204)
    assert call(mode, driver(script), "delete_record_set", record("h", "PX", px)) is True
    script.assert_done()


# -- nothing sent on invalid input ------------------------------------------------------------


@pytest.mark.parametrize(("name", "rtype", "value", "error"), [
    ("ssh", "SSHFP", "1 1 not-hex", InvalidInput),
    ("tlsa", "TLSA", "3 1 1 zz", InvalidInput),
    ("svc", "HTTPS", "1 . nokey==", InvalidInput),
    ("www.elsewhere.test.", "A", "192.0.2.1", InvalidInput),
    ("u", "URL", "http://example.test/", NotSupported),
    ("dup", "TLSA", ["3 1 1 " + "AB" * 32, "3 1 1 " + "ab" * 32], InvalidInput),
])
def test_invalid_input_sends_nothing(
    mode: str, name: str, rtype: str, value: Any, error: type[Exception]
) -> None:
    script = Script()
    with pytest.raises(error):
        call(mode, driver(script), "create_record_set", name, zone(), rtype, value)
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_zone", "bad..name.test.")
    with pytest.raises(InvalidInput):
        call(mode, driver(script), "create_zone", "example.com.", ZoneType.SLAVE)
    script.assert_done()
    assert script.received == []


def test_constructor_checks() -> None:
    for options in ({"page_size": 0}, {"endpoint": "127.0.0.1:8081"}, {"server_id": ""},
                    {"nameservers": "ns1.example.net"}):
        with pytest.raises(InvalidInput):
            PowerDNSDriver("key", **options)
    with pytest.raises(InvalidInput):
        PowerDNSDriver("")
    assert "pdns-key" not in repr(PowerDNSDriver("pdns-key"))


# -- zone-file imports: one PATCH --------------------------------------------------------------

IMPORT = """$ORIGIN example.com.
$TTL 600
@ IN SOA ns1.example.com. hostmaster.example.com. 1 2 3 4 5
@ IN NS ns1.example.com.
@ 300 IN A 192.0.2.1
mail IN A 192.0.2.25
txt IN TXT "hello world"
"""


def existing(script: Script, *rrsets: dict[str, Any]) -> None:
    """The zone listing and the record listing an import reads first."""
    script.expect("GET", f"{API}/zones", params={"dnssec": "false"}).reply(
        200, json=[{"id": "example.com.", "name": "example.com.", "kind": "Native"}])
    script.expect("GET", ZONE).reply(200, json=zone_data(
        rrset("example.com.", "SOA", "ns1. host. 1 2 3 4 5"), *rrsets))


def test_an_import_is_one_patch(mode: str) -> None:
    script = Script()
    existing(script)
    script.expect("PATCH", ZONE, json=patch(
        replace("example.com.", "A", "192.0.2.1"),
        replace("mail.example.com.", "A", "192.0.2.25", ttl=600),
        replace("txt.example.com.", "TXT", '"hello world"', ttl=600),
    )).reply(204)
    imported = call(mode, driver(script), "import_zone_from_bind_format", IMPORT)
    assert imported.id == "example.com."
    script.assert_done()


def test_an_import_checks_the_cname_rule_against_the_zone_first(mode: str) -> None:
    script = Script()
    existing(script, rrset("txt.example.com.", "CNAME", "example.com."))
    with pytest.raises(InvalidInput, match="CNAME"):
        call(mode, driver(script), "import_zone_from_bind_format", IMPORT)
    script.assert_done()  # read, and nothing written


def test_a_large_import_in_several_patches_is_rolled_back_if_one_fails(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(powerdns, "PATCH_BYTES", 300)  # two sets a PATCH
    script = Script()
    existing(script, rrset("mail.example.com.", "A", "192.0.2.99", ttl=60))
    script.expect("PATCH", ZONE, json=patch(
        replace("example.com.", "A", "192.0.2.1"),
        replace("mail.example.com.", "A", "192.0.2.25", ttl=600),
    )).reply(204)
    script.expect("PATCH", ZONE, json=patch(
        replace("txt.example.com.", "TXT", '"hello world"', ttl=600),
    )).reply(422, json={"error": "RRset txt.example.com. IN TXT: bad content"})
    # The first PATCH undone: the new set deleted, the replaced one put back.
    script.expect("PATCH", ZONE, json=patch(
        {"name": "example.com.", "type": "A", "changetype": "DELETE"},
        replace("mail.example.com.", "A", "192.0.2.99", ttl=60),
    )).reply(204)
    with pytest.raises(ProviderError, match="bad content") as info:
        call(mode, driver(script), "import_zone_from_bind_format", IMPORT, replace=True)
    assert info.value.message.endswith(
        "(2 of 3 record sets were written to example.com. before this error; "
        "rolled back: @:A, mail:A)")
    script.assert_done()
