"""SCRAM passwords of the declared users: from the environment, a secrets directory, or the
public development defaults (``--dev``). Reads env and files only; no Kafka."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from gigbridge.access.model import AccessError, AccessFile, secret_env_var

#: Directory with one file per user (``<dir>/<user>``, content = password; a trailing newline is ignored).
SECRETS_DIR_ENV = "GIGBRIDGE_ACCESS_SECRETS_DIR"
#: Only used with ``--dev``: deterministic, public, never for a real deployment.
DEV_SECRET_TEMPLATE = "dev-{user}-secret"


class MissingSecretsError(AccessError):
    def __init__(self, users: list[str], secrets_dir: str | None) -> None:
        self.users = users
        hints = ", ".join(f"{secret_env_var(u)}" for u in users)
        where = f" or a file {secrets_dir}/<user>" if secrets_dir else f" or a file in ${SECRETS_DIR_ENV}"
        super().__init__(
            f"no secret for {len(users)} user(s): {', '.join(users)}; set {hints}{where} "
            f"(or pass --dev for the public development defaults)")


def dev_secret(user: str) -> str:
    return DEV_SECRET_TEMPLATE.format(user=user)


class Secrets(dict):
    """``user -> password``; ``sources[user]`` is ``"env"``, ``"file"`` or ``"dev"``."""

    def __init__(self, values: Mapping[str, str], sources: Mapping[str, str]) -> None:
        super().__init__(values)
        self.sources = dict(sources)

    def __repr__(self) -> str:  # never print passwords
        return f"Secrets({self.sources!r})"


def resolve_secrets(access: AccessFile, *, env: Mapping[str, str] | None = None,
                    secrets_dir: str | os.PathLike[str] | None = None, dev: bool = False) -> Secrets:
    """Each declared user's password, first match wins:

    1. env ``GIGBRIDGE_ACCESS_SECRET_<USER>`` (see :func:`secret_env_var`; empty = unset),
    2. the file ``<secrets_dir>/<user>`` (``secrets_dir`` defaults to env ``GIGBRIDGE_ACCESS_SECRETS_DIR``;
       one trailing newline is stripped; an empty file is an error),
    3. only with ``dev=True``: :func:`dev_secret` (``dev-<user>-secret``).

    Raises :class:`MissingSecretsError` naming every user without a secret."""
    env = os.environ if env is None else env
    if secrets_dir is None:
        secrets_dir = env.get(SECRETS_DIR_ENV) or None
    directory = Path(secrets_dir) if secrets_dir else None
    if directory is not None and not directory.is_dir():
        raise AccessError(f"secrets directory {directory} ({SECRETS_DIR_ENV}) does not exist")
    values: dict[str, str] = {}
    sources: dict[str, str] = {}
    missing: list[str] = []
    for user in dict.fromkeys(access.user_names()):
        value = env.get(secret_env_var(user))
        source = "env"
        if not value and directory is not None and (directory / user).is_file():
            value = (directory / user).read_text(encoding="utf-8").removesuffix("\n").removesuffix("\r")
            source = "file"
            if not value:
                raise AccessError(f"secret file {directory / user} is empty")
        if not value and dev:
            value, source = dev_secret(user), "dev"
        if not value:
            missing.append(user)
            continue
        values[user], sources[user] = value, source
    if missing:
        raise MissingSecretsError(missing, str(directory) if directory else None)
    return Secrets(values, sources)

