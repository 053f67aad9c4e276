"""overcast.xml.parse: the C parser for plain documents, defusedxml for
anything with a ``<!`` (DTDs, comments, CDATA) or another encoding, and every
entity trick refused either way."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from overcast import xml

PLAIN = (b'<?xml version="1.0" encoding="UTF-8"?>\n<R xmlns="urn:x"><a k="v">one</a>'
         b"<b><c>two</c></b></R>")


def shape(element: ET.Element) -> object:
    return (element.tag, element.attrib, element.text, [shape(c) for c in element])


@pytest.mark.parametrize("body", [
    PLAIN, b"\xef\xbb\xbf" + PLAIN, PLAIN.split(b"\n", 1)[1],
    PLAIN.replace(b"<b>", b"<!-- a comment --><b>"),
    PLAIN.replace(b"two", b"<![CDATA[two]]>"),
    PLAIN.decode().replace("UTF-8", "UTF-16").encode("utf-16"),
])
def test_documents_read_the_same_whichever_parser_reads_them(body: bytes) -> None:
    parsed = xml.parse(body)
    assert parsed is not None
    assert shape(parsed) == shape(ET.XML(PLAIN))


@pytest.mark.parametrize("body", [
    b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]><l>&b;</l>',
    b'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
    b"<x>&undefined;</x>",
    b"not xml", b"", b"   ", b"<a><b></a>",
])
def test_entities_dtds_and_broken_documents_are_refused(body: bytes) -> None:
    assert xml.parse(body) is None


def test_children_by_name_in_one_pass_match_child() -> None:
    root = xml.parse(b'<r xmlns="urn:a"><a>1</a><b><c>2</c></b><a>3</a>'
                     b'<x:d xmlns:x="urn:x"/><!-- note --><?pi data?></r>')
    assert root is not None
    found = xml.elements(root)
    assert list(found) == ["a", "b", "d"]  # comments and PIs are not kept
    for name in ("a", "b", "d", "missing"):
        assert found.get(name) is xml.child(root, name)
    assert found["a"].text == "1"  # the first of a repeated name
    assert xml.text(root, "b", "c") == "2" and xml.text(root, "b", "x") is None
