"""Reading provider XML safely and without depending on namespace strings.

Network XML is parsed with defusedxml (no entities, DTDs or external
references). Elements are matched by their local name, because servers that
speak a provider's API do not always use its namespace string (moto's EC2
namespace lacks AWS's trailing slash, for one). Shared by every XML driver
(S3, Route 53, EC2, Azure Blob, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

__all__ = ["child", "children", "elements", "escape", "fields", "local", "parse", "path",
           "text"]


def parse(body: bytes) -> Element | None:
    """The root element of an XML body; ``None`` if it is empty, not XML, or
    refused by defusedxml.

    A body in an ASCII-compatible encoding (it starts with ``<``, after
    whitespace or a UTF-8 byte-order mark) with no ``<!`` anywhere has no
    document type declaration, so it can declare no entity and reference no
    external one: it is parsed by the C parser, about twice as fast. Anything
    else (a DTD, a comment, CDATA, UTF-16) goes through defusedxml.
    """
    # The parsers load with the first document, not with the drivers.
    from xml.etree.ElementTree import XML

    start = body.lstrip()
    if not start:
        return None
    try:
        if (start[:1] == b"<" or start.startswith(b"\xef\xbb\xbf<")) and b"<!" not in body:
            return XML(body)
        from defusedxml.ElementTree import fromstring  # type: ignore[import-untyped, unused-ignore]

        root: Element = fromstring(body)
    except Exception:  # malformed, or refused (entities, DTDs, external references)
        return None
    return root


#: Local names by tag, remembered for the few tags an API uses (bounded: a
#: hostile document's endless tags are worked out each time, not kept).
_LOCAL_NAMES: dict[str, str] = {}
_LOCAL_NAMES_KEPT = 1024


def local(tag: object) -> str:
    """A tag's name without its ``{namespace}``."""
    if not isinstance(tag, str):
        return ""
    name = _LOCAL_NAMES.get(tag)
    if name is None:
        name = tag.rsplit("}", 1)[-1]
        if len(_LOCAL_NAMES) < _LOCAL_NAMES_KEPT:
            _LOCAL_NAMES[tag] = name
    return name


def child(element: Element | None, name: str) -> Element | None:
    """The first child called ``name`` (any namespace)."""
    if element is None:
        return None
    names = _LOCAL_NAMES
    for item in element:
        tag = item.tag
        if (names.get(tag) or local(tag)) == name:  # the lookup inline: once per child
            return item
    return None


def children(element: Element | None, name: str) -> list[Element]:
    """Every child called ``name`` (any namespace)."""
    if element is None:
        return []
    return [item for item in element if local(item.tag) == name]


def fields(element: Element) -> dict[str, str]:
    """The text of each child of ``element`` by its local name (``""`` if empty;
    the first of a repeated name): one pass over the children, for reading
    many fields of a listing's item (``text`` per field scans them each time)."""
    found: dict[str, str] = {}
    names = _LOCAL_NAMES
    for item in element:
        tag = item.tag
        name = names.get(tag) or local(tag)  # the lookup inline: once per field
        if name not in found:
            found[name] = item.text or ""
    return found


def elements(element: Element) -> dict[str, Element]:
    """Each child of ``element`` by its local name (the first of a repeated
    name): one pass over the children, for an item whose fields are read at
    several levels (``child`` per field scans them each time)."""
    found: dict[str, Element] = {}
    names = _LOCAL_NAMES
    for item in element:
        tag = item.tag
        name = names.get(tag) or local(tag)  # the lookup inline: once per child
        if name not in found:
            found[name] = item
    return found


def path(element: Element | None, *steps: str) -> Element | None:
    """The element reached by following ``steps`` (child names) from ``element``."""
    for step in steps:
        element = child(element, step)
    return element


def text(element: Element | None, *steps: str, strip: bool = False) -> str | None:
    """The text at ``steps`` below ``element`` (``""`` if empty), or ``None`` if
    there is no such element. Object names keep their spaces unless ``strip``."""
    found = path(element, *steps)
    if found is None:
        return None
    value = found.text or ""
    return value.strip() if strip else value


def escape(value: str) -> str:
    """``&``, ``<`` and ``>`` escaped for XML character data (what
    ``xml.sax.saxutils.escape`` does, without importing ``urllib.request``, which
    that module pulls in at start-up)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
