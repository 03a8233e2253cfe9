"""scripts/ensure-tools.sh (run by `make test`): with every tool on PATH it does nothing; as
root it apt-installs the missing tools' packages; otherwise it names them exactly and exits 2.

Runs the real script with a PATH of fake commands (``id``, ``apt-get``, the tools), so nothing
is installed and no root is needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-tools.sh"
TOOLS = ("java", "javac", "mvn", "promtool", "prometheus", "kcat", "curl", "gofmt", "chromium", "chromedriver")
# The zh screenshots' font is no command: the script asks dpkg-query for its package.
FONT = "dpkg-query"
FONT_INSTALLED = "printf 'install ok installed'"
BASH = shutil.which("bash")


def fake_bin(tmp_path: Path, uid: int, present: tuple[str, ...]) -> Path:
    """A directory holding a fake ``id -u``, an ``apt-get`` that logs its arguments, and ``present``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    commands = {"id": f"echo {uid}", "apt-get": f'echo "$@" >> {tmp_path / "apt.log"}',
                **{tool: FONT_INSTALLED if tool == FONT else "exit 0" for tool in present}}
    for name, body in commands.items():
        path = bin_dir / name
        path.write_text(f"#!{BASH}\n{body}\n")
        path.chmod(0o755)
    return bin_dir


def run(tmp_path: Path, uid: int, present: tuple[str, ...]) -> subprocess.CompletedProcess:
    bin_dir = fake_bin(tmp_path, uid, present)
    return subprocess.run([BASH, str(SCRIPT)], env={"PATH": str(bin_dir)}, capture_output=True, text=True,
                          timeout=30)


def test_nothing_to_do_when_every_tool_is_there(tmp_path: Path) -> None:
    result = run(tmp_path, uid=1000, present=(*TOOLS, FONT))
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")
    assert not (tmp_path / "apt.log").exists()


def test_without_root_names_exactly_the_missing_packages_and_exits_2(tmp_path: Path) -> None:
    result = run(tmp_path, uid=1000, present=("java", "javac", "mvn", "curl", "gofmt", "chromium", "chromedriver", FONT))
    assert result.returncode == 2
    assert "promtool prometheus kcat" in result.stderr
    assert "sudo apt-get install -y --no-install-recommends prometheus kcat\n" in result.stderr
    assert not (tmp_path / "apt.log").exists()


def test_without_the_chinese_font_names_its_package(tmp_path: Path) -> None:
    result = run(tmp_path, uid=1000, present=TOOLS)
    assert result.returncode == 2
    assert "sudo apt-get install -y --no-install-recommends fonts-wqy-microhei\n" in result.stderr
    assert not (tmp_path / "apt.log").exists()


def test_as_root_installs_each_missing_package_once(tmp_path: Path) -> None:
    result = run(tmp_path, uid=0, present=())
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "apt.log").read_text().splitlines()
    assert calls == ["update -qq", "install -y -qq --no-install-recommends openjdk-17-jdk-headless maven "
                                   "prometheus kcat curl golang-go chromium chromium-driver fonts-wqy-microhei"]


@pytest.mark.parametrize("target", ["test", "test-reliability"])
def test_make_test_runs_it_first(target: str) -> None:
    dry = subprocess.run(["make", "--no-print-directory", "-n", target], cwd=SCRIPT.parents[1], capture_output=True, text=True,
                         timeout=30)
    assert dry.stdout.splitlines()[0].endswith("scripts/ensure-tools.sh"), dry.stdout
