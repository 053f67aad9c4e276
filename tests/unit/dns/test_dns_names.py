"""The pure DNS name and record data checks of overcast.dns.names."""

from __future__ import annotations

import pytest

from overcast.dns import names
from overcast.errors import InvalidInput


@pytest.mark.parametrize(
    "name",
    [
        "",
        "@",
        "www",
        "WWW.Example.COM.",
        "_sip._tcp",
        "_dmarc",
        "s1._domainkey",
        "*",
        "*.dev",
        "*.example.com.",
        "xn--bcher-kva",
        "a-b-c",
        "a" * 63,
        "0.2.0.192.in-addr.arpa.",
    ],
)
def test_valid_names(name: str) -> None:
    assert names.validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("a..b", "empty label"),
        (".a", "empty label"),
        ("a" * 64, "longer than 63"),
        ("a.*", "leftmost"),
        ("*.*.a", "leftmost"),
        ("foo*", "may hold only"),
        ("-a", "may hold only"),
        ("a-", "may hold only"),
        ("a b", "may hold only"),
        ("a;b", "may hold only"),
        ("bücher", "IDNA"),
        (".".join(["a" * 63] * 4), "longer than 255"),
    ],
)
def test_invalid_names(name: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        names.validate_name(name)


def test_wildcard_can_be_refused() -> None:
    with pytest.raises(InvalidInput, match="wildcard"):
        names.validate_name("*.example.com", wildcard=False)


def test_length_includes_the_origin() -> None:
    relative = ".".join(["a" * 63] * 3)  # 191 characters: fine alone
    assert names.validate_name(relative) == relative
    with pytest.raises(InvalidInput, match="longer than 255"):
        names.validate_name(relative, origin="b" * 62 + ".example.com.")
    # Exactly 255 bytes on the wire (253 characters) is allowed.
    exact = ".".join(["a" * 63, "a" * 63, "a" * 63, "a" * 61])
    assert len(exact) == 253
    assert names.validate_name(exact) == exact


def test_non_string_name() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        names.validate_name(42)  # type: ignore[arg-type]


def test_absolute_name() -> None:
    assert names.absolute_name("", "example.com") == "example.com."
    assert names.absolute_name("@", "example.com.") == "example.com."
    assert names.absolute_name("www", "example.com") == "www.example.com."
    assert names.absolute_name("other.org.", "example.com") == "other.org."


@pytest.mark.parametrize("value", ["192.0.2.1", "0.0.0.0", "255.255.255.255"])
def test_valid_ipv4(value: str) -> None:
    assert names.validate_ipv4(value) == value


@pytest.mark.parametrize("value", ["192.0.2", "256.1.1.1", "01.2.3.4", "::1", "a.b.c.d", ""])
def test_invalid_ipv4(value: str) -> None:
    with pytest.raises(InvalidInput, match="not an IPv4 address"):
        names.validate_ipv4(value)


@pytest.mark.parametrize("value", ["2001:db8::1", "::1", "::ffff:192.0.2.1"])
def test_valid_ipv6(value: str) -> None:
    assert names.validate_ipv6(value) == value


@pytest.mark.parametrize("value", ["192.0.2.1", "2001:db8::g", "1:2:3:4:5:6:7:8:9"])
def test_invalid_ipv6(value: str) -> None:
    with pytest.raises(InvalidInput, match="not an IPv6 address"):
        names.validate_ipv6(value)


def test_ipv6_scope_is_refused() -> None:
    with pytest.raises(InvalidInput, match="scope"):
        names.validate_ipv6("fe80::1%eth0")


@pytest.mark.parametrize(
    ("rtype", "values"),
    [
        ("A", ["192.0.2.1", "192.0.2.2"]),
        ("AAAA", ["2001:db8::1"]),
        ("CNAME", ["target.example.net."]),
        ("NS", ["ns1.example.net", "ns2.example.net"]),
        ("MX", ["10 mail.example.com.", "20 backup.example.com"]),
        ("MX", ["0 ."]),
        ("SRV", ["10 5 5060 sip.example.com."]),
        ("TXT", ["v=spf1 -all", "", 'line\nbreak and "quotes"']),
        ("CAA", ['0 issue "letsencrypt.org"']),
        ("SSHFP", ["1 1 123456789abcdef67890123456789abcdef67890"]),
        ("mx", ["10 mail.example.com."]),
    ],
)
def test_valid_record_data(rtype: str, values: list[str]) -> None:
    assert names.validate_record_data(rtype, values) == values


@pytest.mark.parametrize(
    ("rtype", "values", "message"),
    [
        ("A", [], "at least one value"),
        ("A", ["192.0.2.1", "192.0.2.1"], "given twice"),
        ("A", ["2001:db8::1"], "not an IPv4 address"),
        ("AAAA", ["192.0.2.1"], "not an IPv6 address"),
        ("CNAME", ["a.example.", "b.example."], "exactly one value"),
        ("CNAME", ["bad host.example."], "may hold only"),
        ("CNAME", ["*.example.com."], "wildcard"),
        ("MX", ["mail.example.com."], "preference exchange"),
        ("MX", ["70000 mail.example.com."], "0 to 65535"),
        ("SRV", ["10 5 sip.example.com."], "priority weight port target"),
        ("SRV", ["10 5 99999 sip.example.com."], "SRV port"),
        ("CAA", ["0 issue"], "flags tag value"),
        ("CAA", ['300 issue "ca"'], "0 to 255"),
        ("NS", ["ns1.example.net\nevil"], "control character"),
        ("HINFO", ["   "], "may not be empty"),
        ("A", "192.0.2.1", "list of strings"),
        ("A", [1], "must be a string"),
    ],
)
def test_invalid_record_data(rtype: str, values: list[str], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        names.validate_record_data(rtype, values)
