"""The one gate every model text passes before libsbml or roadrunner see it.

Roadrunner treats text that is not XML as a file path or URL, and crashes on
entity-expansion bombs, so untrusted text is checked here first: size, no DTD
or entity declarations, well-formed XML whose root is an SBML document.
"""

from __future__ import annotations

import hashlib
import re
from xml.etree.ElementTree import ParseError

import defusedxml.ElementTree as safe_et
from defusedxml import DefusedXmlException

from qsp.errors import ModelRefused

MAX_MODEL_BYTES = 5_000_000  # default size limit of a model text, bytes
SBML_NAMESPACE_PREFIX = "http://www.sbml.org/sbml/level"  # start of every SBML core namespace
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST)", re.IGNORECASE)


def sha256_text(text: str | bytes) -> str:
    """Hex sha256 of a model text (UTF-8 for str)."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()


def _not_xml_message(stripped: bytes) -> str:
    """Why text that does not start with '<' is refused: a path or URL given as content, or a file of another kind."""
    first = stripped[:200].decode("utf-8", errors="replace")
    if len(stripped) < 300 and b"\n" not in stripped.strip() and not any(c in first for c in " \t%;=("):
        return "not SBML: the text does not start with '<' (a path or URL is not accepted as model content)"
    line = first.splitlines()[0][:60]
    return f"not SBML/XML: the file does not start with '<' (it starts with {line!r}); export the model as SBML"


def check_sbml_text(text: str | bytes, max_bytes: int = MAX_MODEL_BYTES) -> str:
    """Return ``text`` as str if it is safe to hand to libsbml, else raise ModelRefused.

    >>> check_sbml_text("models/x.xml")
    Traceback (most recent call last):
    ...
    qsp.errors.ModelRefused: not SBML: the text does not start with '<' (a path or URL is not accepted as model content)
    >>> check_sbml_text("function dx = f(t, x)\\n  dx = -x;\\nend\\n")
    Traceback (most recent call last):
    ...
    qsp.errors.ModelRefused: not SBML/XML: the file does not start with '<' (it starts with 'function dx = f(t, x)'); export the model as SBML
    """
    data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    if len(data) > max_bytes:
        raise ModelRefused(f"model too large: {len(data):,} bytes, limit {max_bytes:,} bytes")
    if _DECLARATION.search(data):
        raise ModelRefused("refused: DTD or entity declarations (<!DOCTYPE/<!ENTITY) are not allowed")
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not stripped:
        raise ModelRefused("the file is empty (no model text)")
    if not stripped.startswith(b"<"):
        raise ModelRefused(_not_xml_message(stripped))
    try:
        root = safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise ModelRefused(f"refused: unsafe XML construct ({type(exc).__name__})") from exc
    except ParseError as exc:
        raise ModelRefused(f"not well-formed XML: {exc}") from exc
    tag = root.tag
    namespace = tag[1:].split("}")[0] if tag.startswith("{") else ""
    local = tag.split("}")[-1]
    if local != "sbml" or not namespace.startswith(SBML_NAMESPACE_PREFIX):
        raise ModelRefused(
            f"not SBML: root element is '{local}' in namespace '{namespace or 'none'}', "
            f"expected 'sbml' in '{SBML_NAMESPACE_PREFIX}...'"
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelRefused("model text is not valid UTF-8") from exc
