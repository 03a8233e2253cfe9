"""docker-compose.yml: the stack, its start order and healthchecks, only settings the hub knows;
and its broker, booted without Docker (tests/deploy/compose_kafka.py): the compose environment
rendered into server.properties by the apache/kafka image's rules (checked against the image's
own renderer class from the Kafka jar of the same version), moved to free loopback ports,
formatted with the SCRAM admin as kafka-format does, and started with the Maven-built Kafka.

Not run: Docker itself (image pulls, the network, volumes, the healthcheck commands inside the
kafka, prometheus and grafana images, the kafka-format script's shell lines).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kafka import KafkaAdminClient, KafkaProducer
from kafka.errors import KafkaError

from connectors.console.settings import ConsoleSettings
from deploy.kafka import jvm
from deploy.kafka.local import KafkaConnection
from gigbridge.settings import REPO_ROOT, Settings
from tests.deploy import compose_kafka
from tests.deploy.compose_kafka import on_loopback, read_properties, server_properties, service_env
from tests.deploy.conftest import http_status
from tests.support.kafka_io import HubProcess, free_port, wait_for


def _compose_text() -> str:
    return (REPO_ROOT / "docker-compose.yml").read_text()


def _compose() -> dict:
    return yaml.safe_load(_compose_text())


def _gigbridge_vars(node) -> set[str]:
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(key, str) and key.startswith("GIGBRIDGE_"):
                found.add(key)
            found |= _gigbridge_vars(value)
    elif isinstance(node, list):
        for item in node:
            found |= _gigbridge_vars(item)
    return found


def test_compose_has_the_stack():
    services = _compose()["services"]
    assert {"kafka-format", "kafka", "access-apply", "hub", "gateway", "console", "registry", "prometheus",
            "grafana"} <= set(services)
    assert services["kafka"]["image"].startswith("apache/kafka:4.1")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    commands = {name: services[name]["command"] for name in ("hub", "gateway", "registry", "console")}
    assert commands == {"hub": ["gigbridge", "worker"], "gateway": ["gigbridge", "ingest"],
                        "registry": ["gigbridge", "registry"], "console": ["python", "-m", "connectors.console"]}
    assert "gigbridge access apply" in services["access-apply"]["command"][-1]


def test_every_gigbridge_variable_is_a_setting():
    from gigbridge.access import DEFAULT_ACCESS_FILE, load_access, secret_env_var

    known = {f"GIGBRIDGE_{name.upper()}" for name in Settings.model_fields}
    known |= {f"GIGBRIDGE_CONSOLE_{name.upper()}" for name in ConsoleSettings.model_fields}
    # access-apply's passwords: GIGBRIDGE_ACCESS_SECRET_<USER> of users deploy/access.yaml declares
    known |= {secret_env_var(user) for user in load_access(DEFAULT_ACCESS_FILE).user_names()}
    used = _gigbridge_vars(_compose())
    assert used, "compose should configure the hub through GIGBRIDGE_* variables"
    assert used <= known, f"unknown settings in docker-compose.yml: {sorted(used - known)}"


def test_compose_files_it_mounts_exist():
    for service in _compose()["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), volume
        for env_file in service.get("env_file", []):
            if isinstance(env_file, str) or env_file.get("required", True):
                path = env_file if isinstance(env_file, str) else env_file["path"]
                assert (REPO_ROOT / path).is_file(), env_file


# --- the broker as the apache/kafka image would run it -----------------------------------------

VARIABLES: dict[str, str] = {}  # compose's variables unset: every default applies
BOOT_TIMEOUT_S = 90


def _broker_env() -> dict[str, str]:
    return service_env(_compose(), "kafka", VARIABLES)


def test_compose_starts_in_order_with_healthchecks():
    services = _compose()["services"]
    for name, service in services.items():
        for dependency, spec in (service.get("depends_on") or {}).items():
            assert isinstance(spec, dict) and spec.get("condition") in (
                "service_healthy", "service_completed_successfully"), f"{name} -> {dependency}: {spec}"
            if spec["condition"] == "service_healthy" and dependency != "hub":  # hub: the image's HEALTHCHECK
                assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"
    for name in ("kafka", "gateway", "console", "registry", "prometheus", "grafana"):
        assert "healthcheck" in services[name], name
    assert services["kafka"]["depends_on"] == {"kafka-format": {"condition": "service_completed_successfully"}}
    assert "command" not in services["kafka"], "the broker must run the image's own start (it renders KAFKA_*)"
    assert services["hub"]["depends_on"]["access-apply"] == {"condition": "service_completed_successfully"}
    pom_version = re.search(r"<kafka.version>([^<]+)</kafka.version>",
                            (REPO_ROOT / "deploy" / "kafka" / "pom.xml").read_text()).group(1)
    assert services["kafka"]["image"] == services["kafka-format"]["image"] == f"apache/kafka:{pom_version}"


def test_broker_configuration_is_secure_and_complete():
    env = _broker_env()
    assert compose_kafka.IMAGE_DEFAULTED <= set(env), "a default of the image's configureDefaults would apply"
    props = server_properties(env)
    assert props["super.users"] == "User:admin"
    assert "ANONYMOUS" not in _compose_text()
    assert props["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert props["allow.everyone.if.no.acl.found"] == "false"
    protocols = dict(item.split(":") for item in props["listener.security.protocol.map"].split(","))
    assert set(protocols.values()) == {"SASL_PLAINTEXT"}, "no listener without authentication"
    controller = props["controller.listener.names"]
    assert f"{controller}://127.0.0.1:" in props["listeners"] and controller not in props["advertised.listeners"]
    assert props["log.dirs"] == "/var/lib/kafka/data"
    assert "kafka-data:/var/lib/kafka/data" in _compose()["services"]["kafka"]["volumes"]
    for name in protocols:  # every listener has its JAAS login, so the image needs no KAFKA_OPTS
        mechanism = "plain" if name == controller else "scram-sha-512"
        assert f"listener.name.{name.lower()}.{mechanism}.sasl.jaas.config" in props, name
    assert "SASL_" not in env["KAFKA_ADVERTISED_LISTENERS"]  # else the image's configure demands KAFKA_OPTS


@pytest.mark.kafka
def test_rendering_matches_the_image_renderer(tmp_path):
    """server_properties() is what the image's own renderer (KafkaDockerWrapper, in the Kafka jar
    of the same version) writes for the compose environment."""
    env = {**_broker_env(), "KAFKA_LOG_DIRS": str(tmp_path / "logs")}  # its built-in format writes there
    for name in ("defaults", "mounted", "final"):
        (tmp_path / name).mkdir()
    (tmp_path / "defaults" / "server.properties").write_text("")
    proc = subprocess.run(
        [jvm.find_java(), "-Xmx128m", "-cp", f"{jvm.ensure_jars()}/*", "kafka.docker.KafkaDockerWrapper", "setup",
         "--default-configs-dir", str(tmp_path / "defaults"), "--mounted-configs-dir", str(tmp_path / "mounted"),
         "--final-configs-dir", str(tmp_path / "final")],
        env={"PATH": os.environ["PATH"], **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout
    rendered = read_properties((tmp_path / "final" / "server.properties").read_text())
    assert rendered == server_properties(env)


@pytest.fixture(scope="module")
def compose_broker(tmp_path_factory):
    """The compose broker's configuration on free loopback ports, formatted as kafka-format does
    (SCRAM admin from the same password), started with the Maven-built Kafka; yields the ports."""
    env = _broker_env()
    props = server_properties(env)
    listener_names = [item.split("://")[0] for item in props["listeners"].split(",")]
    ports = {name: free_port() for name in listener_names}
    assert len(set(ports.values())) == len(ports)
    node_dir = tmp_path_factory.mktemp("compose-kafka")
    (node_dir / "logs").mkdir()
    config = node_dir / "server.properties"
    config.write_text("".join(f"{k}={v}\n" for k, v in on_loopback(props, ports, str(node_dir / "data")).items()))
    java, lib = jvm.find_java(), jvm.ensure_jars()
    admin_password = service_env(_compose(), "kafka-format", VARIABLES)["ADMIN_PASSWORD"]
    fmt = subprocess.run(jvm.storage_format_command(java, lib, config, env["CLUSTER_ID"], {"admin": admin_password}),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    assert fmt.returncode == 0, fmt.stdout
    proc = jvm.start_kafka_process(java, lib, config, node_dir, "compose broker", die_with_parent=True)
    admin = KafkaConnection(f"127.0.0.1:{ports['INTERNAL']}", "admin", admin_password)
    try:
        wait_for(lambda: _answers(admin, proc, node_dir), BOOT_TIMEOUT_S, "the compose broker to accept the admin")
        yield ports, admin
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _answers(conn: KafkaConnection, proc: subprocess.Popen, node_dir: Path) -> bool:
    if proc.poll() is not None:
        raise AssertionError(f"the compose broker exited ({proc.returncode}):\n{(node_dir / 'kafka.out').read_text()[-3000:]}")
    return _describe_cluster(conn) is not None


def _describe_cluster(conn: KafkaConnection, **overrides) -> dict | None:
    config = {**conn.kafka_python_config(), **overrides}
    try:
        admin = KafkaAdminClient(**config, request_timeout_ms=5000, bootstrap_timeout_ms=5000)
    except Exception:  # noqa: BLE001 - refused, not up yet, or not authenticated
        return None
    try:
        return admin.describe_cluster()
    except Exception:  # noqa: BLE001
        return None
    finally:
        admin.close()


@pytest.mark.kafka
def test_compose_broker_authenticates_and_refuses_anonymous(compose_broker):
    ports, admin = compose_broker
    for listener in ("INTERNAL", "EXTERNAL"):
        conn = KafkaConnection(f"127.0.0.1:{ports[listener]}", admin.username, admin.password)
        assert _describe_cluster(conn) is not None, f"the admin is refused on {listener}"
        assert _describe_cluster(conn, sasl_plain_password="wrong") is None, f"a wrong password works on {listener}"
        anonymous = {"security_protocol": "PLAINTEXT", "sasl_mechanism": None,
                     "sasl_plain_username": None, "sasl_plain_password": None}
        assert _describe_cluster(conn, **anonymous) is None, f"an anonymous client gets in on {listener}"


@pytest.mark.kafka
def test_compose_access_apply_and_least_privilege_hub(compose_broker, tmp_path):
    """access-apply's command (as compose runs it) creates users and ACLs; a platform cannot write
    another platform's topic; the worker runs as gigbridge-hub with the hub's compose settings."""
    ports, admin = compose_broker
    internal = f"127.0.0.1:{ports['INTERNAL']}"
    job = _compose()["services"]["access-apply"]
    env = {**os.environ, **service_env(_compose(), "access-apply", VARIABLES), "GIGBRIDGE_KAFKA_BOOTSTRAP": internal,
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    env.pop("GIGBRIDGE_ACCESS_SECRETS_DIR", None)
    proc = subprocess.run(job["command"], env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout[-3000:]

    platform = KafkaConnection(internal, "platform-swiftmeal", "dev-platform-swiftmeal-secret")
    producer = KafkaProducer(**platform.kafka_python_config(), acks="all", max_block_ms=10_000)
    try:
        producer.send("platform.swiftmeal.sites", b"own topic").get(timeout=30)
        with pytest.raises(KafkaError):
            producer.send("platform.cityrun.sites", b"someone else's").get(timeout=30)
    finally:
        producer.close(timeout=5)

    hub_env = service_env(_compose(), "hub", VARIABLES)
    hub_conn = KafkaConnection(internal, hub_env["GIGBRIDGE_KAFKA_USERNAME"], hub_env["GIGBRIDGE_KAFKA_PASSWORD"])
    worker = HubProcess(hub_conn, ["worker"], tmp_path, extra_env={
        k: v for k, v in hub_env.items() if not k.startswith(("GIGBRIDGE_KAFKA_", "GIGBRIDGE_WORKER_WEB_"))})
    worker.start()
    try:
        wait_for(lambda: _worker_ready(worker), 90, "the worker as gigbridge-hub to be ready")
    finally:
        worker.stop()


def _worker_ready(worker: HubProcess) -> bool:
    if worker.proc.poll() is not None:
        raise AssertionError(f"the worker exited ({worker.proc.returncode}):\n{worker.log_tail()}")
    return http_status(worker.port, "/readyz") == 200
