"""Text for the XML export formats (VOC, CVAT): escaping that always gives well-formed XML.

XML 1.0 cannot carry most control characters even escaped, so they are dropped (a label or an
attribute value with a stray control character still exports); ``& < > "`` are escaped.
"""

from __future__ import annotations

import re
from xml.sax.saxutils import escape

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_ATTRIBUTE = {'"': "&quot;", "\n": "&#10;", "\r": "&#13;", "\t": "&#9;"}


def xml_text(value: object) -> str:
    """``value`` as element text."""
    return escape(_NOT_XML.sub("", str(value)))


def xml_attr(value: object) -> str:
    """``value`` as a double-quoted attribute value, quotes included."""
    return '"' + escape(_NOT_XML.sub("", str(value)), _ATTRIBUTE) + '"'


def truthy(value: object) -> bool:
    """Whether an attribute value means yes (``True``, non-zero, "true", "yes", "1")."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "y")
    return bool(value)
