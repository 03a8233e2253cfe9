"""Where the hub finds the files it ships and where it keeps local state, installed or not.

Two ways to run the hub:

* **from a checkout** (``make install`` is an editable install): the package directory's parent
  holds ``pyproject.toml``. Local state lives in ``<checkout>/.local`` (the worker's data, and
  ``.local/kafka.env`` written by ``make kafka-up``, which :class:`gigbridge.settings.Settings`
  then reads).
* **installed from the wheel** (the container image, ``pip install gigbridge-*.whl``): nothing
  points into ``site-packages`` except read-only packaged files. Local state defaults to
  ``.local/worker`` relative to the working directory, and no env file is read: an installed hub
  is configured by its environment only (``GIGBRIDGE_*``), so a stray ``.local/kafka.env`` in a
  service's working directory cannot change where it connects.

Packaged files (``deploy/privacy.yaml``, ``deploy/access.yaml``) are resolved with
:mod:`importlib.resources`, so they are the ones inside the installed wheel, or the checkout's own
files for an editable install. Guarantee: :func:`packaged_file` returns a path on the file system,
which holds for every installation pip makes (wheels are unpacked, never imported from a zip).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

#: The directory above the ``gigbridge`` package: a checkout's root, or ``site-packages``.
_PACKAGE_PARENT = Path(__file__).resolve().parent.parent

#: The checkout the hub runs from, or ``None`` when it runs from an installed wheel.
CHECKOUT_ROOT: Path | None = _PACKAGE_PARENT if (_PACKAGE_PARENT / "pyproject.toml").is_file() else None


def packaged_file(package: str, name: str) -> Path:
    """The file ``name`` shipped as package data of ``package`` (listed in pyproject's
    ``[tool.setuptools.package-data]``)."""
    return Path(str(importlib.resources.files(package).joinpath(name)))


def local_state_dir() -> Path:
    """``<checkout>/.local`` from a checkout; ``.local`` (relative to the working directory) when
    installed."""
    return CHECKOUT_ROOT / ".local" if CHECKOUT_ROOT is not None else Path(".local")


def env_files() -> tuple[Path, ...]:
    """The env files :class:`gigbridge.settings.Settings` reads: ``.local/kafka.env`` of the
    checkout, none when installed (see the module docstring)."""
    return (CHECKOUT_ROOT / ".local" / "kafka.env",) if CHECKOUT_ROOT is not None else ()


PRIVACY_POLICY_FILE = packaged_file("deploy", "privacy.yaml")
ACCESS_FILE = packaged_file("deploy", "access.yaml")
UNITS_FILE = packaged_file("deploy", "units.yaml")
