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
  atomically (updates, and emptying a zone before deleting it).

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
import json
import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Final
from urllib.parse import quote

from overcast.auth.google_oauth import (
    AccessToken,
    GoogleCredentials,
)
from overcast.auth.tokens import send_with_bearer
from overcast.dns import names
from overcast.dns.base import DNSDriver, Record, RecordData, RecordType, Zone, ZoneType
from overcast.dns.records import from_presentation, to_presentation
from overcast.errors import (
    InvalidCredentials,
    InvalidInput,
    NotSupported,
    OutcomeUnknown,
    ProviderError,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Emit, Iter, Op, Request, Response
from overcast.runtime.operation import iterator, operation
from overcast.runtime.redact import Secret, redact_text

__all__ = ["GoogleDNSDriver"]

DEFAULT_ENDPOINT: Final = "https://dns.googleapis.com/dns/v1"
#: The scope that allows reading and changing Cloud DNS zones.
SCOPE: Final = "https://www.googleapis.com/auth/ndev.clouddns.readwrite"
#: TTL of a record set created without one (Cloud DNS requires a TTL).
DEFAULT_RECORD_TTL: Final = 300
#: Record sets per change when a zone is emptied before deletion.
CHANGE_BATCH: Final = 100
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


class GoogleDNSDriver(DNSDriver):
    """Google Cloud DNS (v1) with service-account credentials.

    ``key``/``secret`` follow Apache Libcloud: the service account's e-mail and
    its private key (PEM text) or the path of its JSON key file. Otherwise give
    ``credentials_file`` (a JSON key file, read on first use) or
    ``credentials_info`` (its parsed content). ``token_uri`` overrides the key
    file's token endpoint; ``page_size`` is ``maxResults`` for listings.
    """

    name: ClassVar[str] = "google"
    record_types: ClassVar[tuple[RecordType, ...]] = (
        RecordType.A,
        RecordType.AAAA,
        RecordType.CAA,
        RecordType.CNAME,
        RecordType.DS,
        RecordType.HTTPS,
        RecordType.MX,
        RecordType.NAPTR,
        RecordType.NS,
        RecordType.PTR,
        RecordType.SPF,
        RecordType.SRV,
        RecordType.SSHFP,
        RecordType.SVCB,
        RecordType.TLSA,
        RecordType.TXT,
    )

    def __init__(
        self,
        key: str | None = None,
        secret: str | Secret | None = None,
        *,
        project: str,
        credentials_file: str | os.PathLike[str] | None = None,
        credentials_info: Mapping[str, Any] | None = None,
        endpoint: str = DEFAULT_ENDPOINT,
        token_uri: str | None = None,
        page_size: int = 100,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not isinstance(project, str) or not project:
            raise InvalidInput("project must be a non-empty string", driver=self)
        if not isinstance(page_size, int) or isinstance(page_size, bool) or page_size < 1:
            raise InvalidInput(f"page_size must be a positive integer: {page_size!r}", driver=self)
        self.project = project
        self.endpoint = endpoint.rstrip("/")
        self.page_size = page_size
        self._google = GoogleCredentials(
            key=key, secret=secret, credentials_file=credentials_file,
            credentials_info=credentials_info, token_uri=token_uri, scope=SCOPE, driver=self,
            missing="give credentials_file, credentials_info, or key (service-account e-mail) "
            "and secret (its private key or JSON key file)",
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

    def _url(self, *segments: str) -> str:
        path = "/".join(quote(s, safe="") for s in ("projects", self.project, *segments))
        return f"{self.endpoint}/{path}"

    def _send(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        idempotent: bool | None = None,
    ) -> Op[Response]:
        """Operation: an authorised API request; a 401 is retried once with a new token."""
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = Request(method, url, headers=headers, params=dict(params or {}), body=data,
                          idempotent=idempotent)
        return (yield from send_with_bearer(self._token, self._tokens, request))

    def _error(self, resp: Response, kind: str = "", resource: str = "") -> Exception:
        """The overcast error for a failed API response.

        ``kind`` is ``"zone"`` or ``"record"``: what a 404 or 409 is about.
        """
        code: str | None = None
        message = resp.text[:500]
        try:
            data = resp.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            error = data["error"]
            message = str(error.get("message") or message)
            details = error.get("errors")
            if isinstance(details, list) and details and isinstance(details[0], dict):
                code = details[0].get("reason")
            code = code or error.get("status")
        message = redact_text(message, self._secrets())
        if resp.status in (401, 403):
            return InvalidCredentials(f"Cloud DNS refused the credentials: {message}", driver=self)
        if resp.status == 404:
            if kind == "zone" or "managedZone" in message:
                return ZoneNotFound(resource, message, driver=self)
            if kind == "record":
                return RecordNotFound(resource, message, driver=self)
        if resp.status == 409 and code == "alreadyExists":
            if kind == "zone":
                return ZoneAlreadyExists(resource, message, driver=self)
            if kind == "record":
                return RecordAlreadyExists(resource, message, driver=self)
        return ProviderError(message, status=resp.status, code=code, driver=self)

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

    @staticmethod
    def _relative(fqdn: str, domain: str) -> str:
        origin = names.absolute_name("", domain).lower()
        lowered = fqdn.lower() if fqdn.endswith(".") else f"{fqdn.lower()}."
        if lowered == origin:
            return ""
        if lowered.endswith(f".{origin}"):
            return fqdn[: len(fqdn) - len(origin) - 1].rstrip(".")
        return fqdn

    def _to_record(self, zone: Zone, data: Mapping[str, Any]) -> Record:
        rtype = str(data["type"]).upper()
        name = self._relative(str(data["name"]), zone.domain)
        values = [from_presentation(rtype, str(v)) for v in data.get("rrdatas") or []]
        ttl = data.get("ttl")
        return Record(
            id=f"{name or '@'}:{rtype}",
            name=name,
            type=rtype,
            data=values[0] if values else "",
            zone=zone,
            driver=self,
            ttl=int(ttl) if ttl is not None else None,
            extra={"fqdn": data["name"]},
            values=values,
        )

    @staticmethod
    def _rrset(fqdn: str, rtype: str, ttl: int, values: list[str]) -> dict[str, Any]:
        return {
            "kind": "dns#resourceRecordSet",
            "name": fqdn,
            "type": rtype,
            "ttl": ttl,
            "rrdatas": [to_presentation(rtype, v) for v in values],
        }

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
        token: str | None = None
        while True:
            params = {"maxResults": str(self.page_size)}
            if token:
                params["pageToken"] = token
            resp = yield from self._send("GET", self._url("managedZones"), params=params)
            if not resp.ok:
                raise self._error(resp)
            data = resp.json()
            for item in data.get("managedZones") or []:
                yield Emit(self._to_zone(item))
            token = data.get("nextPageToken")
            if not token:
                return

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """The managed zone named ``zone_id``."""
        resp = yield from self._send("GET", self._url("managedZones", zone_id))
        if not resp.ok:
            raise self._error(resp, "zone", zone_id)
        return self._to_zone(resp.json())

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
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
        try:
            resp = yield from self._send("POST", self._url("managedZones"), body=body)
        except OutcomeUnknown:
            # The create may have happened: find it by its name before giving up.
            found = yield from self._send("GET", self._url("managedZones", zone_name))
            if found.ok and str(found.json().get("dnsName", "")).lower() == dns_name:
                return self._to_zone(found.json())
            raise
        if not resp.ok:
            raise self._error(resp, "zone", domain)
        return self._to_zone(resp.json())

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone: its record sets first (one change per batch), then the zone."""
        rrsets: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"maxResults": str(self.page_size)}
            if token:
                params["pageToken"] = token
            resp = yield from self._send(
                "GET", self._url("managedZones", zone.id, "rrsets"), params=params
            )
            if not resp.ok:
                raise self._error(resp, "zone", zone.id)
            data = resp.json()
            origin = names.absolute_name("", zone.domain).lower()
            for item in data.get("rrsets") or []:
                apex = str(item.get("name", "")).lower() == origin
                if not (apex and str(item.get("type")) in _APEX_MANAGED):
                    rrsets.append(item)
            token = data.get("nextPageToken")
            if not token:
                break
        for start in range(0, len(rrsets), CHANGE_BATCH):
            change = {"kind": "dns#change", "deletions": rrsets[start : start + CHANGE_BATCH]}
            resp = yield from self._send(
                "POST", self._url("managedZones", zone.id, "changes"), body=change,
                idempotent=False,
            )
            if not resp.ok:
                raise self._error(resp, "zone", zone.id)
        resp = yield from self._send("DELETE", self._url("managedZones", zone.id))
        if not resp.ok:
            raise self._error(resp, "zone", zone.id)
        return True

    # -- records -----------------------------------------------------------------------

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Every record set of the zone, page by page (``pageToken``)."""
        token: str | None = None
        while True:
            params = {"maxResults": str(self.page_size)}
            if token:
                params["pageToken"] = token
            resp = yield from self._send(
                "GET", self._url("managedZones", zone.id, "rrsets"), params=params
            )
            if not resp.ok:
                raise self._error(resp, "zone", zone.id)
            data = resp.json()
            for item in data.get("rrsets") or []:
                yield Emit(self._to_record(zone, item))
            token = data.get("nextPageToken")
            if not token:
                return

    def _get_rrset(self, zone: Zone, fqdn: str, rtype: str) -> Op[dict[str, Any] | None]:
        resp = yield from self._send(
            "GET", self._url("managedZones", zone.id, "rrsets", fqdn, rtype)
        )
        if resp.status == 404 and "managedZone" not in resp.text:
            return None
        if not resp.ok:
            raise self._error(resp, "zone", zone.id)
        data: dict[str, Any] = resp.json()
        return data

    def _sets_at(self, zone: Zone, fqdn: str) -> Op[list[dict[str, Any]]]:
        """Every record set at ``fqdn`` (all types), via the list's ``name`` filter."""
        found: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            params = {"name": fqdn, "maxResults": str(self.page_size)}
            if token:
                params["pageToken"] = token
            resp = yield from self._send(
                "GET", self._url("managedZones", zone.id, "rrsets"), params=params
            )
            if not resp.ok:
                raise self._error(resp, "zone", zone.id)
            data = resp.json()
            found += list(data.get("rrsets") or [])
            token = data.get("nextPageToken")
            if not token:
                return found

    def _check_conflicts(
        self, sets: list[dict[str, Any]], name: str, rtype: str, skip: tuple[str, str] | None
    ) -> None:
        others = [
            str(s.get("type")) for s in sets
            if skip is None or (str(s.get("name")).lower(), str(s.get("type"))) != skip
        ]
        if rtype in others:
            raise RecordAlreadyExists(f"{name or '@'}:{rtype}", driver=self)
        if rtype == "CNAME" and others:
            raise InvalidInput(
                f"a CNAME may not stand beside other data at {name or '@'!r} ({', '.join(others)})",
                driver=self,
            )
        if "CNAME" in others:
            raise InvalidInput(f"{name or '@'!r} holds a CNAME; no other data may stand beside it",
                               driver=self)

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """The record set ``"<name>:<TYPE>"`` of zone ``zone_id``."""
        zone = yield from self.get_zone.op(zone_id)
        parsed = self._parse_record_id(record_id)
        if parsed is None:
            raise RecordNotFound(record_id, driver=self)
        name, rtype = parsed
        data = yield from self._get_rrset(zone, names.absolute_name(name, zone.domain), rtype)
        if data is None:
            raise RecordNotFound(record_id, driver=self)
        return self._to_record(zone, data)

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
        """Create a record set (``rrsets.create``); the TTL defaults to 300 seconds."""
        name, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        record_ttl = self._record_ttl(ttl, extra)
        ttl_value = DEFAULT_RECORD_TTL if record_ttl is None else record_ttl
        fqdn = names.absolute_name(name, zone.domain)
        existing = yield from self._sets_at(zone, fqdn)
        self._check_conflicts(existing, name, str(rtype), None)
        body = self._rrset(fqdn, str(rtype), ttl_value, values)
        try:
            resp = yield from self._send(
                "POST", self._url("managedZones", zone.id, "rrsets"), body=body
            )
        except OutcomeUnknown:
            made = yield from self._get_rrset(zone, fqdn, str(rtype))
            if made is not None and made.get("rrdatas") == body["rrdatas"]:
                return self._to_record(zone, made)
            raise
        if not resp.ok:
            raise self._error(resp, "record", f"{name or '@'}:{rtype}")
        return self._to_record(zone, resp.json())

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
        """Replace a record set in one atomic change (deletion + addition)."""
        zone = record.zone
        new_name, rtype, values = self._validate_record(
            record.name if name is None else name,
            record.type if type is None else type,
            list(record.values) if data is None else data,
            extra=extra,
            zone=zone,
        )
        new_ttl = self._record_ttl(ttl, extra)
        if new_ttl is None:
            new_ttl = record.ttl if record.ttl is not None else DEFAULT_RECORD_TTL
        old_fqdn = names.absolute_name(record.name, zone.domain)
        current = yield from self._get_rrset(zone, old_fqdn, str(record.type).upper())
        if current is None:
            raise RecordNotFound(record.id, driver=self)
        fqdn = names.absolute_name(new_name, zone.domain)
        if (fqdn.lower(), str(rtype)) != (old_fqdn.lower(), str(record.type).upper()):
            existing = yield from self._sets_at(zone, fqdn)
            self._check_conflicts(
                existing, new_name, str(rtype), (old_fqdn.lower(), str(record.type).upper())
            )
        addition = self._rrset(fqdn, str(rtype), new_ttl, values)
        change = {"kind": "dns#change", "deletions": [current], "additions": [addition]}
        resp = yield from self._send(
            "POST", self._url("managedZones", zone.id, "changes"), body=change
        )
        if not resp.ok:
            raise self._error(resp, "record", f"{new_name or '@'}:{rtype}")
        return self._to_record(zone, addition)

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete a record set (``rrsets.delete``)."""
        zone = record.zone
        fqdn = names.absolute_name(record.name, zone.domain)
        resp = yield from self._send(
            "DELETE",
            self._url("managedZones", zone.id, "rrsets", fqdn, str(record.type).upper()),
        )
        if not resp.ok:
            raise self._error(resp, "record", record.id)
        return True
