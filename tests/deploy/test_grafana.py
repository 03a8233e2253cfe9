"""deploy/grafana: provisioning matches docker-compose.yml, dashboards are valid Grafana JSON, every
panel queries the provisioned Prometheus, and every metric a query uses is one the hub exports.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.deploy.metric_names import exported_metric_names

REPO_ROOT = Path(__file__).resolve().parents[2]
GRAFANA = REPO_ROOT / "deploy" / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
DATASOURCES = GRAFANA / "provisioning" / "datasources" / "prometheus.yml"
PROVIDERS = GRAFANA / "provisioning" / "dashboards" / "gigbridge.yml"
RULES = REPO_ROOT / "deploy" / "prometheus" / "rules" / "gigbridge.yml"

METRIC_RE = re.compile(r"\bgigbridge_[a-z0-9_]+")
RECORDED_RE = re.compile(r"\bgigbridge:[a-zA-Z0-9_:]+")
VARIABLE_RE = re.compile(r"\$\{?(\w+)(?::\w+)?\}?")
GRAFANA_BUILTINS = {"__rate_interval", "__interval", "__range", "__range_s", "__interval_ms"}
LABEL_VALUES_RE = re.compile(r"^\s*label_values\((.*),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$", re.S)


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _datasource_uid() -> str:
    (ds,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    return ds["uid"]


def _panels(dashboard: dict):
    for panel in dashboard["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def _variable_query(var: dict) -> str:
    query = var.get("query", "")
    return query.get("query", "") if isinstance(query, dict) else query


def _expressions(dashboard: dict) -> list[tuple[str, str]]:
    """(where, PromQL) for every panel target and every query variable (label_values unwrapped)."""
    found = []
    for panel in _panels(dashboard):
        for target in panel.get("targets", []):
            found.append((f"panel {panel.get('title')!r} {target.get('refId')}", target.get("expr", "")))
    for var in dashboard.get("templating", {}).get("list", []):
        if var.get("type") == "query":
            query = _variable_query(var)
            m = LABEL_VALUES_RE.match(query)
            found.append((f"variable ${var['name']}", m.group(1) if m else query))
    return found


def test_there_are_the_two_dashboards():
    assert {p.name for p in DASHBOARDS} == {"pipeline-health.json", "domain-overview.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_valid(path):
    dash = _load(path)
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", dash["uid"]), dash.get("uid")
    assert dash["title"].strip()
    assert 36 <= dash["schemaVersion"] <= 41
    assert "id" not in dash or dash["id"] is None, "provisioned dashboards must not carry a database id"
    ids = [p["id"] for p in _panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids must be unique"
    cells: set[tuple[int, int]] = set()
    for panel in dash["panels"]:
        pos = panel["gridPos"]
        assert all(isinstance(pos[k], int) for k in ("x", "y", "w", "h")), panel["title"]
        assert pos["x"] >= 0 and pos["y"] >= 0 and pos["w"] > 0 and pos["h"] > 0
        assert pos["x"] + pos["w"] <= 24, f"{panel['title']} is wider than the grid"
        mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
        assert not mine & cells, f"{panel['title']} overlaps another panel"
        cells |= mine


def test_dashboard_uids_are_unique():
    uids = [_load(p)["uid"] for p in DASHBOARDS]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_every_panel_has_the_provisioned_datasource_and_targets(path):
    uid = _datasource_uid()
    for panel in _panels(_load(path)):
        if panel.get("type") == "row":
            continue
        title = panel.get("title")
        assert panel.get("datasource", {}).get("uid") == uid, f"panel {title!r}: datasource must be {uid}"
        targets = panel.get("targets") or []
        assert targets, f"panel {title!r} has no targets"
        for target in targets:
            assert target.get("expr", "").strip(), f"panel {title!r} {target.get('refId')}: empty expr"
            assert target.get("datasource", {}).get("uid", uid) == uid, f"panel {title!r}: target datasource"
    for var in _load(path).get("templating", {}).get("list", []):
        if var.get("type") == "query":
            assert var.get("datasource", {}).get("uid") == uid, f"variable {var['name']}: datasource"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_queries_use_only_exported_metrics(path):
    exported = exported_metric_names()
    recorded = {r["record"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"] if "record" in r}
    for where, expr in _expressions(_load(path)):
        unknown = sorted({m for m in METRIC_RE.findall(expr) if not exported.knows(m)})
        assert not unknown, (f"{path.name} {where} uses metrics the hub does not export: {unknown} "
                             f"(checked against {exported.source})")
        undefined = sorted(set(RECORDED_RE.findall(expr)) - recorded)
        assert not undefined, f"{path.name} {where} uses recording rules not in {RULES.name}: {undefined}"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_queries_use_only_defined_variables(path):
    dash = _load(path)
    defined = {v["name"] for v in dash.get("templating", {}).get("list", [])} | GRAFANA_BUILTINS
    for where, expr in _expressions(dash):
        used = {m.group(1) for m in VARIABLE_RE.finditer(expr)}
        assert used <= defined, f"{path.name} {where} uses undefined variables {sorted(used - defined)}"


def test_domain_overview_has_province_and_county_variables():
    variables = {v["name"]: v for v in _load(GRAFANA / "dashboards" / "domain-overview.json")["templating"]["list"]}
    for name in ("province", "county"):
        assert variables[name]["type"] == "query"
        assert _variable_query(variables[name]).startswith("label_values("), name
        assert _variable_query(variables[name]).rstrip().endswith(f", {name})"), name


def test_queries_are_valid_promql(tmp_path):
    """Every query (Grafana variables replaced by sample values) passes `promtool check rules`."""
    promtool = shutil.which("promtool")
    if promtool is None:
        if "CI" in os.environ:
            pytest.fail("promtool is missing but CI is set: install Debian's 'prometheus' package")
        pytest.skip("promtool not installed (apt-get install prometheus)")
    rules = []
    for path in DASHBOARDS:
        for where, expr in _expressions(_load(path)):
            concrete = (expr.replace("$__rate_interval", "1m").replace("$__interval", "1m")
                        .replace("$__range", "6h"))
            concrete = VARIABLE_RE.sub(".*", concrete)
            rules.append({"record": f"dashboard:check:{len(rules)}", "expr": concrete,
                          "labels": {"where": f"{path.name} {where}"}})
    tmp = tmp_path / "grafana-queries.rules.yml"
    tmp.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, sort_keys=False))
    result = subprocess.run([promtool, "check", "rules", str(tmp)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_provisioning_matches_compose():
    """The dashboard provider reads the directory compose mounts the dashboards at."""
    (provider,) = yaml.safe_load(PROVIDERS.read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    (ds,) = yaml.safe_load(DATASOURCES.read_text())["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    compose = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    volumes = compose["services"]["grafana"]["volumes"]
    assert any(v.startswith("./deploy/grafana/dashboards:/var/lib/grafana/dashboards") for v in volumes), volumes
    assert any(v.startswith("./deploy/grafana/provisioning:/etc/grafana/provisioning") for v in volumes), volumes


def test_pipeline_health_shows_the_gateway_refusals_the_alert_watches():
    panels = {p.get("title"): p for p in _load(GRAFANA / "dashboards" / "pipeline-health.json")["panels"]}
    exprs = " ".join(t["expr"] for t in panels["Gateway refusals"]["targets"])
    rules = yaml.safe_load(RULES.read_text())["groups"]
    alert = next(r for g in rules for r in g["rules"] if r.get("alert") == "GigbridgeGatewayRefusing")
    for ratio in ("gigbridge:gateway_rejected_events:ratio_rate10m", "gigbridge:gateway_429_requests:ratio_rate10m",
                  "gigbridge:gateway_503_requests:ratio_rate10m"):
        assert ratio in exprs and ratio in alert["expr"], ratio
