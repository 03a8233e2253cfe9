"""gigbridge.logs: log_format "auto" renders for a person on a terminal (structlog's console
renderer) and JSON lines elsewhere; "json"/"console" force one."""

from __future__ import annotations

import io
import json
import logging
import re
import sys

import pytest
import structlog

from gigbridge.logs import configure_logging

ANSI = re.compile(r"\x1b\[[0-9;]*m")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    structlog.reset_defaults()


def _emit(monkeypatch, stream: io.StringIO, fmt: str) -> str:
    monkeypatch.setattr(sys, "stderr", stream)
    configure_logging("INFO", fmt)
    structlog.get_logger("gigbridge.test").info("worker started", answer=42)
    logging.getLogger("faust.test").warning("a library says %s", "hello")  # stdlib, same renderer
    return stream.getvalue()


def test_auto_on_a_terminal_is_readable_console_output(monkeypatch, restore_logging) -> None:
    text = ANSI.sub("", _emit(monkeypatch, _Terminal(), "auto"))
    lines = text.splitlines()
    assert len(lines) == 2, text
    assert not any(line.lstrip().startswith("{") for line in lines), text
    assert "worker started" in lines[0] and "answer=42" in lines[0] and "[info" in lines[0]
    assert "a library says hello" in lines[1] and "[warning" in lines[1]


def test_auto_elsewhere_is_json_lines(monkeypatch, restore_logging) -> None:
    records = [json.loads(line) for line in _emit(monkeypatch, io.StringIO(), "auto").splitlines()]
    assert [(r["event"], r["level"]) for r in records] == [("worker started", "info"),
                                                           ("a library says hello", "warning")]
    assert records[0]["answer"] == 42 and "timestamp" in records[0]


@pytest.mark.parametrize("fmt, is_json", [("json", True), ("console", False)])
def test_an_explicit_format_wins(monkeypatch, restore_logging, fmt: str, is_json: bool) -> None:
    first = _emit(monkeypatch, _Terminal() if is_json else io.StringIO(), fmt).splitlines()[0]
    assert first.startswith("{") is is_json
