"""Edge for the privacy policy core: reads ``deploy/privacy.yaml`` (or the file named by
``GIGBRIDGE_PRIVACY_POLICY_FILE``) and hands the parsed mapping to
:func:`streams.core.policy.parse_policies`."""

from __future__ import annotations

from pathlib import Path

import yaml

from gigbridge.paths import PRIVACY_POLICY_FILE
from streams.core.policy import PolicyBook, SecretSource, parse_policies

DEFAULT_POLICY_PATH = PRIVACY_POLICY_FILE  # the packaged deploy/privacy.yaml


def load_policies(path: str | Path = DEFAULT_POLICY_PATH, secrets: SecretSource | None = None) -> PolicyBook:
    """Read a policy file and check every policy in it (``ValueError`` naming the offending
    entry otherwise; see :func:`streams.core.policy.parse_policies`)."""
    return parse_policies(yaml.safe_load(Path(path).read_text(encoding="utf-8")), str(path), secrets)
