"""XML from uploads, parsed safely (defusedxml: no entity expansion, no external entities,
no DTDs) with each element's line number kept for error messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from xml.etree.ElementTree import Element, TreeBuilder

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from service_layer.dataset_formats.dataset import dataset_error


class _LineBuilder(TreeBuilder):
    def __init__(self, lines: dict[int, int]) -> None:
        super().__init__()
        self.lines = lines
        self.parser: Any = None

    def start(self, tag: Any, attrs: Any) -> Element:
        element = super().start(tag, attrs)
        self.lines[id(element)] = self.parser.parser.CurrentLineNumber
        return element


@dataclass(slots=True)
class XmlDocument:
    """A parsed XML file: its root and where each element started."""

    name: str
    root: Element
    lines: dict[int, int] = field(default_factory=dict)

    def where(self, element: Element) -> str:
        """``file:line`` of ``element`` (for errors)."""
        return f"{self.name}:{self.lines.get(id(element), 0)}"


def parse_xml(name: str, data: bytes) -> XmlDocument:
    """Parse ``data``; a malformed or unsafe document is the upload's refusal, naming the
    file and line."""
    lines: dict[int, int] = {}
    builder = _LineBuilder(lines)
    parser = SafeET.DefusedXMLParser(target=builder, forbid_dtd=True)
    builder.parser = parser
    try:
        parser.feed(data)
        root = parser.close()
    except SafeET.ParseError as e:
        line, _ = e.position
        raise dataset_error("malformed", f"not well-formed XML ({e})", f"{name}:{line}"
                            ) from None
    except DefusedXmlException as e:
        raise dataset_error("malformed", f"refused XML ({type(e).__name__}: DTDs and "
                            "entities are not allowed)",
                            f"{name}:{parser.parser.CurrentLineNumber}") from None
    return XmlDocument(name, root, lines)


def child_text(element: Element, tag: str) -> str | None:
    """The stripped text of ``element``'s first ``tag`` child, or None."""
    found = element.find(tag)
    if found is None or found.text is None:
        return None
    return found.text.strip()
