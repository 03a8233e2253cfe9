"""The thin Kafka edge of access management (kafka-python ``KafkaAdminClient``, run as a super
user): :func:`apply` upserts SCRAM credentials and creates/deletes ACLs as
:func:`gigbridge.access.acls.plan` says; :func:`check` reads the broker's ACLs and reports the
effective matrix and drift without changing anything."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gigbridge.access.acls import (
    AclSpec, Family, Matrix, desired_acls, effective_matrix, plan, principal_of, protected_principals, topic_families,
)
from gigbridge.access.credentials import MissingSecretsError
from gigbridge.access.model import AccessError, AccessFile

if TYPE_CHECKING:  # kafka-python is imported where the broker is talked to
    from kafka.admin import KafkaAdminClient

SCRAM_MECHANISM = "SCRAM-SHA-512"

def _to_kafka(spec: AclSpec):
    from kafka.admin import ACL, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePattern, ResourceType

    return ACL(spec.principal, spec.host, ACLOperation[spec.operation], ACLPermissionType[spec.permission],
               ResourcePattern(ResourceType[spec.resource_type], spec.resource_name,
                               ACLResourcePatternType[spec.pattern_type]))


def _from_kafka(acl) -> AclSpec:
    pattern = acl.resource_pattern
    return AclSpec(acl.principal, pattern.resource_type.name, pattern.resource_name, pattern.pattern_type.name,
                   acl.operation.name, acl.permission_type.name, acl.host)


def current_acls(admin: KafkaAdminClient) -> set[AclSpec]:
    """Every ACL binding on the cluster (needs DESCRIBE on the cluster, i.e. a super user)."""
    from kafka.admin import ACLFilter, ACLOperation, ACLPermissionType, ACLResourcePatternType, ResourcePatternFilter, ResourceType

    everything = ACLFilter(None, None, ACLOperation.ANY, ACLPermissionType.ANY,
                           ResourcePatternFilter(ResourceType.ANY, None, ACLResourcePatternType.ANY))
    acls, _ = admin.describe_acls(everything)
    return {_from_kafka(acl) for acl in acls}


def scram_users(admin: KafkaAdminClient, users: Iterable[str] | None = None) -> set[str]:
    """Which of ``users`` (all users if ``None``) have a SCRAM-SHA-512 credential."""
    from kafka.admin import ScramMechanism

    users = None if users is None else list(dict.fromkeys(users))
    if users == []:
        return set()
    described = admin.describe_user_scram_credentials(users)
    return {user for user, info in described.items()
            if not info["error"] and any(ci["mechanism"] == ScramMechanism.SCRAM_SHA_512
                                         for ci in info["credential_infos"])}


@dataclass(frozen=True)
class ApplySummary:
    users_created: tuple[str, ...]
    users_updated: tuple[str, ...]   # credential re-set (same or rotated password; the broker cannot tell)
    acls_created: tuple[AclSpec, ...]
    acls_deleted: tuple[AclSpec, ...]
    dry_run: bool = False
    secret_sources: Mapping[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.users_created or self.acls_created or self.acls_deleted)

    def format(self) -> str:
        verb = "would " if self.dry_run else ""
        sources = ", ".join(f"{n} from {s}" for s, n in sorted(_count(self.secret_sources.values()).items()))
        out = [f"{'[dry run] ' if self.dry_run else ''}SCRAM-SHA-512 users: {verb}create "
               f"{len(self.users_created)}, {verb}update {len(self.users_updated)}"
               + (f" (secrets: {sources})" if sources else "")]
        out += [f"  + user {u}" for u in self.users_created]
        out.append(f"ACLs: {verb}create {len(self.acls_created)}, {verb}delete {len(self.acls_deleted)}")
        out += [f"  + {acl}" for acl in self.acls_created]
        out += [f"  - {acl}" for acl in self.acls_deleted]
        return "\n".join(out)


def _count(values: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for v in values:
        counts[v] = counts.get(v, 0) + 1
    return counts


def apply(admin: KafkaAdminClient, access: AccessFile, secrets: Mapping[str, str], *,
          dry_run: bool = False, prune_undeclared: bool = True,
          protected: Iterable[str] = ()) -> ApplySummary:
    """Make the broker match ``access``: upsert every declared user's SCRAM-SHA-512 credential,
    create the missing ACLs, then delete the ACLs :func:`plan` marks (see the module docstring).

    ``protected`` adds principals to the file's ``super_users`` (pass the account ``admin``
    connects as).  Idempotent: a second run creates and deletes no ACL and creates no user (the
    credentials are re-set, because the broker cannot reveal whether a password is current).
    Raises :class:`AccessError` if a secret is missing or the broker refuses a change."""
    from kafka.admin import UserScramCredentialUpsertion

    users = list(dict.fromkeys(access.user_names()))
    missing = [u for u in users if not secrets.get(u)]
    if missing:
        raise MissingSecretsError(missing, None)
    guard = protected_principals(access, protected)
    current = current_acls(admin)
    try:
        to_create, to_delete = plan(desired_acls(access), current, protected=guard,
                                    prune_undeclared=prune_undeclared)
    except ValueError as exc:
        raise AccessError(str(exc)) from None
    existing = scram_users(admin, users)
    summary = ApplySummary(
        users_created=tuple(u for u in users if u not in existing),
        users_updated=tuple(u for u in users if u in existing),
        acls_created=tuple(sorted(to_create)), acls_deleted=tuple(sorted(to_delete)),
        dry_run=dry_run, secret_sources=dict(getattr(secrets, "sources", {})))
    if dry_run:
        return summary

    result = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(u, SCRAM_MECHANISM, secrets[u]) for u in users])
    failed = {u: err for u, err in result.items() if err}
    if failed:
        raise AccessError(f"broker refused SCRAM credentials: {failed}")
    if summary.acls_created:
        created = admin.create_acls([_to_kafka(a) for a in summary.acls_created])
        if created["failed"]:
            errors = sorted({getattr(e, "__name__", str(e)) for e in created["failed"]})
            raise AccessError(f"broker refused {len(created['failed'])} of {len(summary.acls_created)} "
                              f"ACL(s): {', '.join(errors)}")
    if summary.acls_deleted:
        # A concrete ACL used as a filter (exact pattern type, op, permission, host) matches only itself.
        # (kafka-python's ACL is an ACLFilter subclass.)
        results = admin.delete_acls([_to_kafka(a) for a in summary.acls_deleted])
        errors = sorted({err.__name__ for _, _, err in results if getattr(err, "errno", 0)})
        if errors:
            raise AccessError(f"broker refused to delete ACL(s): {', '.join(errors)}")
    return summary


@dataclass(frozen=True)
class CheckResult:
    matrix: Matrix                      # what the broker's ACLs allow
    expected: Matrix                    # what the file's ACLs would allow
    missing: tuple[AclSpec, ...]        # desired, not on the broker (apply would create)
    extra: tuple[AclSpec, ...]          # on the broker, apply would delete
    missing_users: tuple[str, ...]      # declared users without a SCRAM-SHA-512 credential
    undeclared_users: tuple[str, ...] = ()  # SCRAM users neither declared nor protected (informational)

    @property
    def drift(self) -> bool:
        return bool(self.missing or self.extra or self.missing_users)

    def format(self) -> str:
        out = ["Effective access (R read, W write, C create, D describe; lower case = on some of the "
               "family's topics only; ! = differs from the file):",
               self.matrix.format(self.expected), ""]
        if not self.drift:
            out.append("No drift: the broker matches the access file.")
        else:
            out.append(f"DRIFT: {len(self.missing)} missing ACL(s), {len(self.extra)} extra ACL(s), "
                       f"{len(self.missing_users)} missing user(s)")
            out += [f"  missing user {u}" for u in self.missing_users]
            out += [f"  missing {acl}" for acl in self.missing]
            out += [f"  extra   {acl}" for acl in self.extra]
        if self.undeclared_users:
            out.append(f"note: {len(self.undeclared_users)} SCRAM user(s) not in the file (their credentials "
                       f"are left alone; apply prunes their ACLs unless --keep-undeclared): "
                       f"{', '.join(self.undeclared_users)}")
        return "\n".join(out)


def check(admin: KafkaAdminClient, access: AccessFile, *, prune_undeclared: bool = True,
          protected: Iterable[str] = (), families: Iterable[Family] | None = None) -> CheckResult:
    """Compare the broker with ``access`` without changing anything."""
    guard = protected_principals(access, protected)
    current = current_acls(admin)
    desired = desired_acls(access)
    try:
        missing, extra = plan(desired, current, protected=guard, prune_undeclared=prune_undeclared)
    except ValueError as exc:
        raise AccessError(str(exc)) from None
    users = list(dict.fromkeys(access.user_names()))
    all_users = scram_users(admin, None)
    fams = list(topic_families(access) if families is None else families)
    return CheckResult(
        matrix=effective_matrix(current, access, fams),
        expected=effective_matrix(desired, access, fams),
        missing=tuple(sorted(missing)), extra=tuple(sorted(extra)),
        missing_users=tuple(u for u in users if u not in all_users),
        undeclared_users=tuple(sorted(u for u in all_users
                                      if u not in users and principal_of(u) not in guard)))

