"""Files behind the weather-notice core (``streams.core.notices``): the CAP 1.2 XSD.

The core takes the parsed schema as an argument; this edge reads it once per process.
"""

from __future__ import annotations

import functools
from pathlib import Path

import xmlschema

#: The OASIS CAP 1.2 XML schema, vendored unmodified (gigbridge/data/CAP-ATTRIBUTION.md).
CAP_XSD = Path(__file__).resolve().parents[2] / "gigbridge" / "data" / "CAP-v1.2.xsd"


@functools.cache
def load_cap_schema(path: Path = CAP_XSD) -> xmlschema.XMLSchema:
    """The parsed CAP 1.2 XSD; the same object for the same path (parsing takes ~0.1 s)."""
    return xmlschema.XMLSchema(str(path))
