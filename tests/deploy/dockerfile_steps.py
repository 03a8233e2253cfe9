"""Run the Dockerfile's build and install steps without Docker, as far as that is possible.

The Dockerfile is read with ``dockerfile-parse``. :func:`build_wheel` replays the build stage:
``WORKDIR`` and ``COPY`` (from the repository) recreate ``/src`` in a scratch directory and its
``RUN`` commands run there. :func:`install_wheel` replays the runtime stage's ``pip`` steps into a
fresh virtual environment. Container paths (``/src``, ``/dist``) are mapped into the scratch
directory and pip may use its cache; nothing else in a command is changed.

Not run (they need root or a Docker engine): the runtime stage's user and ``/data`` creation
(``groupadd``/``useradd``/``install -o``), ``USER``, ``VOLUME`` and the base image itself; the
steps run with this machine's Python instead. :func:`unrun_steps` lists them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser


@dataclass
class Stage:
    """One ``FROM`` section: its base, its ``AS`` name, and its instructions in order."""

    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def values(self, instruction: str) -> list[str]:
        return [value for name, value in self.instructions if name == instruction]


def stages(dockerfile: Path) -> list[Stage]:
    """The stages of ``dockerfile``, build arguments in ``FROM`` resolved to their defaults."""
    parser = DockerfileParser(path=str(dockerfile))
    args: dict[str, str] = {}
    found: list[Stage] = []
    for item in parser.structure:
        instruction, value = item["instruction"], item["value"]
        if instruction == "ARG" and not found:
            key, _, default = value.partition("=")
            args[key.strip()] = default.strip()
        elif instruction == "FROM":
            parts = re.split(r"\s+as\s+", value, flags=re.IGNORECASE)
            base = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], parts[0].strip())
            found.append(Stage(base=base, name=parts[1].strip() if len(parts) > 1 else None))
        elif instruction != "COMMENT" and found:
            found[-1].instructions.append((instruction, value))
    return found


def exec_form(value: str) -> list[str]:
    """A ``CMD``/``HEALTHCHECK CMD`` value in exec (JSON array) form."""
    return json.loads(value)


def healthcheck(dockerfile: Path) -> tuple[str, list[str]]:
    """The runtime stage's ``HEALTHCHECK``: its options and its exec-form command."""
    (value,) = stages(dockerfile)[-1].values("HEALTHCHECK")
    options, _, command = value.partition("CMD")
    return options.strip(), exec_form(command.strip())


def _local_command(command: str, scratch: Path) -> str:
    """``command`` with the container paths /src and /dist placed under ``scratch``, and pip's
    cache allowed (the image keeps none; here it saves downloading every dependency each run)."""
    command = command.replace(" --no-cache-dir", "")
    return re.sub(r"(?<![\w./-])/(src|dist)\b", lambda m: str(scratch / m.group(1)), command)


def _run(command: str, cwd: Path, bin_dir: Path, scratch: Path) -> None:
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", _local_command(command, scratch)], cwd=cwd,
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert proc.returncode == 0, f"RUN {command} failed ({proc.returncode}):\n{proc.stdout[-3000:]}"


def build_wheel(dockerfile: Path, context: Path, scratch: Path) -> Path:
    """Replay the ``build`` stage (WORKDIR, COPY from ``context``, RUN) in ``scratch``; return the
    wheel it leaves in ``/dist``. ``pip`` is the one of the Python running the tests."""
    stage = next(s for s in stages(dockerfile) if s.name == "build")
    workdir = scratch
    for instruction, value in stage.instructions:
        if instruction == "WORKDIR":
            workdir = scratch / value.lstrip("/")
            workdir.mkdir(parents=True, exist_ok=True)
        elif instruction == "COPY":
            *sources, dest = value.split()
            target = workdir / dest
            for source in sources:  # Docker's rules: a directory's contents go into dest
                src = context / source
                if src.is_dir():
                    shutil.copytree(src, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    dst = target / src.name if dest.endswith("/") else target
                    dst.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, dst)
        elif instruction == "RUN":
            _run(value, workdir, Path(sys.executable).parent, scratch)
    wheels = sorted((scratch / "dist").glob("*.whl"))
    assert len(wheels) == 1, f"the build stage should leave one wheel in /dist, found {wheels}"
    return wheels[0]


def install_wheel(dockerfile: Path, wheel: Path, scratch: Path) -> Path:
    """A fresh venv in ``scratch/venv`` (no system site-packages), with the runtime stage's ``pip``
    steps run in it against ``wheel`` (copied to ``/dist`` as ``COPY --from=build`` does);
    returns the venv."""
    runtime = stages(dockerfile)[-1]
    venv = scratch / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    (scratch / "dist").mkdir(parents=True, exist_ok=True)
    shutil.copy2(wheel, scratch / "dist" / wheel.name)
    pip_steps = [value for value in runtime.values("RUN") if value.startswith("pip ")]
    assert pip_steps, "the runtime stage should install the wheel with pip"
    for command in pip_steps:
        _run(command, scratch, venv / "bin", scratch)
    return venv


def unrun_steps(dockerfile: Path) -> list[str]:
    """The runtime stage's RUN commands :func:`install_wheel` does not run (they need root)."""
    return [value for value in stages(dockerfile)[-1].values("RUN") if not value.startswith("pip ")]
