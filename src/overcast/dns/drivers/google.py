"""Google Cloud DNS (API v1), authenticated with a service account.

``GoogleDNSDriver(project=..., credentials_file="key.json")`` (or
``credentials_info={...}`` with the parsed key file, or Apache Libcloud's
``GoogleDNSDriver(client_email, private_key_pem_or_key_file, project=...)``).

Endpoints used (``{base}`` is ``https://dns.googleapis.com/dns/v1``):

* zones: ``GET/POST {base}/projects/{project}/managedZones`` (``maxResults``,
  ``pageToken`` -> ``nextPageToken``), ``GET/DELETE .../managedZones/{zone}``;
* record sets: ``GET .../managedZones/{zone}/rrsets`` (paged, ``name`` filter),
  ``POST .../rrsets`` (create), ``GET/DELETE .../rrsets/{name}/{type}``;
* ``POST .../managedZones/{zone}/changes``: additions and deletions applied
  atomically (updates, zone-file imports, and emptying a zone before deleting
  it). An import is one change per :data:`CHANGE_BATCH` sets (and
  :data:`CHANGE_RRDATA_BYTES` of data); if a later change fails, those before
  it are undone.

A zone's id is its managed-zone *name* (``example-com`` for ``example.com.``
when the driver makes one; ``extra={"name": ...}`` picks another). Record ids
are ``"<relative name or @>:<TYPE>"``. ``rrdatas`` hold zone-file presentation
text (TXT quoted and split into 255-byte strings).

Authentication: an RS256-signed JWT is exchanged for an access token
(:mod:`overcast.auth.google_oauth`); the token is cached until shortly before it
expires and shared by every thread and task using the driver. A 401 drops it
and retries the request once with a fresh one.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypeVar

from overcast.auth.google_oauth import AccessToken
from overcast.auth.google_oauth import GoogleCredentials
from overcast.auth.google_oauth import gce_metadata
from overcast.auth.tokens import send_with_bearer
from overcast.dns import names
from overcast.dns.base import DNSDriver
from overcast.dns.base import RecordSet
from overcast.dns.base import RecordSpec
from overcast.dns.base import RecordStyle
from overcast.dns.base import RecordType
from overcast.dns.base import Zone
from overcast.dns.base import ZoneType
from overcast.dns.base import batches
from overcast.dns.records import from_presentation
from overcast.dns.records import to_presentation
from overcast.errors import AlreadyExists
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import NotSupported
from overcast.errors import RecordAlreadyExists
from overcast.errors import RecordNotFound
from overcast.errors import ZoneAlreadyExists
from overcast.errors import ZoneNotFound
from overcast.providers import google
from overcast.runtime.api import ErrorMap
from overcast.runtime.api import Fault
from overcast.runtime.api import HttpApi
from overcast.runtime.api import When
from overcast.runtime.effects import Iter
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.operation import iterator
from overcast.runtime.operation import operation
from overcast.runtime.ops import collect
from overcast.runtime.ops import create_once
from overcast.runtime.ops import or_none
from overcast.runtime.options import check_endpoint
from overcast.runtime.options import check_page_size
from overcast.runtime.paging import Cursor
from overcast.runtime.paging import Page
from overcast.runtime.paging import paginate
from overcast.runtime.redact import Secret

__all__ = ["GoogleDNSDriver"]

T = TypeVar("T")

DEFAULT_ENDPOINT: Final = "https://dns.googleapis.com/dns/v1"
#: The scope that allows reading and changing Cloud DNS zones.
SCOPE: Final = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
#: TTL of a record set created without one (Cloud DNS requires a TTL).
DEFAULT_RECORD_TTL: Final = 300
#: Record sets per change when a zone is emptied before deletion or filled by an import.
CHANGE_BATCH: Final = 100
#: Bytes of record data per change an import sends (Cloud DNS's default quota
#: ``totalRrdataSizePerChange`` is larger).
CHANGE_RRDATA_BYTES: Final = 100_000
_ZONE_NAME: Final = re.compile(r"[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?\Z")
_APEX_MANAGED: Final = frozenset({"NS", "SOA"})


def zone_name_for(domain: str) -> str:
    """A managed-zone name for ``domain``: lower case, dashes for dots, at most 63
    characters, starting with a letter (``example.com.`` -> ``example-com``)."""
    base = re.sub(r"[^a-z0-9]+", "-", domain.rstrip(".").lower()).strip("-") or "zone"
    if not base[0].isalpha():
        base = f"z-{base}"
    if len(base) > 63:
        digest = hashlib.sha256(base.encode()).hexdigest()[:8]
        base = f"{base[:54].rstrip('-')}-{digest}"
    return base


class GoogleDNSDriver(HttpApi, DNSDriver):
    """Google Cloud DNS (v1) with service-account credentials.

    ``key``/``secret`` follow Apache Libcloud: the service account's e-mail and
    its private key (PEM text) or the path of its JSON key file. Otherwise give
    ``credentials_file`` (a JSON key file, read on first use) or
    ``credentials_info`` (its parsed content). ``token_uri`` overrides the key
    file's token endpoint; ``page_size`` is ``maxResults`` for listings.
    """

    name: ClassVar[str] = "google"
    label: ClassVar[str] = "Cloud DNS"
    default_headers: ClassVar[Mapping[str, str]] = {"Accept": "application/json"}
    errors: ClassVar[ErrorMap] = ErrorMap(
        # A missing zone names the managedZone parameter, whatever the call was about.
        When(ZoneNotFound, status=404, says="managedZone"),
        When(AlreadyExists, status=409, code="alreadyExists"),
    )
    #: Apache Libcloud's Cloud DNS ids and names: ``"TYPE:www.example.com."``,
    #: absolute names; data is one value of the set's ``rrdatas`` (TXT quoted).
    record_style: ClassVar[RecordStyle] = RecordStyle(ids="type:name", names="absolute",
                                                      quoted_text=True)
    record_types: ClassVar[tuple[RecordType, ...]] = tuple(map(RecordType, (
        "A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SPF", "SRV",
        "SSHFP", "SVCB", "TLSA", "TXT")))

    def __init__(self, key: str | None = None, secret: str | Secret | None = None,
                 project: str | None = None, *,
                 credentials_file: str | os.PathLike[str] | None = None,
                 credentials_info: Mapping[str, Any] | None = None,
                 endpoint: str = DEFAULT_ENDPOINT, token_uri: str | None = None,
                 page_size: int = 100, **options: Any) -> None:
        super().__init__(**options)
        if not isinstance(project, str) or not project:
            raise InvalidInput("project must be a non-empty string", driver=self)
        self.project = project
        self.endpoint = check_endpoint(endpoint, driver=self)
        self.page_size = check_page_size(page_size, driver=self)
        self._google = GoogleCredentials(
            key=key, secret=secret, credentials_file=credentials_file,
            credentials_info=credentials_info, token_uri=token_uri, scope=SCOPE, driver=self,
            missing="give credentials_file, credentials_info, or key (service-account e-mail) "
            "and secret (its private key or JSON key file)",
            metadata=gce_metadata(self),
        )
        self._tokens = self._google.tokens

    def _repr_fields(self) -> dict[str, object]:
        return {"project": self.project}

    def _secrets(self) -> tuple[Secret, ...]:
        return self._google.secrets()

    # -- auth and requests -------------------------------------------------------------

    def _token(self) -> Op[AccessToken]:
        """Operation: the cached access token, or a new one (one token request)."""
        return (yield from self._google.token())

    def _transmit(self, request: Request) -> Op[Response]:
        """Send with the access token; a 401 drops it and sends once more with a new one."""
        return (yield from send_with_bearer(self._token, self._tokens, request))

    def _fault(self, resp: Response) -> Fault:
        """Google's error code is the first ``errors[].reason`` (``notFound``,
        ``alreadyExists``, ``invalid``), else its ``status``."""
        return google.fault(resp, self.request_id_headers)

    def _path(self, *segments: str) -> str:
        return "/" + "/".join(names.url_segment(s, driver=self)
                              for s in ("projects", self.project, *segments))

    def _pages(self, path: str, key: str, convert: Callable[[dict[str, Any]], T],
               params: Sequence[tuple[str, str]] = (), *, what: str = "",
               missing: type[NotFound] | None = None) -> Iter[T]:
        """Iterator operation: every item (under ``key``) of a paginated list,
        following ``nextPageToken``."""

        def fetch(token: Cursor | None) -> Op[Page[T]]:
            query = [*params, ("maxResults", str(self.page_size))]
            if token is not None:
                query.append(("pageToken", str(token)))
            data = (yield from self._json("GET", path, params=query, what=what,
                                          missing=missing)) or {}
            following = data.get("nextPageToken")
            return Page.token([convert(i) for i in data.get(key) or []],
                              str(following) if following else None)

        return paginate(fetch, what=f"GET {path}", driver=self)

    # -- models ------------------------------------------------------------------------

    def _to_zone(self, data: Mapping[str, Any]) -> Zone:
        extra = {
            "id": data.get("id"),
            "description": data.get("description"),
            "name_servers": list(data.get("nameServers") or []),
            "creation_time": data.get("creationTime"),
            "visibility": data.get("visibility"),
            "labels": dict(data.get("labels") or {}),
        }
        return Zone(
            id=str(data["name"]),
            domain=str(data["dnsName"]),
            type=ZoneType.MASTER.value,
            ttl=None,
            driver=self,
            extra=extra,
        )

    def _to_record(self, zone: Zone, data: Mapping[str, Any]) -> RecordSet:
        rtype = str(data["type"]).upper()
        name = names.relative_name(str(data["name"]), zone.domain)
        values = [from_presentation(rtype, str(v)) for v in data.get("rrdatas") or []]
        ttl = data.get("ttl")
        return RecordSet(f"{name or '@'}:{rtype}", name, rtype, values[0] if values else "", zone,
                      driver=self, ttl=None if ttl is None else int(ttl),
                      extra={"fqdn": data["name"]}, values=values)

    @staticmethod
    def _parse_record_id(record_id: str) -> tuple[str, str] | None:
        name, sep, rtype = str(record_id).rpartition(":")
        if not sep or not name or not rtype.isalnum():
            return None
        return ("" if name == "@" else name), rtype.upper()

    # -- zones -------------------------------------------------------------------------

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every managed zone of the project, page by page (``pageToken``)."""
        yield from self._pages(self._path("managedZones"), "managedZones", self._to_zone)

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """The managed zone named ``zone_id``."""
        data = yield from self._json("GET", self._path("managedZones", zone_id), what=zone_id,
                                     missing=ZoneNotFound)
        return self._to_zone(data)

    @operation
    def create_zone(self, domain: str, type: ZoneType | str = ZoneType.MASTER,
                    ttl: int | None = None, extra: Mapping[str, Any] | None = None) -> Op[Zone]:
        """Create a public managed zone for ``domain``.

        ``extra``: ``name`` (the managed-zone name; default derived from the
        domain), ``description``, ``labels``. Cloud DNS has no secondary zones
        and no zone-wide TTL.
        """
        names.validate_name(domain, wildcard=False, what="domain", driver=self)
        if domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput("a zone needs a domain name", driver=self)
        if str(type).lower() != ZoneType.MASTER.value:
            raise NotSupported("Cloud DNS has no secondary (slave) zones", driver=self)
        if ttl is not None:
            raise NotSupported("Cloud DNS zones have no default TTL", driver=self)
        extra = dict(extra or {})
        dns_name = names.absolute_name("", domain).lower()
        zone_name = str(extra.pop("name", None) or zone_name_for(dns_name))
        if not _ZONE_NAME.match(zone_name):
            raise InvalidInput(f"invalid managed-zone name {zone_name!r}", driver=self)
        body: dict[str, Any] = {
            "kind": "dns#managedZone",
            "name": zone_name,
            "dnsName": dns_name,
            "description": str(extra.pop("description", "") or f"{dns_name} (overcast)"),
        }
        if "labels" in extra:
            body["labels"] = dict(extra.pop("labels"))
        if extra:
            raise InvalidInput(f"unknown zone option(s): {', '.join(sorted(extra))}", driver=self)

        def send() -> Op[Zone]:
            data = yield from self._json("POST", self._path("managedZones"), json=body,
                                         what=domain, exists=ZoneAlreadyExists,
                                         missing=ZoneNotFound)
            return self._to_zone(data)

        def find() -> Op[Zone | None]:
            # The create may have happened: find the zone by its name.
            found = yield from or_none(self.get_zone.op(zone_name), ZoneNotFound)
            return found if found and names.same_name(found.domain, dns_name) else None

        return (yield from create_once(send, find))

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone: its record sets first (one change per batch), then the zone."""
        rrsets = yield from collect(self._record_sets(zone, dict))
        apex = names.absolute_name("", zone.domain)
        doomed = [item for item in rrsets if not (
            names.same_name(str(item.get("name", "")), apex)
            and str(item.get("type")) in _APEX_MANAGED)]
        for start in range(0, len(doomed), CHANGE_BATCH):
            change = {"kind": "dns#change", "deletions": doomed[start : start + CHANGE_BATCH]}
            yield from self._json("POST", self._path("managedZones", zone.id, "changes"),
                                  json=change, idempotent=False, what=zone.id,
                                  missing=ZoneNotFound)
        yield from self._send("DELETE", self._path("managedZones", zone.id), what=zone.id,
                              missing=ZoneNotFound)
        return True

    # -- records -----------------------------------------------------------------------

    def _record_sets(self, zone: Zone, convert: Callable[[dict[str, Any]], T],
                     params: Sequence[tuple[str, str]] = ()) -> Iter[T]:
        return self._pages(self._path("managedZones", zone.id, "rrsets"), "rrsets", convert,
                           params, what=zone.id, missing=ZoneNotFound)

    @iterator
    def iterate_record_sets(self, zone: Zone) -> Iter[RecordSet]:
        """Every record set of the zone, page by page (``pageToken``)."""
        yield from self._record_sets(zone, lambda item: self._to_record(zone, item))

    def _rrset_path(self, zone: Zone, fqdn: str, rtype: str) -> str:
        return self._path("managedZones", zone.id, "rrsets", fqdn, rtype)

    def _get_rrset(self, zone: Zone, fqdn: str, rtype: str) -> Op[dict[str, Any] | None]:
        """The set ``fqdn`` of type ``rtype``; ``None`` if there is none (a missing
        zone raises ZoneNotFound)."""
        return (yield from or_none(self._json("GET", self._rrset_path(zone, fqdn, rtype),
                                              what=fqdn, missing=RecordNotFound),
                                   RecordNotFound))

    def _check_free(self, spec: RecordSpec) -> Op[None]:
        """RecordAlreadyExists, or InvalidInput for the CNAME rule, before a write:
        the sets at the name are read with the list's ``name`` filter."""
        fqdn = names.absolute_name(spec.name, spec.zone.domain)
        sets = yield from collect(self._record_sets(spec.zone, dict, [("name", fqdn)]))
        spec.check_free([str(s.get("type")) for s in sets], driver=self)

    def _addition(self, spec: RecordSpec, ttl: int | None) -> dict[str, Any]:
        """The rrset ``spec`` asks for; a TTL not given is :data:`DEFAULT_RECORD_TTL`."""
        return {
            "kind": "dns#resourceRecordSet",
            "name": names.absolute_name(spec.name, spec.zone.domain),
            "type": spec.type.value,
            "ttl": DEFAULT_RECORD_TTL if ttl is None else ttl,
            "rrdatas": [to_presentation(spec.type.value, v) for v in spec.values],
        }

    @operation
    def get_record_set(self, zone_id: str, record_id: str) -> Op[RecordSet]:
        """The record set ``"<name>:<TYPE>"`` of zone ``zone_id``."""
        zone = yield from self.get_zone.op(zone_id)
        parsed = self._parse_record_id(record_id)
        if parsed is None:
            raise RecordNotFound(record_id, driver=self)
        name, rtype = parsed
        data = yield from self._json(
            "GET", self._rrset_path(zone, names.absolute_name(name, zone.domain), rtype),
            what=record_id, missing=RecordNotFound)
        return self._to_record(zone, data)

    def _store_new_set(self, spec: RecordSpec) -> Op[RecordSet]:
        """Create a record set (``rrsets.create``); the TTL defaults to 300 seconds."""
        zone = spec.zone
        yield from self._check_free(spec)
        body = self._addition(spec, spec.ttl)

        def send() -> Op[RecordSet]:
            made = yield from self._json(
                "POST", self._path("managedZones", zone.id, "rrsets"), json=body, what=spec.id,
                exists=RecordAlreadyExists, missing=RecordNotFound,
            )
            return self._to_record(zone, made)

        def find() -> Op[RecordSet | None]:
            # Made by an attempt whose answer was lost (and not by someone else)?
            made = yield from self._get_rrset(zone, body["name"], spec.type.value)
            if made is None or made.get("rrdatas") != body["rrdatas"]:
                return None
            return self._to_record(zone, made)

        return (yield from create_once(send, find))

    def _store_changed_set(self, record: RecordSet, spec: RecordSpec) -> Op[RecordSet]:
        """Replace a record set in one atomic change (deletion + addition)."""
        zone = record.zone
        current = yield from self._get_rrset(zone, record.fqdn, str(record.type).upper())
        if current is None:
            raise RecordNotFound(record.id, driver=self)
        if spec.moved:
            yield from self._check_free(spec)
        addition = self._addition(spec, record.ttl if spec.ttl is None else spec.ttl)
        change = {"kind": "dns#change", "deletions": [current], "additions": [addition]}
        yield from self._json("POST", self._path("managedZones", zone.id, "changes"),
                              json=change, what=spec.id, exists=RecordAlreadyExists,
                              missing=RecordNotFound)
        return self._to_record(zone, addition)

    def _store_sets(self, zone: Zone, specs: Sequence[RecordSpec]) -> Op[None]:
        """Write an import in changes (additions, and deletions of the sets it
        replaces, as they are now), each applied atomically; a later change
        failing undoes those before it."""
        current: dict[tuple[str, str], dict[str, Any]] = {}
        if any(spec.replaces is not None for spec in specs):
            for item in (yield from collect(self._record_sets(zone, dict))):
                current[(str(item.get("name", "")).lower(), str(item.get("type")))] = item
        additions = {spec.id: self._addition(spec, spec.ttl) for spec in specs}
        deletions: dict[str, dict[str, Any]] = {}
        for spec in specs:
            if spec.replaces is not None:
                found = current.get((additions[spec.id]["name"].lower(), spec.type.value))
                if found is None:
                    raise RecordNotFound(spec.replaces.id, driver=self)
                deletions[spec.id] = found

        def size(spec: RecordSpec) -> tuple[int, int]:
            return 1, sum(len(data) for data in additions[spec.id]["rrdatas"])

        def change(adding: list[dict[str, Any]], deleting: list[dict[str, Any]]) -> Op[None]:
            body = {"kind": "dns#change", "additions": adding, "deletions": deleting}
            yield from self._json("POST", self._path("managedZones", zone.id, "changes"),
                                  json=body, what=zone.id, exists=RecordAlreadyExists,
                                  missing=RecordNotFound)

        def write(step: Sequence[RecordSpec]) -> Op[None]:
            yield from change([additions[spec.id] for spec in step],
                              [deletions[spec.id] for spec in step if spec.id in deletions])

        def undo(step: Sequence[RecordSpec]) -> Op[None]:
            yield from change([deletions[spec.id] for spec in step if spec.id in deletions],
                              [additions[spec.id] for spec in step])

        steps = batches(specs, size, (CHANGE_BATCH, CHANGE_RRDATA_BYTES))
        yield from self._write_steps(zone, steps, write, undo)

    @operation
    def delete_record_set(self, record: RecordSet) -> Op[bool]:
        """Delete a record set (``rrsets.delete``)."""
        yield from self._send("DELETE", self._rrset_path(record.zone, record.fqdn,
                                                        str(record.type).upper()),
                              what=record.id, missing=RecordNotFound)
        return True
