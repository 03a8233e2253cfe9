"""Doc-test of the guides: every command a guide shows is run here, so the guides cannot drift.

* ``tests/support/doc_blocks.py`` reads the fenced blocks. Each block in a command language (sh,
  bash, console, python, java, go) is claimed by one test below with ``@runs(...)``, or its guide
  marks it ``<!-- doctest: skip <reason> -->``: ``test_every_command_block_is_run_or_marked``
  fails otherwise, and a test that passes without running a block it claims fails too.
* The examples are written for production: ``https://hub.example``, ``kafka.hub.example:9092``,
  ``SASL_SSL``, ``...`` for secrets. :func:`placeholders` maps them to a local hub: the test
  broker (``kafka`` fixture), ``gigbridge ingest`` (gateway and registry), ``gigbridge worker``
  delivering office 310101's records to the webhook receiver of ``docs/webhook-signatures.md``,
  and the users of ``deploy/access.yaml`` with their dev passwords.
* Shell blocks run with ``bash -eu`` in a scratch view of the repository (symlinks, its own
  ``.local``). Long-running commands are started, polled for their effect with a deadline, and
  stopped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from deploy.kafka.local import DEFAULT_LIB_DIR, KafkaConnection
from gigbridge.access import (
    DEFAULT_ACCESS_FILE,
    apply,
    check,
    dev_secret,
    load_access,
    parse_access,
    resolve_secrets,
)
from schemas.catalog import default_catalog
from schemas.wire import WireFormatError, decode, encode
from tests.support.doc_blocks import Block, console_commands, fill, parse_blocks
from tests.support.kafka_io import (
    Background, HubProcess, free_port, newer_librdkafka_env, onboard, producer, read_all, wait_for,
)

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
CATALOG = default_catalog()
PLATFORM = "swiftmeal"                # the guides' platform and office, as in deploy/access.yaml
OFFICE = "310101"
HUANGPU = "310101002000"             # a division of that office
TOKEN = f"tok-{PLATFORM}-{uuid.uuid4().hex}"
WEBHOOK_SECRET = "whsec-doc-test-" + uuid.uuid4().hex
kafka_test = pytest.mark.kafka


class Guide:
    def __init__(self, name: str) -> None:
        self.path = REPO / name
        self.blocks = parse_blocks(self.path)

    def block(self, containing: str) -> Block:
        found = [b for b in self.blocks if containing in b.text]
        assert len(found) == 1, f"{self.path.name}: {len(found)} blocks contain {containing!r}"
        return found[0]


README, PLATFORM_GUIDE, OFFICE_GUIDE, OPERATIONS, ACCESS, WEBHOOKS = GUIDES = [
    Guide(name) for name in ("README.md", "docs/platform-guide.md", "docs/office-guide.md", "docs/operations.md",
                             "docs/access.md", "docs/webhook-signatures.md")]

# --- which test runs which block -------------------------------------------------------------
CLAIMS: dict[Block, str] = {}
EXECUTED: set[Block] = set()


def runs(*blocks: Block):
    """Declare the command blocks a test runs (or checks); the test fails if it passes without."""
    def mark(test):
        for block in blocks:
            assert block not in CLAIMS, f"{block.id} is claimed by {CLAIMS[block]} and {test.__name__}"
            CLAIMS[block] = test.__name__
        test.doc_blocks = blocks
        return test
    return mark


@pytest.fixture(autouse=True)
def _claimed_blocks_ran(request):
    failed_before = request.session.testsfailed
    yield
    if request.session.testsfailed > failed_before:  # the call phase failed: that says enough
        return
    missing = [b.id for b in getattr(request.function, "doc_blocks", ()) if b not in EXECUTED]
    assert not missing, f"{request.function.__name__} claims but did not run: {missing}"


def skip_block(block: Block, reason: str) -> None:
    """Skip a claimed block for a reason of this machine (a missing tool), visibly."""
    EXECUTED.add(block)
    pytest.skip(f"{block.id}: {reason}")


# --- the local hub ---------------------------------------------------------------------------
@dataclass
class LocalHub:
    kafka: KafkaConnection
    workdir: Path        # scratch view of the repository: the cwd of every command
    gateway: HubProcess | None = None
    worker: HubProcess | None = None
    receiver: Background | None = None
    receiver_url: str = ""

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway.port}"

    def env(self, **extra: str) -> dict[str, str]:
        return command_env(self.kafka.as_env(), **extra)

    def run(self, block: Block, text: str | None = None, **env: str) -> str:
        """Run a shell block (its placeholders filled, or ``text``) to its end; its stdout."""
        text = filled(block, placeholders(self)) if text is None else text
        return ok(run_shell(self.workdir, self.env(**env), block, text))

    def start(self, block: Block, text: str, name: str) -> Background:
        return start_shell(self.workdir, self.env(), block, text, name)

    def python(self, name: str, block: Block, user: str | None = None) -> list[str]:
        """The command that runs a Python block with the placeholders (and ``user``'s password) filled."""
        return python_script(self.workdir, name, block, values=placeholders(self, user))

    def run_python(self, name: str, block: Block, user: str | None = None) -> str:
        return ok(subprocess.run(self.python(name, block, user), cwd=self.workdir, env=self.env(),
                                 capture_output=True, text=True, timeout=60))

    def start_python(self, name: str, block: Block, user: str | None = None) -> Background:
        command = self.python(name, block, user)
        return Background(command, self.workdir / f"{name}.log", self.env(), self.workdir).start()


def shared_broker() -> bool:
    """The tests use a broker named by an exported GIGBRIDGE_KAFKA_BOOTSTRAP, maybe not theirs alone."""
    return KafkaConnection.from_env() is not None


def command_env(*parts: dict[str, str], **extra: str) -> dict[str, str]:
    """The environment of a guide's command: the venv's ``gigbridge`` and ``python`` first on PATH."""
    return {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}", "PYTHONUNBUFFERED": "1",
            **{k: v for part in parts for k, v in part.items()}, **extra}


def placeholders(hub: LocalHub, user: str | None = None) -> dict[str, str]:
    """The guides' production placeholders -> the local hub (``user``: whose ``...`` password)."""
    values = {"https://hub.example": hub.gateway_url, "kafka.hub.example:9092": hub.kafka.bootstrap,
              "SASL_SSL": hub.kafka.security_protocol, "TOKEN=...": f"TOKEN={TOKEN}"}
    if user is not None:
        password = dev_secret(user)
        values.update({'"sasl.password": "..."': f'"sasl.password": "{password}"',
                       "sasl.password=...": f"sasl.password={password}",
                       "GIGBRIDGE_KAFKA_PASSWORD=...": f"GIGBRIDGE_KAFKA_PASSWORD={password}"})
    return values


def filled(block: Block, values: dict[str, str]) -> str:
    text = fill(block.text, values)
    left = re.findall(r"hub\.example|SASL_SSL|(?:password|TOKEN)\W{1,4}\.\.\.", text)
    assert not left, f"{block.id}: placeholders without a local value: {left}"
    return text


def _bash(text: str) -> list[str]:
    return ["bash", "--noprofile", "--norc", "-eu", "-c", text]


def run_shell(workdir: Path, env: dict[str, str], block: Block, text: str,
              timeout: float = 60) -> subprocess.CompletedProcess:
    EXECUTED.add(block)
    return subprocess.run(_bash(text), cwd=workdir, env=env, capture_output=True, text=True, timeout=timeout)


def start_shell(workdir: Path, env: dict[str, str], block: Block, text: str, name: str) -> Background:
    """A long-running block in the background (its whole process group is stopped)."""
    EXECUTED.add(block)
    return Background(_bash(text), workdir / f"{name}.log", env, workdir, own_group=True).start()


def python_script(workdir: Path, name: str, *blocks: Block, values: dict[str, str] | None = None) -> list[str]:
    """The command that runs ``blocks`` (placeholders filled) as one program."""
    path = workdir / f"{name}.py"
    path.write_text("\n\n".join(filled(b, values or {}) for b in blocks))
    EXECUTED.update(blocks)
    return [sys.executable, str(path)]


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    return result.stdout


def json_documents(text: str) -> list:
    """The JSON documents printed one after another (``curl -s`` adds no newline)."""
    decoder, docs, text, i = json.JSONDecoder(), [], text.strip(), 0
    while i < len(text):
        doc, i = decoder.raw_decode(text, i)
        docs.append(doc)
        while i < len(text) and text[i].isspace():
            i += 1
    return docs


def assert_shown(shown, actual) -> None:
    """``actual`` is what the guide shows; a shown string ending in ``...`` is a prefix."""
    def same(a, b) -> bool:
        if isinstance(a, str) and a.endswith("..."):
            return isinstance(b, str) and b.startswith(a[:-3])
        if isinstance(a, dict):
            return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
        if isinstance(a, list):
            return isinstance(b, list) and len(a) == len(b) and all(map(same, a, b))
        return a == b
    assert same(shown, actual), f"the guide shows\n{json.dumps(shown, indent=1)}\nbut the hub answers\n" \
                                f"{json.dumps(actual, indent=1)}"


def now_ms() -> int:
    return int(time.time() * 1000)


def site(event_id: str | None = None, division: str = HUANGPU) -> dict:
    return {"event_id": event_id or str(uuid.uuid4()), "platform_id": PLATFORM, "occurred_at": now_ms(),
            "site_id": "SH-HP-0043", "action": "OPENED", "site_type": "DELIVERY_STATION", "division_code": division,
            "location": {"lat": 31.2401, "lon": 121.4855}, "facilities": ["REST_AREA"], "capacity_workers": 12}


def headcount(division: str = HUANGPU) -> dict:
    end = now_ms() - 60_000
    return {"event_id": str(uuid.uuid4()), "platform_id": PLATFORM, "occurred_at": end, "site_id": "SH-HP-0043",
            "division_code": division, "period_start": end - 7 * 86_400_000, "period_end": end,
            "active_workers": 30, "new_workers": 4, "departed_workers": 2, "employed_workers": 5,
            "non_standard_workers": 10, "independent_workers": 15, "insured_workers": 25, "long_hours_workers": 3}


def incident() -> dict:
    return {"event_id": str(uuid.uuid4()), "platform_id": PLATFORM, "occurred_at": now_ms() - 600_000,
            "incident_id": f"SM-HP-{uuid.uuid4().hex[:8]}", "division_code": HUANGPU, "category": "TRAFFIC_ACCIDENT",
            "severity": "MINOR", "weather": "RAIN", "worker_ref": hashlib.sha256(b"doc-test").hexdigest(),
            "insured": True, "reported_at": now_ms() - 60_000}


def send(kafka, event_type: str, record: dict, key: str = "SH-HP-0043"):
    """Produce ``record`` to the platform's topic as the platform would (wire format)."""
    contract = {"sites": "site_event", "headcounts": "headcount_report", "incidents": "incident_report"}[event_type]
    p = producer(kafka)
    try:
        return p.send(f"platform.{PLATFORM}.{event_type}", key=key.encode(),
                      value=encode(CATALOG.contract(contract).latest, record, validate=False)).get(30)
    finally:
        p.close()


def records_of(kafka, topic: str, event_id: str) -> list[dict]:
    """The decoded records of ``topic`` about ``event_id`` (anything else in it is passed over)."""
    found = []
    for message in read_all(kafka, topic):
        try:
            record = decode(CATALOG, message.value).record
        except WireFormatError:
            continue
        if record.get("event_id") == event_id:
            found.append(record)
    return found


def routed(hub: LocalHub, event_type: str, event_id: str) -> dict:
    """Wait until the worker has routed ``event_id`` to the office's topic of ``event_type``."""
    return wait_for(lambda: records_of(hub.kafka, f"gov.office.{OFFICE}.{event_type}", event_id), 60,
                    f"the worker routing {event_id} to gov.office.{OFFICE}.{event_type}")[0]


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    """The repository as symlinks, with a fresh ``.local`` (Prometheus and Grafana data)."""
    root = tmp_path_factory.mktemp("repo")
    for entry in REPO.iterdir():
        if entry.name not in (".local", ".git"):
            (root / entry.name).symlink_to(entry)
    (root / ".local").mkdir()
    return root


def selected(request, test_name: str) -> bool:
    return any(item.name == test_name for item in request.session.items)


@pytest.fixture(scope="module")
def jobs():
    """Threads for blocks that run while the broker and the hub start; their tests collect them."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="doc-test-job") as pool:
        yield pool


@pytest.fixture(scope="module", autouse=True)
def asset_checks(request, workdir, jobs) -> Future | None:
    """docs/operations.md's asset checks (promtool and a pytest run, ~20 s, no broker) start with
    the module."""
    if shutil.which("promtool") is None and not os.environ.get("CI"):
        return None
    if not selected(request, "test_asset_checks"):
        return None
    return jobs.submit(run_shell, workdir, command_env(), ASSET_CHECKS, ASSET_CHECKS.text, 180)


@pytest.fixture(scope="module")
def access_commands(request, kafka, workdir, jobs) -> Future | None:
    """docs/access.md's commands, one after the other, from when the broker is up (~15 s of CLI
    runs). The last-but-one takes the passwords from a secrets directory, as in production: the
    same ones the other tests use, so the partners' clients authenticate all along (the broker
    reads a user's credential once per handshake)."""
    if not selected(request, "test_access_commands") or shared_broker():
        return None  # a shared broker: apply would delete the ACLs of its other users
    users = list(dict.fromkeys(load_access(DEFAULT_ACCESS_FILE).user_names()))
    secrets = workdir / "access-secrets"
    secrets.mkdir()
    for user in users:
        (secrets / user).write_text(dev_secret(user) + "\n")

    def run_all() -> list:
        results = []
        for command in console_commands(ACCESS_COMMANDS.text):
            env = {} if "--dev" in command.command else {"GIGBRIDGE_ACCESS_SECRETS_DIR": str(secrets)}
            results.append((command, run_shell(workdir, command_env(kafka.as_env(), **env), ACCESS_COMMANDS,
                                               command.command)))
        return results
    return jobs.submit(run_all)


@pytest.fixture(scope="module")
def hub(kafka, workdir, access_commands) -> LocalHub:  # access_commands: to start them first
    """The webhook receiver of the guide, ``gigbridge ingest`` and ``gigbridge worker`` start at
    once; meanwhile the users and ACLs of deploy/access.yaml (dev passwords) and the platform's
    topics are created."""
    from kafka.admin import KafkaAdminClient

    hub = LocalHub(kafka, workdir)
    port = free_port()
    hub.receiver_url = f"http://127.0.0.1:{port}/gigbridge"
    hub.receiver = Background(python_script(workdir, "webhook_receiver", *WEBHOOK_RECEIVER), workdir / "webhook.log",
                              hub.env(WEBHOOK_SECRET=WEBHOOK_SECRET, PORT=str(port)), workdir)
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()  # what `printf '%s' "$TOKEN" | sha256sum` prints
    hub.gateway = HubProcess(kafka, ["ingest"], workdir,
                             {"GIGBRIDGE_GATEWAY_TOKENS": json.dumps({PLATFORM: digest})})
    hub.gateway.command += ["--port", str(hub.gateway.port)]
    hub.worker = HubProcess(kafka, ["worker"], workdir, {
        "GIGBRIDGE_APP_ID": f"doc-test-{uuid.uuid4().hex[:8]}", "GIGBRIDGE_TOPIC_DISCOVERY_INTERVAL_S": "1",
        "GIGBRIDGE_OFFICE_WEBHOOKS": json.dumps({OFFICE: {"url": hub.receiver_url, "secret": WEBHOOK_SECRET}})})
    processes = [hub.receiver, hub.gateway, hub.worker]
    access = load_access(DEFAULT_ACCESS_FILE)
    admin = KafkaAdminClient(**kafka.kafka_python_config())
    try:
        for process in processes:
            process.start()
        # never pruning here: the broker may be shared (the access guide's own commands do prune)
        apply(admin, access, resolve_secrets(access, env={}, dev=True), prune_undeclared=False,
              protected=[kafka.username])
        onboard(kafka, PLATFORM)
        wait_for(lambda: not check(admin, access, prune_undeclared=False, protected=[kafka.username]).drift, 30,
                 "the users and ACLs of deploy/access.yaml on the broker")
        hub.receiver.wait_for_output(r"Running on", 30, "the webhook receiver listening")
        wait_for(lambda: _http_status(f"{hub.gateway_url}/readyz") == 200, 60, "gigbridge ingest ready")
        wait_for(lambda: hub.worker.metric("gigbridge_subscribed_ingest_topics") >= 3, 90,
                 "gigbridge worker subscribed to the platform's topics")
        yield hub
    finally:
        admin.close()
        for process in processes:
            if process.proc is not None and process.proc.poll() is None:
                process.proc.terminate()  # all at once: the worker drains meanwhile
        for process in processes:
            process.stop()


# === every guide ===========================================================================
def test_every_command_block_is_run_or_marked():
    problems = []
    for guide in GUIDES:
        for block in guide.blocks:
            if block.is_command and block.skip_reason is None and block not in CLAIMS:
                problems.append(f"{block.id} ({block.lang}) is neither run by a test nor marked "
                                "<!-- doctest: skip <reason> -->")
            if block.skip_reason is not None and block in CLAIMS:
                problems.append(f"{block.id} is marked skip but {CLAIMS[block]} runs it")
    assert not problems, "\n".join(problems)


# === README.md ===============================================================================
def _parser_commands(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """Top-level command -> every option string of it and of its actions."""
    def options(p: argparse.ArgumentParser) -> set[str]:
        found = {s for a in p._actions for s in a.option_strings}
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                for sub in action.choices.values():
                    found |= options(sub)
        return found
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {name: options(p) for name, p in commands.choices.items()}


def test_readme_command_line_matches_the_parser():
    from gigbridge.cli import build_parser

    commands = _parser_commands(build_parser())
    synopsis = README.block("gigbridge worker")
    assert synopsis.lang == "text"
    listed = {}
    for line in synopsis.text.splitlines():
        usage = line.split("#")[0].split()
        assert usage[0] == "gigbridge", line
        listed[usage[1]] = line
        unknown = set(re.findall(r"--[a-z-]+", line.split("#")[0])) - commands.get(usage[1], set())
        assert usage[1] in commands and not unknown, f"README: {line!r}: no such command or options {unknown}"
    assert set(listed) == set(commands), f"README lists {sorted(listed)}, the CLI has {sorted(commands)}"


def test_readme_make_targets_exist():
    """The README's `make run` / `make test` are not run (see their marker); their recipes are."""
    block = README.block("make test")
    targets = re.findall(r"^make (\S+)", block.text, re.MULTILINE)
    assert targets == ["run", "test"]
    recipe = ok(subprocess.run(["make", "-n", *targets], cwd=REPO, capture_output=True, text=True, timeout=30))
    assert "deploy.kafka.local up" in recipe and "gigbridge demo" in recipe and "pytest" in recipe, recipe


# === docs/platform-guide.md ==================================================================
REGISTRY_CALLS = PLATFORM_GUIDE.block("REG=")
PYTHON_PRODUCER = PLATFORM_GUIDE.block("AvroSerializer(")
JAVA_PRODUCER = PLATFORM_GUIDE.block("KafkaAvroSerializer")
GO_PRODUCER = PLATFORM_GUIDE.block("avrov2.NewSerializer")
HTTP_CALLS = PLATFORM_GUIDE.block('"$GW/v1/events/sites"')
MULTI_STATUS = PLATFORM_GUIDE.block('"status": "rejected"')
REJECTION_EXAMPLE = PLATFORM_GUIDE.block('"source_offset": 182311')
REJECTIONS_CONSUMER = PLATFORM_GUIDE.block("platform.swiftmeal.rejected\"")


@kafka_test
@runs(REGISTRY_CALLS)
def test_registry_calls(hub):
    draft = json.loads(CATALOG.contract("incident_report").latest.path.read_text())
    draft["fields"].append({"name": "shift_note", "type": ["null", "string"], "default": None})
    (hub.workdir / "draft.avsc").write_text(json.dumps(draft))
    latest, by_id, compatibility = json_documents(hub.run(REGISTRY_CALLS))
    # the keys the guide's comments show after each call
    shown = [set(re.findall(r'"(\w+)"\s*[,:}]', c)) for c in re.findall(r"#\s*(\{.*\})", REGISTRY_CALLS.text)]
    assert shown == [set(latest), set(by_id)]
    assert latest["subject"] == f"platform.{PLATFORM}.sites-value"
    assert latest["id"] == CATALOG.contract("site_event").latest.schema_id
    assert json.loads(by_id["schema"])["name"] == "IncidentReport"
    assert compatibility["is_compatible"] is True, compatibility


@kafka_test
@runs(PYTHON_PRODUCER)
def test_python_producer_example(hub):
    out = hub.run_python("producer", PYTHON_PRODUCER, f"platform-{PLATFORM}")
    found = re.fullmatch(rf"delivered to platform\.{PLATFORM}\.sites \[(\d+)\] @ (\d+)\n", out)
    assert found, out
    [value] = [r.value for r in read_all(hub.kafka, f"platform.{PLATFORM}.sites")
               if (r.partition, r.offset) == (int(found[1]), int(found[2]))]
    assert value[0] == 0 and int.from_bytes(value[1:5], "big") == CATALOG.contract("site_event").latest.schema_id
    event = decode(CATALOG, value).record
    assert (event["platform_id"], event["site_id"], event["division_code"]) == (PLATFORM, "SH-HP-0042", HUANGPU)
    routed(hub, "sites", event["event_id"])  # a valid event: the hub accepted and routed it


def _client_settings(python_text: str) -> dict[str, str]:
    def value(key: str) -> str:
        return re.search(rf'"{re.escape(key)}": "([^"]+)"', python_text)[1]
    return {"bootstrap": value("bootstrap.servers"), "protocol": value("security.protocol"),
            "mechanism": value("sasl.mechanisms"), "user": value("sasl.username"), "registry": value("url"),
            "topic": re.search(r'topic = "([^"]+)"', python_text)[1]}


@runs(JAVA_PRODUCER, GO_PRODUCER)
def test_java_and_go_examples_compile_and_match_the_python_one(tmp_path):
    """Confluent's Java and Go serializers are not installed here: the Java example is compiled
    against kafka-clients with a stand-in SiteEvent, the Go one parsed by gofmt, and both must use
    the settings of the Python example (which test_python_producer_example runs)."""
    s = _client_settings(PYTHON_PRODUCER.text)
    for fragment in ('"acks": "all"', '"enable.idempotence": True', '"auto.register.schemas": False',
                     '"use.latest.version": True'):
        assert fragment in PYTHON_PRODUCER.text
    java, go = (" ".join(b.text.split()) for b in (JAVA_PRODUCER, GO_PRODUCER))
    java_wants = [f'p.put("bootstrap.servers", "{s["bootstrap"]}");',
                  f'p.put("security.protocol", "{s["protocol"]}");',
                  f'p.put("sasl.mechanism", "{s["mechanism"]}");', f'username=\\"{s["user"]}\\"',
                  'p.put("acks", "all");', 'p.put("enable.idempotence", "true");',
                  f'p.put("schema.registry.url", "{s["registry"]}");', 'p.put("auto.register.schemas", "false");',
                  'p.put("use.latest.version", "true");', f'new ProducerRecord<>("{s["topic"]}"']
    go_wants = [f'"bootstrap.servers": "{s["bootstrap"]}"', f'"security.protocol": "{s["protocol"]}"',
                f'"sasl.mechanisms": "{s["mechanism"]}"', f'"sasl.username": "{s["user"]}"', '"acks": "all"',
                '"enable.idempotence": true', f'schemaregistry.NewConfig("{s["registry"]}")',
                "cfg.AutoRegisterSchemas = false", "cfg.UseLatestVersion = true", f'topic := "{s["topic"]}"']
    assert [w for w in java_wants if w not in java] == []
    assert [w for w in go_wants if w not in go] == []

    EXECUTED.update((JAVA_PRODUCER, GO_PRODUCER))
    gofmt = shutil.which("gofmt") or (shutil.which("go") and str(Path(shutil.which("go")).parent / "gofmt"))
    # kafka-clients comes with the test broker's jars (downloaded once by deploy/kafka/local.py)
    clients = sorted(DEFAULT_LIB_DIR.glob("kafka-clients-*.jar"))
    javac = shutil.which("javac") if clients else None
    if gofmt:
        imports, _, statements = GO_PRODUCER.text.partition("\n)\n")
        (tmp_path / "main.go").write_text(f"package main\n\n{imports}\n)\n\nfunc main() {{\n{statements}}}\n")
        ok(subprocess.run([gofmt, "-e", "-l", str(tmp_path / "main.go")], capture_output=True, text=True, timeout=30))
    if javac:
        body = "\n".join("        " + line for line in JAVA_PRODUCER.text.splitlines())
        (tmp_path / "GuideProducer.java").write_text(
            "import java.util.Properties;\nimport org.apache.kafka.clients.producer.KafkaProducer;\n"
            "import org.apache.kafka.clients.producer.ProducerRecord;\n\npublic class GuideProducer {\n"
            "    /** Stand-in for the class avro-maven-plugin generates from schemas/avro/site_event/v1.avsc. */\n"
            '    static final class SiteEvent { String getSiteId() { return "SH-HP-0042"; } }\n\n'
            f"    static void produce(SiteEvent event) throws Exception {{\n{body}\n    }}\n}}\n")
        ok(subprocess.run([javac, "-d", str(tmp_path / "classes"), "-cp", str(clients[-1]),
                           str(tmp_path / "GuideProducer.java")], capture_output=True, text=True, timeout=120))
    missing = [tool for tool, path in (("gofmt", gofmt), ("javac and kafka-clients", javac)) if not path]
    if missing:
        pytest.skip(f"settings checked, but {' and '.join(missing)} not installed")


@kafka_test
@runs(HTTP_CALLS)
def test_http_gateway_calls(hub):
    shown = json.loads(MULTI_STATUS.text)
    first, second = (r["event_id"] for r in shown["results"])
    rejected_id = second[:-3] + str(uuid.uuid4())[len(second) - 3:]  # "9b2d..." -> a UUID starting so
    (hub.workdir / "sites.json").write_text(json.dumps([site(first), site(rejected_id, division="999999000000")]))
    heads = [headcount(), headcount()]
    (hub.workdir / "headcounts.jsonl").write_text("".join(json.dumps(h) + "\n" for h in heads))

    sites_answer, headcounts_answer, gzip_answer = json_documents(hub.run(HTTP_CALLS))
    assert_shown(shown, sites_answer)
    assert gzip_answer == sites_answer
    assert (headcounts_answer["accepted"], headcounts_answer["rejected"]) == (2, 0), headcounts_answer
    assert len(records_of(hub.kafka, f"platform.{PLATFORM}.sites", first)) >= 2  # plain and gzip
    assert records_of(hub.kafka, f"platform.{PLATFORM}.sites", rejected_id) == []


@kafka_test
@runs(REJECTIONS_CONSUMER)
def test_rejections_consumer_example(hub):
    shown = json.loads(REJECTION_EXAMPLE.text)
    bad = dict(headcount(), division_code=HUANGPU[:-1])  # 11 digits: invalid_division_code, as shown
    meta = send(hub.kafka, "headcounts", bad)
    consumer = hub.start_python("rejections", REJECTIONS_CONSUMER, f"platform-{PLATFORM}")
    try:
        line = consumer.wait_for_output(
            rf"^{shown['reason']} {shown['field']} {re.escape(meta.topic)} {meta.offset} (.*)$", 60,
            "the guide's consumer printing the rejection")
        assert line[1] == shown["message"]
    finally:
        consumer.stop()
    [record] = records_of(hub.kafka, f"platform.{PLATFORM}.rejected", bad["event_id"])
    assert record.keys() == shown.keys()
    same = ("platform_id", "event_type", "reason", "field", "message", "source_topic", "schema_id")
    assert {k: record[k] for k in same} == {k: shown[k] for k in same}


# === docs/office-guide.md ====================================================================
OFFICE_CONSUMER = OFFICE_GUIDE.block("DeserializingConsumer")
KCAT = OFFICE_GUIDE.block("kcat -C")
TAIL = OFFICE_GUIDE.block("gigbridge tail")


@kafka_test
@runs(OFFICE_CONSUMER, TAIL)
def test_office_reads_its_incidents(hub):
    event = incident()
    send(hub.kafka, "incidents", event, key=event["incident_id"])
    readers = [hub.start_python("office_consumer", OFFICE_CONSUMER, f"office-{OFFICE}"),
               hub.start(TAIL, filled(TAIL, placeholders(hub, f"office-{OFFICE}")), "office_tail")]
    try:
        consumer, tail = readers
        line = consumer.wait_for_output(rf"^{event['event_id']} (\d+) (\w+) (\w+)$", 60, "the office's consumer")
        assert line.groups() == (HUANGPU, event["category"], event["severity"])
        printed = tail.wait_for_output(rf'^\{{.*"event_id": "{event["event_id"]}".*\}}$', 60, "gigbridge tail")
        assert json.loads(printed[0])["record"]["division_code"] == HUANGPU
    finally:
        for reader in readers:
            reader.stop()


@kafka_test
@runs(KCAT)
def test_office_kcat_example(hub):
    event = incident()
    send(hub.kafka, "incidents", event, key=event["incident_id"])
    text = filled(KCAT, placeholders(hub, f"office-{OFFICE}"))
    librdkafka = newer_librdkafka_env(hub.workdir)  # see the guide: Debian's kcat + SCRAM needs it
    text = "".join(f"{k}={v} " for k, v in librdkafka.items()) + text
    kcat = hub.start(KCAT, text, "office_kcat")
    try:
        line = kcat.wait_for_output(rf"^key={re.escape(event['incident_id'])} partition=(\d+) offset=(\d+) bytes=(\d+)$",
                                    60, "kcat printing the incident's record")
        assert int(line.groups()[2]) > 5  # magic byte + schema id + an Avro body
    finally:
        kcat.stop()


# === docs/webhook-signatures.md ==============================================================
WEBHOOK_RECEIVER = (WEBHOOKS.block("def verify("), WEBHOOKS.block("web.run_app("))


@kafka_test
@runs(*WEBHOOK_RECEIVER)
def test_webhook_receiver_accepts_the_hubs_deliveries_only(hub):
    """The hub fixture runs the guide's receiver as office 310101's webhook."""
    from connectors.signing import signature_headers

    event = incident()
    send(hub.kafka, "incidents", event, key=event["incident_id"])
    delivered = hub.receiver.wait_for_output(rf"^{event['event_id']} incidents (REF-\d+)$", 60,
                                             "the receiver accepting the worker's signed delivery")
    receipts = wait_for(lambda: records_of(hub.kafka, f"gov.office.{OFFICE}.receipts", event["event_id"]), 60,
                        "the worker's delivery receipt")
    assert receipts[0]["claim_reference"] == delivered[1] and receipts[0]["endpoint_status"] == 200

    body = json.dumps({"event_type": "incidents", "event": {"event_id": "forged"}}).encode()

    def post(headers: dict[str, str]) -> tuple[int, dict]:
        request = urllib.request.Request(hub.receiver_url, body, {"Content-Type": "application/json",
                                                                  "Idempotency-Key": "doc-test-key", **headers})
        try:
            with urllib.request.urlopen(request, timeout=10) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    assert post(signature_headers("not-the-secret", body, time.time()))[0] == 401
    assert post(signature_headers(WEBHOOK_SECRET, body, time.time() - 301))[0] == 401  # outside the window
    assert post({})[0] == 401
    status, answer = post(signature_headers(WEBHOOK_SECRET, body, time.time()))
    assert status == 200 and answer["reference"].startswith("REF-")
    assert post(signature_headers(WEBHOOK_SECRET, body, time.time())) == (200, answer)  # a repeat: same answer


# === docs/access.md ==========================================================================
ACCESS_FILE = ACCESS.block("super_users:")
ACCESS_COMMANDS = ACCESS.block("gigbridge access apply --dry-run --dev")
ACCESS_API = ACCESS.block("from gigbridge.access import")


def test_access_file_in_the_guide_is_deploy_access_yaml():
    assert ACCESS_FILE.lang == "yaml"
    assert parse_access(yaml.safe_load(ACCESS_FILE.text), str(ACCESS_FILE.id)) == load_access(DEFAULT_ACCESS_FILE)


@kafka_test
@runs(ACCESS_COMMANDS)
def test_access_commands(hub, access_commands):
    """Run by the ``access_commands`` fixture while the hub starts; checked here."""
    if access_commands is None:
        skip_block(ACCESS_COMMANDS, "apply would delete the ACLs of other users of a shared broker")
    outputs = []
    for command, result in access_commands.result(timeout=120):
        out = ok(result)
        assert all(line in out for line in command.output.splitlines()), out
        outputs.append(out)
    users = len(set(load_access(DEFAULT_ACCESS_FILE).user_names()))
    dry_run, dev, production, matrix = outputs
    assert dry_run.startswith("[dry run] SCRAM-SHA-512 users: would create"), dry_run
    assert f"(secrets: {users} from dev)" in dev, dev
    # a second run changes no ACL, as the guide says
    assert f"(secrets: {users} from file)" in production and "ACLs: create 0, delete 0" in production, production
    assert "No drift: the broker matches the access file." in matrix, matrix


@kafka_test
@runs(ACCESS_API)
def test_access_python_api(hub):
    if shared_broker():
        skip_block(ACCESS_API, "apply would delete the ACLs of other users of a shared broker")
    out = hub.run_python("access_api", ACCESS_API)
    assert "ACLs: create 0, delete 0" in out and "No drift: the broker matches the access file." in out, out


# === docs/operations.md ======================================================================
WORKER_METRICS = OPERATIONS.block("curl -s http://127.0.0.1:6066/metrics")
PROMETHEUS = OPERATIONS.block("prometheus --config.file")
GRAFANA_COPY = OPERATIONS.block("mkdir -p .local/grafana")
ASSET_CHECKS = OPERATIONS.block("promtool test rules")


@kafka_test
@runs(WORKER_METRICS)
def test_worker_metrics_curl(hub):
    local = {"127.0.0.1:6066": f"127.0.0.1:{hub.worker.port}"}
    lines = hub.run(WORKER_METRICS, fill(WORKER_METRICS.text, local)).splitlines()
    assert 0 < len(lines) <= 10 and all(line.startswith("gigbridge_") for line in lines), lines


def _prometheus_api(port: int, path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
        return json.loads(resp.read())


@kafka_test
@runs(PROMETHEUS)
def test_prometheus_with_the_local_config(hub):
    if shutil.which("prometheus") is None:
        skip_block(PROMETHEUS, "prometheus is not installed (make test installs it)")
    port = free_port()
    local = {"127.0.0.1:9090": f"127.0.0.1:{port}"}
    prometheus = hub.start(PROMETHEUS, fill(PROMETHEUS.text, local), "prometheus")
    try:
        wait_for(lambda: _http_status(f"http://127.0.0.1:{port}/-/ready") == 200, 30, "Prometheus ready")
        targets = wait_for(lambda: _prometheus_api(port, "/api/v1/targets")["data"]["activeTargets"], 30,
                           "the scrape targets")
        assert sorted((t["labels"]["job"], t["scrapeUrl"]) for t in targets) == [
            ("gigbridge-gateway", "http://127.0.0.1:8080/metrics"),
            ("gigbridge-registry", "http://127.0.0.1:8081/metrics"),
            ("gigbridge-worker", "http://127.0.0.1:6066/metrics")]
        groups = wait_for(lambda: _prometheus_api(port, "/api/v1/rules?type=alert")["data"]["groups"], 30,
                          "the alerting rules")
        guide = OPERATIONS.path.read_text()
        documented = set(re.findall(r"^\| \[(Gigbridge\w+)\]", guide, re.MULTILINE))
        assert {r["name"] for g in groups for r in g["rules"]} == documented, "the alerts table differs from the rules"
        # "The API works with every build: `curl -s http://127.0.0.1:9090/api/v1/alerts`."
        [api_call] = re.findall(r"`(curl -s http://127\.0\.0\.1:9090/api/v1/alerts)`", guide)
        assert json.loads(hub.run(PROMETHEUS, fill(api_call, local)))["status"] == "success"
    finally:
        prometheus.stop()


@runs(GRAFANA_COPY)
def test_grafana_provisioning_copy(workdir):
    ok(run_shell(workdir, command_env(), GRAFANA_COPY, GRAFANA_COPY.text))
    provisioning = workdir / ".local" / "grafana" / "provisioning"
    datasource = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())
    assert [d["url"] for d in datasource["datasources"]] == ["http://127.0.0.1:9090"]
    dashboards = yaml.safe_load((provisioning / "dashboards" / "gigbridge.yml").read_text())
    [path] = [Path(p["options"]["path"]) for p in dashboards["providers"]]
    assert path == Path(os.path.realpath(workdir)) / "deploy" / "grafana" / "dashboards"  # $PWD
    assert sorted(x.name for x in path.glob("*.json")) == ["domain-overview.json", "pipeline-health.json"]


@runs(ASSET_CHECKS)
def test_asset_checks(asset_checks):
    """Run by the ``asset_checks`` fixture from the start of the module; checked here."""
    if asset_checks is None:
        skip_block(ASSET_CHECKS, "promtool is not installed (make test installs it)")
    out = ok(asset_checks.result(timeout=180))
    assert out.count("SUCCESS") >= 4 and re.search(r"\d+ passed", out), out
