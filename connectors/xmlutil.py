"""Safe XML parsing (no DTDs, no entities, no external resources) and small text helpers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from connectors.model import ImportFailure

Element = ET.Element


def parse(data: bytes, source: str) -> Element:
    """Parse ``data`` refusing DTDs, entity declarations and external references."""
    try:
        return SafeET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ImportFailure(f"{source}: refused: {exc}") from None
    except ET.ParseError as exc:
        raise ImportFailure(f"{source}: not well-formed XML ({exc})") from None


def split(tag: str) -> tuple[str, str]:
    """(namespace, local name) of an ElementTree tag."""
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return "", tag


def localise(root: Element, namespaces: Iterable[str]) -> None:
    """Rewrite the tags of ``namespaces`` to bare local names, in place (other namespaces stay)."""
    wanted = set(namespaces)
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        namespace, local = split(element.tag)
        if namespace in wanted:
            element.tag = local


_SPACE = re.compile(r"\s+")
#: Elements whose text is set apart from its neighbours' by a space.
_BLOCKS = frozenset(
    [
        "p",
        "item",
        "li",
        "br",
        "eol",
        "num",
        "heading",
        "subheading",
        "content",
        "intro",
        "wrapUp",
        "subsection",
        "paragraph",
        "subparagraph",
        "point",
        "list",
        "blockList",
        "tr",
        "td",
        "th",
        "clause",
        "subclause",
        "article",
        "section",
    ]
)


def squash(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def text_of(element: Element | None, skip: frozenset[str] = frozenset()) -> str:
    """The element's text with whitespace collapsed, leaving out the subtrees whose local name is in ``skip``."""
    if element is None:
        return ""
    return squash("".join(_texts(element, skip)))


def _texts(element: Element, skip: frozenset[str]) -> Iterator[str]:
    if element.text:
        yield element.text
    for child in element:
        name = split(child.tag)[1] if isinstance(child.tag, str) else ""
        if name not in skip:
            block = name in _BLOCKS
            if block:
                yield " "
            yield from _texts(child, skip)
            if block:
                yield " "
        if child.tail:
            yield child.tail
