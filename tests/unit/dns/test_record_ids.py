"""Per-value record ids (``"name:TYPE:<digest>"``) stay the same from release to
release: a user keeps them. The values below were computed before the digest
took its fast path for plain host names and text; the fast path must give what
dnspython's canonical form gives, for every value it takes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from overcast.dns import records
from overcast.dns.drivers.powerdns import PowerDNSDriver
from overcast.dns.models import RecordSet
from overcast.dns.models import Zone

# (relative name, type, value, the id overcast gave it before the fast path)
PINNED = [
    ("www", "A", "192.0.2.1", "www:A:37fcff24bf62035b"),
    ("www", "AAAA", "2001:DB8:0:0::0001", "www:AAAA:5afd19e856d1c18d"),
    ("@", "TXT", "v=spf1 include:_spf.example.net -all", "@:TXT:797e482bb09553bd"),
    ("", "MX", "10 mail.example.com.", "@:MX:3392ff7bc58ab99c"),
    ("", "MX", "010 Mail.Example.COM", "@:MX:3392ff7bc58ab99c"),
    ("Www.Sub", "CNAME", "Target.Example.NET", "Www.Sub:CNAME:a9f721dcadf1e2db"),
    ("alias", "CNAME", "target.example.net.", "alias:CNAME:a9f721dcadf1e2db"),
    ("_443._tcp.www", "TLSA", "3 1 1 " + "AB" * 32, "_443._tcp.www:TLSA:24fdc1be6e3cd371"),
    ("host", "SSHFP", "4 2 " + "ef" * 32, "host:SSHFP:741b5cc9d185872f"),
    ("_sip._udp", "SRV", "10 20 5060 SIP.Example.net", "_sip._udp:SRV:e86442f415dc665b"),
    ("ns", "NS", "NS1.example.org", "ns:NS:2229bbaa53d9d5bb"),
]


@pytest.mark.parametrize(("name", "rtype", "value", "rid"), PINNED)
def test_record_ids_are_the_ones_users_hold(name: str, rtype: str, value: str,
                                             rid: str) -> None:
    driver = PowerDNSDriver("key", endpoint="http://127.0.0.1:1")
    zone = Zone(id="example.com.", domain="example.com.", type="master", ttl=None,
                driver=driver)
    record_set = RecordSet(id=f"{name}:{rtype}", name=name, type=rtype, data=value, zone=zone,
                           driver=driver)
    (record,) = driver._records_of(record_set)
    assert record.id == rid


@pytest.mark.parametrize(("rtype", "value", "form"), [
    ("CNAME", "Target.Example.NET", "target.example.net."),
    ("MX", "010 Mail.Example.COM", "10 mail.example.com."),
    ("SRV", "0 00 443 _x-y.Example", "0 0 443 _x-y.example."),
    ("PTR", "a.b.c.", "a.b.c."),
    ("MX", "70000 mail.example.com.", "70000 mail.example.com."),  # not a uint16: as text
    ("CNAME", "a..b", "a..b."),  # an empty label: dnspython refuses it, compared as text
    ("CNAME", "x" * 64 + ".example.", "x" * 64 + ".example."),  # label too long: as text
])
def test_plain_host_names_take_the_fast_path_or_fall_back(rtype: str, value: str,
                                                           form: str) -> None:
    assert records.canonical(rtype, value) == form


_LABEL = st.text("aZ09-_", min_size=1, max_size=70)
_HOST = st.builds(lambda labels, dot: ".".join(labels) + dot,
                  st.lists(_LABEL, min_size=1, max_size=5), st.sampled_from(["", "."]))
_NUMBER = st.one_of(st.integers(0, 70000).map(str), st.sampled_from(["007", "65535", "65536"]))


@settings(max_examples=300, deadline=None)
@given(rtype=st.sampled_from(["CNAME", "DNAME", "NS", "PTR", "MX", "SRV"]), host=_HOST,
       numbers=st.lists(_NUMBER, min_size=3, max_size=3))
def test_the_fast_path_gives_dnspythons_canonical_form(rtype: str, host: str,
                                                       numbers: list[str]) -> None:
    fields = {"MX": numbers[:1], "SRV": numbers}.get(rtype, [])
    value = " ".join([*fields, host])
    fast = records._plain_canonical(rtype, value)
    assert fast is None or fast == records._canonical_text(rtype, value)


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(min_codepoint=0, max_codepoint=0x3FF), max_size=300))
def test_text_fast_paths_give_what_the_general_path_gives(text: str) -> None:
    quoted = records.character_strings(text)
    assert records.parse_character_strings(quoted) == text
    data = text.encode("utf-8", "surrogateescape")
    chunks = [data[i : i + 255] for i in range(0, len(data), 255)] or [b""]
    assert quoted == " ".join(f'"{records._escape(chunk)}"' for chunk in chunks)
