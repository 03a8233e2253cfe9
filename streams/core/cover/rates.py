"""The premium rate table: fen per order by province and industry, in dated versions.

Source: ``deploy/cover-rates.yaml`` (read by the edge, :mod:`streams.loaders.cover`, and handed in
here as text). Guarantees of a loaded :class:`RateTable`:

* versions are listed oldest first, each ``effective_from`` strictly after the previous one, and
  version ids are unique;
* a version is never edited in place: every version named in the lock (``deploy/cover-rates.lock``,
  ``<id> sha256:<hex>`` per line) must still hash to its locked digest, locked versions cannot be
  removed, and unlocked versions may only follow the locked ones (a new version is appended,
  then locked);
* every version prices every industry for every province (a ``default`` row, optionally
  overridden per 2-digit province code), so :meth:`RateTable.rate_in_force` answers for any
  province from the first ``effective_from`` on.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Mapping

import yaml

INDUSTRIES = ("RIDE_HAILING", "INSTANT_DELIVERY", "SAME_CITY_FREIGHT")
_VERSION_ID_RE = re.compile(r"[0-9A-Za-z][0-9A-Za-z._-]{0,31}")
_PROVINCE_RE = re.compile(r"[1-9][0-9]")
_LOCK_LINE_RE = re.compile(r"(\S+) sha256:([0-9a-f]{64})")


class RateTableError(ValueError):
    """The rate file or its lock is invalid, or a locked version was changed."""


@dataclass(frozen=True, slots=True)
class Rate:
    """The price of one order: ``premium_fen`` under rate-table version ``version``."""

    version: str
    premium_fen: int
    effective_from_ms: int


@dataclass(frozen=True, slots=True)
class RateVersion:
    id: str
    effective_from_ms: int
    default: Mapping[str, int]
    provinces: Mapping[str, Mapping[str, int]]
    digest: str

    def premium(self, province: str, industry: str) -> int:
        return self.provinces.get(province, {}).get(industry, self.default[industry])


class RateTable:
    """Loaded, validated rate versions. Build with :func:`parse_rates`."""

    def __init__(self, versions: tuple[RateVersion, ...]):
        self.versions = versions
        self._starts = [v.effective_from_ms for v in versions]
        self._by_id = {v.id: v for v in versions}

    def version_in_force(self, at_ms: int) -> RateVersion | None:
        i = bisect.bisect_right(self._starts, at_ms)
        return self.versions[i - 1] if i else None

    def rate_in_force(self, province: str, industry: str, at_ms: int) -> Rate | None:
        """The rate for ``province`` (2 digits) and ``industry`` at ``at_ms``; None before the first
        version or for an unknown industry."""
        version = self.version_in_force(at_ms)
        if version is None or industry not in INDUSTRIES:
            return None
        return Rate(version.id, version.premium(province, industry), version.effective_from_ms)

    def digests(self) -> dict[str, str]:
        return {v.id: v.digest for v in self.versions}


def version_digest(entry: Mapping[str, Any]) -> str:
    """sha256 of a version's content (canonical JSON: comments and layout do not count)."""
    canonical = json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def parse_lock(text: str) -> dict[str, str]:
    """``<id> sha256:<hex>`` lines (``#`` comments allowed) -> {id: digest}, in file order."""
    locked: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        m = _LOCK_LINE_RE.fullmatch(line)
        if m is None or m[1] in locked:
            raise RateTableError(f"lock line {n}: expected a new '<id> sha256:<64 hex>'")
        locked[m[1]] = m[2]
    return locked


def lock_text(table: RateTable) -> str:
    """The lock file for ``table``: one line per version."""
    return "".join(f"{v.id} sha256:{v.digest}\n" for v in table.versions)


def parse_rates(text: str, lock: str | None = None) -> RateTable:
    """Parse and check a rate file; with ``lock`` (the lock file's text) also refuse edited,
    removed or reordered locked versions."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RateTableError(f"not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != 1 or not isinstance(doc.get("versions"), list):
        raise RateTableError("expected a mapping with format: 1 and a 'versions' list")
    if not doc["versions"]:
        raise RateTableError("at least one version is needed")
    versions: list[RateVersion] = []
    for i, entry in enumerate(doc["versions"]):
        version = _parse_version(entry, i)
        if versions and version.effective_from_ms <= versions[-1].effective_from_ms:
            raise RateTableError(f"version {version.id}: effective_from must be after {versions[-1].id}'s "
                                 "(versions are appended, never inserted)")
        if any(v.id == version.id for v in versions):
            raise RateTableError(f"version id {version.id} is used twice")
        versions.append(version)
    table = RateTable(tuple(versions))
    if lock is not None:
        _check_lock(table, parse_lock(lock))
    return table


def _check_lock(table: RateTable, locked: dict[str, str]) -> None:
    ids = [v.id for v in table.versions]
    for position, (version_id, digest) in enumerate(locked.items()):
        if position >= len(ids) or ids[position] != version_id:
            raise RateTableError(f"locked version {version_id} is missing or moved: versions are never "
                                 "removed or reordered")
        if table.versions[position].digest != digest:
            raise RateTableError(f"locked version {version_id} was edited in place; add a new version "
                                 "with a later effective_from instead")


def _parse_version(entry: Any, index: int) -> RateVersion:
    where = f"versions[{index}]"
    if not isinstance(entry, dict) or set(entry) - {"id", "effective_from", "default", "provinces", "note"}:
        raise RateTableError(f"{where}: keys are id, effective_from, default, provinces, note")
    version_id = entry.get("id")
    if not isinstance(version_id, str) or not _VERSION_ID_RE.fullmatch(version_id):
        raise RateTableError(f"{where}: id must be a short string such as 2026-01 (quote it)")
    effective = entry.get("effective_from")
    if isinstance(effective, str):
        try:
            effective = datetime.fromisoformat(effective)
        except ValueError:
            effective = None
    if not isinstance(effective, datetime) or effective.utcoffset() is None:
        raise RateTableError(f"version {version_id}: effective_from must be an ISO time with an offset")
    default = _parse_row(entry.get("default"), f"version {version_id} default", complete=True)
    provinces_raw = entry.get("provinces") or {}
    if not isinstance(provinces_raw, dict):
        raise RateTableError(f"version {version_id}: provinces must map province codes to rates")
    provinces = {}
    for code, row in provinces_raw.items():
        if not isinstance(code, str) or not _PROVINCE_RE.fullmatch(code):
            raise RateTableError(f"version {version_id}: province {code!r} must be a quoted 2-digit code")
        provinces[code] = _parse_row(row, f"version {version_id} province {code}", complete=False)
    return RateVersion(version_id, int(effective.timestamp() * 1000), default, provinces, version_digest(entry))


def _parse_row(row: Any, where: str, *, complete: bool) -> dict[str, int]:
    if not isinstance(row, dict) or set(row) - set(INDUSTRIES) or (complete and set(row) != set(INDUSTRIES)):
        need = "every one of" if complete else "some of"
        raise RateTableError(f"{where}: expected fen per order for {need} {', '.join(INDUSTRIES)}")
    for industry, fen in row.items():
        if type(fen) is not int or not 0 < fen <= 10_000:
            raise RateTableError(f"{where} {industry}: a premium is a positive whole number of fen")
    return dict(row)
