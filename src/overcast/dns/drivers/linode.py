"""Linode (Akamai Connected Cloud) DNS Manager, through the Linode API v4.

Facts of the API this driver is built on (``https://api.linode.com/v4``):

* A personal access token is sent as ``Authorization: Bearer <token>``.
* ``/domains`` and ``/domains/{domainId}/records`` are paged with ``page`` and
  ``page_size`` (25 to 500, default 100); each page says ``page``, ``pages`` and
  ``results``. ``X-Filter`` (a JSON object) filters on the fields the
  reference marks *Filterable* (``domain``; a record's ``name``, ``type``...).
* A record is **one value**, with a numeric id: ``type``, ``name`` (relative,
  ``""`` for the apex), ``target``, ``priority``, ``weight``, ``port``,
  ``service``/``protocol`` (SRV), ``tag`` (CAA) and ``ttl_sec``. Host names come
  back without their trailing dot. An SRV record is not named: the request
  gives ``service`` and ``protocol`` and Linode names it ``_service._protocol``
  (so an SRV set can only live directly under the zone apex). CAA flags are
  always 0. Priorities are 0 to 255.
* TTLs are rounded *up* to one of 300, 3600, 7200, 14400, 28800, 57600, 86400,
  172800, 345600, 604800, 1209600, 2419200 seconds; ``0`` means the default.
* The NS records of Linode's own name servers (``ns1..ns5.linode.com``) are
  served but are not records of the API: they are not listed here.
* Errors are ``{"errors": [{"reason": ..., "field": ...}]}`` with 400 (invalid,
  or a conflict such as ``Record conflict - CNAMES must be unique``), 401 (bad
  token), 403, 404 and 429.

overcast groups the per-value records into record sets (id ``"name:TYPE"``,
``"@"`` for the apex). Creating a set of several values is several requests;
if one fails, the values already made are deleted again (a compensating
operation run by the runner), so a failed create leaves nothing behind.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from overcast.dns import names
from overcast.dns.base import DNSDriver, Record, RecordData, RecordType, Zone, ZoneType
from overcast.dns.records import canonical, character_strings, parse_character_strings
from overcast.errors import (
    InvalidCredentials,
    InvalidInput,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    RateLimited,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Emit, Guarded, Iter, Op, Request, Response
from overcast.runtime.operation import iterator, operation
from overcast.runtime.ops import collect
from overcast.runtime.policy import parse_retry_after
from overcast.runtime.redact import Secret, redact_text

__all__ = ["LinodeDNSDriver"]

DEFAULT_ENDPOINT: Final = "https://api.linode.com/v4"
#: The page sizes the API accepts.
MIN_PAGE_SIZE: Final = 25
MAX_PAGE_SIZE: Final = 500
#: Highest MX/SRV priority Linode stores.
MAX_PRIORITY: Final = 255
#: CAA tags Linode accepts.
CAA_TAGS: Final = frozenset({"issue", "issuewild", "iodef"})
#: Domain fields that ``extra`` may set on create and update.
ZONE_FIELDS: Final = (
    "soa_email",
    "description",
    "refresh_sec",
    "retry_sec",
    "expire_sec",
    "master_ips",
    "axfr_ips",
    "tags",
    "status",
    "group",
)

_HOST_TYPES: Final = frozenset({"CNAME", "NS", "PTR"})


def _set_id(name: str, rtype: str) -> str:
    return f"{name or '@'}:{rtype}"


def _parse_set_id(record_id: str) -> tuple[str, str] | None:
    name, sep, rtype = str(record_id).rpartition(":")
    if not sep or not rtype:
        return None
    return ("" if name == "@" else name), rtype.upper()


def _host(value: str) -> str:
    """A host name as Linode takes it: fully qualified, without the trailing dot."""
    return value[:-1] if value.endswith(".") and value != "." else value


def _absolute(host: str) -> str:
    if not host:
        return "."
    return host if host.endswith(".") else f"{host}."


@dataclass(frozen=True, slots=True)
class _Body:
    """One record as the API takes it, and the overcast value it stands for."""

    value: str
    fields: dict[str, Any]


class LinodeDNSDriver(DNSDriver):
    """DNS zones and record sets in Linode's DNS Manager (API v4).

    ``key`` is a personal access token with the ``domains:read_write`` scope;
    ``secret`` is accepted for Apache Libcloud's signature and ignored.
    ``page_size`` (25 to 500) is how many items each listing request asks for.

    >>> driver = LinodeDNSDriver("my-token")  # doctest: +SKIP
    >>> zone = driver.create_zone("example.com", extra={"soa_email": "me@example.com"})
    """

    name: ClassVar[str] = "linode"
    record_types: ClassVar[tuple[RecordType, ...]] = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.CAA,
        RecordType.CNAME,
        RecordType.MX,
        RecordType.NS,
        RecordType.PTR,
        RecordType.SRV,
        RecordType.TXT,
    )

    def __init__(
        self,
        key: str | Secret,
        secret: str | Secret | None = None,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        page_size: int = 100,
        **options: Any,
    ) -> None:
        if not key:
            raise InvalidInput("a Linode personal access token is required", driver=self)
        if isinstance(page_size, bool) or not isinstance(page_size, int) or not (
            MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE
        ):
            raise InvalidInput(
                f"page_size must be an integer from {MIN_PAGE_SIZE} to {MAX_PAGE_SIZE}: "
                f"{page_size!r}",
                driver=self,
            )
        self._token = Secret(key)
        self.endpoint = endpoint.rstrip("/")
        self.page_size = page_size
        super().__init__(**options)

    # -- runtime hooks --------------------------------------------------------------

    def _sign(self, request: Request, now: float) -> Request:
        """Add the bearer token (only to requests for this driver's endpoint)."""
        if not request.url.startswith(self.endpoint):
            return request
        return request.with_headers({"Authorization": f"Bearer {self._token.reveal()}"})

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    # -- HTTP helpers -------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
        filter: Mapping[str, Any] | None = None,
    ) -> Op[Response]:
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if filter:
            headers["X-Filter"] = json.dumps(filter)
        response: Response = yield Request(
            method, f"{self.endpoint}{path}", headers=headers, params=params, body=data
        )
        return response

    def _error(
        self,
        resp: Response,
        *,
        zone: str | None = None,
        record: str | None = None,
        domain: str | None = None,
    ) -> OvercastError:
        """The overcast error for a failed response (``zone``/``record`` name what
        a 404 is about, ``domain`` what a conflict on create is about)."""
        reasons: list[str] = []
        fields: list[str] = []
        try:
            for item in resp.json().get("errors") or []:
                reasons.append(str(item.get("reason", "")))
                if item.get("field"):
                    fields.append(str(item["field"]))
        except (ValueError, AttributeError):
            reasons.append(resp.text[:300])
        text = redact_text("; ".join(r for r in reasons if r) or resp.text[:300], self._secrets())
        if resp.status in (401, 403):
            return InvalidCredentials(f"Linode refused the token: {text}", driver=self)
        if resp.status == 404:
            if record is not None:
                return RecordNotFound(record, driver=self)
            if zone is not None:
                return ZoneNotFound(zone, driver=self)
        if resp.status == 429:
            return RateLimited(
                f"Linode rate limit: {text}",
                retry_after=parse_retry_after(resp.headers.get("Retry-After")),
                driver=self,
            )
        if (
            resp.status == 400
            and domain is not None
            and "domain" in fields
            and any(w in text.lower() for w in ("exist", "already", "in use", "taken"))
        ):
            return ZoneAlreadyExists(domain, driver=self)
        return ProviderError(
            f"{resp.method} {resp.url}: {text}",
            status=resp.status,
            code=",".join(fields) or None,
            request_id=resp.headers.get("X-Request-Id"),
            driver=self,
        )

    def _pages(
        self, path: str, filter: Mapping[str, Any] | None = None, *, zone: str | None = None
    ) -> Generator[Any, Any, None]:
        """Every item of a paged collection, page by page (as ``Emit`` effects)."""
        page = 1
        while True:
            params = [("page", str(page)), ("page_size", str(self.page_size))]
            resp = yield from self._send("GET", path, params=params, filter=filter)
            if not resp.ok:
                raise self._error(resp, zone=zone)
            body = resp.json()
            for item in body.get("data") or []:
                yield Emit(item)
            pages = int(body.get("pages") or 1)
            if page >= pages or not body.get("data"):
                return
            page += 1

    def _collect(
        self, path: str, filter: Mapping[str, Any] | None = None, *, zone: str | None = None
    ) -> Op[list[dict[str, Any]]]:
        """All items of a paged collection, gathered inside an operation."""
        items: list[dict[str, Any]] = yield from collect(self._pages(path, filter, zone=zone))
        return items

    # -- zones ------------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any]) -> Zone:
        ttl = int(data.get("ttl_sec") or 0)
        extra = {k: data[k] for k in ZONE_FIELDS if k in data}
        return Zone(
            id=str(data["id"]),
            domain=_absolute(str(data["domain"])),
            type=ZoneType.SLAVE if data.get("type") == "slave" else ZoneType.MASTER,
            ttl=ttl or None,
            driver=self,
            extra=extra,
        )

    @staticmethod
    def _zone_path(zone_id: str) -> str | None:
        text = str(zone_id)
        return f"/domains/{text}" if text.isdigit() else None

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Iterate over the account's domains, page by page."""
        pages = self._pages("/domains")
        effect: Any = next(pages, None)
        while effect is not None:
            if isinstance(effect, Emit):
                yield Emit(self._to_zone(effect.item))
                effect = next(pages, None)
                continue
            try:
                value = yield effect
            except Exception as exc:
                effect = self._resume(pages, error=exc)
            else:
                effect = self._resume(pages, value=value)

    @staticmethod
    def _resume(gen: Generator[Any, Any, None], *, value: Any = None,
                error: BaseException | None = None) -> Any:
        """Send a result (or throw an error) into a sub-generator; None when it ends."""
        try:
            return gen.throw(error) if error is not None else gen.send(value)
        except StopIteration:
            return None

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """Get a domain by its numeric id; :class:`ZoneNotFound` if absent."""
        path = self._zone_path(zone_id)
        if path is None:
            raise ZoneNotFound(str(zone_id), driver=self)
        resp = yield from self._send("GET", path)
        if not resp.ok:
            raise self._error(resp, zone=str(zone_id))
        return self._to_zone(resp.json())

    def _zone_fields(self, extra: Mapping[str, Any] | None) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, value in (extra or {}).items():
            if key in ZONE_FIELDS:
                fields[key] = value
            elif key == "email":  # Apache Libcloud's spelling
                fields["soa_email"] = value
            else:
                raise InvalidInput(
                    f"unknown Linode domain field {key!r}; use one of {', '.join(ZONE_FIELDS)}",
                    driver=self,
                )
        return fields

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a domain.

        A master domain needs an SOA e-mail: ``extra["soa_email"]``, else
        ``hostmaster@<domain>``. A slave domain needs ``extra["master_ips"]``.
        Other fields of ``extra``: see :data:`ZONE_FIELDS`.
        """
        bare = str(domain).rstrip(".")
        names.validate_name(bare, wildcard=False, what="domain", driver=self)
        if not bare or bare == "@":
            raise InvalidInput("a domain name is required", driver=self)
        kind = str(type).lower()
        if kind not in (ZoneType.MASTER, ZoneType.SLAVE):
            raise InvalidInput(f"zone type must be 'master' or 'slave', not {type!r}", driver=self)
        ttl = self._record_ttl(ttl, None)
        fields = self._zone_fields(extra)
        body: dict[str, Any] = {"domain": bare, "type": kind, **fields}
        if kind == ZoneType.MASTER:
            body.setdefault("soa_email", f"hostmaster@{bare}")
        elif not body.get("master_ips"):
            raise InvalidInput("a slave zone needs extra['master_ips']", driver=self)
        if ttl is not None:
            body["ttl_sec"] = ttl
        try:
            resp = yield from self._send("POST", "/domains", body=body)
        except OutcomeUnknown:
            # The request may have made the domain: look before giving up.
            found = yield from self._collect("/domains", {"domain": bare})
            if found:
                return self._to_zone(found[0])
            raise
        if not resp.ok:
            raise self._error(resp, domain=bare)
        return self._to_zone(resp.json())

    @operation
    def update_zone(
        self,
        zone: Zone,
        domain: str | None,
        type: ZoneType | str | None = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Change a domain's name, type, default TTL or the fields in ``extra``."""
        path = self._zone_path(zone.id)
        if path is None:
            raise ZoneNotFound(zone.id, driver=self)
        body = self._zone_fields(extra)
        if domain is not None:
            bare = str(domain).rstrip(".")
            names.validate_name(bare, wildcard=False, what="domain", driver=self)
            body["domain"] = bare
        if type is not None:
            kind = str(type).lower()
            if kind not in (ZoneType.MASTER, ZoneType.SLAVE):
                raise InvalidInput(
                    f"zone type must be 'master' or 'slave', not {type!r}", driver=self
                )
            body["type"] = kind
        checked = self._record_ttl(ttl, None)
        if checked is not None:
            body["ttl_sec"] = checked
        resp = yield from self._send("PUT", path, body=body)
        if not resp.ok:
            raise self._error(resp, zone=zone.id, domain=body.get("domain"))
        return self._to_zone(resp.json())

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a domain and its records; :class:`ZoneNotFound` if absent."""
        path = self._zone_path(zone.id)
        if path is None:
            raise ZoneNotFound(zone.id, driver=self)
        resp = yield from self._send("DELETE", path)
        if not resp.ok:
            raise self._error(resp, zone=zone.id)
        return True

    # -- records: conversions ------------------------------------------------------

    @staticmethod
    def _value(item: Mapping[str, Any]) -> str:
        """The overcast value of one Linode record."""
        rtype = str(item.get("type", "")).upper()
        target = str(item.get("target") or "")
        if rtype in _HOST_TYPES:
            return _absolute(target)
        if rtype == "MX":
            return f"{int(item.get('priority') or 0)} {_absolute(target)}"
        if rtype == "SRV":
            return (
                f"{int(item.get('priority') or 0)} {int(item.get('weight') or 0)} "
                f"{int(item.get('port') or 0)} {_absolute(target)}"
            )
        if rtype == "CAA":
            return f"0 {item.get('tag') or 'issue'} {character_strings(target)}"
        return target

    def _to_record(self, zone: Zone, items: Sequence[Mapping[str, Any]]) -> Record:
        first = items[0]
        name = str(first.get("name") or "")
        rtype = str(first["type"]).upper()
        values = [self._value(item) for item in items]
        ttl = int(first.get("ttl_sec") or 0)
        return Record(
            id=_set_id(name, rtype),
            name=name,
            type=rtype,
            data=values[0],
            zone=zone,
            driver=self,
            ttl=ttl or None,
            extra={"record_ids": [int(item["id"]) for item in items]},
            values=values,
        )

    def _group(self, zone: Zone, items: Iterable[Mapping[str, Any]]) -> list[Record]:
        sets: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
        for item in items:
            key = (str(item.get("name") or ""), str(item.get("type", "")).upper())
            sets.setdefault(key, []).append(item)
        return [self._to_record(zone, group) for group in sets.values()]

    def _bodies(self, name: str, rtype: str, values: Sequence[str], ttl: int | None) -> list[_Body]:
        """The record objects to send for a set (raises InvalidInput before any I/O)."""
        service = protocol = None
        if rtype == "SRV":
            labels = name.split(".")
            if len(labels) != 2 or not all(label.startswith("_") and len(label) > 1
                                           for label in labels):
                raise InvalidInput(
                    f"Linode names SRV records itself from service and protocol: the name "
                    f"must be '_service._protocol' directly under the zone, not {name!r}",
                    driver=self,
                )
            service, protocol = labels[0][1:], labels[1][1:].lower()
        bodies: list[_Body] = []
        for value in values:
            fields: dict[str, Any] = {"type": rtype, "name": name}
            if rtype in _HOST_TYPES:
                fields["target"] = _host(value.strip())
            elif rtype == "MX":
                priority, host = value.split()
                fields["priority"] = self._priority(priority, value)
                fields["target"] = "" if host == "." else _host(host)
            elif rtype == "SRV":
                priority, weight, port, host = value.split()
                fields.update(
                    name="",
                    service=service,
                    protocol=protocol,
                    priority=self._priority(priority, value),
                    weight=int(weight),
                    port=int(port),
                    target=_host(host),
                )
            elif rtype == "CAA":
                flags, tag, rest = value.split(None, 2)
                if int(flags) != 0:
                    raise InvalidInput(
                        f"Linode stores CAA flags as 0; cannot store {value!r}", driver=self
                    )
                if tag.lower() not in CAA_TAGS:
                    raise InvalidInput(
                        f"Linode CAA tags are {', '.join(sorted(CAA_TAGS))}, not {tag!r}",
                        driver=self,
                    )
                fields["tag"] = tag.lower()
                fields["target"] = parse_character_strings(rest)
            else:
                fields["target"] = value
            if ttl is not None:
                fields["ttl_sec"] = ttl
            bodies.append(_Body(value, fields))
        return bodies

    def _priority(self, text: str, value: str) -> int:
        priority = int(text)
        if priority > MAX_PRIORITY:
            raise InvalidInput(
                f"Linode priorities are 0 to {MAX_PRIORITY}; {value!r} has {priority}",
                driver=self,
            )
        return priority

    # -- records: operations ----------------------------------------------------------

    def _records_path(self, zone_id: str) -> str:
        path = self._zone_path(zone_id)
        if path is None:
            raise ZoneNotFound(str(zone_id), driver=self)
        return f"{path}/records"

    def _set_items(self, zone_id: str, name: str, rtype: str | None = None
                   ) -> Op[list[dict[str, Any]]]:
        """The records at ``name`` (of type ``rtype`` if given), filtered by the API."""
        wanted: dict[str, Any] = {"name": name}
        if rtype is not None:
            wanted["type"] = rtype
        items = yield from self._collect(self._records_path(zone_id), wanted, zone=zone_id)
        # Filters are exact on Linode; check anyway so a looser server cannot mislead us.
        return [
            item
            for item in items
            if str(item.get("name") or "") == name
            and (rtype is None or str(item.get("type", "")).upper() == rtype)
        ]

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Iterate over a domain's record sets.

        Every page is read first (a set's values may span pages), then the sets
        are handed out.
        """
        items = yield from self._collect(self._records_path(zone.id), zone=zone.id)
        for record in self._group(zone, items):
            yield Emit(record)

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """Get a record set by its id (``"name:TYPE"``, ``"@:TYPE"`` at the apex)."""
        parsed = _parse_set_id(record_id)
        path = self._zone_path(zone_id)
        if path is None:
            raise ZoneNotFound(str(zone_id), driver=self)
        if parsed is None:
            raise RecordNotFound(str(record_id), driver=self)
        name, rtype = parsed
        # A missing zone answers 404 here, so it is told from a missing set.
        items = yield from self._set_items(zone_id, name, rtype)
        if not items:
            raise RecordNotFound(str(record_id), driver=self)
        zone = yield from self.get_zone.op(zone_id)
        return self._to_record(zone, items)

    def _check_free(self, name: str, rtype: str, existing: Sequence[Mapping[str, Any]]) -> None:
        types = {str(item.get("type", "")).upper() for item in existing}
        if rtype in types:
            raise RecordAlreadyExists(_set_id(name, rtype), driver=self)
        if rtype == "CNAME" and types:
            raise InvalidInput(
                f"a CNAME may not stand beside other data: {name or '@'} has "
                f"{', '.join(sorted(types))}",
                driver=self,
            )
        if "CNAME" in types:
            raise InvalidInput(
                f"{name or '@'} has a CNAME; no other data may stand beside it", driver=self
            )

    def _create_items(
        self, zone: Zone, bodies: Sequence[_Body], known: set[int]
    ) -> Op[list[dict[str, Any]]]:
        """POST each value; on failure delete what this call made (Guarded)."""
        path = self._records_path(zone.id)
        created: list[dict[str, Any]] = []

        def make() -> Op[list[dict[str, Any]]]:
            for body in bodies:
                resp = yield from self._send("POST", path, body=body.fields)
                if not resp.ok:
                    raise self._error(resp, zone=zone.id)
                created.append(resp.json())
            return created

        def undo(exc: BaseException) -> Op[None]:
            ids = {int(item["id"]) for item in created}
            if isinstance(exc, OutcomeUnknown) and bodies:
                # The last POST may have made a record we never heard of.
                first = bodies[0].fields
                name = (
                    f"_{first['service']}._{first['protocol']}"
                    if first["type"] == "SRV"
                    else str(first["name"])
                )
                around = yield from self._set_items(zone.id, name, str(first["type"]))
                ids |= {int(item["id"]) for item in around} - known
            for record_id in sorted(ids):
                resp = yield from self._send("DELETE", f"{path}/{record_id}")
                if not resp.ok and resp.status != 404:
                    raise self._error(resp, zone=zone.id)

        result: list[dict[str, Any]] = yield Guarded(make(), undo)
        return result

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
        """Create a record set: one Linode record per value.

        :class:`RecordAlreadyExists` if the set exists; :class:`InvalidInput` for
        a CNAME beside other data. If a value fails, the values already made are
        deleted again.
        """
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl = self._record_ttl(ttl, extra)
        name = self._relative(name, zone)
        bodies = self._bodies(name, str(rtype), values, ttl)
        existing = yield from self._set_items(zone.id, name)
        self._check_free(name, str(rtype), existing)
        known = {int(item["id"]) for item in existing}
        items = yield from self._create_items(zone, bodies, known)
        return self._to_record(zone, items)

    def _relative(self, name: str, zone: Zone) -> str:
        """``name`` relative to the zone (absolute names inside it are accepted)."""
        if not name.endswith("."):
            return name
        origin = _absolute(zone.domain).lower()
        lowered = name.lower()
        if lowered == origin:
            return ""
        if lowered.endswith("." + origin):
            return name[: -len(origin) - 1]
        raise InvalidInput(f"record name {name!r} is not inside {zone.domain}", driver=self)

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
        """Replace a record set's name, type, values or TTL.

        The change is a diff against the set as it is now: values that stay
        are kept (their TTL updated), changed values are rewritten in place, new
        ones created and dropped ones deleted. A type change makes the new set
        first, then deletes the old one.
        """
        zone = record.zone
        new_name = record.name if name is None else name
        new_type = record.type if type is None else type
        new_data = list(record.values) if data is None else data
        new_name, rtype, values = self._validate_record(
            new_name, new_type, new_data, extra=extra, zone=zone
        )
        new_ttl = self._record_ttl(ttl, extra)
        if new_ttl is None:
            new_ttl = record.ttl
        new_name = self._relative(new_name, zone)
        bodies = self._bodies(new_name, str(rtype), values, new_ttl)
        current = yield from self._set_items(zone.id, record.name, str(record.type).upper())
        if not current:
            raise RecordNotFound(record.id, driver=self)
        moved = (new_name, str(rtype)) != (record.name, str(record.type).upper())
        if moved:
            existing = yield from self._set_items(zone.id, new_name)
            others = [i for i in existing if int(i["id"]) not in {int(c["id"]) for c in current}]
            self._check_free(new_name, str(rtype), others)
        path = self._records_path(zone.id)
        if str(rtype) != str(record.type).upper():
            known = {int(item["id"]) for item in current}
            items = yield from self._create_items(zone, bodies, known)
            for item in current:
                yield from self._delete_item(path, item, zone)
            return self._to_record(zone, items)
        # Same type: diff by canonical value.
        rtype_text = str(rtype)
        by_value = {canonical(rtype_text, self._value(item)): item for item in current}
        keep: list[tuple[_Body, dict[str, Any]]] = []
        add: list[_Body] = []
        for body in bodies:
            key = canonical(rtype_text, body.value)
            if key in by_value:
                keep.append((body, by_value.pop(key)))
            else:
                add.append(body)
        drop = list(by_value.values())
        # Rewrite dropped records in place with new values before creating more.
        while add and drop:
            keep.append((add.pop(0), drop.pop(0)))
        result: list[dict[str, Any]] = []
        for body, item in keep:
            ttl_now = int(item.get("ttl_sec") or 0) or None
            same = (
                not moved
                and ttl_now == new_ttl
                and canonical(rtype_text, self._value(item)) == canonical(rtype_text, body.value)
            )
            if same:
                result.append(item)
                continue
            fields = {k: v for k, v in body.fields.items() if k != "type"}
            if new_ttl is None:
                fields["ttl_sec"] = 0
            resp = yield from self._send("PUT", f"{path}/{item['id']}", body=fields)
            if not resp.ok:
                raise self._error(resp, zone=zone.id, record=record.id)
            result.append(resp.json())
        if add:
            made = yield from self._create_items(zone, add, {int(i["id"]) for i in current})
            result.extend(made)
        for item in drop:
            yield from self._delete_item(path, item, zone)
        return self._to_record(zone, result)

    def _delete_item(self, path: str, item: Mapping[str, Any], zone: Zone) -> Op[None]:
        resp = yield from self._send("DELETE", f"{path}/{item['id']}")
        if not resp.ok and resp.status != 404:
            raise self._error(resp, zone=zone.id)

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete every value of a record set; :class:`RecordNotFound` if none is left."""
        zone = record.zone
        items = yield from self._set_items(zone.id, record.name, str(record.type).upper())
        if not items:
            raise RecordNotFound(record.id, driver=self)
        path = self._records_path(zone.id)
        for item in items:
            yield from self._delete_item(path, item, zone)
        return True

