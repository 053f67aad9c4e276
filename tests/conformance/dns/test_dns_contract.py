"""The DNS contract, stated once, run against every DNS driver in both modes.

Where the target has a real DNS server behind it, every record set created is
also resolved there, and must answer with exactly the values written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import dns.message
import dns.query
import dns.rdatatype
import dns.zone
import pytest

from overcast.dns.base import STANDARD_TYPES
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.records import canonical
from overcast.dns.records import from_presentation
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from servers.dns_target import DNSTarget
from servers.modes import call

LONG_TXT = "".join(f"{i:03d}-abcdefg;" for i in range(50))[:600]
assert len(LONG_TXT) == 600


def unique_domain(target: DNSTarget) -> str:
    return f"oc{uuid.uuid4().hex[:10]}.{target.domain_suffix}"


@pytest.fixture
def zone(dns_target: DNSTarget) -> Iterator[Zone]:
    made = dns_target.make_zone(unique_domain(dns_target))
    yield made
    dns_target.remove_zone(made)


def record_sets(
    zone: Zone, supported: tuple[RecordType, ...] = ()
) -> list[tuple[str, RecordType, list[str]]]:
    """One record set of each type the contract covers, in overcast's form
    (only the types in ``supported``, when given)."""
    origin = zone.domain if zone.domain.endswith(".") else zone.domain + "."
    sets = [
        ("www", RecordType.A, ["192.0.2.10", "192.0.2.11"]),
        ("v6", RecordType.AAAA, ["2001:db8::1"]),
        ("alias", RecordType.CNAME, [f"www.{origin}"]),
        ("", RecordType.MX, [f"10 mail.{origin}", f"20 backup.{origin}"]),
        ("txt", RecordType.TXT, ["hello world", LONG_TXT, 'naïve café ✓ "quoted" \\ back']),
        ("_sip._tcp", RecordType.SRV, [f"10 5 5060 sip.{origin}"]),
        ("", RecordType.CAA, ['0 issue "letsencrypt.org"']),
        ("sub", RecordType.NS, ["ns1.other.test.", "ns2.other.test."]),
    ]
    return [s for s in sets if not supported or s[1] in supported]


def same(rtype: str, a: list[str], b: list[str]) -> bool:
    return sorted(canonical(rtype, v) for v in a) == sorted(canonical(rtype, v) for v in b)


def find(records: list[RecordSet], name: str, rtype: str) -> RecordSet:
    matches = [r for r in records if r.name == name and str(r.type) == rtype]
    assert len(matches) == 1, f"{len(matches)} record sets {name!r} {rtype} in {records}"
    return matches[0]


def resolve(target: DNSTarget, zone: Zone, name: str, rtype: str) -> list[str]:
    """Ask the real DNS server; return the values in overcast's form."""
    assert target.resolver is not None
    host, port = target.resolver
    fqdn = f"{name}.{zone.domain}" if name else zone.domain
    query = dns.message.make_query(fqdn, dns.rdatatype.from_text(rtype))
    answer = dns.query.tcp(query, host, port=port, timeout=5)
    sections = answer.answer or (answer.authority if rtype == "NS" else [])
    values: list[str] = []
    for rrset in sections:
        if dns.rdatatype.to_text(rrset.rdtype) == rtype:
            values += [from_presentation(rtype, rdata.to_text()) for rdata in rrset]
    return values


# -- zones --------------------------------------------------------------------------------


def test_zone_lifecycle(dns_target: DNSTarget, mode: str) -> None:
    driver = dns_target.driver
    domain = unique_domain(dns_target)
    if not driver.supports("create_zone"):
        with pytest.raises(NotSupported):
            call(mode, driver, "create_zone", domain)
        return
    zone = call(mode, driver, "create_zone", domain)
    try:
        assert zone.domain.rstrip(".") == domain.rstrip(".")
        assert call(mode, driver, "get_zone", zone.id).domain == zone.domain
        assert zone.id in [z.id for z in call(mode, driver, "list_zones")]
        assert zone.id in [z.id for z in call(mode, driver, "iterate_zones")]
        with pytest.raises(ZoneAlreadyExists):
            call(mode, driver, "create_zone", domain)
    finally:
        assert call(mode, driver, "delete_zone", zone) is True
    with pytest.raises(ZoneNotFound):
        call(mode, driver, "get_zone", zone.id)


def test_zone_not_found(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    with pytest.raises(ZoneNotFound):
        call(mode, dns_target.driver, "get_zone", f"missing-{zone.id}")
    with pytest.raises(RecordNotFound):
        call(mode, dns_target.driver, "get_record_set", zone.id, "no-such-record")


# -- records --------------------------------------------------------------------------------


def test_every_type_round_trips_and_resolves(dns_target: DNSTarget, mode: str,
                                            zone: Zone) -> None:
    driver = dns_target.driver
    supported = driver.record_types
    for name, rtype, values in record_sets(zone):
        if rtype not in supported:  # a provider without the type says so, sending nothing
            with pytest.raises(NotSupported):
                call(mode, driver, "create_record_set", name, zone, rtype, values, {"ttl": 300})
    for name, rtype, values in record_sets(zone, supported):
        created = call(mode, driver, "create_record_set", name, zone, rtype, values,
                       {"ttl": 300})
        assert (created.name, str(created.type)) == (name, rtype)
        assert same(rtype, created.values, values), (created.values, values)
        assert created.data == created.values[0]
    listed = call(mode, driver, "list_record_sets", zone)
    for name, rtype, values in record_sets(zone, supported):
        record = find(listed, name, rtype)
        assert same(rtype, record.values, values), (rtype, record.values, values)
        assert record.ttl == 300
        fetched = call(mode, driver, "get_record_set", zone.id, record.id)
        assert same(rtype, fetched.values, values)
    if dns_target.resolver is not None:
        if dns_target.before_query is not None:
            dns_target.before_query(zone)
        for name, rtype, values in record_sets(zone, supported):
            answer = resolve(dns_target, zone, name, rtype)
            assert same(rtype, answer, values), (name, rtype, answer, values)


def test_update_and_delete(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    record = call(mode, driver, "create_record_set", "api", zone, RecordType.A, "192.0.2.1",
                  {"ttl": 300})
    # TTLs every provider keeps as they are (Linode, for one, rounds others).
    updated = call(mode, driver, "update_record_set", record, "api", RecordType.A,
                   ["192.0.2.2", "192.0.2.3"], {"ttl": 3600})
    assert same("A", updated.values, ["192.0.2.2", "192.0.2.3"])
    fetched = call(mode, driver, "get_record_set", zone.id, updated.id)
    assert same("A", fetched.values, ["192.0.2.2", "192.0.2.3"])
    assert fetched.ttl == 3600
    if dns_target.resolver is not None:
        if dns_target.before_query is not None:
            dns_target.before_query(zone)
        assert same("A", resolve(dns_target, zone, "api", "A"), ["192.0.2.2", "192.0.2.3"])
    assert call(mode, driver, "delete_record_set", fetched) is True
    with pytest.raises(RecordNotFound):
        call(mode, driver, "get_record_set", zone.id, fetched.id)
    with pytest.raises(RecordNotFound):
        call(mode, driver, "delete_record_set", fetched)
    assert [r for r in call(mode, driver, "list_record_sets", zone) if r.name == "api"] == []


def test_existing_set_is_not_overwritten(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    call(mode, driver, "create_record_set", "dup", zone, RecordType.A, ["192.0.2.1"])
    with pytest.raises(RecordAlreadyExists):
        call(mode, driver, "create_record_set", "dup", zone, RecordType.A, ["192.0.2.9"])
    with pytest.raises(InvalidInput):  # a CNAME may not stand beside other data
        call(mode, driver, "create_record_set", "dup", zone, RecordType.CNAME, ["www.example."])
    records = [r for r in driver.list_record_sets(zone) if r.name == "dup"]
    assert [(str(r.type), r.values) for r in records] == [("A", ["192.0.2.1"])]


BAD_RECORDS = [
    ("a..b", RecordType.A, ["192.0.2.1"]),
    ("x" * 64, RecordType.A, ["192.0.2.1"]),
    (".".join(["abcdefghi"] * 26), RecordType.A, ["192.0.2.1"]),
    ("bad ip", RecordType.A, ["192.0.2.1"]),
    ("ok", RecordType.A, ["999.0.2.1"]),
    ("ok", RecordType.AAAA, ["192.0.2.1"]),
    ("ok", RecordType.MX, ["mail.example.com."]),
    ("ok", RecordType.CNAME, ["a.example.", "b.example."]),
    ("ok", RecordType.A, []),
]


@pytest.mark.parametrize(("name", "rtype", "values"), BAD_RECORDS,
                         ids=[f"{t}-{n[:10]}" for n, t, _ in BAD_RECORDS])
def test_invalid_input_is_rejected_with_nothing_sent(
    dns_target: DNSTarget, mode: str, zone: Zone, name: str, rtype: RecordType,
    values: list[str],
) -> None:
    before = sorted((r.name, str(r.type)) for r in dns_target.driver.list_record_sets(zone))
    sent = len(dns_target.requests) if dns_target.requests is not None else 0
    with pytest.raises(InvalidInput):
        call(mode, dns_target.driver, "create_record_set", name, zone, rtype, values)
    if dns_target.requests is not None:
        assert len(dns_target.requests) == sent, "a request was sent for invalid input"
    after = sorted((r.name, str(r.type)) for r in dns_target.driver.list_record_sets(zone))
    assert after == before


def test_listing_crosses_pages(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    for i in range(12):
        driver.create_record_set(f"host-{i:02d}", zone, RecordType.A, [f"192.0.2.{i + 1}"])
    listed = call(mode, driver, "list_record_sets", zone)
    hosts = sorted(r.name for r in listed if r.name.startswith("host-"))
    assert hosts == [f"host-{i:02d}" for i in range(12)]
    iterated = call(mode, driver, "iterate_record_sets", zone)
    assert len(iterated) == len(listed)


def test_export_is_a_loadable_zone_file(dns_target: DNSTarget, mode: str, zone: Zone) -> None:
    driver = dns_target.driver
    for name, rtype, values in record_sets(zone, driver.record_types):
        driver.create_record_set(name, zone, rtype, values, {"ttl": 300})
    text = call(mode, driver, "export_zone_to_bind_format", zone)
    parsed = dns.zone.from_text(text, origin=zone.domain, relativize=False, check_origin=False)
    for name, rtype, values in record_sets(zone, driver.record_types):
        owner = f"{name}.{zone.domain}" if name else zone.domain
        rdataset = parsed.find_rdataset(owner, dns.rdatatype.from_text(rtype))
        got = [from_presentation(rtype, rdata.to_text()) for rdata in rdataset]
        assert same(rtype, got, values), (rtype, got, values)


# -- every type dnspython knows ------------------------------------------------------------

_KEY = "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="
_HIT = "200100107B1A74DF365639CC39F1D578"
_HIP_KEY = ("AwEAAbdxyhNuSutc5EMzxTs9LBPCIkOFH8cIvM4p9+LrV4e19WzK00+CI6zBCQTdtWsuxKbWIy87UOoJTwkU"
            "s7lBu+Upr1gsNrut79ryra+bSRGQb1slImA8YVJyuIDsj7kwzG7jnERNqnWxZ48AWkskmdHaVDP4BcelrTI3"
            "rMXdXF5D")

#: A value of every type dnspython knows (but the zone's own SOA), as a user
#: writes it: hex in upper case, optional fields left out, names without the dot.
SAMPLES: dict[str, str] = {
    "A": "192.0.2.1",
    "AAAA": "2001:DB8::1",
    "AFSDB": "1 afs.example.net",
    "AMTRELAY": "0 0 3 relay.example.net.",
    "APL": "1:192.0.2.0/24 !2:2001:db8::/32",
    "AVC": '"app-name:WOLFGANG|app-class:OAM"',
    "BRID": "AAECAwQFBgcICQ==",
    "CAA": '0 issue "letsencrypt.org"',
    "CDNSKEY": f"257 3 13 {_KEY}",
    "CDS": "12345 13 2 " + "AB" * 32,
    "CERT": "PKIX 12345 RSASHA256 dGVzdA==",
    "CNAME": "target.example.net.",
    "CSYNC": "66 3 A NS AAAA",
    "DHCID": "AAIBY2/AuCccgoJbsaxcQc9TUapptP69lOjxfNuVAA2kjEA=",
    "DLV": "12345 13 2 " + "AB" * 32,
    "DNAME": "target.example.net.",
    "DNSKEY": f"257 3 13 {_KEY}",
    "DS": "12345 13 2 " + "AB" * 32,
    "DSYNC": "CDS 1 5359 dsync.example.net.",
    "EUI48": "00-00-5E-00-53-2A",
    "EUI64": "00-00-5E-EF-10-00-00-2A",
    "GPOS": "-32.6882 116.8652 10.0",
    "HHIT": "AAECAwQFBgcICQ==",
    "HINFO": '"PC" "Linux"',
    "HIP": f"2 {_HIT} {_HIP_KEY} rvs.example.net.",
    "HTTPS": '1 . alpn="h2,h3" port=8443',
    "IPSECKEY": "10 1 2 192.0.2.38 AQNRU3mG7TVTO2BkR47usntb102uFJtugbo6BSGvgqt4AQ==",
    "ISDN": '"150862028003217" "004"',
    "KEY": f"256 3 13 {_KEY}",
    "KX": "10 kx.example.net.",
    "L32": "10 10.1.2.0",
    "L64": "10 2001:0DB8:1140:1000",
    "LOC": "52 22 23.000 N 4 53 32.000 E -2.00m 1m 10000m 10m",
    "LP": "10 l64-subnet1.example.net.",
    "MX": "10 mail.example.net",
    "NAPTR": '100 10 "S" "SIP+D2U" "" _sip._udp.example.net.',
    "NID": "10 0014:4FFF:FF20:EE64",
    "NINFO": '"hello" "world"',
    "NS": "ns1.example.net.",
    "NSAP": "0x47000580FFFF000000321099991111222233334444",
    "NSAP-PTR": "host.example.net.",
    "NSEC": "next.example.net. A MX RRSIG NSEC",
    "NSEC3": "1 1 12 AABBCCDD 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR A RRSIG",
    "NSEC3PARAM": "1 0 12 AABBCCDD",
    "OPENPGPKEY": "mQINBFit2jsBEADrbl5vjVxYeAE0g0IDYCBpHirv1Sjlqxx5gjtPhb2YhvyDMXjq",
    "PTR": "host.example.net.",
    "PX": "10 map822.example.net. mapx400.example.net.",
    "RESINFO": "qnamemin exterr=15,16,17",
    "RP": "admin.example.net. txt.example.net.",
    "RRSIG": "A 13 3 86400 20300101000000 20200101000000 12345 example.net. dGVzdA==",
    "RT": "10 relay.example.net.",
    "SIG": "A 13 3 86400 20300101000000 20200101000000 12345 example.net. dGVzdA==",
    "SMIMEA": "3 1 1 " + "CD" * 32,
    "SPF": "v=spf1 -all",
    "SRV": "10 5 5060 sip.example.net.",
    "SSHFP": "4 2 " + "EF" * 32,
    "SVCB": '1 svc.example.net. alpn="h2,h3" port=8443',
    "TLSA": "3 1 1 " + "CD" * 32,
    "TXT": "hello world",
    "URI": '10 1 "https://example.net/"',
    "WALLET": '"BTC" "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"',
    "WKS": "192.0.2.1 6 25 80",
    "X25": '"311061700956"',
    "ZONEMD": "2018031500 1 1 " + "FE" * 48,
}
#: Where a type must stand: a DNSKEY at the zone's apex, a DS at a delegation
#: (the NS sample's name, made first), an SRV at a service name; the others at a
#: name of their own.
_PLACES = {"DNSKEY": "", "DS": "t-ns", "SRV": "_sip._tcp"}


def sample_name(rtype: str) -> str:
    return _PLACES.get(rtype, f"t-{rtype.lower()}")


def test_there_is_a_sample_of_every_type_dnspython_knows() -> None:
    assert set(SAMPLES) == {t.value for t in STANDARD_TYPES} - {"SOA"}


def test_every_dnspython_type_the_driver_lists_round_trips(
    dns_target: DNSTarget, mode: str, zone: Zone
) -> None:
    driver = dns_target.driver
    types = sorted((t.value for t in driver.record_types if t.value in SAMPLES),
                   key=lambda t: t == "DS")  # after the delegation it stands at
    for rtype in types:
        created = call(mode, driver, "create_record_set", sample_name(rtype), zone, rtype,
                       SAMPLES[rtype], ttl=300)
        assert same(rtype, created.values, [SAMPLES[rtype]]), (rtype, created.values)
    listed = call(mode, driver, "list_record_sets", zone)
    for rtype in types:
        record = find(listed, sample_name(rtype), rtype)
        assert same(rtype, record.values, [SAMPLES[rtype]]), (rtype, record.values)
        fetched = call(mode, driver, "get_record_set", zone.id, record.id)
        assert same(rtype, fetched.values, [SAMPLES[rtype]]), (rtype, fetched.values)


#: Malformed data of types beyond the common ones.
MALFORMED = [
    (RecordType.SSHFP, "1 1 not-hex"),
    (RecordType.TLSA, "3 1 1 XYZ"),
    (RecordType.TLSA, "3 1 1"),
    (RecordType.HTTPS, "1 . alpn"),
    (RecordType.LOC, "52 22 23.000 Q 4 53 32.000 E -2.00m"),
    (RecordType.DS, "12345 13 2 ABC"),
    (RecordType.CAA, '0 is-sue "letsencrypt.org"'),
    (RecordType.NAPTR, '100 10 "S" "SIP+D2U"'),
    (RecordType.URI, "10 1"),
]


@pytest.mark.parametrize(("rtype", "value"), MALFORMED,
                         ids=[f"{t}-{i}" for i, (t, _) in enumerate(MALFORMED)])
def test_malformed_data_of_any_type_is_refused_with_nothing_sent(
    dns_target: DNSTarget, mode: str, zone: Zone, rtype: RecordType, value: str
) -> None:
    driver = dns_target.driver
    sent = len(dns_target.requests) if dns_target.requests is not None else 0
    expected = InvalidInput if rtype in driver.record_types else NotSupported
    with pytest.raises(expected):
        call(mode, driver, "create_record_set", "bad", zone, rtype, value)
    if dns_target.requests is not None:
        assert len(dns_target.requests) == sent, "a request was sent for malformed data"
    assert [r for r in driver.list_record_sets(zone) if r.name == "bad"] == []
