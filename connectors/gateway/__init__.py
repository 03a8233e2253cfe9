"""HTTP ingest gateway: JSON events over HTTPS for platforms without Kafka clients, validated
with the stream's own rules and written to ``platform.<id>.<type>`` before the response.

See :mod:`connectors.gateway.app` for the API and docs/platform-guide.md for platform engineers.
"""

from .app import GATEWAY, REGISTRY_PREFIX, Gateway, create_gateway_app
from .server import runner_kwargs, serve, setup_runner
from .cli import add_cli
from .config import GatewayConfig, GatewayConfigError, TokenStore, hash_token
from .producer import EventProducer, KafkaEventProducer, ProduceError

__all__ = [
    "GATEWAY",
    "REGISTRY_PREFIX",
    "EventProducer",
    "Gateway",
    "GatewayConfig",
    "GatewayConfigError",
    "KafkaEventProducer",
    "ProduceError",
    "TokenStore",
    "add_cli",
    "create_gateway_app",
    "hash_token",
    "runner_kwargs",
    "serve",
    "setup_runner",
]
