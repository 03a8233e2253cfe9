"""CAP 1.2 weather warnings in: safe parsing, XSD validation, mapping to a plain :class:`Notice`.

:func:`parse_cap` is the only entry point. It guarantees, in this order:

1. at most ``max_bytes`` are parsed (an oversize document is refused before any parsing);
2. the XML is parsed by ``defusedxml`` with DTDs, entity declarations and external references
   all forbidden, so billion-laughs, external-entity (``file:///etc/passwd``) and external-DTD
   documents are refused, never expanded or fetched;
3. the root is ``{urn:oasis:names:tc:emergency:cap:1.2}alert`` and the document is valid against
   the OASIS CAP 1.2 XSD (``gigbridge/data/CAP-v1.2.xsd``, passed in by the caller);
4. only ``status`` Actual and ``msgType`` Alert/Update/Cancel are accepted; the warning's type
   and colour level are recognised (:mod:`.levels`) and its area's geocodes map to known division
   codes (``division_exists``).

Every refusal is a :class:`CapProblem` (RFC 9457 fields); nothing is half-accepted. The XSD is
an argument so that this module reads no file: ``streams.loaders.notices.load_cap_schema`` is the edge
that does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from xml.etree.ElementTree import Element, ParseError

import defusedxml
import defusedxml.ElementTree as safe_et
import xmlschema

from streams.core.notices.levels import geocode_divisions, level_of, warning_type_of

CAP_NS = "urn:oasis:names:tc:emergency:cap:1.2"
DEFAULT_MAX_BYTES = 256 * 1024  # real CAP warnings are a few kB; a generous bound, not a tight one
# Same base as the gateway's problems (connectors/gateway/problems.py), without importing aiohttp here.
PROBLEM_BASE = "https://gigbridge.example/problems/"

# slug -> (HTTP status, title)
CAP_PROBLEMS: dict[str, tuple[int, str]] = {
    "cap-too-large": (413, "CAP document too large"),
    "cap-malformed-xml": (400, "Malformed XML"),
    "cap-dtd-forbidden": (400, "XML document type declarations are not accepted"),
    "cap-entity-forbidden": (400, "XML entity declarations are not accepted"),
    "cap-external-reference-forbidden": (400, "XML external references are not accepted"),
    "cap-not-cap": (422, "Not a CAP alert"),
    "cap-wrong-namespace": (422, "Not a CAP 1.2 alert"),
    "cap-schema-invalid": (422, "CAP document does not match the CAP 1.2 schema"),
    "cap-not-actual": (422, "Only actual alerts are published"),
    "cap-unsupported-msg-type": (422, "Unsupported CAP message type"),
    "cap-unknown-warning": (422, "Unrecognised warning type or level"),
    "cap-no-division": (422, "No known division in the alert's area"),
    "cap-unknown-reference": (409, "Update or cancel of an unknown notice"),
    "cap-notice-cancelled": (409, "Notice already cancelled"),
}


@dataclass(frozen=True, slots=True)
class CapProblem:
    """Why a CAP document was refused. ``detail`` names the rule and where (an element path or
    a line), never the document's free text."""

    slug: str
    detail: str

    @property
    def status(self) -> int:
        return CAP_PROBLEMS[self.slug][0]

    @property
    def title(self) -> str:
        return CAP_PROBLEMS[self.slug][1]

    def as_problem(self, instance: str | None = None) -> dict[str, Any]:
        """RFC 9457 problem details (``application/problem+json`` body)."""
        doc: dict[str, Any] = {"type": PROBLEM_BASE + self.slug, "title": self.title, "status": self.status,
                               "detail": self.detail}
        if instance is not None:
            doc["instance"] = instance
        return doc


@dataclass(frozen=True, slots=True)
class Notice:
    """One CAP message as the hub understands it (all times UTC epoch milliseconds)."""

    identifier: str
    sender: str
    sent: int
    msg_type: str  # ALERT | UPDATE | CANCEL
    references: tuple[str, ...]  # CAP "sender,identifier,sent" triples, as written
    warning_type: str
    level: str  # BLUE | YELLOW | ORANGE | RED
    headline: str
    division_codes: tuple[str, ...]  # sorted, unique, all known
    onset: int
    expires: int | None

    @property
    def referenced_identifiers(self) -> tuple[tuple[str, str], ...]:
        """(sender, identifier) of each reference; malformed triples are skipped."""
        pairs = []
        for triple in self.references:
            parts = triple.split(",")
            if len(parts) == 3 and parts[0] and parts[1]:
                pairs.append((parts[0], parts[1]))
        return tuple(pairs)


def parse_cap(data: bytes, *, schema: xmlschema.XMLSchema, division_exists: Callable[[str], bool],
              max_bytes: int = DEFAULT_MAX_BYTES) -> Notice | CapProblem:
    """Parse and validate one CAP 1.2 document; a :class:`Notice` or the first problem found."""
    if len(data) > max_bytes:
        return CapProblem("cap-too-large", f"the document has {len(data)} bytes; the limit is {max_bytes}")
    root = _safe_parse(data)
    if isinstance(root, CapProblem):
        return root
    namespace, _, local = root.tag[1:].partition("}") if root.tag.startswith("{") else ("", "", root.tag)
    if local != "alert":
        return CapProblem("cap-not-cap", "the root element is not a CAP <alert>")
    if namespace != CAP_NS:
        return CapProblem("cap-wrong-namespace", f"the <alert> is not in the CAP 1.2 namespace {CAP_NS}")
    # location hints off: an xsi:schemaLocation in the document must not make us fetch a schema
    error = next(iter(schema.iter_errors(root, use_location_hints=False)), None)
    if error is not None:
        where = re.sub(r"\{[^}]*\}", "", error.path or "") or "the document"
        return CapProblem("cap-schema-invalid", f"{where}: {error.reason or 'does not match the schema'}")
    return _to_notice(root, division_exists)


def _safe_parse(data: bytes) -> Element | CapProblem:
    try:
        return safe_et.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden as exc:
        if exc.sysid or exc.pubid:
            return CapProblem("cap-dtd-forbidden", "the document refers to an external DTD (never fetched)")
        return _classify_internal_dtd(data)
    except ParseError as exc:
        return _malformed(exc)


def _classify_internal_dtd(data: bytes) -> CapProblem:
    """Name what an internal DTD tried. Still safe: defusedxml raises at the first entity
    declaration, before anything is expanded or fetched."""
    try:
        safe_et.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except defusedxml.EntitiesForbidden as exc:
        if exc.sysid or exc.pubid:
            return CapProblem("cap-external-reference-forbidden",
                              "the document declares an external entity (never resolved)")
        return CapProblem("cap-entity-forbidden", "the document declares XML entities (never expanded)")
    except defusedxml.ExternalReferenceForbidden:
        return CapProblem("cap-external-reference-forbidden", "the document refers to an external resource")
    except ParseError as exc:
        return _malformed(exc)
    return CapProblem("cap-dtd-forbidden", "the document has a <!DOCTYPE> declaration")


def _malformed(exc: ParseError) -> CapProblem:
    line, column = exc.position
    return CapProblem("cap-malformed-xml", f"not well-formed XML at line {line}, column {column}")


def _text(parent: Element, name: str) -> str | None:
    child = parent.find(f"{{{CAP_NS}}}{name}")
    return None if child is None or child.text is None else child.text.strip()


def _all(parent: Element, name: str) -> list[Element]:
    return parent.findall(f"{{{CAP_NS}}}{name}")


def _pairs(parent: Element, name: str) -> list[tuple[str, str]]:
    """(valueName, value) of every ``<name>`` child (eventCode, parameter, geocode)."""
    return [(_text(e, "valueName") or "", _text(e, "value") or "") for e in _all(parent, name)]


def _epoch_ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)  # the XSD requires an explicit offset


def _to_notice(alert: Element, division_exists: Callable[[str], bool]) -> Notice | CapProblem:
    status, msg_type = _text(alert, "status"), _text(alert, "msgType")
    if status != "Actual":
        return CapProblem("cap-not-actual", f"status is {status}; only Actual alerts are published")
    if msg_type not in ("Alert", "Update", "Cancel"):
        return CapProblem("cap-unsupported-msg-type", f"msgType {msg_type} is not Alert, Update or Cancel")
    references = tuple((_text(alert, "references") or "").split())
    if msg_type != "Alert" and not references:
        return CapProblem("cap-unknown-reference", f"a {msg_type} must name the message it refers to in <references>")
    infos = _all(alert, "info")
    if not infos:
        return CapProblem("cap-unknown-warning", "the alert has no <info> block")
    first = infos[0]  # further info blocks are translations of the first (CAP 1.2, 3.2.2)
    texts = [_text(first, "event") or "", _text(first, "headline") or ""]
    codes = _pairs(first, "eventCode") + _pairs(first, "parameter")
    warning_type = warning_type_of(codes, texts)
    level = level_of(codes, texts, _text(first, "severity") or "Unknown")
    if level is None:
        return CapProblem("cap-unknown-warning", "neither a colour level nor a CAP severity other than Unknown")
    geocodes = [pair for info in infos for area in _all(info, "area") for pair in _pairs(area, "geocode")]
    divisions, unknown = geocode_divisions(geocodes, division_exists)
    if unknown:
        return CapProblem("cap-no-division", f"{unknown} division geocode(s) of the alert's areas are not known "
                                             "division codes (NBS 2023)")
    if not divisions:
        return CapProblem("cap-no-division", "no <geocode> of the alert's areas is a division code "
                                             "(valueName GB/T 2260 or ADCODE, see docs/notices.md)")
    sent = _epoch_ms(_text(alert, "sent") or "")
    onset_text = _text(first, "onset") or _text(first, "effective")
    expires_text = _text(first, "expires")
    return Notice(
        identifier=_text(alert, "identifier") or "", sender=_text(alert, "sender") or "", sent=sent,
        msg_type=msg_type.upper(), references=references, warning_type=warning_type, level=level,
        headline=_text(first, "headline") or _text(first, "event") or "",
        division_codes=divisions, onset=_epoch_ms(onset_text) if onset_text else sent,
        expires=_epoch_ms(expires_text) if expires_text else None,
    )
