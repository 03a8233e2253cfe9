"""CAP 1.2 documents in (tests/data/cap/): real-shaped Chinese warnings become Notices; malicious,
oversize, foreign and invalid XML is refused with a named problem and nothing else happens."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from gigbridge.divisions import default_table
from streams.core.notices.cap import CAP_PROBLEMS, DEFAULT_MAX_BYTES, CapProblem, Notice, parse_cap
from streams.core.notices.levels import level_of, warning_type_of
from streams.loaders.notices import load_cap_schema

CAP_DIR = Path(__file__).resolve().parents[2] / "data" / "cap"
EXISTS = default_table().exists


def parse(name_or_bytes, **kw):
    data = name_or_bytes if isinstance(name_or_bytes, bytes) else (CAP_DIR / name_or_bytes).read_bytes()
    return parse_cap(data, schema=load_cap_schema(), division_exists=EXISTS, **kw)


@pytest.mark.parametrize(("name", "msg_type", "warning_type", "level", "divisions"), [
    ("heat_orange_shenzhen.xml", "ALERT", "HEAT", "ORANGE", ("440304000000", "440305000000")),
    ("rainstorm_red_guangzhou.xml", "ALERT", "RAINSTORM", "RED", ("440106000000",)),
    ("typhoon_yellow_zhejiang.xml", "ALERT", "TYPHOON", "YELLOW", ("330106000000", "330203000000")),
    ("typhoon_orange_update_zhejiang.xml", "UPDATE", "TYPHOON", "ORANGE", ("330106000000",)),
    ("typhoon_cancel_zhejiang.xml", "CANCEL", "TYPHOON", "ORANGE", ("330106000000",)),
    # English text and severity only (modelled on the CAP 1.2 spec's thunderstorm example); UGC ignored
    ("thunderstorm_severity_only_beijing.xml", "ALERT", "THUNDERSTORM", "ORANGE", ("110101000000",)),
    ("cold_wave_blue_beijing_hebei.xml", "ALERT", "COLD_WAVE", "BLUE", ("110101000000", "130102000000")),
])
def test_warnings_become_notices(name, msg_type, warning_type, level, divisions):
    notice = parse(name)
    assert isinstance(notice, Notice), notice
    assert (notice.msg_type, notice.warning_type, notice.level, notice.division_codes) == (
        msg_type, warning_type, level, divisions)
    assert notice.onset >= notice.sent - 3_600_000 and (notice.expires is None or notice.expires > notice.onset)


def test_times_are_utc_epoch_ms_and_references_are_split():
    heat = parse("heat_orange_shenzhen.xml")
    assert heat.sent == 1780192800000  # 2026-05-31T10:00:00+08:00 = 02:00Z
    assert heat.expires == heat.sent + 10 * 3_600_000
    cancel = parse("typhoon_cancel_zhejiang.xml")
    assert [ident for _, ident in cancel.referenced_identifiers] == [
        "33000041600000-20260530T080000-TYPH", "33000041600000-20260531T080000-TYPH"]
    assert cancel.expires is None and cancel.headline == "台风橙色预警解除"


@pytest.mark.parametrize(("name", "slug"), [
    ("billion_laughs.xml", "cap-entity-forbidden"),
    ("external_entity.xml", "cap-external-reference-forbidden"),
    ("external_dtd.xml", "cap-dtd-forbidden"),
    ("malformed_unclosed.xml", "cap-malformed-xml"),
    ("not_cap_rss.xml", "cap-not-cap"),
    ("wrong_namespace_cap11.xml", "cap-wrong-namespace"),
    ("schema_invalid_severity.xml", "cap-schema-invalid"),
    ("exercise_not_actual.xml", "cap-not-actual"),
    ("unknown_division.xml", "cap-no-division"),
])
def test_refused_documents_name_their_problem(name, slug):
    problem = parse(name)
    assert isinstance(problem, CapProblem) and problem.slug == slug, problem
    body = problem.as_problem("/v1/alerts/cap")
    assert body == {"type": f"https://gigbridge.example/problems/{slug}", "title": CAP_PROBLEMS[slug][1],
                    "status": CAP_PROBLEMS[slug][0], "detail": problem.detail, "instance": "/v1/alerts/cap"}
    assert "root:" not in problem.detail and "lol" not in problem.detail  # nothing expanded or read


def test_schema_problem_names_the_element_without_namespaces():
    problem = parse("schema_invalid_severity.xml")
    assert problem.detail.startswith("/alert/info/severity:")


def test_oversize_is_refused_before_parsing():
    heat = (CAP_DIR / "heat_orange_shenzhen.xml").read_bytes()
    padded = heat.replace(b"<description>", b"<description>" + "高温".encode() * (DEFAULT_MAX_BYTES // 6 + 1), 1)
    assert len(padded) > DEFAULT_MAX_BYTES
    problem = parse(padded)
    assert isinstance(problem, CapProblem) and problem.slug == "cap-too-large" and problem.status == 413
    assert isinstance(parse(padded, max_bytes=len(padded)), Notice)  # the size was the only reason
    assert parse(heat, max_bytes=100).slug == "cap-too-large"


def test_an_external_dtd_entity_or_schema_hint_is_never_fetched():
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.setblocking(False)
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/cap.dtd"
        dtd = f'<?xml version="1.0"?>\n<!DOCTYPE alert SYSTEM "{url}">\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>'
        entity = (f'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ENTITY x SYSTEM "{url}">]>\n'
                  '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">&x;</alert>')
        heat = (CAP_DIR / "heat_orange_shenzhen.xml").read_text(encoding="utf-8")
        hinted = heat.replace('<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">',
                              '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2" '
                              'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
                              f'xsi:schemaLocation="urn:example:extension {url}">', 1)
        assert parse(dtd.encode()).slug == "cap-dtd-forbidden"
        assert parse(entity.encode()).slug == "cap-external-reference-forbidden"
        assert isinstance(parse(hinted.encode()), Notice)  # a schema location hint is not followed
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody connected


def test_an_internal_doctype_without_entities_is_still_refused():
    doc = b'<?xml version="1.0"?>\n<!DOCTYPE alert [<!ELEMENT alert ANY>]>\n<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"/>'
    assert parse(doc).slug == "cap-dtd-forbidden"


def test_update_without_references_is_refused():
    update = (CAP_DIR / "typhoon_orange_update_zhejiang.xml").read_text(encoding="utf-8")
    start, end = update.index("  <references>"), update.index("</references>") + len("</references>\n")
    problem = parse((update[:start] + update[end:]).encode())
    assert problem.slug == "cap-unknown-reference"


@pytest.mark.parametrize(("codes", "texts", "severity", "level"), [
    ([("预警级别", "橙色")], ["高温", ""], "Minor", "ORANGE"),  # an explicit colour beats the severity
    ([("CMA_EVENT", "HEAT_RED")], ["Heat", ""], "Moderate", "RED"),
    ([], ["暴雨", "暴雨黄色预警升级为红色预警"], "Severe", "RED"),  # an upgrade names the higher colour
    ([], ["Fog", "Dense fog advisory"], "Minor", "BLUE"),
    ([], ["Fog", "Dense fog advisory"], "Moderate", "YELLOW"),
    ([], ["Fog", "Dense fog advisory"], "Extreme", "RED"),
    ([], ["Fog", "Dense fog advisory"], "Unknown", None),
    ([("code", "BLUEPRINT")], ["Gale", ""], "Severe", "ORANGE"),  # colour words only as whole words
])
def test_level_mapping(codes, texts, severity, level):
    assert level_of(codes, texts, severity) == level


@pytest.mark.parametrize(("codes", "texts", "warning_type"), [
    ([], ["雷雨大风", ""], "THUNDERSTORM"),  # not a gale
    ([], ["台风", "台风带来暴雨"], "TYPHOON"),
    ([], ["Warning", "Sandstorm expected"], "SANDSTORM"),
    ([("CMA_EVENT", "BLIZZARD_ORANGE")], ["Warning", "大风"], "BLIZZARD"),  # codes before the headline
    ([], ["Air quality", ""], "OTHER"),
])
def test_warning_type_mapping(codes, texts, warning_type):
    assert warning_type_of(codes, texts) == warning_type
