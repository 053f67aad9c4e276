"""The RFC 2136 driver without a name server: the DNS messages it sends and how
it reads the answers, in both modes.

dnspython's two blocking calls the driver's operations go through
(``dns.query.tcp`` for queries and UPDATEs, ``dns.query.inbound_xfr`` for zone
transfers) are replaced by :class:`NameServer`, which checks each message's
TSIG signature with the server's copy of the key, records the message, and
answers from a script. Everything between an operation and those two calls
(signing, prerequisites, reading rcodes) is the driver's own code.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from dataclasses import field
from typing import Any

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.transaction
import dns.tsig
import dns.xfr
import dns.zone
import pytest

from overcast.dns.base import RecordSet
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.drivers import rfc2136
from overcast.dns.drivers.rfc2136 import RFC2136DNSDriver
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import TransportError
from overcast.errors import ZoneNotFound
from overcast.testing import MODES
from overcast.testing import call

SERVER, PORT = "192.0.2.53", 5353
KEY = "overcast-key."
SECRET = "dW5pdC10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"
ORIGIN = "example.test."
SOA = f"{ORIGIN} 3600 IN SOA ns1.{ORIGIN} hostmaster.{ORIGIN} 42 7200 900 1209600 300"
NOERROR, REFUSED, NOTAUTH = dns.rcode.NOERROR, dns.rcode.REFUSED, dns.rcode.NOTAUTH
YXDOMAIN, YXRRSET, NXRRSET = dns.rcode.YXDOMAIN, dns.rcode.YXRRSET, dns.rcode.NXRRSET


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- the fake name server ---------------------------------------------------------------


@dataclass
class Step:
    """One scripted answer: to a query or UPDATE (``kind="tcp"``) or a zone transfer."""

    kind: str
    rcode: dns.rcode.Rcode = NOERROR
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    authoritative: bool = True
    zone_text: str = ""
    error: BaseException | None = None


class NameServer:
    """The far end of the driver's exchanges: verifies each message's TSIG, keeps
    the message as the server decoded it, and answers with the next step.

    The driver's calls come from a worker thread in async mode, so the script
    and the record of what came are guarded by a lock."""

    def __init__(self, keys: dict[str, str] | None = None) -> None:
        self.keyring = {
            dns.name.from_text(name): dns.tsig.Key(name, secret, dns.tsig.HMAC_SHA256)
            for name, secret in (keys or {KEY: SECRET}).items()
        }
        self.steps: list[Step] = []
        self.received: list[Any] = []  # messages as the server decoded them
        self.threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    # -- the script --

    def answer(self, rcode: dns.rcode.Rcode = NOERROR, *rrsets: str,
               authoritative: bool = True) -> None:
        """Answer the next query or UPDATE with ``rcode`` and these answer RRsets
        (each one master-file line)."""
        self.steps.append(Step("tcp", rcode, [rrset(line) for line in rrsets], authoritative))

    def transfer(self, zone_text: str = "", rcode: dns.rcode.Rcode = NOERROR) -> None:
        """Answer the next zone transfer with this zone (or fail it with ``rcode``)."""
        self.steps.append(Step("axfr", rcode, zone_text=zone_text))

    def fail(self, error: BaseException) -> None:
        """Make the next exchange raise ``error`` (as dnspython would)."""
        self.steps.append(Step("tcp", error=error))

    def assert_done(self) -> None:
        assert self.steps == [], f"answers never asked for: {self.steps}"

    # -- the two blocking calls --

    def _take(self, kind: str, message: dns.message.Message, where: str, port: int
              ) -> tuple[Any, Step]:
        assert (where, port) == (SERVER, PORT)
        try:
            received = dns.message.from_wire(message.to_wire(), keyring=self.keyring)
        except dns.message.UnknownTSIGKey:
            raise dns.tsig.PeerBadKey from None  # what dnspython raises on BADKEY
        except dns.tsig.BadSignature:
            raise dns.tsig.PeerBadSignature from None
        assert received.had_tsig, f"an unsigned message: {received}"
        with self._lock:
            self.received.append(received)
            self.threads.append(threading.current_thread())
            assert self.steps, f"no answer left for:\n{received}"
            step = self.steps.pop(0)
        assert step.kind == kind, f"a {kind} exchange where {step.kind} was expected"
        return received, step

    def tcp(self, q: dns.message.Message, where: str, timeout: float | None = None,
            port: int = 53, **_: Any) -> dns.message.Message:
        received, step = self._take("tcp", q, where, port)
        if step.error is not None:
            raise step.error
        response = dns.message.make_response(received)
        response.set_rcode(step.rcode)
        if step.authoritative:
            response.flags |= dns.flags.AA
        for rrs in step.answer:
            found: Any = response.find_rrset(response.answer, rrs.name, rrs.rdclass,
                                             rrs.rdtype, create=True)
            found.update(rrs)
        return response

    def inbound_xfr(self, where: str, txn_manager: dns.transaction.TransactionManager,
                    query: dns.message.Message | None = None, port: int = 53,
                    **_: Any) -> None:
        assert query is not None
        step = self._take("axfr", query, where, port)[1]
        if step.rcode != NOERROR:
            raise dns.xfr.TransferError(step.rcode)  # type: ignore[no-untyped-call]
        source = dns.zone.from_text(step.zone_text, origin=ORIGIN, relativize=False)
        with txn_manager.writer(True) as txn:
            for name, rdataset in source.iterate_rdatasets():
                txn.replace(name, rdataset)


def rrset(line: str) -> dns.rrset.RRset:
    name, ttl, rdclass, rdtype, *data = line.split(maxsplit=4)
    return dns.rrset.from_text(name, int(ttl), rdclass, rdtype, *data)


def lines(section: list[dns.rrset.RRset]) -> list[str]:
    """A message section as master-file lines (``NONE``/``ANY`` classes and TTL 0
    are how RFC 2136 spells prerequisites and deletions)."""
    return [line for rrs in section for line in rrs.to_text().splitlines()]


def question(message: dns.message.Message) -> tuple[str, str]:
    [asked] = message.question
    return asked.name.to_text(), dns.rdatatype.to_text(asked.rdtype)


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> NameServer:
    fake = NameServer()
    monkeypatch.setattr(dns.query, "tcp", fake.tcp)
    monkeypatch.setattr(dns.query, "inbound_xfr", fake.inbound_xfr)
    return fake


def driver(**options: Any) -> RFC2136DNSDriver:
    settings: dict[str, Any] = {"tsig_name": "overcast-key", "tsig_secret": SECRET,
                                "default_ttl": 300, **options}
    return RFC2136DNSDriver(SERVER, PORT, **settings)


def zone(d: RFC2136DNSDriver) -> Zone:
    return Zone(ORIGIN, ORIGIN, ZoneType.MASTER.value, None, d)


def record_set(d: RFC2136DNSDriver, name: str, rtype: str, *values: str, ttl: int = 60
               ) -> RecordSet:
    return RecordSet(f"{name or '@'}:{rtype}", name, rtype, values[0], zone(d), d, ttl=ttl,
                  values=list(values))


# -- zones ---------------------------------------------------------------------------------


def test_configured_zones_are_checked_one_soa_query_a_page(server: NameServer, mode: str
                                                           ) -> None:
    server.answer(NOERROR, SOA.replace(ORIGIN, "a.test."))
    server.answer(NOTAUTH, authoritative=False)  # not served: left out
    server.answer(NOERROR, SOA.replace(ORIGIN, "b.test."))
    d = driver(zones=("a.test", "Gone.Test.", "b.test"))
    zones = call(mode, d, "list_zones")
    assert [(z.id, z.domain, z.ttl) for z in zones] == [
        ("a.test.", "a.test.", None), ("b.test.", "b.test.", None)]
    assert zones[0].extra == {
        "serial": 42, "primary_ns": "ns1.a.test.", "hostmaster": "hostmaster.a.test.",
        "refresh": 7200, "retry": 900, "expire": 1209600, "minimum": 300, "soa_ttl": 3600}
    assert [question(m) for m in server.received] == [
        ("a.test.", "SOA"), ("gone.test.", "SOA"), ("b.test.", "SOA")]
    for message in server.received:  # signed with the key the driver was given
        assert (message.keyname.to_text(), message.keyalgorithm) == (KEY, dns.tsig.HMAC_SHA256)
    server.assert_done()


def test_get_zone_needs_an_authoritative_soa(server: NameServer, mode: str) -> None:
    server.answer(NOERROR, SOA)
    server.answer(NOERROR, SOA, authoritative=False)  # a cache's answer: not the zone's server
    server.answer(NOERROR)  # "www.example.test." is a name in a zone, not a zone
    d = driver()
    assert call(mode, d, "get_zone", "EXAMPLE.test").id == ORIGIN
    for name in ("example.test.", "www.example.test"):
        with pytest.raises(ZoneNotFound):
            call(mode, d, "get_zone", name)
    assert [question(m) for m in server.received] == [
        (ORIGIN, "SOA"), (ORIGIN, "SOA"), (f"www.{ORIGIN}", "SOA")]
    # Sync: in the caller's thread; async: in worker threads, off the event loop's.
    assert [t is threading.main_thread() for t in server.threads] == [mode == "sync"] * 3
    server.assert_done()


# -- creates ----------------------------------------------------------------------------


def test_a_new_set_is_one_update_whose_prerequisites_make_it_atomic(
    server: NameServer, mode: str
) -> None:
    for _ in range(3):
        server.answer(NOERROR)
    d = driver()
    made = call(mode, d, "create_record_set", "www", zone(d), RecordType.A,
                ["192.0.2.1", "192.0.2.2"])
    assert (made.id, made.values, made.ttl) == ("www:A", ["192.0.2.1", "192.0.2.2"], 300)
    alias = call(mode, d, "create_record_set", "alias", zone(d), RecordType.CNAME,
                 "target.example.net", ttl=60)
    assert (alias.id, alias.values, alias.ttl) == ("alias:CNAME", ["target.example.net."], 60)
    ds = "12345 13 2 " + "ab" * 32
    call(mode, d, "create_record_set", "child", zone(d), RecordType.DS, ds)

    www, cname, child = server.received
    assert (www.opcode(), lines(www.zone)) == (dns.opcode.UPDATE, [f"{ORIGIN} IN SOA"])
    assert lines(www.prerequisite) == [
        f"www.{ORIGIN} NONE A",  # RRset does not exist
        f"www.{ORIGIN} NONE CNAME",  # no CNAME at this name
    ]
    assert lines(www.update) == [f"www.{ORIGIN} 300 IN A 192.0.2.1",
                                 f"www.{ORIGIN} 300 IN A 192.0.2.2"]
    assert lines(cname.prerequisite) == [
        f"alias.{ORIGIN} NONE CNAME",
        f"alias.{ORIGIN} NONE ANY",  # name not in use: a CNAME stands alone
    ]
    assert lines(cname.update) == [f"alias.{ORIGIN} 60 IN CNAME target.example.net."]
    assert lines(child.prerequisite) == [
        f"child.{ORIGIN} NONE DS", f"child.{ORIGIN} NONE CNAME",
        f"child.{ORIGIN} ANY NS",  # a DS set stands at a delegation
    ]
    assert lines(child.update) == [f"child.{ORIGIN} 300 IN DS {ds}"]
    assert {m.keyname.to_text() for m in server.received} == {KEY}
    server.assert_done()


def test_a_failed_create_prerequisite_is_read_as_the_rule_it_broke(
    server: NameServer, mode: str
) -> None:
    d = driver()
    server.answer(YXRRSET)  # the set exists, or a CNAME is there: a query tells which
    server.answer(NOERROR)
    with pytest.raises(RecordAlreadyExists, match="www:A"):
        call(mode, d, "create_record_set", "www", zone(d), "A", "192.0.2.1")
    server.answer(YXRRSET)
    server.answer(NOERROR, f"www.{ORIGIN} 300 IN CNAME elsewhere.example.net.")
    with pytest.raises(InvalidInput, match="has a CNAME"):
        call(mode, d, "create_record_set", "www", zone(d), "TXT", "hello")
    assert [question(m) for m in server.received[1::2]] == [
        (f"www.{ORIGIN}", "CNAME"), (f"www.{ORIGIN}", "CNAME")]

    server.received.clear()
    server.answer(YXRRSET)  # a CNAME set exists: no query needed
    with pytest.raises(RecordAlreadyExists, match="alias:CNAME"):
        call(mode, d, "create_record_set", "alias", zone(d), "CNAME", "x.example.net.")
    server.answer(YXDOMAIN)  # the name is in use
    with pytest.raises(InvalidInput, match="may not stand beside"):
        call(mode, d, "create_record_set", "data", zone(d), "CNAME", "x.example.net.")
    server.answer(NXRRSET)  # no NS set at the name
    with pytest.raises(InvalidInput, match="delegation"):
        call(mode, d, "create_record_set", "child", zone(d), "DS", "1 13 2 " + "ab" * 32)
    assert [m.opcode() for m in server.received] == [dns.opcode.UPDATE] * 3
    server.assert_done()


# -- updates and deletes ------------------------------------------------------------------


def test_an_update_replaces_the_set_on_the_prerequisite_that_it_exists(
    server: NameServer, mode: str
) -> None:
    d = driver()
    www = record_set(d, "www", "A", "192.0.2.1")
    server.answer(NOERROR)
    server.answer(NOERROR)
    server.answer(NXRRSET)
    changed = call(mode, d, "update_record_set", www, None, None, ["192.0.2.3", "192.0.2.4"])
    assert (changed.id, changed.values, changed.ttl) == ("www:A", ["192.0.2.3", "192.0.2.4"], 60)
    moved = call(mode, d, "update_record_set", www, "web", None, None, ttl=120)
    assert (moved.id, moved.values, moved.ttl) == ("web:A", ["192.0.2.1"], 120)
    with pytest.raises(RecordNotFound, match="www:A"):
        call(mode, d, "update_record_set", www, None, None, "192.0.2.9")

    values, rename, _ = server.received
    assert lines(values.prerequisite) == [f"www.{ORIGIN} ANY A"]  # RRset exists
    assert lines(values.update) == [f"www.{ORIGIN} ANY A", f"www.{ORIGIN} 60 IN A 192.0.2.3",
                                    f"www.{ORIGIN} 60 IN A 192.0.2.4"]
    assert lines(rename.prerequisite) == [
        f"www.{ORIGIN} ANY A", f"web.{ORIGIN} NONE A", f"web.{ORIGIN} NONE CNAME"]
    assert lines(rename.update) == [f"www.{ORIGIN} ANY A", f"web.{ORIGIN} 120 IN A 192.0.2.1"]
    server.assert_done()


def test_the_apex_ns_set_is_changed_value_by_value(server: NameServer, mode: str) -> None:
    d = driver()
    server.answer(NOERROR, f"{ORIGIN} 3600 IN NS ns1.{ORIGIN}", f"{ORIGIN} 3600 IN NS ns2.{ORIGIN}")
    server.answer(NOERROR)
    ns = record_set(d, "", "NS", f"ns1.{ORIGIN}", f"ns2.{ORIGIN}", ttl=3600)
    updated = call(mode, d, "update_record_set", ns, None, None,
                   [f"ns1.{ORIGIN}", "ns.other.test."])
    assert updated.values == [f"ns1.{ORIGIN}", "ns.other.test."]
    query, update = server.received
    assert question(query) == (ORIGIN, "NS")
    # Exactly the set that was read, or nothing changes.
    assert lines(update.prerequisite) == [f"{ORIGIN} 0 IN NS ns1.{ORIGIN}",
                                          f"{ORIGIN} 0 IN NS ns2.{ORIGIN}"]
    assert lines(update.update) == [
        f"{ORIGIN} 3600 IN NS ns1.{ORIGIN}", f"{ORIGIN} 3600 IN NS ns.other.test.",
        f"{ORIGIN} 0 NONE NS ns2.{ORIGIN}",  # delete that one value
    ]
    server.assert_done()


def test_delete_removes_the_set_that_exists(server: NameServer, mode: str) -> None:
    d = driver()
    server.answer(NOERROR)
    server.answer(NXRRSET)
    mx = record_set(d, "", "MX", f"10 mail.{ORIGIN}")
    assert call(mode, d, "delete_record_set", mx) is True
    with pytest.raises(RecordNotFound, match="@:MX"):
        call(mode, d, "delete_record_set", mx)
    for message in server.received:
        assert lines(message.prerequisite) == [f"{ORIGIN} ANY MX"]
        assert lines(message.update) == [f"{ORIGIN} ANY MX"]
    server.assert_done()


# -- answers that refuse --------------------------------------------------------------------


@pytest.mark.parametrize(("rcode", "follow_up", "error", "says"), [
    # Not authoritative: the zone is not served (an SOA query tells)...
    (NOTAUTH, (NOTAUTH,), ZoneNotFound, ORIGIN),
    # ...or it is, and the key may not update it.
    (NOTAUTH, (NOERROR, SOA), InvalidCredentials, "may not update"),
    # Refused, and an empty UPDATE is refused too: the key may not update.
    (REFUSED, (REFUSED,), InvalidCredentials, "answered REFUSED"),
    # Refused, but the key may update: the server's own policy refused the change.
    (REFUSED, (NOERROR,), ProviderError, "by its own policy"),
    (dns.rcode.SERVFAIL, (), ProviderError, "answered SERVFAIL"),
])
def test_a_refused_update_is_told_apart_by_a_follow_up(
    server: NameServer, mode: str, rcode: dns.rcode.Rcode, follow_up: tuple[Any, ...],
    error: type[Exception], says: str,
) -> None:
    server.answer(rcode)
    if follow_up:
        server.answer(*follow_up)
    d = driver()
    with pytest.raises(error, match=says) as raised:
        call(mode, d, "create_record_set", "www", zone(d), "A", "192.0.2.1")
    if error is ProviderError:
        assert raised.value.code == dns.rcode.to_text(rcode)  # type: ignore[attr-defined]
    first, *then = server.received
    assert lines(first.update) == [f"www.{ORIGIN} 300 IN A 192.0.2.1"]
    if rcode == NOTAUTH:
        assert [question(m) for m in then] == [(ORIGIN, "SOA")]
    elif rcode == REFUSED:  # the probe: an UPDATE of the zone with no prerequisite, no change
        [probe] = then
        assert (probe.opcode(), lines(probe.zone)) == (dns.opcode.UPDATE, [f"{ORIGIN} IN SOA"])
        assert (lines(probe.prerequisite), lines(probe.update)) == ([], [])
    else:
        assert then == []
    server.assert_done()


def test_keys_the_server_rejects_and_broken_exchanges(
    server: NameServer, mode: str
) -> None:
    stranger = driver(tsig_name="nobody")
    with pytest.raises(InvalidCredentials, match=r"'nobody\.'") as unknown:
        call(mode, stranger, "create_record_set", "www", zone(stranger), "A", "192.0.2.1")
    assert "PeerBadKey" in str(unknown.value)
    wrong = "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUE="
    with pytest.raises(InvalidCredentials) as bad_secret:
        call(mode, driver(tsig_secret=wrong), "get_zone", ORIGIN)
    assert "PeerBadSignature" in str(bad_secret.value) and wrong not in str(bad_secret.value)
    assert server.received == []  # the server refused both before reading them

    d = driver()
    server.fail(dns.exception.Timeout())  # type: ignore[no-untyped-call]
    server.fail(ConnectionRefusedError(111, "Connection refused"))
    server.fail(dns.message.ShortHeader())  # type: ignore[no-untyped-call]
    with pytest.raises(OperationTimeout, match="did not answer in time"):
        call(mode, d, "get_zone", ORIGIN)
    with pytest.raises(TransportError, match=f"cannot reach {SERVER}:{PORT}"):
        call(mode, d, "delete_record_set", record_set(d, "www", "A", "192.0.2.1"))
    with pytest.raises(ProviderError, match="ShortHeader"):
        call(mode, d, "get_zone", ORIGIN)
    server.assert_done()


# -- reads by zone transfer ---------------------------------------------------------------


ZONE_TEXT = f"""
$ORIGIN {ORIGIN}
@        3600 IN SOA ns1 hostmaster 42 7200 900 1209600 300
@        3600 IN NS  ns1
@         600 IN MX  10 mail
ns1       300 IN A   192.0.2.53
www        60 IN A   192.0.2.1
www        60 IN A   192.0.2.2
*         300 IN TXT "anything"
sub       300 IN NS  ns.other.test.
"""


def test_records_are_read_by_a_signed_zone_transfer(server: NameServer, mode: str) -> None:
    server.transfer(ZONE_TEXT)
    server.transfer(ZONE_TEXT)
    server.transfer(ZONE_TEXT)
    d = driver()
    found = call(mode, d, "list_record_sets", zone(d))
    assert [(r.id, r.values, r.ttl) for r in found] == [
        ("@:SOA", [f"ns1.{ORIGIN} hostmaster.{ORIGIN} 42 7200 900 1209600 300"], 3600),
        ("@:NS", [f"ns1.{ORIGIN}"], 3600),
        ("@:MX", [f"10 mail.{ORIGIN}"], 600),
        ("*:TXT", ["anything"], 300),
        ("ns1:A", ["192.0.2.53"], 300),
        ("sub:NS", ["ns.other.test."], 300),
        ("www:A", ["192.0.2.1", "192.0.2.2"], 60),
    ]
    got = call(mode, d, "get_record_set", ORIGIN, "www:A")
    assert (got.id, got.values, got.zone.extra["serial"]) == ("www:A", ["192.0.2.1", "192.0.2.2"],
                                                             42)
    with pytest.raises(RecordNotFound):  # exact: a wildcard is not a set at every name
        call(mode, d, "get_record_set", ORIGIN, "anything:TXT")
    assert [question(m) for m in server.received] == [(ORIGIN, "AXFR")] * 3
    assert {m.keyname.to_text() for m in server.received} == {KEY}
    server.assert_done()


@pytest.mark.parametrize(("rcode", "error"), [
    (NOTAUTH, ZoneNotFound), (REFUSED, InvalidCredentials), (dns.rcode.SERVFAIL, ProviderError),
])
def test_a_refused_zone_transfer(server: NameServer, mode: str, rcode: dns.rcode.Rcode,
                                 error: type[Exception]) -> None:
    server.transfer(rcode=rcode)
    d = driver()
    with pytest.raises(error) as raised:
        call(mode, d, "list_record_sets", zone(d))
    if error is ProviderError:
        assert raised.value.code == "SERVFAIL"  # type: ignore[attr-defined]
    server.assert_done()


def test_a_malformed_record_id_is_looked_up_no_further_than_the_zone(
    server: NameServer, mode: str
) -> None:
    server.answer(NOERROR, SOA)
    server.answer(NOTAUTH, authoritative=False)
    server.answer(NOERROR, SOA)
    d = driver()
    with pytest.raises(RecordNotFound, match="no-colon"):
        call(mode, d, "get_record_set", ORIGIN, "no-colon")
    with pytest.raises(ZoneNotFound, match=r"other\.test\."):  # the zone's error comes first
        call(mode, d, "get_record_set", "other.test.", "no-colon")
    with pytest.raises(RecordNotFound, match="NOTATYPE"):
        call(mode, d, "get_record_set", ORIGIN, "www:NOTATYPE")
    # An SOA query each; no zone transfer.
    assert [question(m) for m in server.received] == [
        (ORIGIN, "SOA"), ("other.test.", "SOA"), (ORIGIN, "SOA")]
    server.assert_done()


# -- invalid input ---------------------------------------------------------------------------


def test_invalid_input_sends_nothing(server: NameServer, mode: str) -> None:
    d = driver()
    z = zone(d)
    soa = record_set(d, "", "SOA", f"ns1.{ORIGIN} hostmaster.{ORIGIN} 1 2 3 4 5")
    ns = record_set(d, "", "NS", f"ns1.{ORIGIN}")
    refused: list[tuple[type[Exception], str, tuple[Any, ...]]] = [
        (InvalidInput, "create_record_set", ("www", z, "A", "not-an-address")),
        (InvalidInput, "create_record_set", ("www.other.test.", z, "A", "192.0.2.1")),
        (InvalidInput, "create_record_set", ("a..b", z, "A", "192.0.2.1")),
        (NotSupported, "create_record_set", ("", z, "SOA", "a. b. 1 2 3 4 5")),
        (NotSupported, "update_record_set", (soa, None, None, "a. b. 2 2 3 4 5")),
        (InvalidInput, "update_record_set", (ns, "sub", None, None)),
        (InvalidInput, "delete_record_set", (soa,)),
        (InvalidInput, "delete_record_set", (ns,)),
        (ZoneNotFound, "get_zone", ("not a domain",)),
        (NotSupported, "create_zone", ("new.test.",)),
    ]
    for error, name, args in refused:
        with pytest.raises(error):
            call(mode, d, name, *args)
    assert server.received == []
    server.assert_done()
    for options in ({"tsig_secret": "not base64!"}, {"tsig_algorithm": "hmac-sha3"},
                    {"tsig_name": ""}, {"zones": ("bad zone",)}, {"timeout": 0},
                    {"default_ttl": -1}):
        with pytest.raises(InvalidInput):
            driver(**options)


# -- zone-file imports: one UPDATE ---------------------------------------------------------------

IMPORT = f"""$ORIGIN {ORIGIN}
$TTL 600
mail         IN A     192.0.2.25
www          IN CNAME mail
child        IN NS    ns.child.example.net.
child        IN DS    12345 13 2 {"ab" * 32}
other    300 IN DS    12345 13 2 {"cd" * 32}
"""
SMALL_ZONE = f"""
$ORIGIN {ORIGIN}
@        3600 IN SOA ns1 hostmaster 42 7200 900 1209600 300
@        3600 IN NS  ns1
"""


def test_an_import_is_one_update_with_the_prerequisites_of_creates(
    server: NameServer, mode: str
) -> None:
    server.answer(NOERROR, SOA)  # the zone, by an SOA query
    server.transfer(SMALL_ZONE)  # its sets, checked before anything is written
    server.answer(NOERROR)
    d = driver()
    assert call(mode, d, "import_zone_from_bind_format", IMPORT).id == ORIGIN
    update = server.received[-1]
    assert update.opcode() == dns.opcode.UPDATE
    assert lines(update.prerequisite) == [
        f"child.{ORIGIN} NONE NS", f"child.{ORIGIN} NONE CNAME",
        f"child.{ORIGIN} NONE DS", f"child.{ORIGIN} NONE CNAME",  # its NS comes with it
        f"mail.{ORIGIN} NONE A", f"mail.{ORIGIN} NONE CNAME",
        f"other.{ORIGIN} NONE DS", f"other.{ORIGIN} NONE CNAME",
        f"other.{ORIGIN} ANY NS",  # a DS stands at a delegation
        f"www.{ORIGIN} NONE CNAME", f"www.{ORIGIN} NONE ANY",  # a CNAME stands alone
    ]
    assert lines(update.update) == [
        f"child.{ORIGIN} 600 IN NS ns.child.example.net.",
        f"child.{ORIGIN} 600 IN DS 12345 13 2 {'ab' * 32}",
        f"mail.{ORIGIN} 600 IN A 192.0.2.25",
        f"other.{ORIGIN} 300 IN DS 12345 13 2 {'cd' * 32}",
        f"www.{ORIGIN} 600 IN CNAME mail.{ORIGIN}",
    ]
    server.assert_done()


def test_an_import_in_several_updates_undoes_them_if_one_fails(
    server: NameServer, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rfc2136, "UPDATE_BYTES", 100)  # one set an UPDATE
    text = f"$ORIGIN {ORIGIN}\n$TTL 600\na IN A 192.0.2.1\nb IN A 192.0.2.2\nmail IN A 192.0.2.3\n"
    server.answer(NOERROR, SOA)
    server.transfer(SMALL_ZONE)
    server.answer(NOERROR)  # a
    server.answer(NOERROR)  # b
    server.answer(YXRRSET)  # mail: made meanwhile by someone else
    server.answer(NOERROR)  # b undone
    server.answer(NOERROR)  # a undone
    d = driver()
    with pytest.raises(RecordAlreadyExists, match="mail:A") as info:
        call(mode, d, "import_zone_from_bind_format", text)
    assert info.value.message.endswith(
        f"(2 of 3 record sets were written to {ORIGIN} before this error; "
        "rolled back: b:A, a:A)")
    *_, b_undone, a_undone = server.received
    assert (lines(b_undone.prerequisite), lines(b_undone.update)) == (
        [], [f"b.{ORIGIN} ANY A"])
    assert lines(a_undone.update) == [f"a.{ORIGIN} ANY A"]
    server.assert_done()
