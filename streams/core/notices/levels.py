"""How a CAP warning maps to China's warning types, colour levels and division codes.

Colour level (蓝 BLUE < 黄 YELLOW < 橙 ORANGE < 红 RED), first match wins:

1. a colour named in an ``eventCode`` or ``parameter`` value (``橙色``, ``ORANGE``, ``HEAT_ORANGE``);
2. a colour named in the ``event`` or ``headline`` text (``高温橙色预警``, ``Orange heat warning``);
3. the CAP ``severity``, as China's CAP profile pairs them: Minor BLUE, Moderate YELLOW,
   Severe ORANGE, Extreme RED. ``Unknown`` gives no level (the document is refused).

Warning type: keywords in the ``event`` text, then in eventCode/parameter values, then in the
headline; the first source with a keyword decides, and within a source the table order does
(雷雨大风 is a thunderstorm, not a gale; a typhoon headline mentioning 暴雨 stays a typhoon). No
keyword: OTHER.

Areas: ``geocode`` elements whose ``valueName`` is a Chinese administrative code scheme
(:data:`DIVISION_GEOCODE_NAMES`, compared case- and space-insensitively) with a 2-, 4-, 6-, 9- or
12-digit value, right-padded with zeros to the 12-digit division code. Other schemes (UGC, FIPS,
EMMA_ID) are ignored.
"""

from __future__ import annotations

import re
from typing import Callable, Iterable

LEVELS = ("BLUE", "YELLOW", "ORANGE", "RED")
SEVERITY_LEVEL = {"Minor": "BLUE", "Moderate": "YELLOW", "Severe": "ORANGE", "Extreme": "RED"}
_COLOUR_WORDS = (("RED", "红色"), ("ORANGE", "橙色"), ("YELLOW", "黄色"), ("BLUE", "蓝色"))
_LATIN_COLOUR = re.compile(r"(?<![A-Z])(RED|ORANGE|YELLOW|BLUE)(?![A-Z])")

WARNING_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("TYPHOON", ("台风", "typhoon", "tropical cyclone")),
    ("RAINSTORM", ("暴雨", "rainstorm", "heavy rain")),
    ("BLIZZARD", ("暴雪", "blizzard", "snowstorm")),
    ("COLD_WAVE", ("寒潮", "cold wave")),
    ("THUNDERSTORM", ("雷电", "雷雨大风", "雷暴", "thunderstorm", "lightning")),
    ("SANDSTORM", ("沙尘暴", "sandstorm", "dust storm")),
    ("GALE", ("大风", "gale", "high wind")),
    ("FOG", ("大雾", "fog")),
    ("HEAT", ("高温", "heat")),
)
DIVISION_GEOCODE_NAMES = frozenset({"GB/T2260", "GB2260", "ADCODE", "ADMINCODE", "DIVISIONCODE", "行政区划代码"})
_SIGNIFICANT_LENGTHS = (2, 4, 6, 9, 12)


def _colour_in(text: str) -> str | None:
    for level, word in _COLOUR_WORDS:
        if word in text:
            return level
    m = _LATIN_COLOUR.search(text.upper())
    return m.group(1) if m else None


def level_of(codes: Iterable[tuple[str, str]], texts: Iterable[str], severity: str) -> str | None:
    """Colour level of a warning (module docstring), or None if nothing names one."""
    for source in ([value for _, value in codes], list(texts)):
        for text in source:
            level = _colour_in(text)
            if level is not None:
                return level
    return SEVERITY_LEVEL.get(severity)


def _type_in(text: str) -> str | None:
    lowered = text.lower()
    for warning_type, words in WARNING_KEYWORDS:
        if any(word in lowered for word in words):
            return warning_type
    return None


def warning_type_of(codes: Iterable[tuple[str, str]], texts: list[str]) -> str:
    """China warning type (WarningType symbol) from ``texts = [event, headline]`` and the codes."""
    event, headline = (texts + ["", ""])[:2]
    for source in ([event], [value for _, value in codes], [headline]):
        for text in source:
            found = _type_in(text)
            if found is not None:
                return found
    return "OTHER"


def geocode_divisions(geocodes: Iterable[tuple[str, str]],
                      division_exists: Callable[[str], bool]) -> tuple[tuple[str, ...], int]:
    """(sorted unique known division codes, number of division geocodes that are not known)."""
    known: set[str] = set()
    unknown = 0
    for name, value in geocodes:
        if re.sub(r"\s+", "", name).upper() not in DIVISION_GEOCODE_NAMES:
            continue
        code = value.strip()
        if len(code) in _SIGNIFICANT_LENGTHS and code.isascii() and code.isdigit():
            code = code.ljust(12, "0")
            if division_exists(code):
                known.add(code)
                continue
        unknown += 1
    return tuple(sorted(known)), unknown


def significant_prefix(code: str) -> str:
    """The digits that identify a 12-digit division code's area (``440300000000`` -> ``4403``)."""
    for length in _SIGNIFICANT_LENGTHS:
        if code[length:].strip("0") == "":
            return code[:length]
    return code


def within(code: str, area_code: str) -> bool:
    """True if division ``code`` lies inside (or is) the division ``area_code``."""
    return code.startswith(significant_prefix(area_code))


def within_any(code: str, area_codes: Iterable[str]) -> bool:
    return any(within(code, area) for area in area_codes)


def province_of(code: str) -> str:
    """2-digit province code of a 12-digit division code (the gov.notices.{province} segment)."""
    return code[:2]
