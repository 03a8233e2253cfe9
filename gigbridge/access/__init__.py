"""Least-privilege Kafka access for every gigbridge principal, declared in one file.

``deploy/access.yaml`` lists the principals by kind (platforms, offices, insurers, handling
units, regulators, public readers, the hub, operators); everything else is derived here.  See
``docs/access.md`` for the full matrix.

Pure core (no I/O besides reading the file and the secrets, no Kafka):

* :func:`load_access` -- parse and validate the file into an :class:`AccessFile` (``.model``).
* :func:`desired_acls` -- the complete least-privilege ACL set (:class:`AclSpec`) for the file
  (``.acls``, like :func:`plan`, :func:`is_allowed` and :func:`effective_matrix`).
* :func:`plan` -- diff desired against current ACLs: what to create, what to delete.
* :func:`resolve_secrets` -- each user's SCRAM password from env / secrets dir / ``--dev`` default
  (``.credentials``).
* :func:`is_allowed`, :func:`effective_matrix` -- evaluate ACLs with the broker's rules
  (``StandardAuthorizer``: DENY wins, ``ALL`` matches every operation, READ/WRITE/DELETE/ALTER
  imply DESCRIBE, ALTER_CONFIGS implies DESCRIBE_CONFIGS, ``User:*`` matches everyone, LITERAL
  ``*`` matches every name, PREFIXED matches by ``str.startswith``; cluster CREATE authorizes
  creating any topic).

Thin Kafka edge (``.admin``; kafka-python ``KafkaAdminClient``, must run as a super user):

* :func:`apply` -- upsert SCRAM-SHA-512 credentials, create missing ACLs, delete undeclared ones.
* :func:`check` -- read the broker's ACLs: effective matrix + drift, without changing anything.

Deletion scope (:func:`plan`).  An ACL on the broker that the file does not want is deleted when

1. its principal is one the file declares (``User:<user>`` of any kind), or
2. ``prune_undeclared`` is on (the default) and its principal is any other ``User:`` principal,
   including the wildcard ``User:*`` -- users removed from the file lose all their grants;

but never when the principal is *protected*: the file's ``super_users`` (default ``[admin]``,
mirror the broker's ``super.users`` there) and the account ``apply``/``check`` connect as.
ACLs of non-``User:`` principal types (custom principal builders) are never touched.  SCRAM
credentials are only created/updated, never deleted (a user dropped from the file keeps its
password but has no ACL left, so it can authenticate and do nothing).
"""

from __future__ import annotations

from gigbridge.access.acls import (
    CLAIM_STATUS,
    CLUSTER_RESOURCE,
    HUB_SAMPLE_TOPICS,
    INGEST_TYPES,
    INSURANCE_TYPES,
    OFFICE_TYPES,
    OP_LETTERS,
    PLATFORM_READS,
    PLATFORM_WRITES,
    PROVINCE_CODES,
    PUBLIC_PREFIX,
    REGULATOR_PREFIX,
    UNIT_READS,
    UNIT_WRITES,
    AclSpec,
    Family,
    Matrix,
    desired_acls,
    effective_matrix,
    group_prefix,
    insurance_topic_prefix,
    is_allowed,
    notice_topic,
    office_topic_prefix,
    partner_written_topics,
    plan,
    principal_of,
    protected_principals,
    topic_families,
)
from gigbridge.access.admin import SCRAM_MECHANISM, ApplySummary, CheckResult, apply, check, current_acls, scram_users
from gigbridge.access.credentials import (
    DEV_SECRET_TEMPLATE,
    SECRETS_DIR_ENV,
    MissingSecretsError,
    Secrets,
    dev_secret,
    resolve_secrets,
)
from gigbridge.access.model import (
    APP_ID_RE,
    DEFAULT_ACCESS_FILE,
    DEFAULT_UNITS_FILE,
    NAME_RE,
    OFFICE_LEVELS,
    PLATFORM_ID_RE,
    READ_PREFIX_RE,
    REPO_ROOT,
    SECRET_ENV_PREFIX,
    UNIT_ID_RE,
    USER_RE,
    AccessError,
    AccessFile,
    Hub,
    Insurer,
    Office,
    Operator,
    Platform,
    PublicReader,
    Regulator,
    Unit,
    load_access,
    parse_access,
    secret_env_var,
    units_of,
)

__all__ = [
    "APP_ID_RE", "HUB_SAMPLE_TOPICS", "INGEST_TYPES", "INSURANCE_TYPES", "NAME_RE", "OFFICE_LEVELS", "OFFICE_TYPES",
    "OP_LETTERS", "PLATFORM_ID_RE", "READ_PREFIX_RE", "REPO_ROOT", "USER_RE",
    "CLAIM_STATUS", "DEFAULT_UNITS_FILE", "PLATFORM_READS", "PLATFORM_WRITES", "PROVINCE_CODES", "PUBLIC_PREFIX",
    "REGULATOR_PREFIX", "UNIT_ID_RE", "UNIT_READS", "UNIT_WRITES", "PublicReader", "Regulator", "Unit",
    "notice_topic", "partner_written_topics", "units_of",
    "AccessError", "AccessFile", "AclSpec", "ApplySummary", "CLUSTER_RESOURCE", "CheckResult", "DEFAULT_ACCESS_FILE",
    "DEV_SECRET_TEMPLATE", "Family", "Hub", "Insurer", "Matrix", "MissingSecretsError", "Office", "Operator",
    "Platform", "SCRAM_MECHANISM", "SECRETS_DIR_ENV", "SECRET_ENV_PREFIX", "Secrets", "add_cli", "apply", "check",
    "current_acls", "desired_acls", "dev_secret", "effective_matrix", "group_prefix", "insurance_topic_prefix",
    "is_allowed", "load_access", "office_topic_prefix", "parse_access", "plan", "principal_of",
    "protected_principals", "resolve_secrets", "scram_users", "secret_env_var", "topic_families",
]


def add_cli(subparsers) -> None:
    """Register ``gigbridge access apply|check`` on the main parser's subparsers (see access_cli)."""
    from gigbridge.access_cli import add_cli as _add_cli

    _add_cli(subparsers)
