"""Record data through dnspython: every type it knows is a RecordType, values are
validated by its parser and compared in one canonical form, and the DNS area
says which extra to install when dnspython is missing."""

from __future__ import annotations

import importlib
import sys
import types

import dns.rdatatype
import pytest

from overcast.dns import names
from overcast.dns import records
from overcast.dns.base import PSEUDO_TYPES
from overcast.dns.base import STANDARD_TYPES
from overcast.dns.base import RecordType
from overcast.errors import InvalidInput
from overcast.errors import RecordAlreadyExists

KEY = "mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ=="


def test_every_type_dnspython_knows_is_a_record_type() -> None:
    known = {dns.rdatatype.to_text(t) for t in dns.rdatatype.RdataType
             if records.knows(dns.rdatatype.to_text(t))}
    assert {t.value for t in STANDARD_TYPES} == known
    assert {t.value for t in PSEUDO_TYPES} == {"ALIAS", "GEO", "REDIRECT", "URL"}
    assert set(RecordType) == set(STANDARD_TYPES) | PSEUDO_TYPES
    assert RecordType("NSAP-PTR") is RecordType.NSAP_PTR
    assert not records.knows("ALIAS") and not records.knows("NULL") and not records.knows("ANY")


@pytest.mark.parametrize(("rtype", "value"), [
    ("TLSA", "3 1 1 " + "AB" * 32),
    ("SSHFP", "4 2 " + "ef" * 32),
    ("HTTPS", '1 . alpn="h2,h3" port=8443'),
    ("SVCB", "1 svc.example.net alpn=h2"),
    ("LOC", "52 22 23.000 N 4 53 32.000 E -2.00m"),
    ("NAPTR", '100 10 "S" "SIP+D2U" "" _sip._udp.example.net.'),
    ("DS", "12345 13 2 " + "AB" * 32),
    ("DNSKEY", f"257 3 13 {KEY}"),
    ("CERT", "PKIX 12345 RSASHA256 dGVzdA=="),
    ("OPENPGPKEY", "mQINBFit2jsBEADrbl5vjVxYeAE0g0IDYCBpHirv1Sjlqxx5gjtPhb2YhvyDMXjq"),
    ("URI", '10 1 "https://example.net/"'),
    ("CAA", '128 issuewild ";"'),
    ("AMTRELAY", "0 0 3 relay.example.net."),
    ("NSAP-PTR", "host.example.net"),
])
def test_every_known_type_is_accepted(rtype: str, value: str) -> None:
    assert names.validate_record_data(rtype, [value]) == [value]


@pytest.mark.parametrize(("rtype", "value"), [
    ("TLSA", "3 1 1 XYZ"),
    ("TLSA", "3 1 1"),
    ("SSHFP", "1 1 not-hex"),
    ("HTTPS", "1 . alpn"),
    ("SVCB", "1 svc.example.net. unknownkey=1"),
    ("LOC", "52 22 23.000 Q 4 53 32.000 E -2.00m"),
    ("DS", "12345 13 2 ABC"),
    ("DNSKEY", "257 3 13 not base64!"),
    ("CAA", '0 is-sue "letsencrypt.org"'),
    ("NAPTR", '100 10 "S" "SIP+D2U"'),
    ("URI", "10 1"),
    ("WKS", "192.0.2.1 6 99999"),
    ("AFSDB", "1 bad..name.example."),
])
def test_malformed_data_of_any_known_type_is_refused(rtype: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=rtype):
        names.validate_record_data(rtype, [value])


def test_the_same_data_twice_is_refused_however_spelled() -> None:
    with pytest.raises(InvalidInput, match="same data twice"):
        names.validate_record_data("TLSA", ["3 1 1 " + "AB" * 32, "3 1 1 " + "ab" * 32])
    with pytest.raises(InvalidInput, match="same data twice"):
        names.validate_record_data("MX", ["10 mail.example.net", "10 MAIL.example.net."])
    # Text is compared as it is: two spellings are two values.
    assert names.validate_record_data("TXT", ["a", "A"]) == ["a", "A"]


@pytest.mark.parametrize(("rtype", "a", "b"), [
    ("SSHFP", "1 1 " + "AB" * 20, "1 1 " + "ab" * 20),
    ("TLSA", "3 1 0 " + "CD" * 40, "3  1  0  " + "cd" * 20 + " " + "cd" * 20),
    ("DNSKEY", f"257 3 13 {KEY}", f"257 3 13 {KEY[:32]} {KEY[32:]}"),
    ("MX", "10 MAIL.Example.net", "10 mail.example.net."),
    ("SRV", "10 5 5060 SIP.example.net", "10 5 5060 sip.example.net."),
    ("CNAME", "Target.Example.NET", "target.example.net."),
    ("AAAA", "2001:DB8:0::1", "2001:db8::1"),
    ("CAA", "0 ISSUE letsencrypt.org", '0 issue "letsencrypt.org"'),
    ("CERT", "PKIX 12345 RSASHA256 dGVzdA==", "1 12345 8 dGVzdA=="),
    ("HTTPS", '1 . alpn="h2,h3" port="8443"', "1 . alpn=h2,h3 port=8443"),
    ("LOC", "52 22 23 N 4 53 32 E -2m",
     "52 22 23.000 N 4 53 32.000 E -2.00m 1.00m 10000.00m 10.00m"),
    ("L64", "10 2001:0DB8:1140:1000", "10 2001:0db8:1140:1000"),
    ("HIP", "2 200100107B1A74DF365639CC39F1D578 AwEAAQ== RVS.example.net",
     "2 200100107b1a74df365639cc39f1d578 AwEAAQ== rvs.example.net."),
])
def test_canonical_gives_one_form_per_value(rtype: str, a: str, b: str) -> None:
    assert records.canonical(rtype, a) == records.canonical(rtype, b)


def test_canonical_forms() -> None:
    assert records.canonical("SSHFP", "1 1 " + "AB" * 20) == "1 1 " + "ab" * 20
    assert records.canonical("MX", "10 MAIL.example.com") == "10 mail.example.com."
    assert records.canonical("TXT", " Kept As Is ") == " Kept As Is "
    assert records.canonical("ALIAS", "Target.Example.com") == "target.example.com."
    # A value dnspython cannot read is compared as text, never an error...
    assert records.canonical("SSHFP", "1  1 nothex") == "1 1 nothex"
    # ...except an address, which must be one.
    with pytest.raises(InvalidInput):
        records.canonical("A", "not-an-address")


def test_values_to_rdata_and_back() -> None:
    rdata = records.to_rdata("MX", "10 mail.example.net")
    assert records.rdata_text(rdata) == "10 mail.example.net."
    assert records.rdata_text(records.to_rdata("TXT", 'say "hi"')) == 'say "hi"'
    with pytest.raises(InvalidInput, match="MX value '10' is not valid"):
        records.to_rdata("MX", "10")
    with pytest.raises(InvalidInput, match="does not know"):
        records.to_rdata("ALIAS", "example.net.")


def test_rfc3597_data() -> None:
    value = "0 0 3 relay.example.net."
    data = records.generic("AMTRELAY", value)
    assert data == "\\# 21 00030572656c6179076578616d706c65036e657400"
    assert records.from_presentation("AMTRELAY", data) == value
    assert records.from_presentation("TXT", '\\# 3 026869') == "hi"
    # Text that only looks like RFC 3597 data is kept as it is.
    assert records.from_presentation("SSHFP", "\\# 2 zz") == "\\# 2 zz"
    assert (records.generic_type("AMTRELAY"), records.mnemonic("TYPE260")) == (
        "TYPE260", "AMTRELAY")
    assert (records.mnemonic("nsap-ptr"), records.mnemonic("alias")) == ("NSAP-PTR", "ALIAS")
    with pytest.raises(InvalidInput):
        records.generic_type("BOGUS")


def test_presentation_forms_are_kept() -> None:
    assert records.to_presentation("TXT", 'say "hi"') == '"say \\"hi\\""'
    assert records.to_presentation("MX", "10 mail.example.com") == "10 mail.example.com."
    assert records.to_presentation("CNAME", "x.example.com") == "x.example.com."
    assert records.to_presentation("CAA", "0 issue ca.example") == '0 issue "ca.example"'
    assert records.from_presentation("TXT", '"a" "b"') == "ab"


def test_dnssec_records_may_stand_beside_a_cname() -> None:
    names.check_free("www", "CNAME", ["RRSIG", "NSEC"])
    names.check_free("www", "RRSIG", ["CNAME"])
    with pytest.raises(InvalidInput, match="CNAME"):
        names.check_free("www", "A", ["CNAME", "RRSIG"])
    with pytest.raises(InvalidInput, match="CNAME"):
        names.check_free("www", "CNAME", ["TXT", "RRSIG"])
    with pytest.raises(RecordAlreadyExists):
        names.check_free("www", "rrsig", ["RRSIG"])


MODULES = ("overcast.dns.records", "overcast.dns.names", "overcast.dns.base",
           "overcast.dns.bind", "overcast.dns.zone_sync", "overcast.dns.drivers.zonefile",
           "overcast.dns.drivers.rfc2136", "overcast.dns.drivers.powerdns")


@pytest.fixture
def no_dnspython(monkeypatch: pytest.MonkeyPatch) -> None:
    """dnspython missing, and the DNS area not imported yet; all put back after."""
    import overcast
    import overcast.dns.drivers

    for package in (overcast, overcast.dns, overcast.dns.drivers):
        for attr, value in list(vars(package).items()):
            if isinstance(value, types.ModuleType):
                monkeypatch.setattr(package, attr, value)
    for name in list(sys.modules):
        if name == "dns" or name.startswith("dns."):
            monkeypatch.setitem(sys.modules, name, None)
        elif name == "overcast.dns" or name.startswith("overcast.dns."):
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "dns", None)


@pytest.mark.parametrize("module", MODULES)
@pytest.mark.usefixtures("no_dnspython")
def test_without_dnspython_a_dns_module_names_the_extra(module: str) -> None:
    with pytest.raises(ImportError, match=r'dnspython: pip install "overcast\[dns\]"'):
        importlib.import_module(module)


@pytest.mark.usefixtures("no_dnspython")
def test_without_dnspython_get_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from overcast import registry
    from overcast.dns import Provider
    from overcast.dns import get_driver

    monkeypatch.setattr(registry, "_cache", {})
    assert "zonefile" in list(Provider)  # the area itself still imports
    with pytest.raises(ImportError, match=r'pip install "overcast\[dns\]"'):
        get_driver("zonefile")
