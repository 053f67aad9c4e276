"""Wire plumbing every HTTP driver shares: build a request, send it, turn a
failed answer into the error tree, decode the body.

A driver that speaks HTTP to one API mixes in :class:`HttpApi` and states two
things about its provider:

* an :class:`ErrorMap`: a table of which answers (status, error code, words in
  the message) mean :class:`~overcast.errors.NotFound`,
  :class:`~overcast.errors.AlreadyExists`,
  :class:`~overcast.errors.InvalidCredentials`,
  :class:`~overcast.errors.RateLimited`, ... Anything the table does not name
  is a :class:`~overcast.errors.ProviderError` with the status, code, message
  and request id;
* where the provider puts its error code and message, if
  :meth:`HttpApi._fault` does not find them on its own (it reads the common
  JSON and XML shapes).

Driver code then reads::

    data = yield from self._json("GET", f"/domains/{name}", what=name, missing=ZoneNotFound)

and never checks a status by hand. ``missing`` and ``exists`` say which
:class:`~overcast.errors.NotFound` or :class:`~overcast.errors.AlreadyExists`
subclass a generic "not found" or "conflict" means for this call, and ``what``
names the resource in the message.

Bodies are decoded inline when small and in a worker thread (a
:class:`~overcast.runtime.effects.Call`) when larger than
:data:`INLINE_PARSE_LIMIT`, so a large listing never blocks an event loop.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from typing import Any
from typing import ClassVar
from typing import Final
from typing import TypedDict
from typing import Unpack
from urllib.parse import quote

from overcast import xml
from overcast.driver import BaseDriver
from overcast.errors import AlreadyExists
from overcast.errors import InvalidCredentials
from overcast.errors import InvalidInput
from overcast.errors import NotFound
from overcast.errors import OvercastError
from overcast.errors import ProviderError
from overcast.errors import RateLimited
from overcast.runtime.effects import Body
from overcast.runtime.effects import Call
from overcast.runtime.effects import Op
from overcast.runtime.effects import Request
from overcast.runtime.effects import Response
from overcast.runtime.policy import parse_retry_after
from overcast.runtime.redact import redact_text

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

    from overcast.runtime.effects import Headers

__all__ = [
    "INLINE_PARSE_LIMIT",
    "ErrorMap",
    "Fault",
    "HttpApi",
    "Outcome",
    "When",
    "decode_json",
    "decode_xml",
    "json_fault",
    "xml_fault",
]

#: Bodies up to this size are parsed inline; larger ones in a worker thread.
INLINE_PARSE_LIMIT: Final = 64 * 1024

#: How much of a provider's error text goes into an exception message.
_MESSAGE_LIMIT: Final = 500


# -- what a failed answer says -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """What a provider's error answer says.

    ``code`` is the provider's error code (``"NoSuchBucket"``,
    ``"InvalidChangeBatch"``), ``codes`` every code the answer holds (some
    providers nest several), ``message`` its text, ``request_id`` its request id.
    """

    status: int
    code: str | None = None
    message: str = ""
    request_id: str | None = None
    codes: frozenset[str] = frozenset()

    def has_code(self, codes: Collection[str]) -> bool:
        """Whether the answer carries any of ``codes``."""
        return (self.code is not None and self.code in codes) or bool(self.codes & set(codes))


def _as_set(value: Any) -> frozenset[Any] | None:
    if value is None:
        return None
    if isinstance(value, str | int):
        return frozenset({value})
    return frozenset(value)


class When:
    """One row of an :class:`ErrorMap`: an answer that matches becomes ``error``.

    Every condition given must hold: ``status`` (one or several HTTP statuses),
    ``code`` (one or several provider error codes) and ``says`` (words, any of
    which appears in the message, case-insensitively)::

        When(ZoneNotFound, code="NoSuchHostedZone")
        When(InvalidCredentials, status=(401, 403))
        When(AlreadyExists, status=422, says="already exists")

    ``error`` may be the generic :class:`~overcast.errors.NotFound` or
    :class:`~overcast.errors.AlreadyExists`: the call's ``missing`` or
    ``exists`` then says which resource it is about.
    """

    __slots__ = ("code", "error", "says", "status")

    def __init__(self, error: type[OvercastError], *, status: int | Iterable[int] | None = None,
                 code: str | Iterable[str] | None = None,
                 says: str | Iterable[str] | None = None) -> None:
        self.error = error
        self.status = _as_set(status)
        self.code = _as_set(code)
        words = _as_set(says)
        self.says = None if words is None else tuple(w.lower() for w in words)

    def matches(self, fault: Fault) -> bool:
        """Whether ``fault`` meets every condition of this row."""
        if self.status is not None and fault.status not in self.status:
            return False
        if self.code is not None and not fault.has_code(self.code):
            return False
        if self.says is not None:
            text = fault.message.lower()
            return any(word in text for word in self.says)
        return True

    def __repr__(self) -> str:
        conditions = {"status": self.status, "code": self.code, "says": self.says}
        shown = ", ".join(f"{k}={sorted(v)!r}" for k, v in conditions.items() if v is not None)
        return f"When({self.error.__name__}, {shown})"


@dataclass(frozen=True, slots=True)
class Outcome:
    """The call-specific half of error mapping: what a generic "not found" or
    "already exists" is about, and the name to put in the message."""

    what: str = ""
    missing: type[NotFound] | None = None
    exists: type[AlreadyExists] | None = None


class ErrorMap:
    """A provider's error table: rows tried in order, the first match wins.

    The rows after the driver's own are the defaults every HTTP API shares
    (``401``/``403``: credentials, ``404``: not found, ``429``: rate limited);
    ``defaults=False`` leaves them out.
    """

    __slots__ = ("_throttle_rows", "rows")

    DEFAULT_ROWS: ClassVar[tuple[When, ...]] = (
        When(InvalidCredentials, status=(401, 403)),
        When(NotFound, status=404),
        When(RateLimited, status=429),
    )

    def __init__(self, *rows: When, defaults: bool = True) -> None:
        self.rows: tuple[When, ...] = rows + (self.DEFAULT_ROWS if defaults else ())
        # Rows that say "slow down" in other words than a 429 (which the runtime
        # knows already): only these make an error answer worth reading for it.
        self._throttle_rows = any(
            issubclass(row.error, RateLimited) and row.status != frozenset({429})
            for row in self.rows
        )

    def classify(self, fault: Fault) -> type[OvercastError]:
        """The error class for ``fault`` (``ProviderError`` if no row matches)."""
        for row in self.rows:
            if row.matches(fault):
                return row.error
        return ProviderError

    @property
    def reads_throttling(self) -> bool:
        """Whether some row maps an answer other than a 429 to RateLimited."""
        return self._throttle_rows

    def throttles(self, fault: Fault) -> bool:
        """Whether ``fault`` means "slow down" (a row maps it to RateLimited)."""
        return issubclass(self.classify(fault), RateLimited)

    def error(self, fault: Fault, outcome: Outcome, *, label: str, method: str, url: str,
              headers: Headers | Mapping[str, str], driver: Any) -> OvercastError:
        """The exception for ``fault`` (its message already redacted)."""
        cls = self.classify(fault)
        if cls is NotFound and outcome.missing is not None:
            cls = outcome.missing
        elif cls is AlreadyExists and outcome.exists is not None:
            cls = outcome.exists
        text = fault.message or f"HTTP {fault.status}"
        said = f" ({text})" if fault.message else ""
        if issubclass(cls, NotFound):
            return cls(outcome.what, f"{cls.kind} not found: {outcome.what!r}{said}", driver=driver)
        if issubclass(cls, AlreadyExists):
            return cls(
                outcome.what, f"{cls.kind} already exists: {outcome.what!r}{said}", driver=driver
            )
        if issubclass(cls, InvalidCredentials):
            return cls(f"{label} refused the credentials: {text}", driver=driver)
        if issubclass(cls, RateLimited):
            return cls(
                f"{label} throttled the request: {text}",
                retry_after=parse_retry_after(headers.get("Retry-After")),
                driver=driver,
            )
        if issubclass(cls, ProviderError):
            return cls(
                f"{label} {method} {url} failed: {text}",
                status=fault.status, code=fault.code, request_id=fault.request_id, driver=driver,
            )
        return cls(f"{label} refused the request ({fault.code or fault.status}): {text}",
                   driver=driver)


# -- reading error bodies -------------------------------------------------------------


def _first_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def json_fault(resp: Response, request_id_headers: Sequence[str] = ()) -> Fault:
    """A :class:`Fault` from the JSON error shapes providers use.

    Reads ``{"error": {"code", "message", "status", "errors": [...]}}`` (Azure,
    Google), ``{"error": "text"}``, ``{"errors": [{"code", "message"|"reason"}]}``
    (Cloudflare, Linode), ``{"code"|"id", "message"}`` (DigitalOcean) and
    OpenStack's ``{"itemNotFound": {"code", "message"}}``. Text that is not JSON
    becomes the message.
    """
    import json  # with the first JSON answer, not at import (most XML drivers never need it)

    request_id = next((resp.headers[h] for h in request_id_headers if h in resp.headers), None)
    try:
        data = json.loads(resp.body) if resp.body else None
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return Fault(resp.status, None, resp.text.strip(), request_id)
    codes: list[str] = []
    messages: list[str] = []

    def take(entry: Mapping[str, Any]) -> None:
        for key in ("code", "status", "reason", "id", "type"):
            value = entry.get(key)
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                codes.append(str(value))
                break
        for key in ("message", "reason", "detail", "description", "error_description"):
            text = _first_text(entry.get(key))
            if text:
                messages.append(text)
                break
        for nested in ("errors", "error_chain", "details"):
            items = entry.get(nested)
            if isinstance(items, list):
                for item in items:
                    if isinstance(item, dict):
                        take(item)
                    elif isinstance(item, str):
                        messages.append(item)

    error = data.get("error")
    if isinstance(error, dict):
        take(error)
    elif isinstance(error, str):
        messages.append(error)
        take({k: v for k, v in data.items() if k != "error"})
    else:
        take(data)
        if not codes and not messages and len(data) == 1:  # {"itemNotFound": {...}}
            (inner,) = data.values()
            if isinstance(inner, dict):
                take(inner)
    request_id = request_id or _first_text(data.get("request_id") or data.get("requestId"))
    message = "; ".join(dict.fromkeys(m.strip() for m in messages if m.strip()))
    return Fault(resp.status, codes[0] if codes else None, message or resp.text.strip(),
                 request_id, frozenset(codes))


def xml_fault(resp: Response, request_id_headers: Sequence[str] = ()) -> Fault:
    """A :class:`Fault` from an XML error document: the first ``Error`` element
    (the root, or below it as in EC2's ``Response/Errors/Error``) with its
    ``Code`` and ``Message``, and a ``RequestId``/``RequestID`` anywhere."""
    request_id = next((resp.headers[h] for h in request_id_headers if h in resp.headers), None)
    root = xml.parse(resp.body)
    if root is None:
        return Fault(resp.status, None, resp.text.strip(), request_id)
    error = root if xml.local(root.tag) == "Error" else None
    request_ids: list[str] = []
    for element in root.iter():
        name = xml.local(element.tag)
        if error is None and name == "Error":
            error = element
        elif name in ("RequestId", "RequestID") and element.text:
            request_ids.append(element.text.strip())
    code = xml.text(error, "Code", strip=True) if error is not None else None
    message = xml.text(error, "Message", strip=True) if error is not None else None
    if error is None:  # a document named after its error (<InvalidChangeBatch>)
        code = xml.local(root.tag)
        message = "; ".join(
            (m.text or "").strip() for m in root.iter() if xml.local(m.tag) == "Message"
        )
    return Fault(
        resp.status, code or None, message or "", request_id or next(iter(request_ids), None),
        frozenset({code}) if code else frozenset(),
    )


# -- decoding bodies ------------------------------------------------------------------


def decode_json(resp: Response, *, driver: Any = None) -> Op[Any]:
    """Operation: the body of a successful answer as JSON (``None`` if empty);
    :class:`~overcast.errors.ProviderError` if it is not JSON."""
    import json  # see json_fault

    body = resp.body
    if not body.strip():
        return None
    try:
        if len(body) <= INLINE_PARSE_LIMIT:
            return json.loads(body)
        data: Any = yield Call(json.loads, body)
        return data
    except ValueError:
        raise ProviderError(
            f"{resp.method} {resp.url}: the answer is not JSON: {resp.text[:200]!r}",
            status=resp.status, driver=driver,
        ) from None


def decode_xml(resp: Response, *, root: str | Collection[str] | None = None,
               driver: Any = None) -> Op[Element]:
    """Operation: the root element of a successful XML answer.

    :class:`~overcast.errors.ProviderError` if the body is not XML, or if
    ``root`` names the expected root element and the document has another: a
    listing whose answer is some other document must fail, not read as empty.
    """
    body = resp.body
    if len(body) <= INLINE_PARSE_LIMIT:
        element = xml.parse(body)
    else:
        element = yield Call(xml.parse, body)
    if element is None:
        raise ProviderError(
            f"{resp.method} {resp.url}: the answer is not XML: {resp.text[:200]!r}",
            status=resp.status, driver=driver,
        )
    expected = _as_set(root)
    if expected is not None and xml.local(element.tag) not in expected:
        raise ProviderError(
            f"{resp.method} {resp.url}: expected a {' or '.join(sorted(expected))} document, "
            f"got {xml.local(element.tag)!r}",
            status=resp.status, driver=driver,
        )
    return element


# -- the mixin ------------------------------------------------------------------------


class RequestOptions(TypedDict, total=False):
    """How to build a request (the keywords of :meth:`HttpApi._request`)."""

    params: Mapping[str, str] | Sequence[tuple[str, str]]
    json: Any
    body: Body
    headers: Mapping[str, str]
    idempotent: bool | None
    stream: bool
    timeout: float | None
    sign: bool


class SendOptions(RequestOptions, total=False):
    """How to build, send and check a request (the keywords of
    :meth:`HttpApi._send`, :meth:`HttpApi._json` and :meth:`HttpApi._xml`)."""

    what: str
    missing: type[NotFound] | None
    exists: type[AlreadyExists] | None
    ok: Collection[int]


_NO_JSON: Final[Any] = object()


class HttpApi(BaseDriver):
    """Mixin for drivers that speak HTTP to one API (put it before the area's base
    class: ``class PowerDNSDriver(HttpApi, DNSDriver)``).

    Set :attr:`errors` (the provider's error table) and :attr:`label` (its name in
    messages), keep the API's base URL in ``self.endpoint``, and override the
    hooks the provider needs:

    * :meth:`_request` builds every request (add a header or query parameter
      every call carries here);
    * :meth:`_transmit` sends it (bearer-token drivers retry a 401 here);
    * :meth:`_fault` reads an error answer (the default reads the common JSON
      and XML shapes);
    * :meth:`_error` turns a failed answer into an exception (the default applies
      :attr:`errors`).
    """

    #: The provider's error table.
    errors: ClassVar[ErrorMap] = ErrorMap()
    #: The provider's name, as messages show it ("Route 53", "DigitalOcean").
    label: ClassVar[str] = ""
    #: Headers that carry the provider's request id, tried in order.
    request_id_headers: ClassVar[tuple[str, ...]] = ()
    #: Headers every request carries (``Accept`` and the like).
    default_headers: ClassVar[Mapping[str, str]] = {}
    #: The API's base URL; paths given to :meth:`_request` are appended to it.
    endpoint: str

    # -- building ----------------------------------------------------------------------

    def _path_id(self, value: object, what: str, safe: str = "") -> str:
        """An id as a URL path segment: a non-empty string or number, quoted
        (``safe``: characters left as they are); :class:`~overcast.errors.InvalidInput`
        naming ``what``, before any request, for anything else."""
        if isinstance(value, bool) or not isinstance(value, str | int) or not str(value).strip():
            raise InvalidInput(f"{what} must be a non-empty id: {value!r}", driver=self)
        return quote(str(value), safe=safe)

    def _url(self, path: str) -> str:
        """``path`` below :attr:`endpoint`, or ``path`` itself if it is a full URL."""
        if path.startswith(("https://", "http://")):
            return path
        return f"{self.endpoint}{path}"

    def _request(self, method: str, path: str, **options: Unpack[RequestOptions]) -> Request:
        """The :class:`Request` for ``method`` on ``path`` (below :attr:`endpoint`, or
        a full URL). ``json=`` sends a value as a JSON body."""
        headers = dict(self.default_headers)
        headers.update(options.get("headers") or {})
        body = options.get("body")
        payload = options.get("json", _NO_JSON)
        if payload is not _NO_JSON:
            import json  # see json_fault

            body = json.dumps(payload).encode("utf-8")
            headers.setdefault("Content-Type", "application/json")
        params = options.get("params") or ()
        if not isinstance(params, list | tuple):  # a list is the common case: no ABC check
            params = tuple(params.items()) if isinstance(params, Mapping) else tuple(params)
        return Request(
            method,
            self._url(path),
            headers,
            tuple(params),
            body,
            options.get("stream", False),
            options.get("idempotent"),
            options.get("timeout"),
            options.get("sign", True),
        )

    # -- sending -----------------------------------------------------------------------

    def _transmit(self, request: Request) -> Op[Response]:
        """Send one request and return the answer, whatever its status (override to
        add auth that needs a round trip, such as a token refreshed on 401)."""
        resp: Response = yield request
        return resp

    def _exchange(self, request: Request, *, what: str = "", missing: type[NotFound] | None = None,
                  exists: type[AlreadyExists] | None = None,
                  ok: Collection[int] = ()) -> Op[Response]:
        """Send a prepared request; return a 2xx answer (or one whose status is in
        ``ok``), raise the mapped error for any other."""
        if type(self)._transmit is HttpApi._transmit:  # no auth round trip: no extra layer
            resp: Response = yield request
        else:
            resp = yield from self._transmit(request)
        if 200 <= resp.status < 300 or resp.status in ok:
            return resp
        if resp.stream is not None:
            resp.stream.close()
        raise self._error(resp, Outcome(what, missing, exists))

    def _send(self, method: str, path: str, **options: Unpack[SendOptions]) -> Op[Response]:
        """Build, send and check a request; the answer (see :meth:`_exchange`).

        Not a generator of its own: it returns :meth:`_exchange`'s, so a request
        costs no extra layer."""
        what = options.pop("what", "")
        missing = options.pop("missing", None)
        exists = options.pop("exists", None)
        ok = options.pop("ok", ())
        building: RequestOptions = options  # what is left builds the request
        request = self._request(method, path, **building)
        return self._exchange(request, what=what, missing=missing, exists=exists, ok=ok)

    def _delete(self, path: str, what: str, missing: type[NotFound]) -> Op[bool]:
        """``DELETE path``: True once done; ``missing`` (naming ``what``) if there
        is nothing there."""
        yield from self._send("DELETE", path, what=what, missing=missing)
        return True

    def _json(self, method: str, path: str, **options: Unpack[SendOptions]) -> Op[Any]:
        """Build, send and check a request; its body as JSON (``None`` if empty)."""
        resp = yield from self._send(method, path, **options)
        return (yield from decode_json(resp, driver=self))

    def _xml(self, method: str, path: str, *, root: str | Collection[str] | None = None,
             **options: Unpack[SendOptions]) -> Op[Element]:
        """Build, send and check a request; its body's root element (``root``: the
        element expected, anything else is a ProviderError)."""
        resp = yield from self._send(method, path, **options)
        return (yield from decode_xml(resp, root=root, driver=self))

    # -- failures ----------------------------------------------------------------------

    def _fault(self, resp: Response) -> Fault:
        """What a failed answer says (the common JSON and XML shapes; override for
        others). The message is redacted by the caller."""
        body = resp.body.lstrip()
        if body.startswith(b"<"):
            return xml_fault(resp, self.request_id_headers)
        return json_fault(resp, self.request_id_headers)

    def _redacted_fault(self, resp: Response) -> Fault:
        fault = self._fault(resp)
        message = redact_text(" ".join(fault.message.split())[:_MESSAGE_LIMIT], self._secrets())
        return Fault(fault.status, fault.code, message, fault.request_id, fault.codes)

    def _error(self, resp: Response, outcome: Outcome = Outcome()) -> OvercastError:
        """The exception for a failed answer, from :attr:`errors` (override to add
        what a table cannot say, then defer to this)."""
        return self.errors.error(
            self._redacted_fault(resp), outcome, label=self.label or self.name,
            method=resp.method, url=resp.url, headers=resp.headers, driver=self,
        )

    def _is_throttled(self, response: Response) -> bool:
        """An error answer that :attr:`errors` maps to RateLimited means "slow
        down": the runtime retries it as it does a 429."""
        if not self.errors.reads_throttling:
            return False
        return self.errors.throttles(self._fault(response))
