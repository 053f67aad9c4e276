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
* A :class:`~overcast.dns.base.Record` is a PowerDNS RRset. Its id is
  ``"name:TYPE"`` with the name relative to the zone (``"@"`` for the apex).
  Every change is one ``PATCH`` of RRsets (``REPLACE`` / ``DELETE``), which
  PowerDNS applies in one transaction; renaming a set or changing its type
  deletes the old set and writes the new one in the same ``PATCH``.
* Values are sent in zone-file form (TXT quoted and split into 255-byte
  strings, host names absolute) and read back from it. Disabled records are
  kept in ``values`` and listed in ``extra["disabled"]``; RRset comments are in
  ``extra["comments"]``.

The API returns every zone (and every RRset of a zone) in one response;
``iterate_zones`` and ``iterate_records`` still emit them ``page_size`` at a
time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Final
from urllib.parse import quote

from overcast.dns import names
from overcast.dns.base import (
    DEFAULT_TTL,
    DNSDriver,
    Record,
    RecordData,
    RecordType,
    Zone,
    ZoneType,
)
from overcast.dns.records import from_presentation, to_presentation
from overcast.errors import (
    InvalidCredentials,
    InvalidInput,
    NotSupported,
    ProviderError,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Emit, Iter, Op, Request, Response
from overcast.runtime.operation import iterator, operation
from overcast.runtime.redact import Secret, redact_text

__all__ = ["PowerDNSDriver"]

#: Zone kinds PowerDNS serves from its own data.
_PRIMARY_KINDS: Final = frozenset({"native", "master", "primary", "producer"})
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
_ESCAPE: Final = re.compile(r"=([0-9A-Fa-f]{2})")
_JSON: Final = {"Content-Type": "application/json", "Accept": "application/json"}


class PowerDNSDriver(DNSDriver):
    """DNS zones and record sets on a PowerDNS Authoritative server (HTTP API v1).

    ``key`` is the server's API key (``api-key`` in ``pdns.conf``); ``secret``
    is unused and kept for Apache Libcloud's signature. ``endpoint`` is the base
    URL of the PowerDNS webserver, ``server_id`` the server to manage (always
    ``"localhost"`` on a PowerDNS Authoritative server). ``page_size`` is how
    many zones or record sets a listing emits per step, ``nameservers`` the
    NS records new zones get when ``create_zone`` is not given
    ``extra["nameservers"]``.
    """

    name: ClassVar[str] = "powerdns"
    record_types: ClassVar[tuple[RecordType, ...]] = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.AFSDB,
        RecordType.ALIAS,
        RecordType.CAA,
        RecordType.CERT,
        RecordType.CNAME,
        RecordType.DNAME,
        RecordType.DS,
        RecordType.HINFO,
        RecordType.HTTPS,
        RecordType.KEY,
        RecordType.LOC,
        RecordType.MX,
        RecordType.NAPTR,
        RecordType.NS,
        RecordType.OPENPGPKEY,
        RecordType.PTR,
        RecordType.RP,
        RecordType.SOA,
        RecordType.SPF,
        RecordType.SRV,
        RecordType.SSHFP,
        RecordType.SVCB,
        RecordType.TLSA,
        RecordType.TXT,
        RecordType.URI,
    )

    def __init__(
        self,
        key: str | Secret,
        secret: str | None = None,
        *,
        endpoint: str = "http://127.0.0.1:8081",
        server_id: str = "localhost",
        page_size: int = 100,
        nameservers: Sequence[str] = (),
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not key:
            raise InvalidInput("PowerDNS needs an API key", driver=self)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or page_size < 1:
            raise InvalidInput(f"page_size must be a positive integer: {page_size!r}", driver=self)
        if not isinstance(endpoint, str) or not endpoint.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint must be an http(s) URL: {endpoint!r}", driver=self)
        if not isinstance(server_id, str) or not server_id:
            raise InvalidInput("server_id must be a non-empty string", driver=self)
        self._key = Secret(key)
        self.endpoint = endpoint.rstrip("/")
        self.server_id = server_id
        self.page_size = page_size
        self.nameservers = self._check_nameservers(nameservers)
        self._base = f"{self.endpoint}/api/v1/servers/{quote(server_id, safe='')}"

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint, "server_id": self.server_id}

    def _sign(self, request: Request, now: float) -> Request:
        """Add the API key to every attempt."""
        return request.with_headers({"X-API-Key": self._key.reveal()})

    # -- requests -----------------------------------------------------------------

    def _zone_url(self, zone_id: str) -> str:
        return f"{self._base}/zones/{quote(self._zone_id(zone_id), safe='=')}"

    @staticmethod
    def _zone_id(zone_id: str) -> str:
        return zone_id if zone_id.endswith(".") else f"{zone_id}."

    def _request(
        self,
        method: str,
        url: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Request:
        data = None if body is None else json.dumps(body).encode("utf-8")
        return Request(
            method, url, headers=dict(_JSON), params=tuple(params), body=data,
            idempotent=idempotent,
        )

    def _send(self, request: Request) -> Op[Response]:
        """Send a request; raise InvalidCredentials on 401/403."""
        resp: Response = yield request
        if resp.status in (401, 403):
            raise InvalidCredentials(
                f"PowerDNS refused the API key ({resp.status} on {request.method} "
                f"{resp.url or request.url})",
                driver=self,
            )
        return resp

    def _error_text(self, resp: Response) -> str:
        text = resp.text
        try:
            parsed = resp.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
            text = parsed["error"]
            errors = parsed.get("errors")
            if isinstance(errors, list) and errors:
                text += ": " + "; ".join(str(e) for e in errors)
        return redact_text(text.strip()[:500], self._secrets())

    def _fail(self, resp: Response) -> ProviderError:
        message = self._error_text(resp) or f"HTTP {resp.status}"
        return ProviderError(
            f"PowerDNS {resp.method} {resp.url}: {message}",
            status=resp.status,
            code=_code(resp.status),
            driver=self,
        )

    def _get_zone_data(
        self, zone_id: str, params: Sequence[tuple[str, str]] = ()
    ) -> Op[dict[str, Any]]:
        resp = yield from self._send(self._request("GET", self._zone_url(zone_id), params=params))
        if resp.status == 404:
            raise ZoneNotFound(zone_id, driver=self)
        if not resp.ok:
            raise self._fail(resp)
        data: dict[str, Any] = resp.json()
        return data

    def _rrsets_at(
        self, zone: Zone, fqdn: str, rtype: str | None = None
    ) -> Op[list[dict[str, Any]]]:
        """The RRsets named ``fqdn`` (of type ``rtype``, if given) in ``zone``."""
        params = [("rrset_name", fqdn)]
        if rtype is not None:
            params.append(("rrset_type", rtype))
        data = yield from self._get_zone_data(zone.id, params)
        # Servers older than 4.6 ignore the filters: filter here as well.
        return [
            rrset
            for rrset in data.get("rrsets", [])
            if _same_name(rrset.get("name", ""), fqdn)
            and (rtype is None or str(rrset.get("type", "")).upper() == rtype)
            and rrset.get("records")
        ]

    def _patch(self, zone: Zone, rrsets: list[dict[str, Any]]) -> Op[None]:
        """One atomic PATCH of RRsets (REPLACE and DELETE are idempotent)."""
        request = self._request(
            "PATCH", self._zone_url(zone.id), body={"rrsets": rrsets}, idempotent=True
        )
        resp = yield from self._send(request)
        if resp.status == 404:
            raise ZoneNotFound(zone.id, driver=self)
        if not resp.ok:
            raise self._fail(resp)

    # -- models -------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any], ttl: int | None = None) -> Zone:
        kind = str(data.get("kind", "Native"))
        zone_type = ZoneType.SLAVE if kind.lower() in _SECONDARY_KINDS else ZoneType.MASTER
        domain = str(data.get("name") or _unescape(str(data["id"])))
        zone_id = str(data.get("id") or domain)
        if ttl is None:
            for rrset in data.get("rrsets") or ():
                if rrset.get("type") == "SOA" and _same_name(rrset.get("name", ""), domain):
                    ttl = rrset.get("ttl")
        extra = {k: v for k, v in data.items() if k not in ("rrsets", "id", "name")}
        return Zone(id=zone_id, domain=domain, type=zone_type.value, ttl=ttl, driver=self,
                    extra=extra)

    def _to_record(self, zone: Zone, rrset: Mapping[str, Any]) -> Record:
        rtype_text = str(rrset["type"]).upper()
        rtype: str = rtype_text
        if rtype_text in RecordType.__members__:
            rtype = RecordType(rtype_text)
        relative = _relative(str(rrset["name"]), zone.domain)
        records = rrset.get("records") or []
        values = [from_presentation(rtype_text, str(r["content"])) for r in records]
        extra: dict[str, Any] = {}
        disabled = [v for v, r in zip(values, records, strict=True) if r.get("disabled")]
        if disabled:
            extra["disabled"] = disabled
        if rrset.get("comments"):
            extra["comments"] = list(rrset["comments"])
        return Record(
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

    def _made_record(
        self, zone: Zone, name: str, rtype: RecordType, values: list[str], ttl: int
    ) -> Record:
        return Record(
            id=_record_id(name, rtype.value), name=name, type=rtype, data=values[0], zone=zone,
            driver=self, ttl=ttl, values=list(values),
        )

    # -- zones --------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over every zone on the server (PowerDNS returns them in one
        response; they are emitted ``page_size`` at a time)."""
        request = self._request("GET", f"{self._base}/zones", params=[("dnssec", "false")])
        resp = yield from self._send(request)
        if resp.status == 404:
            raise ProviderError(
                f"PowerDNS has no server {self.server_id!r} at {self.endpoint}",
                status=404, code="NotFound", driver=self,
            )
        if not resp.ok:
            raise self._fail(resp)
        zones = sorted(resp.json(), key=lambda z: str(z.get("name", "")))
        for start in range(0, len(zones), self.page_size):
            for data in zones[start : start + self.page_size]:
                yield Emit(self._to_zone(data))

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a zone by id (``"example.com."``), with its SOA TTL as ``ttl``."""
        self._check_zone_id(zone_id)
        domain = _unescape(self._zone_id(zone_id))
        data = yield from self._get_zone_data(
            zone_id, [("rrset_name", domain), ("rrset_type", "SOA")]
        )
        return self._to_zone(data)

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a zone.

        ``type="master"`` makes a ``Native`` zone (``extra["kind"]`` may ask for
        ``"Master"`` or ``"Producer"``); ``type="slave"`` a ``Slave`` zone that
        copies from ``extra["masters"]``. ``extra["nameservers"]`` are its NS
        records; ``ttl`` becomes the TTL of its SOA (and default NS) record sets.
        :class:`~overcast.errors.ZoneAlreadyExists` if the server has the zone.
        """
        extra = dict(extra or {})
        fqdn = self._check_domain(domain)
        ttl = self._record_ttl(ttl, None)
        kind = self._kind(type, extra.get("kind"))
        body: dict[str, Any] = {"name": fqdn, "kind": kind}
        if kind in ("Slave", "Consumer"):
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
        for key in ("account", "soa_edit_api", "soa_edit", "api_rectify", "dnssec", "catalog"):
            if key in extra:
                body[key] = extra[key]
        resp = yield from self._send(self._request("POST", f"{self._base}/zones", body=body))
        if resp.status == 409:
            raise ZoneAlreadyExists(fqdn, driver=self)
        if not resp.ok:
            raise self._fail(resp)
        data: dict[str, Any] = resp.json()
        zone = self._to_zone(data)
        if ttl is not None and kind not in ("Slave", "Consumer"):
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
            and _same_name(rrset.get("name", ""), zone.domain)
            and rrset.get("records")
        ]
        if changes:
            yield from self._patch(zone, changes)

    @operation
    def update_zone(
        self,
        zone: Zone,
        domain: str | None,
        type: ZoneType | str | None = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Change a zone's kind, TTL (its SOA record set's) or settings.

        ``extra`` may hold ``kind`` and the PowerDNS zone settings ``masters``,
        ``account``, ``soa_edit``, ``soa_edit_api``, ``api_rectify``,
        ``dnssec``, ``nsec3param``, ``nsec3narrow`` and ``catalog``. A zone
        cannot be renamed: a different ``domain`` raises
        :class:`~overcast.errors.NotSupported`.
        """
        extra = dict(extra or {})
        if domain is not None and not _same_name(
            names.absolute_name("", domain), names.absolute_name("", zone.domain)
        ):
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
            request = self._request("PUT", self._zone_url(zone.id), body=settings)
            resp = yield from self._send(request)
            if resp.status == 404:
                raise ZoneNotFound(zone.id, driver=self)
            if not resp.ok:
                raise self._fail(resp)
        if ttl is not None:
            soa = yield from self._rrsets_at(zone, zone.domain, "SOA")
            yield from self._set_zone_ttl(zone, soa, ttl, with_ns=False)
        return (yield from self.get_zone.op(zone.id))

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and its records; :class:`~overcast.errors.ZoneNotFound` if absent."""
        resp = yield from self._send(self._request("DELETE", self._zone_url(zone.id)))
        if resp.status == 404:
            raise ZoneNotFound(zone.id, driver=self)
        if not resp.ok:
            raise self._fail(resp)
        return True

    # -- records ------------------------------------------------------------------

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Iterate over the record sets of a zone (SOA and NS included), emitted
        ``page_size`` at a time."""
        data = yield from self._get_zone_data(zone.id)
        rrsets = [r for r in data.get("rrsets") or [] if r.get("records")]
        rrsets.sort(key=lambda r: (_sort_key(str(r["name"])), str(r["type"])))
        for start in range(0, len(rrsets), self.page_size):
            for rrset in rrsets[start : start + self.page_size]:
                yield Emit(self._to_record(zone, rrset))

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """Get a record set by id (``"www:A"``, ``"@:MX"``)."""
        self._check_zone_id(zone_id)
        parsed = _parse_record_id(record_id)
        if parsed is None:
            # Still tell a missing zone from a missing record.
            domain = _unescape(self._zone_id(zone_id))
            yield from self._get_zone_data(
                zone_id, [("rrset_name", domain), ("rrset_type", "SOA")]
            )
            raise RecordNotFound(record_id, driver=self)
        name, rtype = parsed
        domain = _unescape(self._zone_id(zone_id))
        fqdn = names.absolute_name(name, domain)
        data = yield from self._get_zone_data(
            zone_id, [("rrset_name", fqdn), ("rrset_type", rtype)]
        )
        zone = self._to_zone(data)
        for rrset in data.get("rrsets") or []:
            if (
                _same_name(str(rrset.get("name", "")), fqdn)
                and str(rrset.get("type", "")).upper() == rtype
                and rrset.get("records")
            ):
                return self._to_record(zone, rrset)
        raise RecordNotFound(record_id, driver=self)

    @operation
    def create_record(
        self,
        name: str,
        zone: Zone,
        type: RecordType | str,
        data: RecordData,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Op[Record]:
        """Create a record set; :class:`~overcast.errors.RecordAlreadyExists` if the
        name already has a set of this type, :class:`~overcast.errors.InvalidInput`
        for a CNAME beside other data (or other data beside a CNAME)."""
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl = self._record_ttl(ttl, extra)
        relative, fqdn = self._names(name, zone)
        existing = yield from self._rrsets_at(zone, fqdn)
        types = {str(r["type"]).upper() for r in existing}
        if rtype.value in types:
            raise RecordAlreadyExists(_record_id(relative, rtype.value), driver=self)
        self._check_cname(relative, rtype, types)
        if ttl is None:
            ttl = yield from self._default_ttl(zone, existing if relative == "" else None)
        yield from self._patch(zone, [self._replace(fqdn, rtype, values, ttl)])
        return self._made_record(zone, relative, rtype, values, ttl)

    @operation
    def update_record(
        self,
        record: Record,
        name: str | None,
        type: RecordType | str | None,
        data: RecordData | None,
        extra: Mapping[str, Any] | None = None,
        *,
        ttl: int | None = None,
    ) -> Op[Record]:
        """Replace a record set's values, TTL, name or type in one atomic PATCH."""
        zone = record.zone
        new_name = record.name if name is None else name
        new_type = record.type if type is None else type
        new_data: RecordData = list(record.values) if data is None else data
        new_name, rtype, values = self._validate_record(
            new_name, new_type, new_data, extra=extra, zone=zone
        )
        ttl = self._record_ttl(ttl, extra)
        _, old_fqdn = self._names(record.name, zone)
        old_type = str(record.type).upper()
        relative, fqdn = self._names(new_name, zone)
        moved = not _same_name(old_fqdn, fqdn) or old_type != rtype.value
        current = yield from self._rrsets_at(zone, old_fqdn, old_type)
        if not current:
            raise RecordNotFound(record.id, driver=self)
        changes: list[dict[str, Any]] = []
        if moved:
            existing = yield from self._rrsets_at(zone, fqdn)
            types = {str(r["type"]).upper() for r in existing}
            if _same_name(old_fqdn, fqdn):
                types.discard(old_type)
            if rtype.value in types:
                raise RecordAlreadyExists(_record_id(relative, rtype.value), driver=self)
            self._check_cname(relative, rtype, types)
            changes.append({"name": old_fqdn, "type": old_type, "changetype": "DELETE"})
        if ttl is None:
            ttl = current[0].get("ttl")
        if ttl is None:
            ttl = yield from self._default_ttl(zone, None)
        changes.append(self._replace(fqdn, rtype, values, ttl))
        yield from self._patch(zone, changes)
        return self._made_record(zone, relative, rtype, values, ttl)

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete a record set; :class:`~overcast.errors.RecordNotFound` if absent."""
        zone = record.zone
        _, fqdn = self._names(record.name, zone)
        rtype = str(record.type).upper()
        current = yield from self._rrsets_at(zone, fqdn, rtype)
        if not current:
            raise RecordNotFound(record.id, driver=self)
        yield from self._patch(zone, [{"name": fqdn, "type": rtype, "changetype": "DELETE"}])
        return True

    # -- helpers ------------------------------------------------------------------

    def _names(self, name: str, zone: Zone) -> tuple[str, str]:
        """``(relative, absolute)`` forms of a record name in ``zone``."""
        fqdn = names.absolute_name(name, zone.domain)
        origin = names.absolute_name("", zone.domain)
        if not (_same_name(fqdn, origin) or fqdn.lower().endswith("." + origin.lower())):
            raise InvalidInput(f"record name {name!r} is not in zone {origin!r}", driver=self)
        return _relative(fqdn, origin), fqdn

    def _check_cname(self, relative: str, rtype: RecordType, types: set[str]) -> None:
        others = types - {"RRSIG", "NSEC", "NSEC3"}
        if rtype is RecordType.CNAME and others:
            raise InvalidInput(
                f"a CNAME may not stand beside other data: {relative or '@'!r} has "
                f"{', '.join(sorted(others))}",
                driver=self,
            )
        if rtype is not RecordType.CNAME and "CNAME" in others:
            raise InvalidInput(
                f"{relative or '@'!r} has a CNAME: no other data may stand beside it",
                driver=self,
            )

    def _default_ttl(self, zone: Zone, apex: list[dict[str, Any]] | None) -> Op[int]:
        """The TTL for a set created without one: the zone's SOA TTL."""
        if zone.ttl is not None:
            return zone.ttl
        if apex is None:
            apex = yield from self._rrsets_at(zone, names.absolute_name("", zone.domain), "SOA")
        for rrset in apex:
            if rrset.get("type") == "SOA" and isinstance(rrset.get("ttl"), int):
                ttl: int = rrset["ttl"]
                return ttl
        return DEFAULT_TTL

    @staticmethod
    def _replace(fqdn: str, rtype: RecordType, values: list[str], ttl: int) -> dict[str, Any]:
        return {
            "name": fqdn,
            "type": rtype.value,
            "ttl": ttl,
            "changetype": "REPLACE",
            "records": [
                {"content": to_presentation(rtype.value, v), "disabled": False} for v in values
            ],
        }

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


# -- pure helpers -------------------------------------------------------------------------


def _code(status: int) -> str:
    return {
        400: "BadRequest",
        404: "NotFound",
        409: "Conflict",
        422: "UnprocessableEntity",
        500: "InternalServerError",
    }.get(status, f"HTTP{status}")


def _same_name(a: str, b: str) -> bool:
    return a.rstrip(".").lower() == b.rstrip(".").lower()


def _relative(fqdn: str, origin: str) -> str:
    """``fqdn`` relative to ``origin`` (``""`` for the apex)."""
    if _same_name(fqdn, origin):
        return ""
    suffix = "." + origin.rstrip(".")
    text = fqdn.rstrip(".")
    if text.lower().endswith(suffix.lower()):
        return text[: -len(suffix)]
    return fqdn if fqdn.endswith(".") else f"{fqdn}."


def _record_id(relative: str, rtype: str) -> str:
    return f"{relative or '@'}:{rtype}"


def _parse_record_id(record_id: str) -> tuple[str, str] | None:
    name, sep, rtype = record_id.rpartition(":")
    if not sep or not name or not rtype or not rtype.isalnum():
        return None
    name = "" if name == "@" else name
    try:
        names.validate_name(name)
    except InvalidInput:
        return None
    return name, rtype.upper()


def _unescape(zone_id: str) -> str:
    """A PowerDNS zone id as a name (``=2F`` is ``/``)."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), zone_id)


def _sort_key(fqdn: str) -> tuple[str, ...]:
    """Sort names as in a zone file: the apex first, then by labels from the right."""
    return tuple(reversed(fqdn.rstrip(".").lower().split(".")))
