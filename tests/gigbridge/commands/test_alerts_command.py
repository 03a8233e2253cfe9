"""gigbridge alerts import FILE.xml --dry-run: no broker, prints what would be published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gigbridge.cli import main
from schemas.catalog import default_catalog
from schemas.wire import encode

CAP_DIR = Path(__file__).resolve().parents[2] / "data" / "cap"


def test_a_valid_warning_prints_its_notice(capsys):
    assert main(["alerts", "import", str(CAP_DIR / "heat_orange_shenzhen.xml"), "--dry-run"]) == 0
    out = capsys.readouterr()
    [line] = [json.loads(x) for x in out.out.splitlines()]
    assert line["topic"] == "gov.notices.44" and out.err == ""
    notice = line["notice"]
    assert (notice["warning_type"], notice["level"], notice["division_codes"]) == (
        "HEAT", "ORANGE", ["440304000000", "440305000000"])
    encode(default_catalog().contract("weather_notice").latest, notice)


def test_files_apply_in_order_and_a_refused_file_exits_1(capsys):
    files = [str(CAP_DIR / n) for n in ("typhoon_yellow_zhejiang.xml", "external_entity.xml",
                                         "typhoon_orange_update_zhejiang.xml", "typhoon_cancel_zhejiang.xml")]
    assert main(["alerts", "import", *files, "--dry-run"]) == 1
    out = capsys.readouterr()
    published = [json.loads(x)["notice"] for x in out.out.splitlines()]
    assert [(n["msg_type"], n["revision"]) for n in published] == [("ALERT", 0), ("UPDATE", 1), ("CANCEL", 2)]
    [refused] = [json.loads(x) for x in out.err.splitlines()]
    assert refused["file"].endswith("external_entity.xml")
    assert refused["problem"]["type"].endswith("/cap-external-reference-forbidden") and refused["problem"]["status"] == 400
    assert "root:" not in out.out + out.err


@pytest.mark.parametrize("name", ["billion_laughs.xml", "not_cap_rss.xml", "wrong_namespace_cap11.xml"])
def test_malicious_or_foreign_xml_publishes_nothing(name, capsys):
    assert main(["alerts", "import", str(CAP_DIR / name), "--dry-run"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and json.loads(out.err)["problem"]["detail"]


def test_a_missing_file_is_a_usage_error(tmp_path):
    assert main(["alerts", "import", str(tmp_path / "nope.xml"), "--dry-run"]) == 2
