"""Amazon Route 53: hosted zones and resource record sets (REST/XML API 2013-04-01).

The driver speaks the REST API directly (``/2013-04-01/hostedzone``,
``/hostedzone/{Id}/rrset``), signed with AWS Signature V4
(:mod:`overcast.auth.aws_sigv4`, region ``us-east-1``, service ``route53``).
Responses are parsed with :mod:`defusedxml`, matching tags by their local name
so the XML namespace string does not matter.

How the API maps onto overcast's model:

* ``Zone.id`` is the bare hosted-zone id (``"Z1D633PJN98FT9"``, without
  ``/hostedzone/``); ``Zone.domain`` is the zone name with its trailing dot.
  Route 53 zones have no default TTL (``Zone.ttl`` is ``None``) and are always
  primary (``"master"``) zones.
* A :class:`~overcast.dns.base.Record` is one resource record set. Its id is
  ``"<name>:<TYPE>"`` with the name relative to the zone (``"@"`` for the apex),
  plus ``":<SetIdentifier>"`` for the weighted, latency, failover, geolocation
  and multivalue sets that carry one. Values travel in zone-file form
  (TXT quoted and split into 255-byte strings) and come back in overcast's.
  Alias sets (no values, an ``AliasTarget``) are listed with the alias's DNS
  name as their one value and the target in ``extra["alias_target"]``.
* ``create_record`` reads the record sets at that name first: a set of the same
  type raises :class:`~overcast.errors.RecordAlreadyExists`, and a CNAME beside
  other data (or other data beside a CNAME) raises
  :class:`~overcast.errors.InvalidInput`, before any change is sent. A set
  with no TTL given gets :data:`DEFAULT_RECORD_TTL`, since Route 53 requires
  one and has no zone default.
* ``update_record`` sends an ``UPSERT`` when the name and type stay, else one
  change batch that deletes the old set and creates the new one (atomic).
* ``delete_zone`` first deletes every record set except the SOA and the apex NS
  sets, in change batches within Route 53's limits, then the hosted zone
  (Route 53 refuses to delete a zone that still holds other record sets).
* ``create_zone`` sends a unique ``CallerReference`` (Route 53's idempotency
  token). The runtime never resends a ``CreateHostedZone`` whose outcome is
  unknown (:class:`~overcast.errors.OutcomeUnknown`); the driver then looks
  the zone up by name and reference (``ListHostedZonesByName``) and sends
  again only if no zone was made, so a create never makes two zones. Route 53
  allows several zones of one name; overcast does not create a second one and
  raises :class:`~overcast.errors.ZoneAlreadyExists` instead.
* Route 53 answers throttling with HTTP 400 and code ``Throttling`` (and
  ``PriorRequestNotComplete`` while an earlier change is still applied); the
  driver's ``_is_throttled`` hook tells the runtime, which retries them as it
  does a 429, with its backoff and at
  most ``RetryPolicy.max_attempts`` attempts, then raises
  :class:`~overcast.errors.RateLimited`. A throttled request was not
  processed, so it is safe to resend even a create.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final
from urllib.parse import quote
from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from overcast.auth.aws_sigv4 import AwsCredentials, sign_request
from overcast.dns import names
from overcast.dns.base import DNSDriver, Record, RecordData, RecordType, Zone, ZoneType
from overcast.dns.records import from_presentation, to_presentation
from overcast.errors import (
    InvalidCredentials,
    InvalidInput,
    NotSupported,
    OutcomeUnknown,
    OvercastError,
    ProviderError,
    RateLimited,
    RecordAlreadyExists,
    RecordNotFound,
    ZoneAlreadyExists,
    ZoneNotFound,
)
from overcast.runtime.effects import Emit, Iter, Op, Request, Response
from overcast.runtime.operation import iterator, operation
from overcast.runtime.ops import create_once
from overcast.runtime.redact import Secret, redact_text
from overcast.xml import child as _child
from overcast.xml import children as _children
from overcast.xml import local as _local
from overcast.xml import parse as _parse
from overcast.xml import text as _xml_text

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_RECORD_TTL", "Route53DNSDriver"]

#: The global Route 53 endpoint.
DEFAULT_ENDPOINT: Final = "https://route53.amazonaws.com"
#: The TTL given to a record set created without one (Route 53 requires a TTL).
DEFAULT_RECORD_TTL: Final = 300
API_VERSION: Final = "2013-04-01"
XMLNS: Final = f"https://route53.amazonaws.com/doc/{API_VERSION}/"
#: Largest ``MaxItems`` Route 53 accepts for ListHostedZones / ListResourceRecordSets.
MAX_ZONE_PAGE: Final = 100
MAX_RECORD_PAGE: Final = 300
#: Limits of one ChangeResourceRecordSets request (Route 53 quotas).
MAX_BATCH_VALUES: Final = 1000
MAX_BATCH_CHARS: Final = 32000
#: Error codes meaning "the request was not processed, try again later".
THROTTLING_CODES: Final = frozenset(
    {"Throttling", "ThrottlingException", "PriorRequestNotComplete"}
)
CREDENTIAL_CODES: Final = frozenset(
    {
        "AccessDenied",
        "AccessDeniedException",
        "InvalidClientTokenId",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "ExpiredToken",
        "UnrecognizedClientException",
        "InvalidSignatureException",
    }
)
#: How often a create whose outcome is unknown is looked up and sent again.
CREATE_ATTEMPTS: Final = 3

_ZONE_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_OCTAL_ESCAPE = re.compile(r"\\([0-7]{3})")


# -- XML helpers ------------------------------------------------------------------


def _text(element: Element | None, *steps: str) -> str | None:
    return _xml_text(element, *steps, strip=True)


def _serialize(element: Element) -> str:
    """An element and its subtree as XML text without namespace prefixes."""
    name = _local(element.tag)
    inner = escape((element.text or "").strip()) if len(element) == 0 else ""
    inner += "".join(_serialize(child) for child in element)
    return f"<{name}>{inner}</{name}>"


def _tag(name: str, value: str) -> str:
    return f"<{name}>{escape(value)}</{name}>"


# -- names --------------------------------------------------------------------------


def _unescape_name(name: str) -> str:
    """Route 53 writes ``*`` and other special characters as ``\\ddd`` (octal)."""
    return _OCTAL_ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), name)


def _fqdn(domain: str) -> str:
    return domain if domain.endswith(".") else f"{domain}."


def _relative(fqdn: str, domain: str) -> str:
    """``www.example.com.`` in ``example.com.`` is ``www``; the apex is ``""``."""
    name = _fqdn(_unescape_name(fqdn))
    zone = _fqdn(domain)
    if name.lower() == zone.lower():
        return ""
    suffix = "." + zone
    if name.lower().endswith(suffix.lower()):
        return name[: -len(suffix)]
    return name  # outside the zone: keep it absolute


def _record_id(name: str, rtype: str, identifier: str | None = None) -> str:
    base = f"{name or '@'}:{rtype}"
    return f"{base}:{identifier}" if identifier is not None else base


def _split_record_id(record_id: str) -> tuple[str, str, str | None] | None:
    """``(relative name, TYPE, set identifier)`` from a record id, or None if malformed."""
    parts = str(record_id).split(":", 2)
    if len(parts) < 2:
        return None
    name, rtype = parts[0], parts[1].upper()
    identifier = parts[2] if len(parts) == 3 else None
    if not name or not rtype.isalnum():
        return None
    return ("" if name == "@" else name), rtype, identifier


# -- the driver -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _RecordSet:
    """One resource record set as Route 53 returned it, and its XML."""

    name: str  # absolute, unescaped
    type: str
    identifier: str | None
    element: Element

    def matches(self, fqdn: str, rtype: str | None = None) -> bool:
        same_name = _fqdn(self.name).lower() == _fqdn(fqdn).lower()
        return same_name and (rtype is None or self.type == rtype)


class Route53DNSDriver(DNSDriver):
    """Amazon Route 53 (REST/XML API 2013-04-01, AWS Signature V4).

    ``key``, ``secret`` and ``token`` are the access key id, secret access key
    and optional session token; without them, credentials come from the
    environment or the shared credentials file (``profile``). ``endpoint``
    points the driver elsewhere (moto, a proxy). ``page_size`` (at most 100)
    and ``record_page_size`` (at most 300) set how many zones and record sets
    each list request asks for. ``**options`` are the runtime options
    (``timeout``, ``retry``, ``hooks``, ...). No request is made here.

    >>> driver = Route53DNSDriver("AKIDEXAMPLE", "secret")  # doctest: +SKIP
    >>> zone = driver.create_zone("example.com.")  # doctest: +SKIP
    """

    name: ClassVar[str] = "route53"
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
        token: str | Secret | None = None,
        *,
        profile: str | None = None,
        endpoint: str | None = None,
        page_size: int = MAX_ZONE_PAGE,
        record_page_size: int = MAX_RECORD_PAGE,
        **options: Any,
    ) -> None:
        self._credentials = AwsCredentials.resolve(key, secret, token, profile=profile)
        base = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise InvalidInput(f"endpoint must be an http(s) URL: {base!r}", driver=self)
        self.endpoint = base
        self.page_size = _page_size("page_size", page_size, MAX_ZONE_PAGE, self)
        self.record_page_size = _page_size(
            "record_page_size", record_page_size, MAX_RECORD_PAGE, self
        )
        super().__init__(**options)

    # -- runtime hooks ---------------------------------------------------------------

    def _sign(self, request: Request, now: float) -> Request:
        """Sign one attempt with AWS Signature V4 (``us-east-1``, ``route53``)."""
        return sign_request(request, self._credentials, "us-east-1", "route53", now)

    def _secrets(self) -> tuple[Secret, ...]:
        creds = self._credentials
        found = [creds.secret_key]
        if creds.session_token is not None:
            found.append(creds.session_token)
        return tuple(found)

    def _repr_fields(self) -> dict[str, object]:
        return {"endpoint": self.endpoint}

    # -- requests ----------------------------------------------------------------------

    def _url(self, path: str) -> str:
        return f"{self.endpoint}/{API_VERSION}/{path}"

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Sequence[tuple[str, str]] = (),
        body: str | None = None,
        idempotent: bool | None = None,
    ) -> Op[Response]:
        """Send one API request; return the response, whatever its status."""
        headers = {"Content-Type": "text/xml"} if body is not None else {}
        data = body.encode("utf-8") if body is not None else None
        resp: Response = yield Request(
            method, self._url(path), headers, list(params), data, idempotent=idempotent
        )
        return resp

    def _is_throttled(self, response: Response) -> bool:
        """Route 53 says "slow down" with a 400 and a throttling code; the
        runtime then retries the request (with backoff) as it does a 429."""
        if response.status != 400:
            return False
        code, _message, _rid = self._error_fields(response)
        return code in THROTTLING_CODES

    def _error_fields(self, resp: Response) -> tuple[str | None, str, str | None]:
        """``(code, message, request id)`` of an error response, redacted."""
        root = _parse(resp.body)
        code: str | None = None
        message = ""
        if root is not None:
            error = _child(root, "Error")
            if error is not None:
                code = _text(error, "Code")
                message = _text(error, "Message") or ""
            else:
                # InvalidChangeBatch: <InvalidChangeBatch><Messages><Message>...
                code = _local(root.tag)
                messages = _children(_child(root, "Messages"), "Message")
                texts = [(m.text or "").strip() for m in messages]
                message = "; ".join(t for t in texts if t) or _text(root, "Message") or ""
        elif resp.body:
            message = resp.text[:300]
        request_id = resp.headers.get("x-amzn-RequestId") or (
            _text(root, "RequestId") if root is not None else None
        )
        return code, redact_text(message, self._secrets()), request_id

    def _error(
        self,
        resp: Response,
        *,
        zone_id: str | None = None,
        record: str | None = None,
    ) -> OvercastError:
        """The overcast error for a failed response."""
        code, message, request_id = self._error_fields(resp)
        text = message or f"HTTP {resp.status}"
        lowered = text.lower()
        if code == "NoSuchHostedZone":
            return ZoneNotFound(zone_id or "", f"zone not found: {zone_id!r} ({text})", driver=self)
        if code in ("HostedZoneAlreadyExists", "ConflictingDomainExists"):
            return ZoneAlreadyExists(zone_id or "", text, driver=self)
        if code == "InvalidChangeBatch":
            if "already exists" in lowered:
                return RecordAlreadyExists(record or "", text, driver=self)
            if "not found" in lowered or "but it was not found" in lowered:
                return RecordNotFound(record or "", text, driver=self)
        if code in THROTTLING_CODES or resp.status == 429:
            return RateLimited(f"Route 53 throttled the request: {text}", driver=self)
        if code in CREDENTIAL_CODES or resp.status in (401, 403):
            return InvalidCredentials(f"Route 53 rejected the credentials: {text}", driver=self)
        if code in ("InvalidInput", "InvalidDomainName", "InvalidArgument"):
            return InvalidInput(f"Route 53: {text}", driver=self)
        if code == "HostedZoneNotEmpty":
            return ProviderError(
                f"zone {zone_id!r} still holds record sets other than SOA and NS "
                f"(added while it was being deleted?): {text}",
                status=resp.status, code=code, request_id=request_id, driver=self,
            )
        return ProviderError(
            f"Route 53 {resp.method} {resp.url} failed: {text}",
            status=resp.status, code=code, request_id=request_id, driver=self,
        )

    def _xml(self, resp: Response) -> Element:
        root = _parse(resp.body)
        if root is None:
            raise ProviderError(
                f"Route 53 sent a response that is not XML: {resp.text[:200]!r}",
                status=resp.status, driver=self,
            )
        return root

    # -- zones -------------------------------------------------------------------------

    def _zone_path(self, zone_id: str) -> str:
        return f"hostedzone/{quote(zone_id, safe='')}"

    def _to_zone(self, element: Element, delegation: Element | None = None) -> Zone:
        raw_id = _text(element, "Id") or ""
        zone_id = raw_id.rsplit("/", 1)[-1]
        domain = _fqdn(_unescape_name(_text(element, "Name") or ""))
        extra: dict[str, Any] = {
            "caller_reference": _text(element, "CallerReference"),
            "comment": _text(element, "Config", "Comment"),
            "private_zone": (_text(element, "Config", "PrivateZone") or "").lower() == "true",
        }
        count = _text(element, "ResourceRecordSetCount")
        if count and count.isdigit():
            extra["record_set_count"] = int(count)
        if delegation is not None:
            extra["name_servers"] = [
                (ns.text or "").strip()
                for ns in _children(_child(delegation, "NameServers"), "NameServer")
            ]
        return Zone(zone_id, domain, ZoneType.MASTER.value, None, driver=self, extra=extra)

    def _check_zone_id(self, zone_id: str) -> str:
        """The bare id; ZoneNotFound at once for text that cannot be a zone id."""
        if not isinstance(zone_id, str):
            raise InvalidInput(f"zone id must be a string: {zone_id!r}", driver=self)
        bare = zone_id.removeprefix("/hostedzone/")
        if not _ZONE_ID.match(bare):
            raise ZoneNotFound(zone_id, driver=self)
        return bare

    @iterator
    def iterate_zones(self) -> Iter[Zone]:
        """Every hosted zone, page by page (``Marker`` / ``NextMarker``)."""
        marker: str | None = None
        while True:
            params = [("maxitems", str(self.page_size))]
            if marker is not None:
                params.append(("marker", marker))
            resp = yield from self._send("GET", "hostedzone", params=params)
            if not resp.ok:
                raise self._error(resp)
            root = self._xml(resp)
            for element in _children(_child(root, "HostedZones"), "HostedZone"):
                yield Emit(self._to_zone(element))
            marker = _text(root, "NextMarker")
            if (_text(root, "IsTruncated") or "").lower() != "true" or not marker:
                return

    @operation
    def get_zone(self, zone_id: str) -> Op[Zone]:
        """The hosted zone ``zone_id`` (bare or ``/hostedzone/`` form), with its
        name servers in ``extra["name_servers"]``."""
        bare = self._check_zone_id(zone_id)
        resp = yield from self._send("GET", self._zone_path(bare))
        if not resp.ok:
            raise self._error(resp, zone_id=zone_id)
        root = self._xml(resp)
        element = _child(root, "HostedZone")
        if element is None:
            raise ProviderError("GetHostedZone answer has no HostedZone", driver=self)
        return self._to_zone(element, _child(root, "DelegationSet"))

    def _zones_named(self, domain: str) -> Op[list[Zone]]:
        """Every hosted zone whose name is ``domain`` (ListHostedZonesByName)."""
        wanted = _fqdn(domain).lower()
        found: list[Zone] = []
        params = [("dnsname", wanted), ("maxitems", str(self.page_size))]
        seen: set[str] = set()
        while True:
            resp = yield from self._send("GET", "hostedzonesbyname", params=params)
            if not resp.ok:
                raise self._error(resp)
            root = self._xml(resp)
            past = False
            for element in _children(_child(root, "HostedZones"), "HostedZone"):
                zone = self._to_zone(element)
                if zone.domain.lower() == wanted:
                    if zone.id not in seen:
                        seen.add(zone.id)
                        found.append(zone)
                else:
                    past = True  # listed in name order: later names do not match
            next_name = _text(root, "NextDNSName")
            next_id = _text(root, "NextHostedZoneId")
            truncated = (_text(root, "IsTruncated") or "").lower() == "true"
            if past or not truncated or not next_name or not next_id:
                return found
            if _fqdn(_unescape_name(next_name)).lower() != wanted:
                return found
            params = [
                ("dnsname", next_name),
                ("hostedzoneid", next_id),
                ("maxitems", str(self.page_size)),
            ]

    @operation
    def create_zone(
        self,
        domain: str,
        type: ZoneType | str = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Create a public hosted zone for ``domain``.

        ``extra`` may hold ``comment`` and ``delegation_set_id`` (a reusable
        delegation set). Route 53 zones are primary zones: ``type="slave"``
        raises :class:`NotSupported`. They have no default TTL either: ``ttl`` is
        checked and accepted, as Apache Libcloud's Route 53 driver does (and as
        zone-file imports pass ``$TTL``), but Route 53 cannot keep it, so the
        zone returned has ``ttl=None``; record sets get their own TTL.
        :class:`ZoneAlreadyExists` if the account has a zone of that name.
        """
        fqdn = self._check_domain(domain)
        if str(type).lower() != ZoneType.MASTER.value:
            raise NotSupported("Route 53 hosts only primary (master) zones", driver=self)
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 0):
            raise InvalidInput(f"ttl must be a non-negative integer: {ttl!r}", driver=self)
        options = dict(extra or {})
        unknown = set(options) - {"comment", "delegation_set_id"}
        if unknown:
            raise InvalidInput(
                f"unknown extra for a Route 53 zone: {', '.join(sorted(unknown))}", driver=self
            )
        comment = options.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise InvalidInput("extra['comment'] must be a string", driver=self)
        delegation = options.get("delegation_set_id")
        if delegation is not None and not isinstance(delegation, str):
            raise InvalidInput("extra['delegation_set_id'] must be a string", driver=self)
        reference = f"overcast-{uuid.uuid4().hex}"
        body = [
            f'<?xml version="1.0" encoding="UTF-8"?><CreateHostedZoneRequest xmlns="{XMLNS}">',
            _tag("Name", fqdn),
            _tag("CallerReference", reference),
        ]
        if comment is not None:
            body.append(f"<HostedZoneConfig>{_tag('Comment', comment)}</HostedZoneConfig>")
        if delegation is not None:
            body.append(_tag("DelegationSetId", delegation))
        body.append("</CreateHostedZoneRequest>")
        payload = "".join(body)

        if (yield from self._zones_named(fqdn)):
            raise ZoneAlreadyExists(fqdn, driver=self)
        for attempt in range(1, CREATE_ATTEMPTS + 1):
            try:
                resp = yield from self._send("POST", "hostedzone", body=payload, idempotent=False)
            except OutcomeUnknown:
                # The zone may or may not exist: find it by its CallerReference.
                made = yield from self._zone_by_reference(fqdn, reference)
                if made is not None:
                    return made
                if attempt == CREATE_ATTEMPTS:
                    raise
                continue
            if resp.ok:
                root = self._xml(resp)
                element = _child(root, "HostedZone")
                if element is None:
                    raise ProviderError("CreateHostedZone answer has no HostedZone", driver=self)
                zone = self._to_zone(element, _child(root, "DelegationSet"))
                zone.extra["change_id"] = _text(root, "ChangeInfo", "Id")
                return zone
            error = self._error(resp, zone_id=fqdn)
            if attempt > 1 and isinstance(error, ZoneAlreadyExists):
                # Our reference was used by the earlier attempt after all.
                made = yield from self._zone_by_reference(fqdn, reference)
                if made is not None:
                    return made
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _zone_by_reference(self, fqdn: str, reference: str) -> Op[Zone | None]:
        zones = yield from self._zones_named(fqdn)
        for zone in zones:
            if zone.extra.get("caller_reference") == reference:
                return zone
        return None

    def _check_domain(self, domain: str) -> str:
        if not isinstance(domain, str) or domain in names.APEX_NAMES or domain == ".":
            raise InvalidInput(f"zone domain must be a DNS name: {domain!r}", driver=self)
        names.validate_name(domain, wildcard=False, what="zone domain", driver=self)
        # Route 53 keeps zone names in lower case (moto compares them as given).
        return _fqdn(domain).lower()

    @operation
    def update_zone(
        self,
        zone: Zone,
        domain: str | None,
        type: ZoneType | str | None = ZoneType.MASTER,
        ttl: int | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> Op[Zone]:
        """Change a zone's comment (``extra={"comment": ...}``), the one thing
        Route 53 lets change (UpdateHostedZoneComment).

        A different ``domain``, ``type="slave"`` or a ``ttl`` raise
        :class:`NotSupported`.
        """
        if domain is not None and _fqdn(domain).lower() != _fqdn(zone.domain).lower():
            raise NotSupported("Route 53 cannot rename a hosted zone", driver=self)
        if type is not None and str(type).lower() != ZoneType.MASTER.value:
            raise NotSupported("Route 53 hosts only primary (master) zones", driver=self)
        if ttl is not None:
            raise NotSupported("Route 53 zones have no default TTL", driver=self)
        options = dict(extra or {})
        unknown = set(options) - {"comment"}
        if unknown:
            raise InvalidInput(
                f"Route 53 can change only a zone's comment, not: {', '.join(sorted(unknown))}",
                driver=self,
            )
        bare = self._check_zone_id(zone.id)
        if "comment" not in options:
            return (yield from self.get_zone.op(bare))
        comment = options["comment"]
        if comment is not None and not isinstance(comment, str):
            raise InvalidInput("extra['comment'] must be a string", driver=self)
        payload = (
            f'<?xml version="1.0" encoding="UTF-8"?>'
            f'<UpdateHostedZoneCommentRequest xmlns="{XMLNS}">'
            f"{_tag('Comment', comment or '')}</UpdateHostedZoneCommentRequest>"
        )
        resp = yield from self._send("POST", self._zone_path(bare), body=payload, idempotent=True)
        if not resp.ok:
            raise self._error(resp, zone_id=zone.id)
        element = _child(self._xml(resp), "HostedZone")
        if element is None:
            return (yield from self.get_zone.op(bare))
        return self._to_zone(element)

    @operation
    def delete_zone(self, zone: Zone) -> Op[bool]:
        """Delete a zone: first every record set but the SOA and the apex NS
        (in change batches), then the hosted zone itself."""
        bare = self._check_zone_id(zone.id)
        sets: list[_RecordSet] = []
        start: list[tuple[str, str]] = []
        while True:
            page, start = yield from self._record_page(bare, start, self.record_page_size)
            sets.extend(page)
            if not start:
                break
        doomed = [
            s
            for s in sets
            if not (s.type in ("SOA", "NS") and s.matches(zone.domain))
        ]
        for batch in _batches(doomed):
            changes = [("DELETE", s.element) for s in batch]
            resp = yield from self._send(
                "POST",
                f"{self._zone_path(bare)}/rrset",
                body=_change_batch(changes, "overcast delete_zone"),
                idempotent=False,
            )
            if not resp.ok:
                error = self._error(resp, zone_id=zone.id)
                if not isinstance(error, RecordNotFound):  # deleted meanwhile: fine
                    raise error
        resp = yield from self._send("DELETE", self._zone_path(bare))
        if not resp.ok:
            raise self._error(resp, zone_id=zone.id)
        return True

    # -- records -----------------------------------------------------------------------

    def _record_page(
        self,
        zone_id: str,
        start: Sequence[tuple[str, str]],
        size: int,
    ) -> Op[tuple[list[_RecordSet], list[tuple[str, str]]]]:
        """One ListResourceRecordSets page from ``start`` (name/type/identifier
        params); returns the sets and the params of the next page ([] at the end)."""
        params = [*start, ("maxitems", str(size))]
        resp = yield from self._send(
            "GET", f"{self._zone_path(zone_id)}/rrset", params=params
        )
        if not resp.ok:
            raise self._error(resp, zone_id=zone_id)
        root = self._xml(resp)
        page = [
            _RecordSet(
                _unescape_name(_text(element, "Name") or ""),
                (_text(element, "Type") or "").upper(),
                _text(element, "SetIdentifier"),
                element,
            )
            for element in _children(_child(root, "ResourceRecordSets"), "ResourceRecordSet")
        ]
        if (_text(root, "IsTruncated") or "").lower() != "true":
            return page, []
        following: list[tuple[str, str]] = []
        next_name = _text(root, "NextRecordName")
        if not next_name:
            return page, []
        following.append(("name", next_name))
        next_type = _text(root, "NextRecordType")
        if next_type:
            following.append(("type", next_type))
        next_identifier = _text(root, "NextRecordIdentifier")
        if next_identifier:
            following.append(("identifier", next_identifier))
        return page, following

    def _to_record(self, zone: Zone, rs: _RecordSet) -> Record:
        element = rs.element
        values: list[str] = []
        for item in _children(_child(element, "ResourceRecords"), "ResourceRecord"):
            text = _text(item, "Value") or ""
            try:
                values.append(from_presentation(rs.type, text))
            except (InvalidInput, ValueError):
                values.append(text)
        extra: dict[str, Any] = {}
        alias = _child(element, "AliasTarget")
        if alias is not None:
            dns_name = _text(alias, "DNSName") or ""
            extra["alias_target"] = {
                "hosted_zone_id": _text(alias, "HostedZoneId"),
                "dns_name": dns_name,
                "evaluate_target_health": (
                    (_text(alias, "EvaluateTargetHealth") or "").lower() == "true"
                ),
            }
            if not values:
                values = [dns_name]
        for key, tag in (
            ("set_identifier", "SetIdentifier"),
            ("weight", "Weight"),
            ("region", "Region"),
            ("failover", "Failover"),
            ("multi_value_answer", "MultiValueAnswer"),
            ("health_check_id", "HealthCheckId"),
        ):
            value = _text(element, tag)
            if value is not None:
                extra[key] = value
        ttl_text = _text(element, "TTL")
        ttl = int(ttl_text) if ttl_text and ttl_text.isdigit() else None
        name = _relative(rs.name, zone.domain)
        if not values:
            values = [""]
        return Record(
            _record_id(name, rs.type, rs.identifier),
            name,
            rs.type,
            values[0],
            zone,
            driver=self,
            ttl=ttl,
            extra=extra,
            values=values,
        )

    @iterator
    def iterate_records(self, zone: Zone) -> Iter[Record]:
        """Every record set of a zone, page by page (``StartRecordName`` /
        ``StartRecordType`` / ``NextRecordName`` / ``NextRecordType``)."""
        bare = self._check_zone_id(zone.id)
        start: list[tuple[str, str]] = []
        while True:
            page, start = yield from self._record_page(bare, start, self.record_page_size)
            for rs in page:
                yield Emit(self._to_record(zone, rs))
            if not start:
                return

    def _sets_at(self, zone: Zone, fqdn: str, rtype: str | None = None) -> Op[list[_RecordSet]]:
        """Every record set named ``fqdn`` (of type ``rtype`` if given)."""
        bare = self._check_zone_id(zone.id)
        start = [("name", fqdn)]
        if rtype is not None:
            start.append(("type", rtype))
        size = 1 if rtype is not None else 20
        found: list[_RecordSet] = []
        while True:
            page, following = yield from self._record_page(bare, start, size)
            for rs in page:
                if not rs.matches(fqdn, rtype):
                    return found
                found.append(rs)
            if not following:
                return found
            start = following
            size = 20

    def _find_set(self, zone: Zone, record_id: str) -> Op[_RecordSet]:
        parsed = _split_record_id(record_id)
        if parsed is None:
            raise RecordNotFound(record_id, driver=self)
        name, rtype, identifier = parsed
        try:
            names.validate_name(name, what="record name", driver=self)
        except InvalidInput:
            raise RecordNotFound(record_id, driver=self) from None
        fqdn = names.absolute_name(name, zone.domain)
        for rs in (yield from self._sets_at(zone, fqdn, rtype)):
            if rs.identifier == identifier:
                return rs
        raise RecordNotFound(record_id, driver=self)

    @operation
    def get_record(self, zone_id: str, record_id: str) -> Op[Record]:
        """A record set by zone id and record id (``"www:A"``, ``"@:MX"``)."""
        zone = yield from self.get_zone.op(zone_id)
        rs = yield from self._find_set(zone, record_id)
        return self._to_record(zone, rs)

    def _check_neighbours(
        self, fqdn: str, rtype: RecordType, existing: Iterable[_RecordSet], name: str,
        replacing: _RecordSet | None = None,
    ) -> None:
        others = [
            rs
            for rs in existing
            if replacing is None
            or not (rs.matches(replacing.name, replacing.type)
                    and rs.identifier == replacing.identifier)
        ]
        if any(rs.type == rtype.value and rs.identifier is None for rs in others):
            raise RecordAlreadyExists(_record_id(name, rtype.value), driver=self)
        if rtype is RecordType.CNAME and others:
            raise InvalidInput(
                f"a CNAME may not stand beside other data: {fqdn} has "
                f"{', '.join(sorted({rs.type for rs in others}))} records",
                driver=self,
            )
        if rtype is not RecordType.CNAME and any(rs.type == "CNAME" for rs in others):
            raise InvalidInput(
                f"{fqdn} is a CNAME: no other data may stand beside it", driver=self
            )

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
        """Create a record set (a ``CREATE`` change); see the module notes for the
        checks made first. A TTL not given is :data:`DEFAULT_RECORD_TTL`."""
        rel, rtype, values = self._validate_record(name, type, data, extra=extra, zone=zone)
        ttl_value = self._record_ttl(ttl, extra)
        if ttl_value is None:
            ttl_value = DEFAULT_RECORD_TTL
        bare = self._check_zone_id(zone.id)
        fqdn = names.absolute_name(rel, zone.domain)
        existing = yield from self._sets_at(zone, fqdn)
        self._check_neighbours(fqdn, rtype, existing, rel)
        element = _set_xml(fqdn, rtype.value, ttl_value, values)
        body = _change_batch([("CREATE", element)])
        record_id = _record_id(rel, rtype.value)
        def send() -> Op[Record]:
            resp = yield from self._send(
                "POST", f"{self._zone_path(bare)}/rrset", body=body, idempotent=False
            )
            if not resp.ok:
                raise self._error(resp, zone_id=zone.id, record=record_id)
            record = Record(
                record_id, rel, rtype.value, values[0], zone, driver=self, ttl=ttl_value,
                values=list(values),
            )
            record.extra["change_id"] = _text(_parse(resp.body), "ChangeInfo", "Id")
            return record

        def find() -> Op[Record | None]:
            # Made by an attempt whose answer was lost?
            found = yield from self._sets_at(zone, fqdn, rtype.value)
            return self._to_record(zone, found[0]) if found else None

        return (yield from create_once(send, find, attempts=CREATE_ATTEMPTS))

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
        """Replace a record set: an ``UPSERT`` when the name and type stay, else
        one atomic batch deleting the old set and creating the new one."""
        new_name = record.name if name is None else name
        new_type = record.type if type is None else type
        new_data: RecordData = list(record.values) if data is None else data
        rel, rtype, values = self._validate_record(
            new_name, new_type, new_data, extra=extra, zone=record.zone
        )
        ttl_value = self._record_ttl(ttl, extra)
        if ttl_value is None:
            ttl_value = record.ttl if record.ttl is not None else DEFAULT_RECORD_TTL
        zone = record.zone
        bare = self._check_zone_id(zone.id)
        current = yield from self._find_set(zone, record.id)
        if current.identifier is not None:
            raise NotSupported(
                "updating a routing-policy record set (with a SetIdentifier) is not supported",
                driver=self,
            )
        fqdn = names.absolute_name(rel, zone.domain)
        element = _set_xml(fqdn, rtype.value, ttl_value, values)
        changes: list[tuple[str, str | Element]]
        if current.matches(fqdn, rtype.value):
            changes = [("UPSERT", element)]
            idempotent = True
        else:
            existing = yield from self._sets_at(zone, fqdn)
            self._check_neighbours(fqdn, rtype, existing, rel, replacing=current)
            changes = [("DELETE", current.element), ("CREATE", element)]
            idempotent = False
        record_id = _record_id(rel, rtype.value)
        resp = yield from self._send(
            "POST", f"{self._zone_path(bare)}/rrset", body=_change_batch(changes),
            idempotent=idempotent,
        )
        if not resp.ok:
            raise self._error(resp, zone_id=zone.id, record=record_id)
        return Record(
            record_id, rel, rtype.value, values[0], zone, driver=self, ttl=ttl_value,
            extra={"change_id": _text(_parse(resp.body), "ChangeInfo", "Id")},
            values=list(values),
        )

    @operation
    def delete_record(self, record: Record) -> Op[bool]:
        """Delete a record set (a ``DELETE`` change with the set exactly as it is
        now, read first); :class:`RecordNotFound` if it is gone."""
        zone = record.zone
        bare = self._check_zone_id(zone.id)
        current = yield from self._find_set(zone, record.id)
        body = _change_batch([("DELETE", current.element)])
        try:
            resp = yield from self._send(
                "POST", f"{self._zone_path(bare)}/rrset", body=body, idempotent=False
            )
        except OutcomeUnknown:
            try:
                yield from self._find_set(zone, record.id)
            except RecordNotFound:
                return True
            raise
        if not resp.ok:
            raise self._error(resp, zone_id=zone.id, record=record.id)
        return True


# -- request bodies -------------------------------------------------------------------


def _page_size(what: str, value: int, limit: int, driver: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise InvalidInput(f"{what} must be an integer from 1 to {limit}: {value!r}", driver=driver)
    return value


def _set_xml(fqdn: str, rtype: str, ttl: int, values: Sequence[str]) -> str:
    records = "".join(
        f"<ResourceRecord>{_tag('Value', to_presentation(rtype, v))}</ResourceRecord>"
        for v in values
    )
    return (
        f"<ResourceRecordSet>{_tag('Name', fqdn)}{_tag('Type', rtype)}{_tag('TTL', str(ttl))}"
        f"<ResourceRecords>{records}</ResourceRecords></ResourceRecordSet>"
    )


def _change_batch(changes: Sequence[tuple[str, str | Element]], comment: str | None = None) -> str:
    parts = [
        f'<?xml version="1.0" encoding="UTF-8"?><ChangeResourceRecordSetsRequest xmlns="{XMLNS}">',
        "<ChangeBatch>",
    ]
    if comment:
        parts.append(_tag("Comment", comment))
    parts.append("<Changes>")
    for action, rrset in changes:
        text = rrset if isinstance(rrset, str) else _serialize(rrset)
        parts.append(f"<Change>{_tag('Action', action)}{text}</Change>")
    parts.append("</Changes></ChangeBatch></ChangeResourceRecordSetsRequest>")
    return "".join(parts)


def _batches(sets: Sequence[_RecordSet]) -> list[list[_RecordSet]]:
    """Split DELETE changes to keep each request within Route 53's limits
    (1,000 values, 32,000 characters of values)."""
    batches: list[list[_RecordSet]] = []
    current: list[_RecordSet] = []
    count = chars = 0
    for rs in sets:
        values = [
            _text(item, "Value") or ""
            for item in _children(_child(rs.element, "ResourceRecords"), "ResourceRecord")
        ]
        size, length = max(1, len(values)), sum(len(v) for v in values)
        if current and (count + size > MAX_BATCH_VALUES or chars + length > MAX_BATCH_CHARS):
            batches.append(current)
            current, count, chars = [], 0, 0
        current.append(rs)
        count += size
        chars += length
    if current:
        batches.append(current)
    return batches
