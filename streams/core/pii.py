"""Identifier guard: does an event carry a direct personal identifier?

Events are anonymized by the platforms; the hub enforces it. :func:`find_identifier` scans every
string value of a decoded record (recursively through dicts and lists, free text included) and
reports the first direct identifier it finds as an :class:`IdentifierHit` (field path and kind,
never the value). :func:`contains_identifier` is the same detector for one string, shared with
the log redaction.

Kinds
-----
``resident_id``
    18-digit PRC resident ID (GB 11643): 6-digit area code whose first two digits are a
    province code (or ``9`` for the 2023 permanent-residence ID), a plausible ``YYYYMMDD``
    birth date (1900..2099, real calendar day) and a valid ISO 7064 MOD 11-2 check character
    (``0-9`` or ``X``/``x``). Also the 15-digit legacy form: area code, ``YYMMDD``, 3 digits
    (no check digit, so the province and date tests are all there is).
``mobile_phone``
    Mainland mobile number ``1[3-9]`` + 9 digits, optionally prefixed with ``+86``, ``86`` or
    ``0086``, with spaces, dashes, dots or parentheses anywhere between the digits.
``bank_card``
    13..19 digits passing the Luhn check, *and* either written with a grouping typical of
    cards (``4-4-4-4``, ``4-4-4-4-3`` and generally fours with a shorter tail, ``4-6-5``,
    ``4-6-4``) or, when written as one run (or as single spaced-out digits), starting with a
    known issuer prefix with that issuer's usual length: UnionPay ``62`` (16 or 19), Visa
    ``4`` (13, 16, 19), Mastercard ``51``-``55`` / ``2221``-``2720`` (16), Amex ``34``/``37``
    (15), JCB ``3528``-``3589`` (16). Luhn alone would flag one in ten of any long number
    (13-digit epoch-millis timestamps, order numbers); the prefix rule keeps those out (a
    timestamp starts with ``1``, which no listed issuer uses) while real cards, which always
    carry an issuer prefix, still match.
``email``
    ``local@domain.tld`` (full-width ``＠`` too, optional spaces around the ``@``).
``vehicle_plate``
    Province abbreviation + letter + 5 alphanumerics with at least 3 digits (ordinary) or
    6 (new energy: ``D``/``F`` first or last), optional ``·``/space/dash after the letter;
    also the ``警``/``学``/``挂`` plates (4 alphanumerics + the suffix character).

Disguises
---------
Before matching, text is normalised: zero-width and other invisible format characters
(U+200B..U+200F, U+2060..U+2064, U+FEFF, U+00AD, ...) are deleted, every Unicode decimal digit
(Arabic-Indic, Devanagari, mathematical, ...) is mapped to its ASCII digit, Unicode dashes to
``-``, and NFKC folds full-width digits, letters, ``＠``, ``－``, ``．`` and ideographic spaces to
ASCII. Digit groups may then be separated by up to three of ``space - . ( ) _``, so
``1 3 8 0 0 1 3 8 0 0 0`` and ``(+86) 138-0013-8000`` are the same number. Dots are the
exception: they separate version numbers, decimals and coordinates, so digits grouped with
dots read as a phone number only in the ``138.0013.8000`` shape (or one digit per group), and
never as a legacy 15-digit ID.

An identifier must start and end at digit-group boundaries (a phone number is not found in the
middle of a 20-digit run), and when several readings of the same digits match, the one
covering the most digits wins (a 19-digit card is not reported as the phone number in its
tail). Hex tokens (12+ characters of ``0-9a-f`` with at least one letter, e.g. hashes or
``inc-3f09a1c2b4d5`` style ids) and UUIDs are masked before the digit scan: a digit run inside
a hex string is not an identifier, or at least indistinguishable from one (so
``13800138000abc`` passes, while ``tel13800138000`` is found: ``t`` and ``l`` are not hex).

Fields skipped by :func:`find_identifier`: top-level ``event_id``, ``platform_id``,
``worker_ref``, ``order_ref`` and ``division_code``, *when* they have the strict format
validation requires of them (UUID, platform id, 64 lowercase hex, 12 digits). Such values
legitimately look like long numbers; a value that does not have the format is scanned like
any other.

Not identifiers here: the standard masked forms (``138****8000``, ``6222 **** **** 0004``), and
digits spelled with Chinese numerals (一三八...).

Speed: this runs on every event. Regexes are precompiled; a string shorter than 11 characters
without ``@`` (ASCII), an ASCII string with fewer than 11 digits and no ``@``, or other text
with fewer than 6 digit-like characters, no ``@``/``＠`` and no province character followed by
a letter is dismissed by a prefilter without normalisation. The sample incident scans at
~350k events/s on one core; the worst case is a 500-character run of spaced-out random digits
(~1.5 ms, every window of 11..19 digits is read).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

from streams.core.id_numbers import (
    card_issuer_length_ok, is_legacy_resident_id, is_phone_number, is_resident_id, luhn_valid,
)

__all__ = ["IdentifierHit", "KINDS", "contains_identifier", "find_identifier", "normalise"]

KINDS = ("resident_id", "mobile_phone", "bank_card", "email", "vehicle_plate")


@dataclass(frozen=True, slots=True)
class IdentifierHit:
    """Where an identifier was found: field path (``description``, ``location.lat``,
    ``facilities[2]``) and kind (one of :data:`KINDS`). Never carries the value."""

    field: str
    kind: str


# --- normalisation ------------------------------------------------------------------------

# Invisible characters used to split digit runs: every format character (Cf: zero-width
# space/joiners U+200B..U+200D, word joiner U+2060, BOM U+FEFF, soft hyphen, bidi marks, tags)
# plus the blank "letters" (Hangul fillers) and variation selectors.
_EXTRA_INVISIBLE = [0x034F, 0x115F, 0x1160, 0x17B4, 0x17B5, 0x3164, 0xFFA0, *range(0xFE00, 0xFE10),
                    *range(0xE0000, 0xE0080)]
_DASHES = [0x2010, 0x2011, 0x2012, 0x2013, 0x2014, 0x2015, 0x2212, 0x2E3A, 0x2E3B, 0x30FC, 0xFE58, 0xFE63, 0xFF0D]


def _build_tables() -> tuple[dict[int, int | None], str]:
    """(translation table for :func:`normalise`, regex class of digit-like characters).

    One pass over planes 0 and 1 (every decimal digit and compatibility digit lives there,
    ~30 ms at import): Nd digits map to ASCII, Cf characters are deleted. The digit-like class
    (for the prefilter on raw text) holds the BMP characters that are digits or that NFKC turns
    into digits (full-width, circled, superscript, ...), written as ranges, plus every astral
    character as one range: a long list of astral ranges makes ``re`` ~25x slower per
    character, and astral text (mathematical digits, but also emoji) is rare enough to simply
    be normalised and scanned.
    """
    table: dict[int, int | None] = {cp: None for cp in _EXTRA_INVISIBLE}
    table.update({cp: ord("-") for cp in _DASHES})
    digit_like: list[int] = []
    for cp in range(0x80, 0x20000):
        ch = chr(cp)
        category = unicodedata.category(ch)
        if category == "Nd":
            table[cp] = 0x30 + unicodedata.decimal(ch)
            digit_like.append(cp)
        elif category == "Cf":
            table[cp] = None
        elif cp <= 0xFFFF and unicodedata.decomposition(ch).startswith("<") and any(
            "0" <= c <= "9" for c in unicodedata.normalize("NFKC", ch)
        ):
            digit_like.append(cp)
    ranges = ["0-9"]
    bmp = [cp for cp in digit_like if cp <= 0xFFFF]
    start = prev = bmp[0]
    for cp in [*bmp[1:], -1]:
        if cp == prev + 1:
            prev = cp
            continue
        ranges.append(re.escape(chr(start)) if start == prev else f"{re.escape(chr(start))}-{re.escape(chr(prev))}")
        start = prev = cp
    ranges.append("\U00010000-\U0010FFFF")
    return table, "".join(ranges)


_TRANSLATION, _DIGIT_LIKE = _build_tables()


def normalise(text: str) -> str:
    """Undo the disguises: NFKC (full-width forms, ``＠``, ideographic space, circled and
    superscript digits), then drop invisible characters and map every Unicode decimal digit and
    dash to ASCII. ASCII text is returned unchanged."""
    if text.isascii():
        return text
    text = unicodedata.normalize("NFKC", text)
    if not text.isascii():
        text = text.translate(_TRANSLATION)
    return text


# --- patterns -----------------------------------------------------------------------------

_PROVINCE_CHARS = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"

# Prefilters on raw text. ASCII: at least 11 digits (the shortest digit identifier, a phone
# number). Other text: at least 6 digit-like characters (circled numbers such as ⑩ stand for two
# digits), a plate province character followed by a Latin letter, or an at sign.
_ELEVEN_DIGITS = re.compile(r"[^0-9]*+(?:[0-9][^0-9]*+){11}")
_SIX_DIGIT_LIKE = re.compile(f"[^{_DIGIT_LIKE}]*+(?:[{_DIGIT_LIKE}][^{_DIGIT_LIKE}]*+){{6}}")
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,63})\s?@\s?"
    r"[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62})(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]{0,62}))*\.[A-Za-z]{2,24}(?![A-Za-z0-9])"
)
# Digit groups separated by up to three of "space - . ( ) _"; an optional X/x check character.
_DIGIT_CHUNK = re.compile(r"[0-9]+(?:[\s\-.()_]{1,3}[0-9]+)*(?:[Xx](?![A-Za-z0-9]))?")
_PARTS = re.compile(r"([0-9]+[Xx]?)([\s\-.()_]*)")  # (group, separator after it) of a chunk
# Hex tokens (12+ hex characters, at least one a-f letter: hashes, "inc-3f09a1c2b4d5" style
# ids) and UUIDs are masked before the digit scan.
_HEX_TOKEN = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"
    r"|(?=[0-9]*[a-fA-F])[0-9a-fA-F]{12,})(?![0-9A-Za-z])"
)
_PLATE = re.compile(
    "[" + _PROVINCE_CHARS + r"]\s?[A-Za-z][\s·・•\-]?"
    r"(?:"
    r"(?=[A-Za-z0-9]{5}(?![A-Za-z0-9]))(?=(?:[A-Za-z]*[0-9]){3})[A-Za-z0-9]{5}"  # ordinary, >= 3 digits
    r"|[DFdf][A-Za-z0-9][0-9]{4}(?![A-Za-z0-9])"                       # new energy, small car
    r"|[0-9]{5}[DFdf](?![A-Za-z0-9])"                                  # new energy, large car
    r"|[A-Za-z0-9]{4}[警学挂]"                                          # police / driving school / trailer
    r")"
)
_PLATE_HINT = re.compile("[" + _PROVINCE_CHARS + r"][\s\u200b-\u200d\u2060\ufeff]{0,3}[A-Za-zＡ-Ｚａ-ｚ]")

# Rank of a kind when several readings of the same digits are equally long.
_RANK = {"resident_id": 3, "bank_card": 2, "mobile_phone": 1}


def _scan_digit_chunk(chunk: str) -> str | None:
    """Best reading of one run of digit groups: every window of consecutive groups with 11..19
    characters is tried; the longest match wins, ties by :data:`_RANK`.

    Dots separate version numbers, decimals and coordinates far more often than phone digits,
    so a window with a dot between its groups reads as a phone only in the 3-4-4 shape (with
    an optional 86/0086 group) or as single spaced-out digits, and never as a 15-digit legacy
    ID (which has no check digit); 18-digit IDs and cards keep their own checks.
    """
    parts = _PARTS.findall(chunk)
    groups = [g for g, _ in parts]
    sizes = [len(g) for g in groups]
    dots = ["." in sep for _, sep in parts]
    n = len(groups)
    best: tuple[int, int, str] | None = None
    best_end = -1
    for i in range(n):
        if best is not None and i > best_end:
            break  # later windows cannot overlap the hit: its reading is settled
        digits = ""
        dotted = False      # a dot between the window's groups
        ones = True         # every group a single digit (spaced-out digits)
        fours = True        # every group but the last has 4 digits
        for j in range(i, n):
            digits += groups[j]
            size = len(digits)
            if size > 19:
                break
            last = sizes[j]
            ones = ones and last == 1
            if size >= 11:
                count = j - i + 1
                kind = None
                if digits[-1] in "Xx":  # only the last group can end in a check character
                    if size == 18 and is_resident_id(digits):
                        kind = "resident_id"
                elif size == 18 and is_resident_id(digits):
                    kind = "resident_id"
                elif size == 15 and (not dotted or ones) and is_legacy_resident_id(digits):
                    kind = "resident_id"
                if kind is None and size >= 13 and digits[-1] not in "Xx":
                    if count == 1 or ones:
                        shaped = card_issuer_length_ok(digits)
                    elif count >= 4:
                        shaped = fours and last <= 4
                    else:
                        shaped = count == 3 and sizes[i] == 4 and sizes[i + 1] == 6 and last in (4, 5)
                    if shaped and luhn_valid(digits):
                        kind = "bank_card"
                if kind is None and size in (11, 13, 15) and is_phone_number(digits):
                    if not dotted or ones or (count in (3, 4) and last == 4 and sizes[j - 1] == 4
                                              and sizes[j - 2] == 3):
                        kind = "mobile_phone"
                if kind is not None:
                    score = (size, _RANK[kind], kind)
                    if best is None or score > best:
                        best, best_end = score, j
            fours = fours and last == 4
            dotted = dotted or dots[j]
    return None if best is None else best[2]


def _scan_digits(text: str) -> str | None:
    if _HEX_TOKEN.search(text):
        text = _HEX_TOKEN.sub(" ", text)
    for m in _DIGIT_CHUNK.finditer(text):
        chunk = m.group()
        if len(chunk) < 11:
            continue
        kind = _scan_digit_chunk(chunk)
        if kind is not None:
            return kind
    return None


def contains_identifier(text: str) -> str | None:
    """The kind of the first direct identifier in ``text`` (e-mail, then digit identifiers,
    then vehicle plates), or None. Cheap for ordinary text; see the module docstring."""
    size = len(text)
    if size < 11:  # shortest: e-mail 5 chars, plate 7, six circled numbers; ASCII digits need 11
        if size < 5 or ("@" not in text and text.isascii()):
            return None
    if text.isascii():
        has_at = "@" in text
        many_digits = _ELEVEN_DIGITS.match(text) is not None
        if not (has_at or many_digits):
            return None
        norm, plate_possible = text, False
    else:
        has_at = "@" in text or "＠" in text or "﹫" in text
        many_digits = _SIX_DIGIT_LIKE.match(text) is not None
        plate_possible = _PLATE_HINT.search(text) is not None
        if not (has_at or many_digits or plate_possible):
            return None
        norm = normalise(text)
        has_at = "@" in norm
    if has_at and _EMAIL.search(norm):
        return "email"
    if many_digits:
        kind = _scan_digits(norm)
        if kind is not None:
            return kind
    if plate_possible and _PLATE.search(norm):
        return "vehicle_plate"
    return None


# --- records ------------------------------------------------------------------------------

_UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_PLATFORM_ID_RE = re.compile(r"[a-z][a-z0-9-]{1,31}")
_PSEUDONYM_RE = re.compile(r"[0-9a-f]{64}")
# Top-level fields whose strict format is checked by validation and legitimately looks like a
# long number; skipped only when the value has that format.
_STRICT_FIELDS = {
    "event_id": _UUID_RE.fullmatch,
    "platform_id": _PLATFORM_ID_RE.fullmatch,
    "worker_ref": _PSEUDONYM_RE.fullmatch,
    "order_ref": _PSEUDONYM_RE.fullmatch,
    "division_code": lambda v: len(v) == 12 and v.isascii() and v.isdigit(),
}


def _scan_value(value: Any, path: str) -> IdentifierHit | None:
    if isinstance(value, str):
        kind = contains_identifier(value)
        return None if kind is None else IdentifierHit(path, kind)
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, (str, dict, list, tuple)):
                hit = _scan_value(item, f"{path}.{key}")
                if hit is not None:
                    return hit
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            if isinstance(item, (str, dict, list, tuple)):
                hit = _scan_value(item, f"{path}[{index}]")
                if hit is not None:
                    return hit
    return None


def find_identifier(record: dict) -> IdentifierHit | None:
    """The first direct identifier in any string value of ``record`` (in field order), or None."""
    strict = _STRICT_FIELDS
    for key, value in record.items():
        if isinstance(value, str):
            check = strict.get(key)
            if check is not None and check(value):
                continue
            kind = contains_identifier(value)
            if kind is not None:
                return IdentifierHit(str(key), kind)
        elif isinstance(value, (dict, list, tuple)):
            hit = _scan_value(value, str(key))
            if hit is not None:
                return hit
    return None
