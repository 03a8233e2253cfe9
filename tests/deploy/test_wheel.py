"""The installed package runs: the wheel the Dockerfile builds, installed into a fresh venv outside
the repository, starts the worker and the HTTP ingest gateway against the test broker from an
empty working directory with default settings, and both become ready.

What this guards: every file read at run time is package data (deploy/privacy.yaml,
deploy/access.yaml, schemas, division tables), and no default path points into site-packages
or back into the checkout (gigbridge/paths.py).
"""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest

from connectors.gateway import hash_token
from tests.deploy.conftest import clean_env, http_status, run_healthcheck, start_installed, wait_ready

pytestmark = pytest.mark.kafka

WHEEL_BUDGET_S = 120  # build + install; over it, install the dependencies some other way


@pytest.fixture(scope="module")
def installed_worker(image_install, kafka, tmp_path_factory):
    """``gigbridge worker`` from the installed wheel, started in an empty directory with default
    settings (only the broker, a free web port and an app id of its own are set), once ready.
    Module scope: alive only while this module runs, so it never reads other tests' events."""
    cwd = tmp_path_factory.mktemp("installed") / "worker"
    proc = start_installed(image_install, kafka, ["worker"], cwd, "GIGBRIDGE_WORKER_WEB_PORT",
                           GIGBRIDGE_APP_ID=f"installed-{uuid.uuid4().hex[:8]}")
    try:
        wait_ready(proc, lambda port: http_status(port, "/readyz"), "installed worker")
        yield proc
    finally:
        proc.process.stop()


def _installed_paths(image_install) -> dict:
    code = ("import json, gigbridge, streams.core.policy, gigbridge.access as a, streams.loaders.cover as c; "
            "from gigbridge.settings import Settings; s = Settings(); c.load_rates(); c.load_calendar(); "
            "print(json.dumps({'package': gigbridge.__file__, 'policy': str(s.privacy_policy_file), "
            "'access': str(a.DEFAULT_ACCESS_FILE), 'cover rates': str(c.DEFAULT_RATES_PATH), "
            "'data_dir': str(s.data_dir), 'env_files': [str(f) for f in Settings.model_config['env_file']]}))")
    out = subprocess.run([image_install.bin("python"), "-c", code], cwd=image_install.venv.parent, env=clean_env(),
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def test_wheel_ships_its_runtime_files_and_points_nowhere_else(image_install):
    paths = _installed_paths(image_install)
    site = str(image_install.venv)
    assert paths["package"].startswith(site), f"gigbridge imported from {paths['package']}, not the venv"
    for name in ("policy", "access", "cover rates"):
        assert paths[name].startswith(site), f"{name} file {paths[name]} is not the packaged one"
    assert paths["data_dir"] == ".local/worker", "an installed hub keeps its state relative to its working directory"
    assert paths["env_files"] == [], "an installed hub reads no env file"
    print(f"wheel built and installed in {image_install.seconds:.1f}s")
    assert image_install.seconds < WHEEL_BUDGET_S, f"building and installing the wheel took {image_install.seconds:.0f}s"


def test_installed_worker_and_gateway_become_ready(image_install, installed_worker, kafka, tmp_path):
    # The worker (session fixture) is ready: it loaded the packaged privacy policy and division
    # table, and keeps its dedupe store under its working directory, not in site-packages.
    assert http_status(installed_worker.port, "/readyz") == 200
    assert (installed_worker.cwd / ".local" / "worker").is_dir()
    # The store lives in <data_dir>/<app_id>/dedupe (streams.runtime.dedupe.state); the venv itself holds
    # a `streams/runtime/dedupe` *package*, so look for the app's state directory, not the word.
    assert any((installed_worker.cwd / ".local" / "worker").glob("*/dedupe/CURRENT"))  # RocksDB's files
    assert not any(image_install.venv.rglob("dedupe/CURRENT")), "nothing may be written into the venv"

    # The gateway's one required setting: the platforms' token digests.
    tokens = json.dumps({"swiftmeal": hash_token("installed-test-token")})
    gateway = start_installed(image_install, kafka, ["ingest"], tmp_path / "gateway", "GIGBRIDGE_GATEWAY_PORT",
                              GIGBRIDGE_GATEWAY_TOKENS=tokens)
    try:
        wait_ready(gateway, lambda port: http_status(port, "/readyz"), "installed gateway")
        # The registry it serves reads the packaged schema catalog.
        assert http_status(gateway.port, "/registry/subjects") == 200
        assert http_status(gateway.port, "/openapi.json") == 200
    finally:
        gateway.process.stop()


def test_image_healthcheck_passes_against_the_installed_worker(image_install, installed_worker):
    proc = run_healthcheck(image_install.bin("python"), installed_worker.port)
    assert proc.returncode == 0, proc.stderr
