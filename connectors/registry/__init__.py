"""Read-only, Confluent-compatible schema registry API over the ``schemas/`` catalog.

Mounted at ``/registry`` in the ingest gateway (:func:`connectors.gateway.create_gateway_app`)
or run standalone (``gigbridge registry`` via :func:`add_cli`, or ``python -m connectors.registry``).
"""

from .api import (
    CONTENT_TYPE,
    RegistryError,
    SchemaRegistryApi,
    TopicLister,
    create_registry_app,
)
from .cli import add_cli, serve_registry
from .topic_lister import KafkaTopicLister

__all__ = [
    "CONTENT_TYPE",
    "KafkaTopicLister",
    "RegistryError",
    "SchemaRegistryApi",
    "TopicLister",
    "add_cli",
    "create_registry_app",
    "serve_registry",
]
