"""Azure DNS through Azure Resource Manager (``Microsoft.Network/dnsZones``, 2018-05-01).

``AzureDNSDriver(client_id, client_secret, tenant_id=..., subscription_id=...,
resource_group=...)``: an app registration (service principal) with a role on
the resource group; or ``AzureDNSDriver(resource_group=...)`` with the
credentials found as the other Azure drivers find them (a ``credential=``
object, the ``AZURE_*`` variables, the managed identity). With a client id
and secret the driver gets an ARM access token with the client-credentials
flow (:mod:`overcast.auth.azure_ad`), caches it until shortly before it
expires and shares it between threads and tasks; a 401 drops it and retries
the request once with a fresh one.

Resources (``{rg}`` is ``/subscriptions/{sub}/resourceGroups/{rg}``, every
request carries ``api-version=2018-05-01``):

* zones: ``GET {rg}/providers/Microsoft.Network/dnsZones`` (``$top``, then
  ``nextLink``), ``PUT .../dnsZones/{zone}`` with ``If-None-Match: *`` (412 when
  it exists), ``GET``, ``DELETE`` (a long-running operation: 202 and an
  ``Azure-AsyncOperation`` status URL, polled after ``Retry-After``);
* record sets: ``GET .../dnsZones/{zone}/recordsets`` (paged), ``GET/PUT/DELETE
  .../dnsZones/{zone}/{TYPE}/{name}`` (``@`` is the apex); ``PUT`` with
  ``If-None-Match: *`` creates, with ``If-Match`` replaces; a ``DELETE`` that
  finds nothing answers 204.

A zone's id is its name (the domain without the trailing dot); record ids are
``"<relative name or @>:<TYPE>"``. Values travel in typed arrays
(``ARecords[{ipv4Address}]``, ``MXRecords[{preference, exchange}]``,
``TXTRecords[{value: [strings]}]``, ``caaRecords[{flags, tag, value}]``, ...),
converted here to and from overcast's presentation form.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.auth.azure_ad import DEFAULT_AUTHORITY
from overcast.dns import names
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.records import character_strings
from overcast.dns.records import parse_character_strings
from overcast.errors import AlreadyExists
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import ProviderError
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.providers.azure import AUTH_CODES
from overcast.providers.azure import DEFAULT_ENDPOINT
from overcast.providers.azure import ArmApi
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.ops import or_none
from overcast.runtime.options import check_page_size
from overcast.runtime.redact import Secret

__all__ = ["AzureDNSDriver"]

T = TypeVar("T")

API_VERSION: Final = "2018-05-01"
#: TTL of a record set created without one (the Azure portal's default).
DEFAULT_RECORD_TTL: Final = 3600
#: The typed array (or object) each record type's values travel in.
_FIELDS: Final = {
    "A": "ARecords",
    "AAAA": "AAAARecords",
    "CAA": "caaRecords",
    "CNAME": "CNAMERecord",
    "MX": "MXRecords",
    "NS": "NSRecords",
    "PTR": "PTRRecords",
    "SOA": "SOARecord",
    "SRV": "SRVRecords",
    "TXT": "TXTRecords",
}


def _host(value: str) -> str:
    """A host name as Azure shows it in its examples: without the trailing dot."""
    value = value.strip()
    return value[:-1] if value.endswith(".") and value != "." else value


def split_text(text: str, limit: int = 255) -> list[str]:
    """TXT text as strings of at most ``limit`` UTF-8 bytes, never splitting a character."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for ch in text:
        n = len(ch.encode("utf-8", "surrogatepass"))
        if size + n > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(ch)
        size += n
    chunks.append("".join(current))
    return chunks


def to_properties(rtype: str, values: list[str]) -> dict[str, Any]:
    """The typed record array of ``values`` (overcast's form) for a record-set body."""
    if rtype == "A":
        return {"ARecords": [{"ipv4Address": v} for v in values]}
    if rtype == "AAAA":
        return {"AAAARecords": [{"ipv6Address": v} for v in values]}
    if rtype == "CNAME":
        return {"CNAMERecord": {"cname": _host(values[0])}}
    if rtype == "NS":
        return {"NSRecords": [{"nsdname": _host(v)} for v in values]}
    if rtype == "PTR":
        return {"PTRRecords": [{"ptrdname": _host(v)} for v in values]}
    if rtype == "MX":
        items = []
        for v in values:
            preference, exchange = v.split()
            items.append({"preference": int(preference), "exchange": _host(exchange)})
        return {"MXRecords": items}
    if rtype == "SRV":
        items = []
        for v in values:
            priority, weight, port, target = v.split()
            items.append({"priority": int(priority), "weight": int(weight), "port": int(port),
                          "target": _host(target)})
        return {"SRVRecords": items}
    if rtype == "TXT":
        return {"TXTRecords": [{"value": split_text(v)} for v in values]}
    if rtype == "CAA":
        items = []
        for v in values:
            flags, tag, rest = v.split(None, 2)
            text = parse_character_strings(rest) if rest.startswith('"') else rest
            items.append({"flags": int(flags), "tag": tag, "value": text})
        return {"caaRecords": items}
    raise NotSupported(f"Azure DNS does not support {rtype} records")


def from_properties(rtype: str, props: Mapping[str, Any]) -> list[str]:
    """The values (overcast's form) of a record set's typed arrays."""

    def items(field: str) -> list[Mapping[str, Any]]:
        found = props.get(field)
        if found is None:  # tolerate the other spelling of the field name
            lowered = field.lower()
            found = next((v for k, v in props.items() if k.lower() == lowered), None)
        if isinstance(found, Mapping):
            return [found]
        return [i for i in (found or []) if isinstance(i, Mapping)]

    def host(item: Mapping[str, Any], key: str) -> str:
        """A host name field, fully qualified."""
        return names.absolute_name(str(item.get(key, "")), ".")

    field = _FIELDS.get(rtype)
    if field is None:
        return []
    out: list[str] = []
    for item in items(field):
        if rtype == "A":
            out.append(str(item.get("ipv4Address", "")))
        elif rtype == "AAAA":
            out.append(str(item.get("ipv6Address", "")))
        elif rtype == "CNAME":
            out.append(host(item, "cname"))
        elif rtype == "NS":
            out.append(host(item, "nsdname"))
        elif rtype == "PTR":
            out.append(host(item, "ptrdname"))
        elif rtype == "MX":
            out.append(f"{item.get('preference')} {host(item, 'exchange')}")
        elif rtype == "SRV":
            out.append(f"{item.get('priority')} {item.get('weight')} {item.get('port')} "
                       f"{host(item, 'target')}")
        elif rtype == "TXT":
            out.append("".join(str(s) for s in item.get("value") or []))
        elif rtype == "CAA":
            out.append(f"{item.get('flags')} {item.get('tag')} "
                       f"{character_strings(str(item.get('value', '')))}")
        elif rtype == "SOA":
            out.append(" ".join([
                host(item, "host"), host(item, "email"),
                *(str(item.get(k, 0)) for k in ("serialNumber", "refreshTime", "retryTime",
                                                 "expireTime", "minimumTTL")),
            ]))
    return out


class AzureDNSDriver(ArmApi, DNSDriver):
    """Azure DNS (public zones) through Azure Resource Manager.

    ``key`` is the application (client) id and ``secret`` its client secret;
    ``tenant_id``, ``subscription_id`` and ``resource_group`` say where the
    zones live. ``endpoint`` and ``authority`` select a cloud (public by
    default); ``page_size`` is ``$top`` for listings.

    Given no ``key`` and ``secret``, the credentials are found as the Azure
    compute driver finds them (:meth:`~overcast.providers.azure.ArmApi._use_arm`,
    azure-identity's order): ``credential`` (any object with
    ``get_token(*scopes)``), the environment's service principal
    (``AZURE_TENANT_ID``/``AZURE_CLIENT_ID`` with ``AZURE_CLIENT_SECRET`` or
    ``AZURE_CLIENT_CERTIFICATE_PATH``), else the machine's managed identity
    (``metadata_endpoint``, ``identity_client_id``);
    :attr:`credential_source` says which. ``subscription_id`` may then come
    from ``AZURE_SUBSCRIPTION_ID``; ``resource_group`` is always required.
    """

    name: ClassVar[str] = "azure"
    label: ClassVar[str] = "Azure"
    api_version: ClassVar[str] = API_VERSION
    errors: ClassVar[ErrorMap] = ErrorMap(
        When(InvalidCredentials, code=AUTH_CODES),
        When(ZoneNotFound, status=404, code="ParentResourceNotFound"),
        When(NotFound, status=404, code=("ResourceNotFound", "NotFound")),
        # Another 404 (ResourceGroupNotFound, SubscriptionNotFound) keeps its code.
        When(ProviderError, status=404),
        When(AlreadyExists, status=412),  # If-None-Match: * on a resource that exists
    )
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(map(RecordType, (
        "A", "AAAA", "CAA", "CNAME", "MX", "NS", "PTR", "SRV", "TXT")))
    #: Both required here (Azure DNS takes no placement from a managed identity).
    subscription_id: str
    resource_group: str

    def __init__(self, key: str | None = None, secret: str | Secret | None = None, *,
                 tenant_id: str | None = None, subscription_id: str | None = None,
                 resource_group: str | None = None, endpoint: str = DEFAULT_ENDPOINT,
                 authority: str = DEFAULT_AUTHORITY, page_size: int = 100,
                 metadata_endpoint: str | None = None, identity_client_id: str | None = None,
                 credential: Any = None, **options: Any) -> None:
        super().__init__(**options)
        explicit = key is not None or secret is not None
        checked: tuple[tuple[str, object], ...] = (("resource_group", resource_group),)
        if explicit:
            checked = (("key (client id)", key), ("secret (client secret)", secret),
                       ("tenant_id", tenant_id), ("subscription_id", subscription_id),
                       *checked)
        for label, value in checked:
            if not value or not isinstance(value, str | Secret):
                raise InvalidInput(f"{label} must be a non-empty string", driver=self)
        self.page_size = check_page_size(page_size, driver=self)
        if not explicit and credential is None and subscription_id is None:
            # a managed identity names no subscription here: zones' paths need one
            subscription_id = os.environ.get("AZURE_SUBSCRIPTION_ID") or None
        self._use_arm(tenant_id=tenant_id, client_id=key, client_secret=secret,
                      subscription_id=subscription_id, resource_group=resource_group,
                      endpoint=endpoint, authority=authority,
                      metadata_endpoint=metadata_endpoint,
                      identity_client_id=identity_client_id, credential=credential)
        if not self.subscription_id:
            raise InvalidInput("subscription_id is required (or AZURE_SUBSCRIPTION_ID)",
                               driver=self)

    def _repr_fields(self) -> dict[str, object]:
        return {"subscription_id": self.subscription_id, "resource_group": self.resource_group}

    # -- requests ----------------------------------------------------------------------

    def _zones_path(self, *segments: str) -> str:
        subscription = names.url_segment(self.subscription_id, what="subscription_id",
                                         driver=self)
        group = names.url_segment(self.resource_group, what="resource_group", driver=self)
        base = (f"/subscriptions/{subscription}/resourceGroups/{group}"
                "/providers/Microsoft.Network/dnsZones")
        tail = "/".join(names.url_segment(s, safe="@", driver=self) for s in segments)
        return f"{base}/{tail}" if tail else base

    def _record_path(self, zone_id: str, rtype: str, name: str) -> str:
        return self._zones_path(zone_id, rtype, name or "@")

    def _pages(self, path: str, what: str, convert: Callable[[dict[str, Any]], T]) -> Iter[T]:
        """Iterator operation: every item of an ARM list, the first page from ``path``
        (with ``$top``), the next ones from the server's ``nextLink``."""
        pages: Iter[T] = self._arm_pages(path, convert, params={"$top": str(self.page_size)},
                                         what=what, missing=ZoneNotFound)
        return pages

    # -- models ------------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any]) -> Zone:
        props = data.get("properties") or {}
        name = str(data["name"])
        return Zone(
            id=name,
            domain=names.absolute_name("", name),
            type=ZoneType.MASTER.value,
            ttl=None,
            driver=self,
            extra={
                "id": data.get("id"),
                "etag": data.get("etag"),
                "location": data.get("location"),
                "tags": dict(data.get("tags") or {}),
                "name_servers": list(props.get("nameServers") or []),
                "number_of_record_sets": props.get("numberOfRecordSets"),
                "max_number_of_record_sets": props.get("maxNumberOfRecordSets"),
                "zone_type": props.get("zoneType"),
            },
        )

    @staticmethod
    def _set_key(data: Mapping[str, Any]) -> tuple[str, str]:
        """A listed record set's ``(relative name, TYPE)``; the apex is ``""``."""
        raw_name = str(data.get("name", "@"))
        return ("" if raw_name == "@" else raw_name), str(data.get("type", "")).rsplit(
            "/", 1)[-1].upper()

    def _to_record(self, zone: Zone, data: Mapping[str, Any]) -> RecordSet:
        name, rtype = self._set_key(data)
        props = data.get("properties") or {}
        values = from_properties(rtype, props)
        ttl = props.get("TTL")
        extra = {
            "id": data.get("id"),
            "etag": data.get("etag"),
            "fqdn": props.get("fqdn"),
            "metadata": dict(props.get("metadata") or {}),
            "provisioning_state": props.get("provisioningState"),
        }
        return RecordSet(f"{name or '@'}:{rtype}", name, rtype, values[0] if values else "", zone,
                      driver=self, ttl=None if ttl is None else int(ttl), extra=extra,
                      values=values)

    @staticmethod
    def _parse_record_id(record_id: str) -> tuple[str, str] | None:
        name, sep, rtype = str(record_id).rpartition(":")
        if not sep or not name or rtype.upper() not in _FIELDS:
            return None
        return ("" if name == "@" else name), rtype.upper()

    # -- zones -------------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every DNS zone of the resource group, page by page (``nextLink``)."""
        yield from self._pages(self._zones_path(), self.resource_group, self._to_zone)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """The zone named ``zone_id`` (the domain without its trailing dot)."""
        data = yield from self._json("GET", self._zones_path(zone_id), what=zone_id,
                                     missing=ZoneNotFound)
        return self._to_zone(data)

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a public zone (``PUT`` with ``If-None-Match: *``).

        ``extra``: ``tags`` (a dict). Azure DNS has no secondary zones and no
        zone-wide TTL.
        """
        names.validate_name(domain, wildcard=False, what="domain", driver=self)
        if domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput("a zone needs a domain name", driver=self)
        if str(type).lower() != ZoneType.MASTER.value:
            raise NotSupported("Azure DNS has no secondary (slave) zones", driver=self)
        if ttl is not None:
            raise NotSupported("Azure DNS zones have no default TTL", driver=self)
        extra = dict(extra or {})
        body: dict[str, Any] = {"location": "global", "properties": {"zoneType": "Public"}}
        if "tags" in extra:
            body["tags"] = dict(extra.pop("tags"))
        if extra:
            raise InvalidInput(f"unknown zone option(s): {', '.join(sorted(extra))}", driver=self)
        zone_name = names.bare_name(domain).lower()
        path = self._zones_path(zone_name)

        def send() -> Op[Zone]:
            # Not blindly resent: a repeat of a create that worked would answer 412.
            data = yield from self._json("PUT", path, json=body, headers={"If-None-Match": "*"},
                                         idempotent=False, what=zone_name,
                                         exists=ZoneAlreadyExists)
            return self._to_zone(data)

        return (yield from create_once(
            send, lambda: or_none(self.get_zone.op(zone_name), ZoneNotFound)))

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone and its record sets, waiting for the long-running operation."""
        yield from self._arm_delete(self._zones_path(zone.id), zone.id, ZoneNotFound)
        return True

    # -- records -----------------------------------------------------------------------

    def _record_sets(self, zone: Zone, convert: Callable[[dict[str, Any]], T]) -> Iter[T]:
        return self._pages(self._zones_path(zone.id, "recordsets"), zone.id, convert)

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Every record set of the zone, page by page (``nextLink``)."""
        yield from self._record_sets(zone, lambda item: self._to_record(zone, item))

    def _get_set(self, zone: Zone, rtype: str, name: str) -> Op[dict[str, Any] | None]:
        """The record set, or ``None`` if there is none (a missing zone raises)."""
        return (yield from or_none(self._json(
            "GET", self._record_path(zone.id, rtype, name), what=f"{name or '@'}:{rtype}",
            missing=RecordNotFound), RecordNotFound))

    def _check_free(self, spec: RecordSpec) -> Op[None]:
        """The CNAME rule before a write. A CNAME needs its name free of every
        other set, so the zone's sets are read; other data needs it free of a
        CNAME (one read). A set of the same type is left to ``If-None-Match: *``."""
        if spec.type is RecordType.CNAME:
            keys = yield from collect(self._record_sets(spec.zone, self._set_key))
            present = [t for n, t in keys if names.same_name(n, spec.name)]
        else:
            cname = yield from self._get_set(spec.zone, "CNAME", spec.name)
            present = [] if cname is None else ["CNAME"]
        spec.check_free(present, driver=self)

    def _body(self, spec: RecordSpec, ttl: int | None) -> dict[str, Any]:
        """A record-set body; a TTL not given is :data:`DEFAULT_RECORD_TTL`."""
        try:
            props = to_properties(spec.type.value, spec.values)
        except NotSupported as exc:
            raise NotSupported(exc.message, driver=self) from None
        return {"properties": {"TTL": DEFAULT_RECORD_TTL if ttl is None else ttl, **props}}

    def _put_new(self, spec: RecordSpec, body: dict[str, Any]) -> Op[RecordSet]:
        """Create a set with ``PUT`` and ``If-None-Match: *`` (412 if it exists)."""
        data = yield from self._json(
            "PUT", self._record_path(spec.zone.id, spec.type.value, spec.name), json=body,
            headers={"If-None-Match": "*"}, idempotent=False, what=spec.id,
            exists=RecordAlreadyExists, missing=RecordNotFound,
        )
        return self._to_record(spec.zone, data)

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """The record set ``"<name>:<TYPE>"`` of zone ``zone_id``."""
        parsed = self._parse_record_id(record_id)
        if parsed is None:
            # Still tell a missing zone from a missing record.
            yield from self.get_zone.op(zone_id)
            raise RecordNotFound(record_id, driver=self)
        name, rtype = parsed
        zone = Zone(zone_id, names.absolute_name("", zone_id), ZoneType.MASTER.value, None,
                    driver=self)
        data = yield from self._json("GET", self._record_path(zone_id, rtype, name),
                                     what=record_id, missing=RecordNotFound)
        return self._to_record(zone, data)

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Create a record set (``PUT`` with ``If-None-Match: *``); TTL defaults to 3600."""
        zone = spec.zone
        body = self._body(spec, spec.ttl)
        yield from self._check_free(spec)
        wanted = sorted(from_properties(spec.type.value, body["properties"]))

        def find() -> Op[RecordSet | None]:
            # Made by an attempt whose answer was lost (and not by someone else)?
            made = yield from self._get_set(zone, spec.type.value, spec.name)
            record = None if made is None else self._to_record(zone, made)
            return record if record is not None and sorted(record.values) == wanted else None

        return (yield from create_once(lambda: self._put_new(spec, body), find))

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a record set (``PUT`` with ``If-Match``). A new name or type
        creates the new set first, then deletes the old one."""
        zone = record.zone
        body = self._body(spec, record.ttl if spec.ttl is None else spec.ttl)
        if not spec.moved:
            try:
                replaced = yield from self._json(
                    "PUT", self._record_path(zone.id, spec.type.value, spec.name), json=body,
                    headers={"If-Match": "*"}, what=record.id, missing=RecordNotFound,
                )
            except AlreadyExists:  # a 412 on If-Match: * means the set is gone
                raise RecordNotFound(record.id, driver=self) from None
            return self._to_record(zone, replaced)
        old_type = str(record.type).upper()
        if (yield from self._get_set(zone, old_type, record.name)) is None:
            raise RecordNotFound(record.id, driver=self)
        yield from self._check_free(spec)
        updated = yield from self._put_new(spec, body)
        yield from self._send("DELETE", self._record_path(zone.id, old_type, record.name),
                              what=record.id, missing=RecordNotFound)
        return updated

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set; 204 (nothing deleted) is RecordNotFound."""
        path = self._record_path(record.zone.id, str(record.type).upper(), record.name)
        yield from self._arm_delete(path, record.id, RecordNotFound)
        return True
