"""docker-compose.yml parses and configures the hub only with settings the hub knows."""

import yaml

from gigbridge.settings import REPO_ROOT, Settings


def _compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def _gigbridge_vars(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("GIGBRIDGE_"):
                found.add(key)
            found |= _gigbridge_vars(value)
    elif isinstance(node, list):
        for item in node:
            found |= _gigbridge_vars(item)
    return found


def test_compose_has_the_stack():
    services = _compose()["services"]
    assert {"kafka", "hub", "prometheus", "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.1")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"


def test_every_gigbridge_variable_is_a_setting():
    known = {f"GIGBRIDGE_{name.upper()}" for name in Settings.model_fields}
    used = _gigbridge_vars(_compose())
    assert used, "compose should configure the hub through GIGBRIDGE_* variables"
    assert used <= known, f"unknown settings in docker-compose.yml: {sorted(used - known)}"


def test_compose_files_it_mounts_exist():
    for mount in ("deploy/prometheus",):
        assert (REPO_ROOT / mount).is_dir()

