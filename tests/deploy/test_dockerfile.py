"""The container image, checked without a Docker engine.

Read from the Dockerfile (dockerfile-parse): a pinned base shared by both stages, the wheel built
in a build stage and installed in the runtime stage, a fixed non-root uid/gid owning /data,
GIGBRIDGE_DATA_DIR=/data, and a HEALTHCHECK. Run: the build stage and the runtime stage's pip
steps (tests/deploy/conftest.py; test_wheel.py starts that install and runs the HEALTHCHECK
command against its worker), and the HEALTHCHECK command against a port where nothing answers.

Not run (no engine, no root): the base image, the user and /data creation, USER, VOLUME, and the
ownership of a named volume mounted at /data (Docker copies the image's /data, owner included,
into a new named volume; that is what makes it writable for uid 10001).
"""

from __future__ import annotations

import re
import sys

from tests.deploy import dockerfile_steps
from tests.deploy.conftest import DOCKERFILE, run_healthcheck
from tests.support.kafka_io import free_port

UID = "10001"


def _stages():
    return dockerfile_steps.stages(DOCKERFILE)


def _env(stage) -> dict[str, str]:
    found = {}
    for value in stage.values("ENV"):
        for key, val in re.findall(r"(\w+)=(\S+)", value):
            found[key] = val
    return found


def test_healthcheck_has_a_schedule():
    options, _ = dockerfile_steps.healthcheck(DOCKERFILE)
    for option in ("interval", "timeout", "start-period", "retries"):
        assert re.search(rf"--{option}=\S+", options), option


def test_base_image_is_pinned_and_shared():
    stages = _stages()
    assert [s.name for s in stages] == ["build", None]
    bases = {s.base for s in stages}
    assert len(bases) == 1, f"both stages must use one base, found {bases}"
    (base,) = bases
    # An exact version tag (python:3.11.N-slim-<debian>) or a digest; never a floating tag.
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base


def test_runtime_installs_the_built_wheel_as_a_fixed_non_root_user():
    build, runtime = _stages()
    assert any("pip wheel" in run and "/dist" in run for run in build.values("RUN"))
    assert "--from=build /dist /dist" in runtime.values("COPY")
    assert any(run.startswith("pip install") and "/dist/*.whl" in run for run in runtime.values("RUN"))
    assert not any(src.split()[0] in ("gigbridge", "streams", ".") for src in runtime.values("COPY")), \
        "the runtime stage must install the wheel, not copy sources"
    (user,) = runtime.values("USER")
    assert user == f"{UID}:{UID}"
    (setup,) = dockerfile_steps.unrun_steps(DOCKERFILE)
    assert f"--uid {UID}" in setup and f"--gid {UID}" in setup
    assert re.search(rf"install -d -o {UID} -g {UID} .*/data", setup), "/data must be created owned by the user"
    assert _env(runtime)["GIGBRIDGE_DATA_DIR"] == "/data"
    assert runtime.values("VOLUME") == ['["/data"]']
    assert dockerfile_steps.exec_form(runtime.values("CMD")[0]) == ["gigbridge", "worker"]


def test_every_image_setting_is_a_hub_setting():
    from gigbridge.settings import Settings

    known = {f"GIGBRIDGE_{name.upper()}" for name in Settings.model_fields}
    used = {key for key in _env(_stages()[-1]) if key.startswith("GIGBRIDGE_")}
    assert used and used <= known, f"unknown settings in the Dockerfile: {sorted(used - known)}"


def test_healthcheck_script_fails_where_nothing_answers():
    proc = run_healthcheck(sys.executable, free_port())  # the script needs only the standard library
    assert proc.returncode != 0, "the check must fail when the worker does not answer"
