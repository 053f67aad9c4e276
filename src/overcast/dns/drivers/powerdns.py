"""PowerDNS Authoritative Server, through its HTTP API (v1).

``PowerDNSDriver(api_key, endpoint="http://127.0.0.1:8081")`` talks to
``/api/v1/servers/{server_id}/zones`` with the key in the ``X-API-Key`` header
(the server's ``api-key`` setting; the webserver must be on with ``api=yes``).

How overcast's model maps onto PowerDNS:

* A zone's id is PowerDNS's zone id: the absolute name with its trailing dot
  (``"example.com."``; PowerDNS writes a ``/`` in a name as ``=2F``). A zone
  id given without the trailing dot gets one, since PowerDNS answers 422 "not
  canonical" otherwise.
* Zone kinds ``Native`` and ``Master`` (and ``Producer``) are
  :attr:`ZoneType.MASTER`; ``Slave`` (and ``Consumer``) are
  :attr:`ZoneType.SLAVE`. ``create_zone(type="master")`` makes a ``Native``
  zone unless ``extra={"kind": "Master"}``; ``type="slave"`` needs
  ``extra={"masters": ["192.0.2.1", ...]}``. Name servers come from
  ``extra["nameservers"]``, else the driver's ``nameservers=`` option, else
  none (the zone then holds only its SOA record).
* PowerDNS has no per-zone default TTL. overcast uses the TTL of the zone's SOA
  record set as :attr:`Zone.ttl`: ``create_zone(ttl=...)`` and
  ``update_zone(ttl=...)`` set it, record sets created without a TTL take it.
  Zones from a listing have ``ttl=None`` (the listing holds no records).
* A :class:`~overcast.dns.base.RecordSet` is a PowerDNS RRset. Its id is
  ``"name:TYPE"`` with the name relative to the zone (``"@"`` for the apex).
  Every change is one ``PATCH`` of RRsets (``REPLACE`` / ``DELETE``), which
  PowerDNS applies in one transaction; renaming a set or changing its type
  deletes the old set and writes the new one in the same ``PATCH``. A zone-file
  import is one ``PATCH`` of every set too (or a few, each within
  :data:`PATCH_BYTES`: the webserver's default ``webserver-max-bodysize`` is
  2 MB; if one fails, those before it are rolled back).
* Every type dnspython knows can be stored. Values are sent in PowerDNS's own
  zone-file form (TXT quoted and split into 255-byte strings, host names
  absolute, base64 and hex unbroken, CERT types and algorithms as numbers,
  SVCB and HTTPS parameters unquoted, LOC with its precisions) and read back
  from it. Types PowerDNS has no syntax for (AMTRELAY, HIP, WKS, ...) are sent
  and read as RFC 3597 data (``TYPE260``, ``\\# 21 ...``), which PowerDNS
  serves as it would any record. Disabled records are kept in ``values`` and
  listed in ``extra["disabled"]``; RRset comments are in ``extra["comments"]``.

The API returns every zone (and every RRset of a zone) in one response, so a
listing is one page.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final

from overcast.dns import names
from overcast.dns.base import DEFAULT_TTL
from overcast.dns.base import PSEUDO_TYPES
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordStyle
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.base import batches
from overcast.dns.records import TEXT_TYPES
from overcast.dns.records import from_presentation
from overcast.dns.records import generic
from overcast.dns.records import generic_type
from overcast.dns.records import knows
from overcast.dns.records import mnemonic
from overcast.dns.records import to_presentation
from overcast.dns.records import to_rdata
from overcast.errors import AlreadyExists
from overcast.errors import InvalidInput
from overcast.errors import NotSupported
from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import Outcome
from overcast.runtime.api import When
from overcast.runtime.api import json_fault
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import create_once
from overcast.runtime.ops import or_none
from overcast.runtime.options import check_page_size
from overcast.runtime.options import libcloud_endpoint
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["PowerDNSDriver"]

DEFAULT_ENDPOINT: Final = "http://127.0.0.1:8081"
#: The largest body of one PATCH an import sends (PowerDNS refuses bodies over its
#: ``webserver-max-bodysize``, 2 MB by default).
PATCH_BYTES: Final = 1_000_000
#: Zone kinds PowerDNS copies from a primary server.
_SECONDARY_KINDS: Final = frozenset({"slave", "secondary", "consumer"})
#: Zone kinds create_zone and update_zone accept in ``extra["kind"]``.
_KINDS: Final = {
    "native": "Native",
    "master": "Master",
    "slave": "Slave",
    "producer": "Producer",
    "consumer": "Consumer",
}
#: Zone fields update_zone passes from ``extra`` to PowerDNS (PUT /zones/{id}).
_ZONE_SETTINGS: Final = (
    "masters",
    "account",
    "soa_edit",
    "soa_edit_api",
    "api_rectify",
    "dnssec",
    "nsec3param",
    "nsec3narrow",
    "catalog",
)
#: Zone fields create_zone passes from ``extra`` to PowerDNS.
_CREATE_SETTINGS: Final = ("account", "soa_edit_api", "soa_edit", "api_rectify", "dnssec",
                           "catalog")
#: Types PowerDNS (4.7) has no syntax for: sent and read as RFC 3597 data.
_GENERIC_TYPES: Final = frozenset({
    "AMTRELAY", "AVC", "BRID", "DSYNC", "GPOS", "HHIT", "HIP", "ISDN", "NINFO", "NSAP",
    "NSAP-PTR", "PX", "RESINFO", "RT", "SIG", "WALLET", "WKS", "X25",
})
#: The error code of a PowerDNS answer (its error bodies carry none).
_CODES: Final = {
    400: "BadRequest",
    404: "NotFound",
    409: "Conflict",
    422: "UnprocessableEntity",
    500: "InternalServerError",
}
_NO_OUTCOME: Final = Outcome()
_KNOWN: Final = frozenset(t.value for t in RecordType)
_ESCAPE: Final = re.compile(r"=([0-9A-Fa-f]{2})")
#: An SVCB/HTTPS parameter value dnspython quotes and PowerDNS wants bare.
_QUOTED_PARAM: Final = re.compile(r'=\"([^"\\\s]*)\"')


class PowerDNSDriver(HttpApi, DNSDriver):
    """DNS zones and record sets on a PowerDNS Authoritative server (HTTP API v1).

    ``key`` is the server's API key (``api-key`` in ``pdns.conf``); ``secret``
    is unused and kept for Apache Libcloud's signature. ``endpoint`` is the base
    URL of the PowerDNS webserver, ``server_id`` the server to manage (always
    ``"localhost"`` on a PowerDNS Authoritative server). ``page_size`` is kept
    for Apache Libcloud's users (the API answers a listing in one response),
    ``nameservers`` the NS records new zones get when ``create_zone`` is not
    given ``extra["nameservers"]``.
    """

    name: ClassVar[str] = "powerdns"
    label: ClassVar[str] = "PowerDNS"
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    errors: ClassVar[ErrorMap] = ErrorMap(When(AlreadyExists, status=409))
    #: Every type dnspython knows, and PowerDNS's ALIAS.
    #: Apache Libcloud's PowerDNS records: absolute names, data as PowerDNS's
    #: ``content`` (MX and SRV numbers included, TXT quoted). Libcloud gives no
    #: ids (``None``); overcast's are ``"name:TYPE:<digest>"``.
    record_style: ClassVar[RecordStyle] = RecordStyle(names="absolute", priority_in_data=True,
                                                      quoted_text=True)
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(
        t for t in RecordType if t not in PSEUDO_TYPES or t is RecordType.ALIAS
    )

    def __init__(self, key: str | Secret, secret: str | None = None, secure: bool = False,
                 host: str | None = None, port: int | None = None,
                 api_version: str | None = None, *, endpoint: str | None = None,
                 server_id: str = "localhost",
                 page_size: int = 100, nameservers: Sequence[str] = (), **options: Any) -> None:
        # host/port/secure/api_version are Apache Libcloud's; PowerDNS 4 serves
        # only /api/v1, so its pre-4 "experimental" API is refused, not guessed.
        super().__init__(**options)
        if api_version not in (None, "v1"):
            raise NotSupported(f"PowerDNS API {api_version!r}: overcast speaks v1 (PowerDNS 4+)",
                               driver=self)
        if not key:
            raise InvalidInput("PowerDNS needs an API key", driver=self)
        self.page_size = check_page_size(page_size, driver=self)
        self.endpoint = libcloud_endpoint(endpoint, host, port, secure,
                                          driver=self) or DEFAULT_ENDPOINT
        if not isinstance(server_id, str) or not server_id:
            raise InvalidInput("server_id must be a non-empty string", driver=self)
        self._key = Secret(key)
        self.server_id = server_id
        self.nameservers = self._check_nameservers(nameservers)
        self._api = f"/api/v1/servers/{names.url_segment(server_id, what='server_id', driver=self)}"

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "server_id": self.server_id}

    def _sign(self, request: Request, now: float) -> Request:
        """Add the API key to every attempt."""
        return request.with_headers({"X-API-Key": self._key.reveal()})

    # -- requests -----------------------------------------------------------------

    def _fault(self, resp: Response) -> Fault:
        """PowerDNS's ``{"error": ..., "errors": [...]}``, with a code made from the
        status (its answers carry none)."""
        fault = json_fault(resp, self.request_id_headers)
        code = fault.code or _CODES.get(resp.status, f"HTTP{resp.status}")
        return Fault(fault.status, code, fault.message, fault.request_id, fault.codes)

    def _error(self, resp: Response, outcome: Outcome = _NO_OUTCOME) -> OvercastError:
        """A 404 that is not about a zone means the server id is wrong."""
        if resp.status == 404 and outcome.missing is None:
            return ProviderError(
                f"PowerDNS has no server {self.server_id!r} at {self.endpoint}",
                status=404, code="NotFound", driver=self,
            )
        return super()._error(resp, outcome)

    def _zone_path(self, zone_id: str) -> str:
        segment = names.url_segment(self._zone_id(zone_id), safe="=", what="zone id", driver=self)
        return f"{self._api}/zones/{segment}"

    @staticmethod
    def _zone_id(zone_id: str) -> str:
        return zone_id if zone_id.endswith(".") else f"{zone_id}."

    def _zone_data(
        self, zone_id: str, params: Sequence[tuple[str, str]] = ()
    ) -> Op[dict[str, Any]]:
        data: dict[str, Any] = yield from self._json(
            "GET", self._zone_path(zone_id), params=params, what=zone_id, missing=ZoneNotFound
        )
        return data

    def _rrsets_at(
        self, zone: Zone, fqdn: str, rtype: str | None = None
    ) -> Op[list[dict[str, Any]]]:
        """The RRsets named ``fqdn`` (of type ``rtype``, if given) in ``zone``."""
        params = [("rrset_name", names.encodable(fqdn, what="record name", driver=self))]
        if rtype is not None:
            params.append(("rrset_type", _api_type(rtype)))
        data = yield from self._zone_data(zone.id, params)
        # Servers older than 4.6 ignore the filters: filter here as well.
        return [
            rrset
            for rrset in data.get("rrsets", [])
            if names.same_name(rrset.get("name", ""), fqdn)
            and (rtype is None or _type(rrset) == rtype)
            and rrset.get("records")
        ]

    def _patch(self, zone: Zone, rrsets: list[dict[str, Any]]) -> Op[None]:
        """One atomic PATCH of RRsets (REPLACE and DELETE are idempotent)."""
        yield from self._send("PATCH", self._zone_path(zone.id), json={"rrsets": rrsets},
                              idempotent=True, what=zone.id, missing=ZoneNotFound)

    # -- models -------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any], ttl: int | None = None) -> Zone:
        kind = str(data.get("kind", "Native"))
        zone_type = ZoneType.SLAVE if kind.lower() in _SECONDARY_KINDS else ZoneType.MASTER
        domain = str(data.get("name") or _unescape(str(data["id"])))
        zone_id = str(data.get("id") or domain)
        if ttl is None:
            for rrset in data.get("rrsets") or ():
                if _type(rrset) == "SOA" and names.same_name(rrset.get("name", ""), domain):
                    ttl = rrset.get("ttl")
        extra = {k: v for k, v in data.items() if k not in ("rrsets", "id", "name")}
        return Zone(id=zone_id, domain=domain, type=zone_type.value, ttl=ttl, driver=self,
                    extra=extra)

    def _to_record(self, zone: Zone, rrset: Mapping[str, Any]) -> RecordSet:
        rtype_text = _type(rrset)
        rtype: RecordType | str = rtype_text
        if rtype_text in _KNOWN:
            rtype = RecordType(rtype_text)
        relative = names.relative_name(str(rrset["name"]), zone.domain)
        records = rrset.get("records") or []
        values = [from_presentation(rtype_text, str(r["content"])) for r in records]
        extra: dict[str, Any] = {}
        disabled = [v for v, r in zip(values, records, strict=True) if r.get("disabled")]
        if disabled:
            extra["disabled"] = disabled
        if rrset.get("comments"):
            extra["comments"] = list(rrset["comments"])
        return RecordSet(
            id=_record_id(relative, rtype_text),
            name=relative,
            type=rtype,
            data=values[0],
            zone=zone,
            driver=self,
            ttl=rrset.get("ttl"),
            extra=extra,
            values=values,
        )

    def _made_record(self, spec: RecordSpec, ttl: int) -> RecordSet:
        return RecordSet(
            id=spec.id, name=spec.name, type=spec.type, data=spec.values[0], zone=spec.zone,
            driver=self, ttl=ttl, values=list(spec.values),
        )

    # -- zones --------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over every zone on the server (PowerDNS answers with all of
        them at once: one page)."""

        def fetch(_: Cursor | None) -> Op[Page[Zone]]:
            data = yield from self._json("GET", f"{self._api}/zones",
                                         params=[("dnssec", "false")])
            zones = sorted(data or [], key=lambda z: str(z.get("name", "")))
            return Page.last([self._to_zone(item) for item in zones])

        yield from paginate(fetch, what="GET zones", driver=self)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a zone by id (``"example.com."``), with its SOA TTL as ``ttl``."""
        self._check_zone_id(zone_id)
        domain = _unescape(self._zone_id(zone_id))
        data = yield from self._zone_data(zone_id, [("rrset_name", domain), ("rrset_type", "SOA")])
        return self._to_zone(data)

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a zone.

        ``type="master"`` makes a ``Native`` zone (``extra["kind"]`` may ask for
        ``"Master"`` or ``"Producer"``); ``type="slave"`` a ``Slave`` zone that
        copies from ``extra["masters"]``. ``extra["nameservers"]`` are its NS
        records; ``ttl`` becomes the TTL of its SOA (and default NS) record sets.
        :class:`~overcast.errors.ZoneAlreadyExists` if the server has the zone.
        A create whose answer is lost is settled by looking the zone up.
        """
        extra = dict(extra or {})
        fqdn = self._check_domain(domain)
        ttl = self._record_ttl(ttl, None)
        kind = self._kind(type, extra.get("kind"))
        secondary = kind in ("Slave", "Consumer")
        body: dict[str, Any] = {"name": fqdn, "kind": kind}
        if secondary:
            masters = extra.get("masters")
            if not masters or isinstance(masters, str) or not isinstance(masters, Sequence):
                raise InvalidInput(
                    "a slave zone needs extra={'masters': ['192.0.2.1', ...]}", driver=self
                )
            body["masters"] = [str(m) for m in masters]
        else:
            nameservers = extra.get("nameservers")
            body["nameservers"] = (
                self._check_nameservers(nameservers) if nameservers is not None
                else list(self.nameservers)
            )
        body.update({key: extra[key] for key in _CREATE_SETTINGS if key in extra})

        def send() -> Op[dict[str, Any]]:
            made: dict[str, Any] = yield from self._json(
                "POST", f"{self._api}/zones", json=body, what=fqdn, exists=ZoneAlreadyExists)
            return made

        data = yield from create_once(send, lambda: or_none(self._zone_data(fqdn), ZoneNotFound))
        zone = self._to_zone(data)
        if ttl is not None and not secondary:
            yield from self._set_zone_ttl(zone, data.get("rrsets") or [], ttl, with_ns=True)
            zone.ttl = ttl
        return zone

    def _set_zone_ttl(
        self, zone: Zone, rrsets: list[dict[str, Any]], ttl: int, *, with_ns: bool
    ) -> Op[None]:
        """Give the zone's SOA (and, with ``with_ns``, apex NS) RRset ``ttl``."""
        kinds = ("SOA", "NS") if with_ns else ("SOA",)
        changes = [
            {
                "name": rrset["name"],
                "type": rrset["type"],
                "ttl": ttl,
                "changetype": "REPLACE",
                "records": rrset["records"],
            }
            for rrset in rrsets
            if rrset.get("type") in kinds
            and names.same_name(rrset.get("name", ""), zone.domain)
            and rrset.get("records")
        ]
        if changes:
            yield from self._patch(zone, changes)

    @operation
    def update_zone(self, zone: Zone, domain: str | None,
                    type: ZoneType | str | None = ZoneType.MASTER, ttl: int | None = None,
                    extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Change a zone's kind, TTL (its SOA record set's) or settings.

        ``extra`` may hold ``kind`` and the PowerDNS zone settings ``masters``,
        ``account``, ``soa_edit``, ``soa_edit_api``, ``api_rectify``,
        ``dnssec``, ``nsec3param``, ``nsec3narrow`` and ``catalog``. A zone
        cannot be renamed: a different ``domain`` raises
        :class:`~overcast.errors.NotSupported`.
        """
        extra = dict(extra or {})
        if domain is not None and not names.same_name(domain, zone.domain):
            raise NotSupported("PowerDNS cannot rename a zone", driver=self)
        ttl = self._record_ttl(ttl, None)
        unknown = set(extra) - set(_ZONE_SETTINGS) - {"kind"}
        if unknown:
            raise InvalidInput(
                f"update_zone cannot change {', '.join(sorted(unknown))} on PowerDNS; "
                f"settable: kind, {', '.join(_ZONE_SETTINGS)}",
                driver=self,
            )
        settings: dict[str, Any] = {k: extra[k] for k in _ZONE_SETTINGS if k in extra}
        if extra.get("kind") is not None:
            settings["kind"] = self._kind(type if type is not None else zone.type, extra["kind"])
        elif type is not None and str(type).lower() != zone.type:
            settings["kind"] = self._kind(type, None)
        if settings:
            yield from self._send("PUT", self._zone_path(zone.id), json=settings, what=zone.id,
                                  missing=ZoneNotFound)
        if ttl is not None:
            soa = yield from self._rrsets_at(zone, zone.domain, "SOA")
            yield from self._set_zone_ttl(zone, soa, ttl, with_ns=False)
        return (yield from self.get_zone.op(zone.id))

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and its records; :class:`~overcast.errors.ZoneNotFound` if absent."""
        yield from self._send("DELETE", self._zone_path(zone.id), what=zone.id,
                              missing=ZoneNotFound)
        return True

    # -- records ------------------------------------------------------------------

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Iterate over the record sets of a zone (SOA and NS included), in zone-file
        order (PowerDNS answers with all of them at once: one page)."""

        def fetch(_: Cursor | None) -> Op[Page[RecordSet]]:
            data = yield from self._zone_data(zone.id)
            rrsets = [r for r in data.get("rrsets") or [] if r.get("records")]
            rrsets.sort(key=lambda r: (_sort_key(str(r["name"])), _type(r)))
            return Page.last([self._to_record(zone, rrset) for rrset in rrsets])

        yield from paginate(fetch, what=f"GET zone {zone.id}", driver=self)

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """Get a record set by id (``"www:A"``, ``"@:MX"``)."""
        self._check_zone_id(zone_id)
        domain = _unescape(self._zone_id(zone_id))
        parsed = _parse_record_id(record_id)
        if parsed is None:
            # Still tell a missing zone from a missing record.
            yield from self._zone_data(zone_id, [("rrset_name", domain), ("rrset_type", "SOA")])
            raise RecordNotFound(record_id, driver=self)
        name, rtype = parsed
        fqdn = names.absolute_name(name, domain)
        data = yield from self._zone_data(
            zone_id, [("rrset_name", fqdn), ("rrset_type", _api_type(rtype))]
        )
        zone = self._to_zone(data)
        for rrset in data.get("rrsets") or []:
            if (
                names.same_name(str(rrset.get("name", "")), fqdn)
                and _type(rrset) == rtype
                and rrset.get("records")
            ):
                return self._to_record(zone, rrset)
        raise RecordNotFound(record_id, driver=self)

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Create a record set; :class:`~overcast.errors.RecordAlreadyExists` if the
        name already has a set of this type, :class:`~overcast.errors.InvalidInput`
        for a CNAME beside other data (or other data beside a CNAME)."""
        zone = spec.zone
        contents = _contents(spec, driver=self)
        fqdn = names.absolute_name(spec.name, zone.domain)
        existing = yield from self._rrsets_at(zone, fqdn)
        spec.check_free(_types(existing), driver=self)
        set_ttl = spec.ttl
        if set_ttl is None:
            set_ttl = yield from self._default_ttl(zone, existing if spec.name == "" else None)
        yield from self._patch(zone, [_replace(fqdn, spec.type.value, contents, set_ttl)])
        return self._made_record(spec, set_ttl)

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a record set's values, TTL, name or type in one atomic PATCH."""
        contents = _contents(spec, driver=self)
        zone = record.zone
        old_fqdn = names.absolute_name(record.name, zone.domain)
        old_type = mnemonic(str(record.type))
        fqdn = names.absolute_name(spec.name, zone.domain)
        current = yield from self._rrsets_at(zone, old_fqdn, old_type)
        if not current:
            raise RecordNotFound(record.id, driver=self)
        changes: list[dict[str, Any]] = []
        if spec.moved:
            existing = yield from self._rrsets_at(zone, fqdn)
            spec.check_free(_types(existing), driver=self)
            changes.append(
                {"name": old_fqdn, "type": _api_type(old_type), "changetype": "DELETE"}
            )
        set_ttl = spec.ttl if spec.ttl is not None else current[0].get("ttl")
        if set_ttl is None:
            set_ttl = yield from self._default_ttl(zone, None)
        changes.append(_replace(fqdn, spec.type.value, contents, set_ttl))
        yield from self._patch(zone, changes)
        return self._made_record(spec, set_ttl)

    def _store_sets(self, zone: Zone, specs: Sequence[RecordSpec]) -> Op[None]:
        """Write every set of an import in one PATCH (PowerDNS applies it in one
        transaction), or in a few of at most :data:`PATCH_BYTES` each, the ones
        sent rolled back if a later one fails."""
        default = DEFAULT_TTL
        if any(spec.ttl is None for spec in specs):
            default = yield from self._default_ttl(zone, None)
        changes: dict[str, dict[str, Any]] = {}
        for spec in specs:
            fqdn = names.absolute_name(spec.name, zone.domain)
            ttl = spec.ttl if spec.ttl is not None else default
            changes[spec.id] = _replace(fqdn, spec.type.value, _contents(spec, driver=self), ttl)
        steps = batches(specs, lambda spec: (len(json.dumps(changes[spec.id])) + 2,),
                        (PATCH_BYTES,))

        def write(step: Sequence[RecordSpec]) -> Op[None]:
            yield from self._patch(zone, [changes[spec.id] for spec in step])

        def undo(step: Sequence[RecordSpec]) -> Op[None]:
            yield from self._patch(zone, [self._restore(zone, spec) for spec in step])

        yield from self._write_steps(zone, steps, write, undo)

    def _restore(self, zone: Zone, spec: RecordSpec) -> dict[str, Any]:
        """The change that undoes writing ``spec``: the set it replaced put back,
        or the set deleted."""
        fqdn = names.absolute_name(spec.name, zone.domain)
        old = spec.replaces
        if old is None:
            return {"name": fqdn, "type": _api_type(spec.type.value), "changetype": "DELETE"}
        contents = [_content(spec.type.value, value, driver=self) for value in old.values]
        return _replace(fqdn, spec.type.value, contents,
                        DEFAULT_TTL if old.ttl is None else old.ttl)

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set; :class:`~overcast.errors.RecordNotFound` if absent."""
        zone = record.zone
        fqdn = names.absolute_name(record.name, zone.domain)
        rtype = mnemonic(str(record.type))
        current = yield from self._rrsets_at(zone, fqdn, rtype)
        if not current:
            raise RecordNotFound(record.id, driver=self)
        yield from self._patch(
            zone, [{"name": fqdn, "type": _api_type(rtype), "changetype": "DELETE"}]
        )
        return True

    # -- helpers ------------------------------------------------------------------

    def _default_ttl(self, zone: Zone, apex: list[dict[str, Any]] | None) -> Op[int]:
        """The TTL for a set created without one: the zone's SOA TTL."""
        if zone.ttl is not None:
            return zone.ttl
        if apex is None:
            apex = yield from self._rrsets_at(zone, names.absolute_name("", zone.domain), "SOA")
        for rrset in apex:
            if _type(rrset) == "SOA" and isinstance(rrset.get("ttl"), int):
                ttl: int = rrset["ttl"]
                return ttl
        return DEFAULT_TTL

    def _kind(self, type: ZoneType | str, kind: Any) -> str:
        if kind is not None:
            mapped = _KINDS.get(str(kind).lower())
            if mapped is None:
                raise InvalidInput(
                    f"unknown PowerDNS zone kind {kind!r}; choose from "
                    f"{', '.join(_KINDS.values())}",
                    driver=self,
                )
            wanted = ZoneType.SLAVE if mapped.lower() in _SECONDARY_KINDS else ZoneType.MASTER
            if str(type).lower() != wanted.value and str(type).lower() in ("master", "slave"):
                raise InvalidInput(
                    f"zone kind {mapped} does not match zone type {str(type)!r}", driver=self
                )
            return mapped
        lowered = str(type).lower()
        if lowered == ZoneType.MASTER.value:
            return "Native"
        if lowered == ZoneType.SLAVE.value:
            return "Slave"
        raise InvalidInput(f"zone type must be 'master' or 'slave', not {type!r}", driver=self)

    def _check_domain(self, domain: str) -> str:
        if not isinstance(domain, str) or domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput(f"invalid zone domain {domain!r}", driver=self)
        names.validate_name(domain, wildcard=False, what="zone domain", driver=self)
        return names.absolute_name("", domain)

    def _check_zone_id(self, zone_id: str) -> None:
        if not isinstance(zone_id, str) or not zone_id or "/" in zone_id:
            raise InvalidInput(f"invalid PowerDNS zone id {zone_id!r}", driver=self)

    def _check_nameservers(self, nameservers: Any) -> list[str]:
        if isinstance(nameservers, str) or not isinstance(nameservers, Sequence):
            raise InvalidInput("nameservers must be a list of host names", driver=self)
        checked: list[str] = []
        for host in nameservers:
            if not isinstance(host, str) or host in names.APEX_NAMES:
                raise InvalidInput(f"invalid name server {host!r}", driver=self)
            names.validate_name(host, wildcard=False, what="name server", driver=self)
            checked.append(names.absolute_name("", host))
        return checked


# -- record data in PowerDNS's form ---------------------------------------------------------


def _type(rrset: Mapping[str, Any]) -> str:
    """An RRset's type mnemonic (PowerDNS names the types it has no syntax for
    ``TYPEnnn``)."""
    return mnemonic(str(rrset.get("type", "")))


def _types(rrsets: Iterable[Mapping[str, Any]]) -> list[str]:
    return [_type(rrset) for rrset in rrsets]


def _api_type(rtype: str) -> str:
    """The type as PowerDNS names it."""
    return generic_type(rtype) if rtype in _GENERIC_TYPES else rtype


def _content(rtype: str, value: str, *, driver: Any = None) -> str:
    """A value in the form PowerDNS stores: its own zone-file text, which it
    compares the content it is sent with."""
    if rtype in _GENERIC_TYPES:
        return generic(rtype, value, driver=driver)
    if rtype in TEXT_TYPES or not knows(rtype):
        return to_presentation(rtype, value)
    rdata = to_rdata(rtype, value, driver=driver)
    text = str(rdata.to_text(chunksize=0))  # base64 and hex unbroken, as PowerDNS writes them
    if rtype == "CERT":
        certificate = text.split()[-1]
        fields: Any = rdata  # dnspython's CERT: numbers PowerDNS wants in place of mnemonics
        return (f"{int(fields.certificate_type)} {int(fields.key_tag)} "
                f"{int(fields.algorithm)} {certificate}")
    if rtype in ("SVCB", "HTTPS"):
        return _QUOTED_PARAM.sub(r"=\1", text)
    if rtype == "LOC" and len(text.split()) == 9:  # dnspython leaves out default precisions
        sizes = (getattr(rdata, f) for f in ("size", "horizontal_precision",
                                             "vertical_precision"))
        return text + "".join(f" {size / 100:0.2f}m" for size in sizes)
    return text


def _contents(spec: RecordSpec, *, driver: Any = None) -> list[str]:
    return [_content(spec.type.value, value, driver=driver) for value in spec.values]


def _replace(fqdn: str, rtype: str, contents: list[str], ttl: int) -> dict[str, Any]:
    return {
        "name": fqdn,
        "type": _api_type(rtype),
        "ttl": ttl,
        "changetype": "REPLACE",
        "records": [{"content": content, "disabled": False} for content in contents],
    }


# -- names and ids ------------------------------------------------------------------------


def _record_id(relative: str, rtype: str) -> str:
    return f"{relative or '@'}:{rtype}"


def _parse_record_id(record_id: str) -> tuple[str, str] | None:
    name, sep, rtype = record_id.rpartition(":")
    if not sep or not name or not rtype or not rtype.replace("-", "").isalnum():
        return None
    name = "" if name == "@" else name
    try:
        names.validate_name(name)
    except InvalidInput:
        return None
    return name, mnemonic(rtype)


def _unescape(zone_id: str) -> str:
    """A PowerDNS zone id as a name (``=2F`` is ``/``)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), zone_id)


def _sort_key(fqdn: str) -> tuple[str, ...]:
    """Sort names as in a zone file: the apex first, then by labels from the right."""
    return tuple(reversed(fqdn.rstrip(".").lower().split(".")))
