"""deploy/prometheus: configs and rules pass promtool, the rule unit tests pass, every alert is
documented and tested, and rules use only metrics the hub exports.

promtool comes from Debian's ``prometheus`` package (``make test`` installs it: scripts/ensure-tools.sh). Without it the
promtool tests are skipped on a developer machine, but fail in CI (``CI`` set).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.metric_names import exported_metric_names

REPO_ROOT = Path(__file__).resolve().parents[2]
PROM_DIR = REPO_ROOT / "deploy" / "prometheus"
CONFIGS = ("prometheus.yml", "prometheus.local.yml")
RULES = PROM_DIR / "rules" / "gigbridge.yml"
RULE_TESTS = PROM_DIR / "tests" / "gigbridge_test.yml"
OPERATIONS_DOC = REPO_ROOT / "docs" / "operations.md"

REQUIRED_ALERTS = {
    "GigbridgeWorkerDown",
    "GigbridgeRejectRatioHigh",
    "GigbridgeConsumerLagGrowing",
    "GigbridgeSinkFailing",
    "GigbridgeDLQGrowing",
    "GigbridgeSevereIncidentSpike",
    "GigbridgeNoTraffic",
    "GigbridgeHubLatencyHigh",
    "GigbridgeWorkerNotReady",
    "GigbridgeGatewayRefusing",
}
SEVERITIES = {"critical", "warning", "info"}

METRIC_RE = re.compile(r"\bgigbridge_[a-z0-9_]+")
RECORDED_RE = re.compile(r"\bgigbridge:[a-zA-Z0-9_:]+")


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if "CI" in os.environ:
            pytest.fail("promtool is missing but CI is set: install Debian's 'prometheus' package (make test does)")
        pytest.skip("promtool not installed (apt-get install prometheus); CI runs these")
    return path


def _run(args: list[str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120)


def _rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def _alerts() -> list[dict]:
    return [r for r in _rules() if "alert" in r]


def _github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub (and most renderers) generate for the headings of ``markdown``."""
    anchors = set()
    for line in markdown.splitlines():
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            text = re.sub(r"[`*_~\[\]()]", "", m.group(1)).strip().lower()
            anchors.add(re.sub(r"[^\w\- ]", "", text).replace(" ", "-"))
        for explicit in re.findall(r'<a\s+(?:id|name)="([^"]+)"', line):
            anchors.add(explicit)
    return anchors


# --- promtool ------------------------------------------------------------------------------------

@pytest.mark.parametrize("config", CONFIGS)
def test_promtool_check_config(promtool, config):
    result = _run([promtool, "check", "config", str(PROM_DIR / config)])
    assert result.returncode == 0, result.stdout + result.stderr
    # the rule glob must have matched our file, not nothing
    assert "1 rule files found" in result.stdout + result.stderr, result.stdout + result.stderr


def test_promtool_check_rules(promtool):
    result = _run([promtool, "check", "rules", str(RULES)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_promtool_rule_unit_tests(promtool):
    result = _run([promtool, "test", "rules", str(RULE_TESTS)])
    assert result.returncode == 0, result.stdout + result.stderr


# --- configs -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("config", "target"), [("prometheus.yml", "hub:6066"),
                                                 ("prometheus.local.yml", "127.0.0.1:6066")])
def test_scrape_job_and_rule_files(config, target):
    cfg = yaml.safe_load((PROM_DIR / config).read_text())
    assert cfg["rule_files"] == ["rules/*.yml"]
    jobs = {job["job_name"]: job for job in cfg["scrape_configs"]}
    job = jobs["gigbridge-worker"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert [t for sc in job["static_configs"] for t in sc["targets"]] == [target]


@pytest.mark.parametrize(("config", "gateway", "registry"), [
    ("prometheus.yml", "gateway:8080", "registry:8081"),
    ("prometheus.local.yml", "127.0.0.1:8080", "127.0.0.1:8081")])
def test_gateway_and_registry_are_scraped_where_they_serve_metrics(config, gateway, registry):
    from gigbridge.settings import Settings

    jobs = {job["job_name"]: job for job in yaml.safe_load((PROM_DIR / config).read_text())["scrape_configs"]}
    for name, target in (("gigbridge-gateway", gateway), ("gigbridge-registry", registry)):
        assert jobs[name].get("metrics_path", "/metrics") == "/metrics"
        assert [t for sc in jobs[name]["static_configs"] for t in sc["targets"]] == [target]
    defaults = Settings.model_fields
    assert gateway.endswith(f':{defaults["gateway_port"].default}')
    assert registry.endswith(f':{defaults["registry_port"].default}')


# --- rules ---------------------------------------------------------------------------------------

def test_required_alerts_exist():
    names = {a["alert"] for a in _alerts()}
    assert REQUIRED_ALERTS <= names, f"missing alerts: {sorted(REQUIRED_ALERTS - names)}"


def test_alerts_have_severity_and_annotations():
    for alert in _alerts():
        name = alert["alert"]
        assert alert.get("labels", {}).get("severity") in SEVERITIES, f"{name}: severity label"
        annotations = alert.get("annotations", {})
        for key in ("summary", "description", "runbook_url"):
            assert annotations.get(key, "").strip(), f"{name}: annotation {key} missing"


def test_runbook_urls_point_into_operations_doc():
    anchors = _github_anchors(OPERATIONS_DOC.read_text(encoding="utf-8"))
    for alert in _alerts():
        url = alert["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/operations.md", f"{alert['alert']}: runbook_url {url}"
        assert anchor == alert["alert"].lower(), f"{alert['alert']}: anchor should be #{alert['alert'].lower()}"
        assert anchor in anchors, f"{alert['alert']}: docs/operations.md has no heading for #{anchor}"


def test_rules_reference_only_exported_metrics_and_defined_recordings():
    exported = exported_metric_names()
    recorded = {r["record"] for r in _rules() if "record" in r}
    for rule in _rules():
        name = rule.get("alert") or rule.get("record")
        expr = rule["expr"]
        unknown = sorted({m for m in METRIC_RE.findall(expr) if not exported.knows(m)})
        assert not unknown, (f"{name} uses metrics the hub does not export: {unknown} "
                             f"(checked against {exported.source})")
        undefined = sorted(set(RECORDED_RE.findall(expr)) - recorded)
        assert not undefined, f"{name} uses recording rules not defined in {RULES.name}: {undefined}"


def test_recording_rules_follow_naming_convention():
    for rule in _rules():
        if "record" in rule:
            assert re.fullmatch(r"gigbridge:[a-z0-9_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_every_alert_is_unit_tested_firing_and_quiet():
    """Each alert name has a unit test where it fires and one where it must not."""
    fires, quiet = set(), set()
    for group in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in group.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else quiet).add(case["alertname"])
    names = {a["alert"] for a in _alerts()}
    assert names <= fires, f"alerts never shown to fire: {sorted(names - fires)}"
    assert names <= quiet, f"alerts never shown to stay quiet: {sorted(names - quiet)}"
