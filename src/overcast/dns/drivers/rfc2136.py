"""The RFC 2136 DNS driver: any standard name server, through signed dynamic updates.

Changes are RFC 2136 UPDATE messages signed with TSIG (RFC 8945); listings are
zone transfers (AXFR, signed with the same key); zones are found with SOA
queries. Everything goes over TCP, with dnspython for the wire format
(``pip install "overcast[dns]"``), each exchange inside a
:class:`~overcast.runtime.effects.Call` so the async runner never blocks.

Creates are atomic through update *prerequisites* (RFC 2136, 2.4): the server
applies the change only if they hold, in one step, so two clients racing to
create the same record set cannot both win:

* create: "RRset does not exist" for the name and type (else
  :class:`~overcast.errors.RecordAlreadyExists`), and "no CNAME at this name"
  (or, for a CNAME, "name not in use") — else
  :class:`~overcast.errors.InvalidInput`, as a CNAME stands alone;
* update and delete: "RRset exists" (else :class:`~overcast.errors.RecordNotFound`).

A zone-file import is one UPDATE holding every set with the same
prerequisites, or a few when the zone is large (each within
:data:`UPDATE_BYTES`); if one fails, the UPDATEs sent before it are undone by
UPDATEs that delete what they added and put back what they replaced.

A name server has no zone listing: :meth:`RFC2136DNSDriver.iterate_zones`
yields the zones given as ``zones=``, and :meth:`RFC2136DNSDriver.get_zone`
works for any zone the server is authoritative for. Zones are made and
removed in the server's own configuration, so ``create_zone``,
``update_zone`` and ``delete_zone`` are not supported.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from typing import ClassVar
from typing import Final

# First, so that a missing dnspython is reported with the extra that brings it.
from overcast.dns import bind

# isort: split
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.ANY.SOA
import dns.rrset
import dns.tsig
import dns.update
import dns.xfr
import dns.zone

from overcast.dns import names
from overcast.dns.base import DEFAULT_TTL
from overcast.dns.base import STANDARD_TYPES
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import batches
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import OperationTimeout
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import TransportError
from overcast.errors import ZoneNotFound
from overcast.runtime.effects import Call
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["SERVER_TYPES", "TSIG_ALGORITHMS", "RFC2136DNSDriver"]

#: Types a name server keeps for itself: the SOA, and the DNSSEC keys,
#: signatures and denial records it signs a zone with. Servers refuse them in an
#: UPDATE (BIND answers REFUSED, and takes an apex DNSKEY for a key to sign with).
SERVER_TYPES: Final = frozenset({
    RecordType.SOA, RecordType.DNSKEY, RecordType.NSEC, RecordType.NSEC3, RecordType.RRSIG,
    RecordType.SIG,
})

#: The largest UPDATE an import sends, in bytes of wire form as estimated from
#: above (a DNS message over TCP holds at most 65,535, header, zone and TSIG
#: record included).
UPDATE_BYTES: Final = 60_000

#: TSIG algorithms by the names people write them with.
TSIG_ALGORITHMS: Final[Mapping[str, dns.name.Name]] = {
    "hmac-md5": dns.tsig.HMAC_MD5,
    "hmac-md5.sig-alg.reg.int": dns.tsig.HMAC_MD5,
    "hmac-sha1": dns.tsig.HMAC_SHA1,
    "hmac-sha224": dns.tsig.HMAC_SHA224,
    "hmac-sha256": dns.tsig.HMAC_SHA256,
    "hmac-sha384": dns.tsig.HMAC_SHA384,
    "hmac-sha512": dns.tsig.HMAC_SHA512,
}


@dataclass(frozen=True, slots=True)
class _Set:
    """One set of an import as dnspython data: where it goes, its rdataset, the
    rdataset it replaces (``None`` for a new set) and its size in an UPDATE."""

    spec: RecordSpec
    owner: dns.name.Name
    rdataset: dns.rdataset.Rdataset
    old: dns.rdataset.Rdataset | None
    size: int


class RFC2136DNSDriver(DNSDriver):
    """Records on any standard name server, through TSIG-signed dynamic updates.

    ``RFC2136DNSDriver(server, port=53, tsig_name=..., tsig_secret=...)``:
    ``server`` is the primary's address, ``tsig_secret`` the key's base64
    secret (kept as a :class:`~overcast.runtime.redact.Secret`),
    ``tsig_algorithm`` one of :data:`TSIG_ALGORITHMS`. ``zones`` lists the
    zones :meth:`iterate_zones` yields; ``timeout`` bounds each exchange in
    seconds. A record set created without a TTL gets ``default_ttl``.

    Record sets of every type dnspython knows can be written, but the ones a
    server keeps itself (:data:`SERVER_TYPES`). A DS set belongs at a
    delegation: creating one at a name without an NS set is InvalidInput
    (servers would drop it without a word).
    """

    name: ClassVar[str] = "rfc2136"
    #: Every type dnspython knows but those the server keeps itself.
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(
        t for t in STANDARD_TYPES if t not in SERVER_TYPES
    )

    def __init__(self, server: str, port: int = 53, *, tsig_name: str, tsig_secret: str | Secret,
                 tsig_algorithm: str = "hmac-sha256", zones: Sequence[str] = (),
                 timeout: float = 10.0, default_ttl: int = DEFAULT_TTL, **options: Any) -> None:
        super().__init__(timeout=timeout, **options)
        if not isinstance(server, str) or not server or any(c.isspace() for c in server):
            raise InvalidInput(f"server must be a host name or address: {server!r}", driver=self)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise InvalidInput(f"port must be an integer from 1 to 65535: {port!r}", driver=self)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise InvalidInput(f"timeout must be positive seconds: {timeout!r}", driver=self)
        names.check_ttl(default_ttl, what="default_ttl", driver=self)
        if not isinstance(tsig_name, str) or tsig_name in names.APEX_NAMES:
            raise InvalidInput("tsig_name must be the key's name", driver=self)
        names.validate_name(tsig_name, wildcard=False, what="tsig_name", driver=self)
        algorithm = TSIG_ALGORITHMS.get(str(tsig_algorithm).lower().rstrip("."))
        if algorithm is None:
            raise InvalidInput(
                f"unknown TSIG algorithm {tsig_algorithm!r}; "
                f"choose from {', '.join(sorted(TSIG_ALGORITHMS))}",
                driver=self,
            )
        secret = Secret(tsig_secret)
        try:
            base64.b64decode(secret.reveal(), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput(
                "tsig_secret must be base64 (as in named.conf)", driver=self
            ) from None
        if isinstance(zones, str):
            zones = [zones]
        self.server = server
        self.port = port
        self.tsig_name = dns.name.from_text(tsig_name)
        self.tsig_algorithm = algorithm
        self.tsig_secret = secret
        self.timeout = float(timeout)
        self.default_ttl = default_ttl
        self.zones: tuple[str, ...] = tuple(
            bind.zone_origin(z, driver=self).to_text() for z in zones
        )

    def _repr_fields(self) -> dict[str, object]:
        return {"server": self.server, "port": self.port, "tsig_name": self.tsig_name.to_text()}

    # -- the wire (blocking; run through Call) -----------------------------------------

    def _keyring(self) -> dict[dns.name.Name, dns.tsig.Key]:
        key = dns.tsig.Key(self.tsig_name, self.tsig_secret.reveal(), self.tsig_algorithm)
        return {self.tsig_name: key}

    def _sign_message(self, message: dns.message.Message) -> None:
        message.use_tsig(self._keyring(), keyname=self.tsig_name, algorithm=self.tsig_algorithm)

    def _failure(self, exc: BaseException, what: str) -> Exception:
        """The overcast error for an exception dnspython raised."""
        where = f"{self.server}:{self.port}"
        if isinstance(exc, dns.tsig.PeerError | dns.tsig.BadSignature | dns.tsig.BadKey):
            return InvalidCredentials(
                f"{what}: {where} rejected the TSIG key {self.tsig_name.to_text()!r} "
                f"({type(exc).__name__})",
                driver=self,
            )
        if isinstance(exc, dns.exception.Timeout):
            return OperationTimeout(f"{what}: {where} did not answer in time", driver=self)
        if isinstance(exc, OSError | EOFError):
            return TransportError(f"{what}: cannot reach {where}: {exc}", driver=self)
        return ProviderError(f"{what}: {where}: {type(exc).__name__}: {exc}", driver=self)

    def _exchange(self, message: dns.message.Message, what: str) -> dns.message.Message:
        """Send one signed message over TCP and return the (verified) answer."""
        self._sign_message(message)
        try:
            return dns.query.tcp(message, self.server, port=self.port, timeout=self.timeout)
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            raise self._failure(exc, what) from None

    def _soa(self, origin: dns.name.Name) -> Zone:
        """The zone at ``origin`` if the server is authoritative for it (SOA query)."""
        query = dns.message.make_query(origin, dns.rdatatype.SOA)
        answer = self._exchange(query, f"SOA query for {origin.to_text()}")
        rrset = None
        if answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AA:
            rrset = answer.get_rrset(
                answer.answer, origin, dns.rdataclass.IN, dns.rdatatype.SOA
            )
        if not rrset:
            raise ZoneNotFound(origin.to_text(), driver=self)
        return self._zone(origin, rrset[0], int(rrset.ttl))

    def _zone(self, origin: dns.name.Name, soa: dns.rdtypes.ANY.SOA.SOA, soa_ttl: int) -> Zone:
        return bind.master_zone(origin, self, extra={
            "serial": int(soa.serial),
            "primary_ns": soa.mname.to_text(),
            "hostmaster": soa.rname.to_text(),
            "refresh": int(soa.refresh),
            "retry": int(soa.retry),
            "expire": int(soa.expire),
            "minimum": int(soa.minimum),
            "soa_ttl": soa_ttl,
        })

    def _soas(self, origins: list[dns.name.Name]) -> list[Zone]:
        found: list[Zone] = []
        for origin in origins:
            try:
                found.append(self._soa(origin))
            except ZoneNotFound:
                continue
        return found

    def _transfer(self, origin: dns.name.Name) -> tuple[dns.zone.Zone, Zone]:
        """The whole zone, by a TSIG-signed AXFR over TCP."""
        model = dns.zone.Zone(origin, relativize=False)
        query = dns.message.make_query(origin, dns.rdatatype.AXFR)
        self._sign_message(query)
        what = f"zone transfer of {origin.to_text()}"
        try:
            dns.query.inbound_xfr(
                self.server,
                model,
                query=query,
                port=self.port,
                timeout=self.timeout,
                lifetime=max(self.timeout * 6, 60.0),
            )
        except dns.xfr.TransferError as exc:
            if exc.rcode == dns.rcode.NOTAUTH:
                raise ZoneNotFound(origin.to_text(), driver=self) from None
            if exc.rcode == dns.rcode.REFUSED:
                raise InvalidCredentials(
                    f"{what}: refused by {self.server}:{self.port} for key "
                    f"{self.tsig_name.to_text()!r}",
                    driver=self,
                ) from None
            raise ProviderError(
                f"{what}: {dns.rcode.to_text(exc.rcode)}",
                code=dns.rcode.to_text(exc.rcode),
                driver=self,
            ) from None
        except (dns.exception.DNSException, OSError, EOFError) as exc:
            raise self._failure(exc, what) from None
        soa = model.get_rdataset(origin, dns.rdatatype.SOA)
        if not soa:
            raise ZoneNotFound(origin.to_text(), driver=self)
        return model, self._zone(origin, soa[0], int(soa.ttl))

    def _records(self, origin: dns.name.Name, zone: Zone | None) -> list[RecordSet]:
        model, found = self._transfer(origin)
        return bind.zone_records(model, origin, zone or found, self)

    def _record(self, origin: dns.name.Name, owner: dns.name.Name, rdtype: dns.rdatatype.RdataType,
                wanted: str) -> RecordSet:
        model, zone = self._transfer(origin)
        found = bind.sets_at(model, owner, rdtype)
        if not found:
            raise RecordNotFound(wanted, driver=self)
        return bind.make_record(owner, found, origin, zone, self)

    def _has_cname(self, owner: dns.name.Name) -> bool:
        """Whether ``owner`` holds a CNAME (a CNAME query answers with it)."""
        query = dns.message.make_query(owner, dns.rdatatype.CNAME)
        answer = self._exchange(query, f"CNAME query for {owner.to_text()}")
        rrset = answer.get_rrset(answer.answer, owner, dns.rdataclass.IN, dns.rdatatype.CNAME)
        return bool(rrset)

    def _apex_ns(self, origin: dns.name.Name) -> dns.rrset.RRset:
        """The zone's apex NS set, as the server holds it (an authoritative answer)."""
        query = dns.message.make_query(origin, dns.rdatatype.NS)
        answer = self._exchange(query, f"NS query for {origin.to_text()}")
        rrset = answer.get_rrset(answer.answer, origin, dns.rdataclass.IN, dns.rdatatype.NS)
        if answer.rcode() != dns.rcode.NOERROR or not rrset:
            self._soa(origin)  # ZoneNotFound if it is not served
            raise RecordNotFound("@:NS", driver=self)
        return rrset

    def _update(self, origin: dns.name.Name, update: dns.update.UpdateMessage, what: str,
                explain: Callable[[dns.rcode.Rcode], Exception | None]) -> None:
        """Send an UPDATE; map a failed prerequisite (or any other error) to an error."""
        answer = self._exchange(update, what)
        rcode = answer.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        error = explain(rcode)
        if error is not None:
            raise error
        if rcode == dns.rcode.NOTAUTH:
            # Not authoritative for the zone (its TSIG checked out, or dnspython
            # would have raised): ZoneNotFound if the server does not serve it.
            self._soa(origin)
        if rcode == dns.rcode.REFUSED and self._may_update(origin):
            raise ProviderError(
                f"{what}: {self.server}:{self.port} refused the change by its own policy "
                "(the key may update the zone; BIND, for one, refuses an MX or SRV whose "
                "in-zone target has no address records unless check-integrity is off)",
                code="REFUSED",
                driver=self,
            )
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            raise InvalidCredentials(
                f"{what}: {self.server}:{self.port} answered {dns.rcode.to_text(rcode)}: "
                f"the key {self.tsig_name.to_text()!r} may not update this zone",
                driver=self,
            )
        raise ProviderError(
            f"{what}: {self.server}:{self.port} answered {dns.rcode.to_text(rcode)}",
            code=dns.rcode.to_text(rcode),
            driver=self,
        )

    def _may_update(self, origin: dns.name.Name) -> bool:
        """Whether the key may update the zone: an empty UPDATE (no prerequisite,
        no change) is accepted exactly when it may, and changes nothing."""
        answer = self._exchange(dns.update.UpdateMessage(origin), "update permission probe")
        return bool(answer.rcode() == dns.rcode.NOERROR)

    def _conflict(self, owner: dns.name.Name, rdtype: int, wanted: str) -> Exception:
        """After YXRRSET: the set itself exists, or a CNAME blocks the name (both
        prerequisites fail with that rcode; a follow-up query tells them apart)."""
        if rdtype != dns.rdatatype.CNAME and self._has_cname(owner):
            return InvalidInput(
                f"{owner.to_text()} has a CNAME; no other data may stand beside it", driver=self
            )
        return RecordAlreadyExists(wanted, driver=self)

    def _explain(self, owner: dns.name.Name, rdtype: int, wanted: str, *,
                 missing: str | None = None,
                 delegation: bool = False) -> Callable[[dns.rcode.Rcode], Exception | None]:
        """What a failed prerequisite of a change to the set ``wanted`` means:
        RecordNotFound (``missing``) if the set to change is gone, InvalidInput
        if a DS (``delegation``) is not at a delegation, else a conflict at
        ``owner`` (the set exists, or the CNAME rule)."""

        def explain(rcode: dns.rcode.Rcode) -> Exception | None:
            if missing is not None and rcode in (dns.rcode.NXRRSET, dns.rcode.NXDOMAIN):
                return RecordNotFound(missing, driver=self)
            if delegation and rcode in (dns.rcode.NXRRSET, dns.rcode.NXDOMAIN):
                return InvalidInput(
                    f"a DS set stands at a delegation: {owner.to_text()} has no NS set",
                    driver=self,
                )
            if rcode == dns.rcode.YXRRSET:
                return self._conflict(owner, rdtype, wanted)
            if rcode == dns.rcode.YXDOMAIN:
                return InvalidInput(
                    f"{owner.to_text()} has other data; a CNAME may not stand beside it",
                    driver=self,
                )
            return None

        return explain

    # -- zones ------------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over the zones given as ``zones=`` that the server serves
        (each checked with an SOA query, one zone a page)."""
        origins = [dns.name.from_text(z) for z in self.zones]

        def fetch(number: Cursor | None) -> Op[Page[Zone]]:
            index = int(number or 1)
            found: list[Zone] = yield Call(self._soas, [origins[index - 1]])
            return Page.number(found, index, pages=len(origins))

        if origins:
            yield from paginate(fetch, first=1, what="the configured zones", driver=self)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """A zone the server is authoritative for (by an SOA query);
        :class:`~overcast.errors.ZoneNotFound` otherwise."""
        origin = self._origin(zone_id)
        zone: Zone = yield Call(self._soa, origin)
        return zone

    def _origin(self, zone_id: str) -> dns.name.Name:
        try:
            return bind.zone_origin(zone_id, driver=self)
        except InvalidInput:
            raise ZoneNotFound(str(zone_id), driver=self) from None

    # -- records ----------------------------------------------------------------------

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Iterate over the record sets of a zone (SOA and apex NS included), read
        by a TSIG-signed zone transfer (AXFR)."""
        origin = self._origin(zone.id)

        def fetch(_: Cursor | None) -> Op[Page[RecordSet]]:
            records: list[RecordSet] = yield Call(self._records, origin, zone)
            return Page.last(records)  # one zone transfer holds every set

        yield from paginate(fetch, what=f"zone transfer of {zone.id}", driver=self)

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """Get a record set by zone id and record id (``"name:TYPE"``, ``"@"`` for the
        apex), read from a zone transfer (exact: no wildcard or delegation answers)."""
        origin = self._origin(zone_id)
        parsed = bind.parse_record_id(record_id, origin)
        if parsed is None:
            yield Call(self._soa, origin)  # ZoneNotFound first, if it is not served
            raise RecordNotFound(record_id, driver=self)
        owner, rdtype = parsed
        record: RecordSet = yield Call(self._record, origin, owner, rdtype, record_id)
        return record

    def _default_ttl(self, zone: Zone) -> int:
        """The TTL a set gets when none is given: the zone's, else ``default_ttl``."""
        return zone.ttl if zone.ttl is not None else self.default_ttl

    def _new_update(self, origin: dns.name.Name) -> dns.update.UpdateMessage:
        return dns.update.UpdateMessage(origin)

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Add a record set in one UPDATE whose prerequisites make it atomic:
        :class:`~overcast.errors.RecordAlreadyExists` if the set exists,
        :class:`~overcast.errors.InvalidInput` for a CNAME beside other data."""
        zone = spec.zone
        origin = self._origin(zone.id)
        owner = bind.owner_name(spec.name, origin, driver=self)
        rdtype = bind.rdatatype(spec.type, driver=self)
        rdatas = bind.rdatas_from_values(spec.type, spec.values, driver=self)
        set_ttl = spec.ttl if spec.ttl is not None else self._default_ttl(zone)
        wanted = spec.id
        update = self._new_update(origin)
        update.absent(owner, rdtype)  # "RRset does not exist"
        if rdtype == dns.rdatatype.CNAME:
            update.absent(owner)  # "name not in use"
        else:
            update.absent(owner, dns.rdatatype.CNAME)  # "no CNAME at this name"
        delegation = rdtype == dns.rdatatype.DS and owner != origin
        if delegation:
            update.present(owner, dns.rdatatype.NS)  # servers drop a DS anywhere else
        rdataset = dns.rdataset.from_rdata_list(set_ttl, rdatas)
        update.add(owner, rdataset)
        what = f"create {wanted} in {origin.to_text()}"
        explain = self._explain(owner, rdtype, wanted, delegation=delegation)
        yield Call(self._update, origin, update, what, explain)
        return bind.make_record(owner, [rdataset], origin, zone, self)

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a record set in one UPDATE, on the prerequisite that it exists
        (:class:`~overcast.errors.RecordNotFound` otherwise); a rename or a new type
        also needs the new set not to exist."""
        zone = record.zone
        origin = self._origin(zone.id)
        old_owner = bind.owner_name(record.name, origin, driver=self)
        old_type = bind.rdatatype(record.type, driver=self)
        owner = bind.owner_name(spec.name, origin, driver=self)
        rdtype = bind.rdatatype(spec.type, driver=self)
        rdatas = bind.rdatas_from_values(spec.type, spec.values, driver=self)
        set_ttl = spec.ttl if spec.ttl is not None else (
            record.ttl if record.ttl is not None else self._default_ttl(zone)
        )
        wanted = spec.id
        rdataset = dns.rdataset.from_rdata_list(set_ttl, rdatas)
        moved = (owner, rdtype) != (old_owner, old_type)
        apex_ns = old_owner == origin and old_type == dns.rdatatype.NS
        if old_owner == origin and old_type == dns.rdatatype.SOA:
            raise InvalidInput("the SOA set is managed by the server", driver=self)
        if apex_ns and moved:
            raise InvalidInput("the apex NS set of a zone cannot be moved", driver=self)
        if moved and rdtype == dns.rdatatype.CNAME and owner == old_owner:
            # Retyping a set to a CNAME: the name may hold nothing else.
            sets: list[RecordSet] = yield Call(self._records, origin, zone)
            here = [str(r.type) for r in sets if bind.owner_name(r.name, origin) == owner]
            spec.check_free(here, driver=self)
        update = self._new_update(origin)
        if apex_ns:
            # Servers ignore deleting the apex NS set (RFC 2136, 3.4.2.3): add the
            # new values and delete the old ones one by one, on the prerequisite
            # that the set is still exactly what was read.
            current: dns.rrset.RRset = yield Call(self._apex_ns, origin)
            update.present(origin, *current)  # "RRset exists (value dependent)"
            update.add(origin, rdataset)
            for old_rdata in current:
                if old_rdata not in rdatas:
                    update.delete(origin, old_rdata)
        else:
            update.present(old_owner, old_type)  # "RRset exists"
            update.delete(old_owner, old_type)
            update.add(owner, rdataset)
        if moved:
            update.absent(owner, rdtype)
            if rdtype == dns.rdatatype.CNAME and owner != old_owner:
                update.absent(owner)
            elif rdtype != dns.rdatatype.CNAME and not (
                owner == old_owner and old_type == dns.rdatatype.CNAME
            ):
                update.absent(owner, dns.rdatatype.CNAME)

        what = f"update {record.id} in {origin.to_text()}"
        explain = self._explain(owner, rdtype, wanted, missing=record.id)
        yield Call(self._update, origin, update, what, explain)
        return bind.make_record(owner, [rdataset], origin, zone, self)

    def _store_sets(self, zone: Zone, specs: Sequence[RecordSpec]) -> Op[None]:
        """Write every set of an import in one UPDATE (or a few, each within
        :data:`UPDATE_BYTES`), each with the prerequisites of a create (the set
        does not exist, the CNAME rule) or of an update (the set replaced
        exists); the UPDATEs sent are undone if a later one fails."""
        origin = self._origin(zone.id)
        sets: list[_Set] = yield Call(self._prepare_sets, origin, zone, specs)
        by_id = {item.spec.id: item for item in sets}
        steps = batches(specs, lambda spec: (by_id[spec.id].size,), (UPDATE_BYTES,))
        at_ns = {item.owner for item in sets if item.rdataset.rdtype == dns.rdatatype.NS}

        def write(step: Sequence[RecordSpec]) -> Op[None]:
            update = self._new_update(origin)
            for spec in step:
                self._add_set(update, by_id[spec.id], origin, at_ns)
            what = f"import of {len(step)} record sets into {origin.to_text()}"
            yield Call(self._update, origin, update, what, self._explain_import(step))

        def undo(step: Sequence[RecordSpec]) -> Op[None]:
            update = self._new_update(origin)
            for spec in step:
                item = by_id[spec.id]
                update.delete(item.owner, item.rdataset.rdtype)
                if item.old is not None:
                    update.add(item.owner, item.old)
            what = f"rollback of {len(step)} imported record sets in {origin.to_text()}"
            yield Call(self._update, origin, update, what, lambda rcode: None)

        yield from self._write_steps(zone, steps, write, undo)

    def _prepare_sets(self, origin: dns.name.Name, zone: Zone,
                      specs: Sequence[RecordSpec]) -> list[_Set]:
        """The sets of an import as dnspython data, each with its size on the wire
        (blocking: a large zone takes a while)."""
        prepared: list[_Set] = []
        for spec in specs:
            owner = bind.owner_name(spec.name, origin, driver=self)
            rdatas = bind.rdatas_from_values(spec.type, spec.values, driver=self)
            ttl = spec.ttl if spec.ttl is not None else self._default_ttl(zone)
            rdataset = dns.rdataset.from_rdata_list(ttl, rdatas)
            old = None
            if spec.replaces is not None:
                old_ttl = spec.replaces.ttl if spec.replaces.ttl is not None else ttl
                old = dns.rdataset.from_rdata_list(old_ttl, bind.rdatas_from_values(
                    spec.replaces.type, spec.replaces.values, driver=self))
            # The owner once in full, then a 2-byte pointer to it in each RR with 10
            # bytes of type, class, TTL and length: the values, up to three
            # prerequisites, and for a set replaced a deletion and the old values.
            carried: list[dns.rdata.Rdata] = [*rdataset, *(old or ())]
            count = 3 + len(carried) + (1 if old is not None else 0)
            size = (sum(len(label) + 1 for label in owner.labels) + 12 * count
                    + sum(len(rdata.to_wire() or b"") for rdata in carried))
            prepared.append(_Set(spec, owner, rdataset, old, size))
        return prepared

    def _add_set(self, update: dns.update.UpdateMessage, item: _Set, origin: dns.name.Name,
                 at_ns: set[dns.name.Name]) -> None:
        """Add one imported set to an UPDATE, with the prerequisites of a create (or,
        for a set it replaces, that the set exists)."""
        owner, rdtype = item.owner, item.rdataset.rdtype
        if item.old is not None:
            update.present(owner, rdtype)  # "RRset exists"
            update.delete(owner, rdtype)
        else:
            update.absent(owner, rdtype)  # "RRset does not exist"
            if rdtype == dns.rdatatype.CNAME:
                update.absent(owner)  # "name not in use"
            else:
                update.absent(owner, dns.rdatatype.CNAME)  # "no CNAME at this name"
        if rdtype == dns.rdatatype.DS and owner != origin and owner not in at_ns:
            update.present(owner, dns.rdatatype.NS)  # servers drop a DS anywhere else
        update.add(owner, item.rdataset)

    def _explain_import(self, step: Sequence[RecordSpec]
                        ) -> Callable[[dns.rcode.Rcode], Exception | None]:
        """What a failed prerequisite of an import's UPDATE means (the sets were
        checked against a zone transfer just before: someone changed the zone)."""
        ids = ", ".join(spec.id for spec in step[:10]) + (" ..." if len(step) > 10 else "")

        def explain(rcode: dns.rcode.Rcode) -> Exception | None:
            if rcode == dns.rcode.YXRRSET:
                return RecordAlreadyExists(ids, f"one of the record sets imported ({ids}) "
                                                "exists now, or a CNAME stands at its name",
                                           driver=self)
            if rcode == dns.rcode.YXDOMAIN:
                return InvalidInput(f"a CNAME imported ({ids}) has a name in use now",
                                    driver=self)
            if rcode in (dns.rcode.NXRRSET, dns.rcode.NXDOMAIN):
                return RecordNotFound(ids, f"a record set the import replaces is gone, or a "
                                           f"DS has no delegation ({ids})", driver=self)
            return None

        return explain

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set, on the prerequisite that it exists
        (:class:`~overcast.errors.RecordNotFound` otherwise). The SOA and apex NS
        sets cannot be deleted (name servers ignore such updates)."""
        origin = self._origin(record.zone.id)
        owner, rdtype = bind.deletable_set(record.name, record.type, origin, driver=self)
        update = self._new_update(origin)
        update.present(owner, rdtype)
        update.delete(owner, rdtype)

        what = f"delete {record.id} in {origin.to_text()}"
        explain = self._explain(owner, rdtype, record.id, missing=record.id)
        yield Call(self._update, origin, update, what, explain)
        return True
