"""Users and ACLs of an access file applied on the test broker as production applies
deploy/access.yaml (``gigbridge.access.apply``), dropped again afterwards: for tests that must
run a component as a least-privilege user (the gateway as the hub) rather than the super user."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any, Iterator, Mapping


@contextlib.contextmanager
def applied_access(kafka, doc: Mapping[str, Any]) -> Iterator[dict]:
    """Apply access file ``doc`` (the test broker's super user is kept a super user); yields
    user name -> :class:`deploy.kafka.local.KafkaConnection` of that user."""
    from kafka.admin import (ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, KafkaAdminClient,
                             ResourcePatternFilter, ResourceType, UserScramCredentialDeletion)

    from deploy.kafka.local import KafkaConnection
    from gigbridge.access import apply, parse_access, resolve_secrets, secret_env_var

    access = parse_access({"version": 1, "super_users": [kafka.username], **doc})
    passwords = {user: f"pw-{uuid.uuid4().hex}" for user in access.user_names()}
    admin = KafkaAdminClient(**kafka.kafka_python_config())
    try:
        apply(admin, access, resolve_secrets(access, env={secret_env_var(u): pw for u, pw in passwords.items()}),
              prune_undeclared=False, protected=[kafka.username])
        yield {user: KafkaConnection(kafka.bootstrap, user, pw) for user, pw in passwords.items()}
    finally:
        admin.delete_acls([ACLFilter(f"User:{u}", None, ACLOperation.ANY, ACLPermissionType.ANY,
                                     ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
                           for u in access.user_names()])
        admin.alter_user_scram_credentials([UserScramCredentialDeletion(u, "SCRAM-SHA-512")
                                            for u in access.user_names()])
        admin.close()


def wait_until_authorized(conn, topic: str, timeout: float = 60) -> None:
    """Until ``conn``'s user authenticates and sees ``topic`` (new SCRAM users and ACLs take a
    moment to be in force on every broker listener)."""
    from kafka import KafkaConsumer
    from kafka.errors import KafkaError

    from tests.support.kafka_io import wait_for

    def sees_it():
        try:
            consumer = KafkaConsumer(**conn.kafka_python_config(), request_timeout_ms=5000)
        except KafkaError:
            return None
        try:
            return consumer.partitions_for_topic(topic)
        finally:
            consumer.close()

    wait_for(sees_it, timeout, f"{conn.username} to see {topic}")
