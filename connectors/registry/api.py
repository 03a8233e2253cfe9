"""A read-only, Confluent-compatible Schema Registry API served from the ``schemas/`` catalog.

Stock serializers (Java ``KafkaAvroSerializer``, confluent-kafka-python ``AvroSerializer``,
Go ``srclient``/``schemaregistry``) can point ``schema.registry.url`` at it: the ids they get
are the catalog's hand-written ids, identical on every machine, so their messages carry the
same 5-byte header as the hub's own (``schemas.wire``).

Subjects follow the TopicNameStrategy (``<topic>-value``) and are resolved on request for ANY
topic that matches a catalog topic pattern (``platform.acme.sites-value``); the RecordName
(``io.gigbridge.events.SiteEvent``) and TopicRecordName (``<topic>-<full name>``) forms resolve
too. ``GET /subjects`` lists the subjects of the catalog's fixed topics plus those of the
topics that exist on the broker (when a topic lister is given).

The registry never changes: contracts change by code review (a new ``avro/<c>/v<N>.avsc`` and a
catalog entry). Registering a schema that IS already a version of the subject answers its id
(what a real registry does, so clients with ``auto.register.schemas=true`` work); anything
else that would change state (a new schema, config, mode, deletes) is refused with HTTP 422 and
``error_code`` 42205, Confluent's "operation not permitted" code that a registry in
``READONLY`` mode returns.

Errors are Confluent-shaped: ``{"error_code": 40401, "message": "..."}``:

=====  ====  =========================================================
code   HTTP  meaning
=====  ====  =========================================================
40401  404   subject not found
40402  404   version not found
40403  404   schema not found
42201  422   invalid schema
42202  422   invalid version
42205  422   operation not permitted (read-only registry)
404    404   no such endpoint (also associations: clients fall back to
             ``<topic>-value``)
405    405   method not allowed
50001  500   internal error
=====  ====  =========================================================
"""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any, Awaitable, Callable, Iterable

import fastavro
from aiohttp import web
from fastavro.schema import to_parsing_canonical_form

from gigbridge.logs import get_logger
from schemas.catalog import Catalog, Contract, SchemaVersion, default_catalog
from schemas.compat import check_candidate, check_pair

__all__ = [
    "CONTENT_TYPE",
    "RegistryError",
    "SchemaRegistryApi",
    "TopicLister",
    "create_registry_app",
]

log = get_logger("connectors.registry")

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
READ_ONLY_MESSAGE = ("contracts change by code review: add schemas/avro/<contract>/v<N>.avsc and its "
                     "schemas/catalog.yaml entry (checked by `python -m schemas.compat`); this registry is read-only")
MAX_BODY_BYTES = 1_048_576

TopicLister = Callable[[], Awaitable[Iterable[str]]]


class RegistryError(Exception):
    def __init__(self, status: int, error_code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.message = message


def _subject_not_found(subject: str) -> RegistryError:
    return RegistryError(404, 40401, f"Subject '{subject}' not found.")


def _schema_not_found(detail: str = "Schema not found") -> RegistryError:
    return RegistryError(404, 40403, detail)


def _read_only(what: str) -> RegistryError:
    return RegistryError(422, 42205, f"{what} is not permitted: {READ_ONLY_MESSAGE}")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, text=json.dumps(data), content_type=CONTENT_TYPE)


def schema_string(version: SchemaVersion) -> str:
    """The schema as the registry serves it: the .avsc JSON, compact."""
    return json.dumps(version.schema, separators=(",", ":"), ensure_ascii=False)


class SchemaRegistryApi:
    """The registry's handlers over a :class:`~schemas.catalog.Catalog`."""

    def __init__(self, catalog: Catalog | None = None, *, topic_lister: TopicLister | None = None) -> None:
        self.catalog = catalog or default_catalog()
        self.topic_lister = topic_lister
        # topic patterns without placeholders are concrete topics: always listed
        self._fixed_topics = sorted(t for c in self.catalog.contracts for t in c.topics if "{" not in t)

    # -- subject resolution -------------------------------------------------------------------

    def resolve(self, subject: str) -> Contract | None:
        if subject.endswith("-value"):
            match = self.catalog.subject_for_topic(subject[: -len("-value")])
            return match[1] if match else None
        try:
            return self.catalog.by_full_name(subject)  # RecordNameStrategy
        except KeyError:
            pass
        for contract in self.catalog.contracts:  # TopicRecordNameStrategy
            suffix = "-" + contract.full_name
            if subject.endswith(suffix):
                match = self.catalog.match_topic(subject[: -len(suffix)])
                if match is not None and match.contract is contract:
                    return contract
        return None

    def contract_of(self, subject: str) -> Contract:
        contract = self.resolve(subject)
        if contract is None:
            raise _subject_not_found(subject)
        return contract

    async def subjects(self) -> list[str]:
        topics = set(self._fixed_topics)
        if self.topic_lister is not None:
            try:
                topics.update(await self.topic_lister())
            except Exception as exc:  # noqa: BLE001 - the broker is optional for a read-only registry
                log.warning("registry cannot list topics; listing fixed subjects only",
                            error=f"{type(exc).__name__}: {exc}")
        return sorted(f"{t}-value" for t in topics if self.catalog.match_topic(t) is not None)

    @staticmethod
    def _version(contract: Contract, raw: str) -> SchemaVersion:
        if raw in ("latest", "-1"):
            return contract.latest
        try:
            number = int(raw)
        except ValueError:
            number = 0
        if number < 1 or str(number) != raw.lstrip("+"):
            raise RegistryError(422, 42202, f"The specified version '{raw}' is not a valid version id. Allowed "
                                "values are between [1, 2^31-1] and the string \"latest\"")
        try:
            return contract.version(number)
        except KeyError:
            raise RegistryError(404, 40402, f"Version {number} not found.") from None

    @staticmethod
    def _by_id(catalog: Catalog, raw: str) -> SchemaVersion:
        try:
            version = catalog.by_id(int(raw))
        except ValueError:
            version = None
        if version is None:
            raise _schema_not_found(f"Schema {raw} not found")
        return version

    @staticmethod
    def _registered(subject: str, version: SchemaVersion) -> dict[str, Any]:
        return {"subject": subject, "version": version.version, "id": version.schema_id,
                "schema": schema_string(version)}

    async def _posted_schema(self, request: web.Request) -> tuple[Any, str]:
        """(parsed schema JSON, Parsing Canonical Form) of a ``{"schema": "..."}`` body."""
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            raise RegistryError(422, 42201, "Invalid schema: the request body is not JSON") from None
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise RegistryError(422, 42201, 'Invalid schema: the body must be {"schema": "<schema JSON string>"}')
        schema_type = body.get("schemaType", "AVRO")
        if schema_type not in (None, "AVRO"):
            raise RegistryError(422, 42201, f"Invalid schema: only AVRO schemas are registered here, not {schema_type}")
        try:
            schema = json.loads(body["schema"])
            fastavro.parse_schema(copy.deepcopy(schema), _write_hint=False)
            canonical = to_parsing_canonical_form(copy.deepcopy(schema))
        except Exception as exc:  # noqa: BLE001 - json / fastavro raise many types
            raise RegistryError(422, 42201, f"Invalid schema: {type(exc).__name__}: {str(exc)[:200]}") from None
        return schema, canonical

    # -- handlers -------------------------------------------------------------------------------

    async def root(self, request: web.Request) -> web.Response:
        return _json({})

    async def list_subjects(self, request: web.Request) -> web.Response:
        prefix = request.query.get("subjectPrefix", "")
        return _json([s for s in await self.subjects() if s.startswith(prefix)])

    async def subject_versions(self, request: web.Request) -> web.Response:
        contract = self.contract_of(request.match_info["subject"])
        return _json([v.version for v in contract.versions])

    async def subject_version(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        version = self._version(self.contract_of(subject), request.match_info["version"])
        return _json(self._registered(subject, version))

    async def subject_version_schema(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        version = self._version(self.contract_of(subject), request.match_info["version"])
        return _json(version.schema)

    async def subject_version_referenced_by(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        self._version(self.contract_of(subject), request.match_info["version"])
        return _json([])

    async def schema_by_id(self, request: web.Request) -> web.Response:
        version = self._by_id(self.catalog, request.match_info["id"])
        subject = request.query.get("subject")
        if subject:
            contract = self.resolve(subject)
            if contract is None or contract.name != version.contract:
                raise _schema_not_found(f"Schema {version.schema_id} not found under subject '{subject}'")
        return _json({"schema": schema_string(version)})

    async def schema_by_id_raw(self, request: web.Request) -> web.Response:
        return _json(self._by_id(self.catalog, request.match_info["id"]).schema)

    async def _subjects_of(self, version: SchemaVersion) -> list[str]:
        return [s for s in await self.subjects() if (c := self.resolve(s)) is not None and c.name == version.contract]

    async def schema_id_versions(self, request: web.Request) -> web.Response:
        version = self._by_id(self.catalog, request.match_info["id"])
        return _json([{"subject": s, "version": version.version} for s in await self._subjects_of(version)])

    async def schema_id_subjects(self, request: web.Request) -> web.Response:
        version = self._by_id(self.catalog, request.match_info["id"])
        return _json(await self._subjects_of(version))

    async def schema_types(self, request: web.Request) -> web.Response:
        return _json(["AVRO"])

    async def lookup(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        contract = self.contract_of(subject)
        _, canonical = await self._posted_schema(request)
        for version in contract.versions:
            if version.canonical == canonical:
                return _json(self._registered(subject, version))
        raise _schema_not_found(f"Schema not found under subject '{subject}' (compared in Parsing Canonical Form)")

    async def register(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        contract = self.resolve(subject)
        _, canonical = await self._posted_schema(request)
        if contract is not None:
            for version in contract.versions:
                if version.canonical == canonical:  # idempotent re-registration: nothing changes
                    return _json({"id": version.schema_id})
        raise _read_only(f"registering a new schema under '{subject}'")

    async def compatibility(self, request: web.Request) -> web.Response:
        subject = request.match_info["subject"]
        contract = self.contract_of(subject)
        raw_version = request.match_info.get("version")
        target = self._version(contract, raw_version) if raw_version is not None else None
        candidate, _ = await self._posted_schema(request)
        try:
            if raw_version is None or raw_version in ("latest", "-1"):
                problems = [str(p) for p in check_candidate(contract, candidate)]
            else:
                problems = _check_against(contract, candidate, target)
        except Exception as exc:  # noqa: BLE001 - avro.errors.* for schemas fastavro accepted
            raise RegistryError(422, 42201, f"Invalid schema: {type(exc).__name__}: {str(exc)[:200]}") from None
        return _json({"is_compatible": not problems, "messages": problems})

    async def config(self, request: web.Request) -> web.Response:
        subject = request.match_info.get("subject")
        if subject is None:
            return _json({"compatibilityLevel": "BACKWARD_TRANSITIVE"})
        return _json({"compatibilityLevel": self.contract_of(subject).compatibility})

    async def mode(self, request: web.Request) -> web.Response:
        subject = request.match_info.get("subject")
        if subject is not None:
            self.contract_of(subject)
        return _json({"mode": "READONLY"})

    async def contexts(self, request: web.Request) -> web.Response:
        return _json(["."])

    async def refuse(self, request: web.Request) -> web.Response:
        raise _read_only(f"{request.method} {request.path}")

    async def no_associations(self, request: web.Request) -> web.Response:
        # confluent-kafka >= 2.13's default AssociatedNameStrategy asks this first; 404 makes it
        # fall back to the TopicNameStrategy (<topic>-value), which is what the hub uses.
        raise RegistryError(404, 404, "No associations: this registry uses the TopicNameStrategy (<topic>-value)")

    def add_routes(self, router: web.UrlDispatcher) -> None:
        r = router
        r.add_get("/", self.root)
        r.add_get("/subjects", self.list_subjects)
        r.add_get("/subjects/{subject}/versions", self.subject_versions)
        r.add_get("/subjects/{subject}/versions/{version}", self.subject_version)
        r.add_get("/subjects/{subject}/versions/{version}/schema", self.subject_version_schema)
        r.add_get("/subjects/{subject}/versions/{version}/referencedby", self.subject_version_referenced_by)
        r.add_post("/subjects/{subject}", self.lookup)
        r.add_post("/subjects/{subject}/versions", self.register)
        r.add_delete("/subjects/{subject}", self.refuse)
        r.add_delete("/subjects/{subject}/versions/{version}", self.refuse)
        r.add_get("/schemas/types", self.schema_types)
        r.add_get("/schemas/ids/{id}", self.schema_by_id)
        r.add_get("/schemas/ids/{id}/schema", self.schema_by_id_raw)
        r.add_get("/schemas/ids/{id}/versions", self.schema_id_versions)
        r.add_get("/schemas/ids/{id}/subjects", self.schema_id_subjects)
        r.add_post("/compatibility/subjects/{subject}/versions", self.compatibility)
        r.add_post("/compatibility/subjects/{subject}/versions/{version}", self.compatibility)
        r.add_get("/config", self.config)
        r.add_get("/config/{subject}", self.config)
        r.add_put("/config", self.refuse)
        r.add_put("/config/{subject}", self.refuse)
        r.add_delete("/config/{subject}", self.refuse)
        r.add_get("/mode", self.mode)
        r.add_get("/mode/{subject}", self.mode)
        r.add_put("/mode", self.refuse)
        r.add_put("/mode/{subject}", self.refuse)
        r.add_get("/contexts", self.contexts)
        r.add_get("/associations/resources/{namespace}/{resource}", self.no_associations)
        r.add_get("/associations/subjects/{subject}", self.no_associations)
        r.add_post("/associations", self.refuse)


def _check_against(contract: Contract, candidate: Any, target: SchemaVersion) -> list[str]:
    """Compatibility of ``candidate`` with ONE version, in the direction(s) the mode requires."""
    base = contract.compatibility.removesuffix("_TRANSITIVE")
    pairs = []
    if base in ("BACKWARD", "FULL"):
        pairs.append(("candidate", candidate, f"v{target.version}", target.schema))
    if base in ("FORWARD", "FULL"):
        pairs.append((f"v{target.version}", target.schema, "candidate", candidate))
    messages = []
    for reader_label, reader, writer_label, writer in pairs:
        found = check_pair(reader, writer)
        if found is not None:
            where = ", ".join(found["fields"] or found["locations"])
            messages.append(f"{contract.name}: {reader_label} (reader) cannot read data written with {writer_label} "
                            f"(writer) [{contract.compatibility}]: {', '.join(found['kinds'])} at {where}: "
                            f"{'; '.join(found['messages'])}")
    return messages


@web.middleware
async def registry_errors(request: web.Request, handler):
    """Confluent-shaped errors for everything under the registry (also unknown paths)."""
    try:
        return await handler(request)
    except RegistryError as exc:
        return _json({"error_code": exc.error_code, "message": exc.message}, exc.status)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        resp = _json({"error_code": exc.status, "message": f"HTTP {exc.status} {exc.reason}"}, exc.status)
        if "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001
        log.exception("registry request failed", path=request.path)
        return _json({"error_code": 50001, "message": "Error in the backend data store"}, 500)


def create_registry_app(catalog: Catalog | None = None, *,
                        topic_lister: TopicLister | None = None) -> web.Application:
    """The registry as its own aiohttp app: serve it standalone, or mount it with
    ``app.add_subapp("/registry", create_registry_app(...))``."""
    app = web.Application(middlewares=[registry_errors], client_max_size=MAX_BODY_BYTES)
    SchemaRegistryApi(catalog, topic_lister=topic_lister).add_routes(app.router)
    app.on_response_prepare.append(_server_header)
    return app


async def _server_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["Server"] = "gigbridge"  # no software versions
