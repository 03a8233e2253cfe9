"""Checksums and plausibility of Chinese identifier numbers, for the identifier detector
(:mod:`streams.core.pii`): resident IDs (18-character MOD 11-2 and 15-digit legacy, with a
real province code and birth date), bank card numbers (Luhn and issuer length) and mobile
numbers. Pure functions over ASCII digit strings; no regexes, so the detector's scan stays the
only place that decides what a candidate string is."""

from __future__ import annotations

_PROVINCE_CODES = frozenset(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65"
    " 71 81 82 83".split()
)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_MONTH_DAYS = (0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _plausible_date(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or not 1 <= day <= _MONTH_DAYS[month]:
        return False
    if month == 2 and day == 29:
        return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return True


def is_resident_id(s: str) -> bool:
    """18-character PRC resident ID with a valid MOD 11-2 check character and birth date."""
    if len(s) != 18 or not s.isascii() or not s[:17].isdigit():
        return False
    if s[:2] not in _PROVINCE_CODES and s[0] != "9":
        return False
    year = int(s[6:10])
    if not 1900 <= year <= 2099 or not _plausible_date(year, int(s[10:12]), int(s[12:14])):
        return False
    total = sum(w * (ord(c) - 48) for w, c in zip(_ID_WEIGHTS, s))
    return _ID_CHECK[total % 11] == s[17].upper()


def is_legacy_resident_id(s: str) -> bool:
    """15-digit first-generation resident ID: area code, YYMMDD (19YY), 3-digit sequence."""
    return (len(s) == 15 and s.isascii() and s.isdigit() and s[:2] in _PROVINCE_CODES
            and _plausible_date(1900 + int(s[6:8]), int(s[8:10]), int(s[10:12])))


def resident_id_check_char(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character for the first 17 digits of a resident ID."""
    return _ID_CHECK[sum(w * (ord(c) - 48) for w, c in zip(_ID_WEIGHTS, first17)) % 11]


_LUHN_DOUBLE = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check of a bank card number's digits."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        total += _LUHN_DOUBLE[d] if i & 1 else d
    return total % 10 == 0


def card_issuer_length_ok(d: str) -> bool:
    """A card number's length fits its issuer prefix (Visa, UnionPay, Mastercard, JCB, Amex)."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    p2 = d[:2]
    if p2 == "62":
        return n in (16, 19)
    if n == 16 and ("51" <= p2 <= "55" or "2221" <= d[:4] <= "2720" or "3528" <= d[:4] <= "3589"):
        return True
    return n == 15 and p2 in ("34", "37")


def is_phone_number(d: str) -> bool:
    """A mainland mobile number (11 digits from 13x), optionally with the 86 / 0086 prefix."""
    n = len(d)
    if n == 13 and d.startswith("86"):
        d = d[2:]
    elif n == 15 and d.startswith("0086"):
        d = d[4:]
    elif n != 11:
        return False
    return d[0] == "1" and d[1] >= "3"
