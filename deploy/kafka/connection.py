"""Connection settings of the local Kafka (``python -m deploy.kafka.local``): where it lives, who the
admin is, and the :class:`KafkaConnection` clients use (also written to ``.local/kafka.env``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_LIB_DIR = REPO_ROOT / ".local" / "kafka" / "lib"
DEFAULT_DIR = REPO_ROOT / ".local" / "kafka"  # `make kafka-up`; the jar cache lib/ lives inside
ENV_FILE = REPO_ROOT / ".local" / "kafka.env"

ADMIN_USER = "admin"
DEFAULT_PASSWORD = "admin-secret"
PASSWORD_ENV = "GIGBRIDGE_KAFKA_PASSWORD"
DEFAULT_CLIENT_PORT = 19092
HOST = "127.0.0.1"


class LocalKafkaError(RuntimeError):
    """Raised when the local cluster cannot be resolved, formatted, started or stopped."""


# --------------------------------------------------------------------------------------------
# Connection settings
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class KafkaConnection:
    """Everything a client needs to talk to the cluster (all brokers are listed in ``bootstrap``).

    The TLS fields (PEM paths) matter for ``SSL``/``SASL_SSL`` only; with ``SSL`` the client is
    authenticated by its certificate (``ssl_certfile``/``ssl_keyfile``) and the SASL fields are unused."""

    bootstrap: str
    username: str
    password: str
    security_protocol: str = "SASL_PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None

    def security(self):
        """This connection as a ``gigbridge.kafka_tls.KafkaSecurity`` (the one TLS/SASL builder)."""
        from gigbridge.kafka_tls import KafkaSecurity

        return KafkaSecurity(protocol=self.security_protocol, username=self.username, password=self.password,
                             mechanism=self.sasl_mechanism,
                             cafile=Path(self.ssl_cafile) if self.ssl_cafile else None,
                             certfile=Path(self.ssl_certfile) if self.ssl_certfile else None,
                             keyfile=Path(self.ssl_keyfile) if self.ssl_keyfile else None)

    def kafka_python_config(self) -> dict:
        """Keyword arguments for kafka-python ``KafkaAdminClient``/``KafkaProducer``/``KafkaConsumer``.

        The same keys are accepted by aiokafka's ``AIOKafkaProducer``/``AIOKafkaConsumer``/
        ``AIOKafkaAdminClient`` (with TLS they include a fresh ``ssl_context``).
        """
        return {"bootstrap_servers": self.bootstrap, **self.security().client_config()}

    def as_env(self) -> dict[str, str]:
        """The ``GIGBRIDGE_KAFKA_*`` variables describing this connection (see ``.local/kafka.env``)."""
        env = {
            "GIGBRIDGE_KAFKA_BOOTSTRAP": self.bootstrap,
            "GIGBRIDGE_KAFKA_USERNAME": self.username,
            "GIGBRIDGE_KAFKA_PASSWORD": self.password,
            "GIGBRIDGE_KAFKA_SECURITY_PROTOCOL": self.security_protocol,
            "GIGBRIDGE_KAFKA_SASL_MECHANISM": self.sasl_mechanism,
        }
        for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
            if getattr(self, name):
                env[f"GIGBRIDGE_KAFKA_{name.upper()}"] = getattr(self, name)
        return env

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> KafkaConnection | None:
        """Build a connection from ``GIGBRIDGE_KAFKA_*`` variables; ``None`` if no bootstrap is set.

        Username and password default to ``admin`` / ``admin-secret`` when unset.
        """
        env = os.environ if env is None else env
        bootstrap = env.get("GIGBRIDGE_KAFKA_BOOTSTRAP", "").strip()
        if not bootstrap:
            return None
        return cls(
            bootstrap=bootstrap,
            username=env.get("GIGBRIDGE_KAFKA_USERNAME") or ADMIN_USER,
            password=env.get("GIGBRIDGE_KAFKA_PASSWORD") or DEFAULT_PASSWORD,
            security_protocol=env.get("GIGBRIDGE_KAFKA_SECURITY_PROTOCOL") or "SASL_PLAINTEXT",
            sasl_mechanism=env.get("GIGBRIDGE_KAFKA_SASL_MECHANISM") or "SCRAM-SHA-512",
            ssl_cafile=env.get("GIGBRIDGE_KAFKA_SSL_CAFILE") or None,
            ssl_certfile=env.get("GIGBRIDGE_KAFKA_SSL_CERTFILE") or None,
            ssl_keyfile=env.get("GIGBRIDGE_KAFKA_SSL_KEYFILE") or None,
        )


def write_env_file(connection: KafkaConnection, path: Path = ENV_FILE) -> Path:
    """Write ``KEY=value`` lines for ``connection`` to ``path`` (mode 0600) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"{key}={value}\n" for key, value in connection.as_env().items())
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("# Written by `python -m deploy.kafka.local up`; removed by `down`.\n" + text)
    os.replace(tmp, path)
    return path
