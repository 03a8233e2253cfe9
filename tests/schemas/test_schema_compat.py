"""Compatibility gate: BACKWARD_TRANSITIVE across every contract's versions."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from schemas.compat import check_candidate, check_catalog, check_contract, main, required_pairs


def _field(schema: dict, name: str) -> dict:
    return next(f for f in schema["fields"] if f["name"] == name)


def test_packaged_catalog_passes(catalog):
    assert check_catalog(catalog) == []
    assert all(c.compatibility == "BACKWARD_TRANSITIVE" for c in catalog.contracts)


def test_cli_passes_on_packaged_catalog(capsys):
    assert main([]) == 0
    assert "OK" in capsys.readouterr().out


def test_required_pairs():
    assert required_pairs("BACKWARD_TRANSITIVE", 1) == []
    assert required_pairs("BACKWARD_TRANSITIVE", 3) == [(1, 0), (2, 0), (2, 1)]
    assert required_pairs("BACKWARD", 3) == [(1, 0), (2, 1)]
    assert required_pairs("FORWARD", 2) == [(0, 1)]
    assert required_pairs("FULL_TRANSITIVE", 3) == [(1, 0), (0, 1), (2, 0), (0, 2), (2, 1), (1, 2)]


def _new_required_field(schema: dict) -> dict:
    schema["fields"].append({"name": "shift_id", "type": "string", "doc": "Shift of the worker."})
    return schema


def _remove_severity_symbol(schema: dict) -> dict:
    _field(schema, "severity")["type"]["symbols"].remove("FATAL")
    return schema


def _change_type(schema: dict) -> dict:
    _field(schema, "insured")["type"] = "int"
    return schema


@pytest.mark.parametrize(
    ("mutate", "kind", "where"),
    [
        (_new_required_field, "reader_field_missing_default_value", "shift_id"),
        (_remove_severity_symbol, "missing_enum_symbols", "severity"),
        (_change_type, "type_mismatch", "insured"),
    ],
)
def test_incompatible_v2_fails_the_gate(catalog_dir, mutate, kind, where):
    v1 = catalog_dir.latest_schema("incident_report")
    catalog_dir.add_version("incident_report", mutate(v1), valid_example={})
    cat = catalog_dir.load()  # the catalog itself loads fine: compatibility is the gate's job
    problems = check_catalog(cat)
    assert len(problems) == 1
    p = problems[0]
    assert (p.contract, p.reader_version, p.writer_version) == ("incident_report", 2, 1)
    assert kind in p.kinds and where in p.fields
    text = str(p)
    assert text.startswith("incident_report: v2 (reader) cannot read data written with v1 (writer) [BACKWARD_TRANSITIVE]")
    assert kind in text and where in text


def test_transitive_check_catches_a_break_with_an_older_version(catalog_dir):
    """v2 drops capacity_workers (fine), v3 re-adds it as a string: v3 reads v2 data (field
    absent -> default), but not v1 data (int vs string). BACKWARD passes, the catalog's
    BACKWARD_TRANSITIVE fails."""
    v2 = catalog_dir.latest_schema("site_event")
    v2["fields"] = [f for f in v2["fields"] if f["name"] != "capacity_workers"]
    catalog_dir.add_version("site_event", v2, valid_example={})
    v3 = json.loads(json.dumps(v2))
    v3["fields"].append({"name": "capacity_workers", "type": ["null", "string"], "default": None, "doc": "x"})
    catalog_dir.add_version("site_event", v3, valid_example={})
    c = catalog_dir.load().contract("site_event")
    assert check_contract(c, mode="BACKWARD") == []
    [p] = check_contract(c)
    assert (p.reader_version, p.writer_version) == (3, 1)
    assert p.fields == ("capacity_workers",)


def test_compatible_v2_passes(catalog_dir):
    v2 = catalog_dir.latest_schema("incident_report")
    v2["fields"].append({"name": "shift_id", "type": ["null", "string"], "default": None, "doc": "Shift."})
    _field(v2, "category")["type"]["symbols"].insert(-1, "ELECTRIC_SHOCK")  # adding symbols is fine
    catalog_dir.add_version("incident_report", v2, valid_example={})
    assert check_catalog(catalog_dir.load()) == []


def test_check_candidate(catalog):
    c = catalog.contract("headcount_report")
    ok = json.loads(json.dumps(c.latest.schema))
    ok["fields"].append({"name": "sick_workers", "type": ["null", "int"], "default": None, "doc": "x"})
    assert check_candidate(c, ok) == []
    bad = json.loads(json.dumps(c.latest.schema))
    bad["fields"].append({"name": "sick_workers", "type": "int", "doc": "x"})
    [p] = check_candidate(c, bad)
    assert p.reader_version == 0 and p.writer_version == 1 and "candidate (reader)" in str(p)


def _run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "schemas.compat", *args], capture_output=True, text=True, timeout=120)


def test_cli_exits_1_on_incompatible_catalog(catalog_dir):
    v2 = _new_required_field(catalog_dir.latest_schema("incident_report"))
    catalog_dir.add_version("incident_report", v2, valid_example={})
    proc = _run_cli("--root", str(catalog_dir.root))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "INCOMPATIBLE incident_report: v2 (reader) cannot read data written with v1" in proc.stderr
    assert "shift_id" in proc.stderr


def test_cli_exits_0_on_packaged_catalog():
    proc = _run_cli()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("OK")


def test_cli_exits_1_on_lint_problem(catalog_dir):
    (catalog_dir.root / "avro" / "site_event" / "v9.avsc").write_text("{}")
    proc = _run_cli("--root", str(catalog_dir.root))
    assert proc.returncode == 1
    assert "LINT" in proc.stderr and "v9.avsc" in proc.stderr
    assert _run_cli("--root", str(catalog_dir.root), "--no-lint").returncode == 0


def test_cli_exits_2_on_broken_catalog(catalog_dir):
    (catalog_dir.root / "catalog.yaml").write_text("contracts: [")
    proc = _run_cli("--root", str(catalog_dir.root))
    assert proc.returncode == 2 and "not valid YAML" in proc.stderr


def test_cli_candidate(tmp_path, catalog):
    good = json.loads(json.dumps(catalog.contract("site_event").latest.schema))
    good["fields"].append({"name": "note", "type": ["null", "string"], "default": None, "doc": "x"})
    bad = json.loads(json.dumps(good))
    _field(bad, "action")["type"]["symbols"].remove("CLOSED")
    (tmp_path / "good.avsc").write_text(json.dumps(good))
    (tmp_path / "bad.avsc").write_text(json.dumps(bad))
    assert main(["--candidate", "site_event", str(tmp_path / "good.avsc")]) == 0
    assert main(["--candidate", "site_event", str(tmp_path / "bad.avsc")]) == 1
