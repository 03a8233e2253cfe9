"""validate / schemas commands: no broker needed."""

import copy
import io
import json
import time

from gigbridge.cli import main
from schemas.examples import REFERENCE_NOW_MS, load_examples


def _now_shifted(payload):
    record = copy.deepcopy(payload)
    shift = int(time.time() * 1000) - REFERENCE_NOW_MS
    for name in ("occurred_at", "reported_at", "period_start", "period_end"):
        if isinstance(record.get(name), int):
            record[name] += shift
    return record


def test_validate_reports_each_line_and_exits_1_on_rejections(tmp_path, capsys):
    good = _now_shifted(next(e.payload for e in load_examples(contract="site_event", kind="valid")))
    bad = dict(good, division_code="999999000000")
    path = tmp_path / "events.jsonl"
    path.write_text("\n".join([json.dumps({"type": "sites", "event": good}), json.dumps({"type": "sites", "event": bad}),
                               "{not json", json.dumps({"type": "parcels", "event": {}})]) + "\n")
    assert main(["validate", str(path)]) == 1
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(x["verdict"], x.get("reason")) for x in lines] == [
        ("accepted", None), ("rejected", "unknown_division_code"), ("rejected", "malformed_json"),
        ("rejected", "unknown_event_type")]


def test_validate_exit_0_when_all_accepted(tmp_path, capsys):
    good = _now_shifted(next(e.payload for e in load_examples(contract="headcount_report", kind="valid")))
    path = tmp_path / "h.jsonl"
    path.write_text(json.dumps(good) + "\n")
    assert main(["validate", str(path), "--type", "headcounts"]) == 0


def test_missing_file_is_a_usage_error(tmp_path):
    assert main(["validate", str(tmp_path / "nope.jsonl")]) == 2


def test_schemas_list_show_check(tmp_path, capsys):
    assert main(["schemas", "list"]) == 0
    assert "incident_report" in capsys.readouterr().out
    assert main(["schemas", "show", "site_event"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["name"] == "SiteEvent"
    compatible = dict(schema, fields=schema["fields"] + [{"name": "note", "type": ["null", "string"], "default": None}])
    (tmp_path / "ok.avsc").write_text(json.dumps(compatible))
    assert main(["schemas", "check", "site_event", str(tmp_path / "ok.avsc")]) == 0
    breaking = dict(schema, fields=schema["fields"] + [{"name": "shift_id", "type": "string"}])
    (tmp_path / "bad.avsc").write_text(json.dumps(breaking))
    assert main(["schemas", "check", "site_event", str(tmp_path / "bad.avsc")]) == 1
    assert "shift_id" in capsys.readouterr().out


def _two_events(tmp_path):
    good = _now_shifted(next(e.payload for e in load_examples(contract="site_event", kind="valid")))
    path = tmp_path / "two.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(dict(good, division_code="999999000000")) + "\n")
    return path


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_shows_rate_done_and_rejected(tmp_path, capsys):
    from gigbridge.commands import publish
    from gigbridge.settings import Settings

    terminal = _Terminal()
    assert publish.run(Settings(), str(_two_events(tmp_path)), "sites", None, produce=False,
                       progress=publish.Progress(terminal)) == 1
    shown = terminal.getvalue()
    assert "\r" in shown                                            # redrawn in place
    assert "2/?" in shown or "2 events" in shown, shown               # done
    assert "events/s" in shown, shown                                 # rate
    assert "accepted=1" in shown and "rejected=1" in shown, shown
    summary = json.loads(shown.rstrip("\n").splitlines()[-1])["summary"]
    assert (summary["accepted"], summary["rejected"]) == (1, 1)
    assert len(capsys.readouterr().out.splitlines()) == 2            # the verdicts stay on stdout


def test_progress_elsewhere_is_one_summary_line(tmp_path):
    from gigbridge.commands import publish
    from gigbridge.settings import Settings

    log = io.StringIO()                                               # not a terminal
    ticks = iter([100.0, 102.0])
    progress = publish.Progress(log, clock=lambda: next(ticks))
    assert not progress.interactive
    assert publish.run(Settings(), str(_two_events(tmp_path)), "sites", None, produce=False, progress=progress) == 1
    lines = log.getvalue().splitlines()
    assert len(lines) == 1, lines
    assert json.loads(lines[0]) == {"summary": {"accepted": 1, "rejected": 1, "reasons": {"unknown_division_code": 1},
                                                "seconds": 2.0, "events_per_s": 1.0}}
