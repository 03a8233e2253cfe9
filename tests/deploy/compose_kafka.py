"""docker-compose.yml's broker, without Docker: the compose file's variables, the apache/kafka
image's rule that turns ``KAFKA_*`` variables into ``server.properties``, and the rewrite of
container addresses and paths to free local ones.

The image's rule (its start script runs ``kafka.docker.KafkaDockerWrapper setup``; documented in
the image's usage guide): every variable that starts with ``KAFKA_``, except the JVM and log4j
ones, becomes a property: ``KAFKA_`` removed, lower case, ``_`` -> ``.``, then ``...`` -> ``-``
and ``..`` -> ``_`` (so ``___`` means ``-`` and ``__`` means ``_``). test_compose.py also runs
that class from the Maven-built Kafka jar and compares.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

#: Variables the image passes to the JVM or log4j instead of server.properties.
NOT_SERVER_PROPERTIES = frozenset({
    "KAFKA_VERSION", "KAFKA_HEAP_OPT", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL", "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL", "KAFKA_JMX_HOSTNAME"})

#: The variables the image's configureDefaults sets when they are missing (compose sets them all).
IMAGE_DEFAULTED = frozenset({
    "CLUSTER_ID", "KAFKA_NODE_ID", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_LISTENERS",
    "KAFKA_ADVERTISED_LISTENERS", "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS",
    "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "KAFKA_PROCESS_ROLES",
    "KAFKA_CONTROLLER_QUORUM_VOTERS", "KAFKA_INTER_BROKER_LISTENER_NAME", "KAFKA_CONTROLLER_LISTENER_NAMES",
    "KAFKA_LOG_DIRS"})

_VARIABLE = re.compile(r"\$(?:\$|\{(\w+)(?:(:?[-?])([^}]*))?\}|(\w+))")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's interpolation of one value: ``$$`` is a literal ``$``; ``${V}``/``$V``;
    ``${V:-d}`` (d when V is unset or empty), ``${V-d}`` (d when unset); ``${V:?m}`` fails."""
    def one(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1) or match.group(4)
        op, default = match.group(2), match.group(3) or ""
        current = variables.get(name)
        if op in (":-", ":?") and not current or op in ("-", "?") and current is None:
            if op.endswith("?"):
                raise KeyError(f"{name} is required: {default}")
            return default
        return current or ""
    return _VARIABLE.sub(one, value)


def service_env(compose: dict, service: str, variables: Mapping[str, str]) -> dict[str, str]:
    """The environment compose gives ``service``, interpolated with ``variables``."""
    env = compose["services"][service].get("environment") or {}
    return {key: interpolate(str(value), variables) for key, value in env.items()}


def property_name(variable: str) -> str:
    """The server.properties key of a ``KAFKA_*`` variable (as the image's renderer computes it,
    which removes every ``KAFKA_``, not just the prefix)."""
    return (variable.replace("KAFKA_", "").lower()
            .replace("_", ".").replace("...", "-").replace("..", "_"))


def server_properties(env: Mapping[str, str]) -> dict[str, str]:
    """server.properties as the apache/kafka image renders it from its environment ``env``."""
    return {property_name(key): value for key, value in env.items()
            if key.startswith("KAFKA_") and key not in NOT_SERVER_PROPERTIES}


def read_properties(text: str) -> dict[str, str]:
    """``key=value`` lines (no continuation lines: neither side writes any)."""
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def on_loopback(props: Mapping[str, str], ports: Mapping[str, int], log_dir: str) -> dict[str, str]:
    """``props`` with every listener moved to 127.0.0.1 and the port ``ports[<listener name>]``,
    the quorum voters to the CONTROLLER port, and ``log.dirs`` to ``log_dir``; nothing else."""
    def move(listeners: str) -> str:
        return ",".join(f"{name}://127.0.0.1:{ports[name]}"
                        for name, _ in (item.split("://", 1) for item in listeners.split(",")))

    moved = dict(props, **{"listeners": move(props["listeners"]),
                           "advertised.listeners": move(props["advertised.listeners"]),
                           "log.dirs": log_dir})
    node_id = props["node.id"]
    moved["controller.quorum.voters"] = f"{node_id}@127.0.0.1:{ports[props['controller.listener.names']]}"
    return moved
