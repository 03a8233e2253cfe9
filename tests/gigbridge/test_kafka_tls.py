"""gigbridge.kafka_tls without a broker: every client library gets the same TLS choice, and a TLS
configuration that cannot work is a configuration error (exit 2) before any connection."""

from __future__ import annotations

import datetime as dt
import ssl
import subprocess
import sys

import faust
import pytest

from deploy.kafka.tls import create_ca, issue
from gigbridge import cli
from gigbridge.kafka_tls import KafkaSecurity, KafkaTlsError, verify_broker_certificates
from gigbridge.settings import Settings


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = create_ca(directory)
    return ca, issue(ca, directory, "client", "gigbridge-hub")


def tls_settings(pki, **overrides) -> Settings:
    ca, client = pki
    return Settings(kafka_bootstrap="127.0.0.1:9093", kafka_username="gigbridge-hub", kafka_password="pw",
                    kafka_security_protocol="SASL_SSL", kafka_ssl_cafile=ca.cert, **overrides)


def test_sasl_ssl_gives_every_client_the_same_verifying_context(pki):
    settings = tls_settings(pki)
    cfg = settings.kafka_python_config
    assert cfg["security_protocol"] == "SASL_SSL" and cfg["sasl_mechanism"] == "SCRAM-SHA-512"
    context = cfg["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert settings.aiokafka_config["ssl_context"] is context
    assert settings.aiokafka_config["bootstrap_servers"] == "127.0.0.1:9093"


def test_faust_gets_sasl_ssl_credentials_with_that_context(pki):
    from streams.runtime.app import create_app

    settings = tls_settings(pki)
    credentials = create_app(settings).conf.broker_credentials
    assert isinstance(credentials, faust.SASLCredentials)
    assert credentials.protocol.value == "SASL_SSL"  # not the silent SASL_PLAINTEXT fallback
    assert credentials.ssl_context is settings.kafka_ssl_context


def test_mutual_tls_without_sasl(pki):
    ca, client = pki
    security = KafkaSecurity(protocol="SSL", cafile=ca.cert, certfile=client.cert, keyfile=client.key,
                             check_hostname=False)
    cfg = security.client_config()
    assert cfg["security_protocol"] == "SSL" and not any(k.startswith("sasl") for k in cfg)
    assert cfg["ssl_context"].check_hostname is False
    assert isinstance(security.faust_credentials(), faust.SSLCredentials)
    assert security.rdkafka_config() == {
        "security.protocol": "SSL", "ssl.endpoint.identification.algorithm": "none",
        "ssl.ca.location": str(ca.cert), "ssl.certificate.location": str(client.cert),
        "ssl.key.location": str(client.key)}


def test_plaintext_protocols_get_no_tls():
    assert KafkaSecurity(protocol="SASL_PLAINTEXT", username="u", password="p").client_config() == {
        "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "u", "sasl_plain_password": "p"}
    assert KafkaSecurity(protocol="SASL_PLAINTEXT").client_config() == {}  # development: no credentials
    assert KafkaSecurity(protocol="PLAINTEXT").ssl_context() is None


@pytest.mark.parametrize("change, message", [
    (lambda d, ca, c: {"cafile": d / "missing.pem"}, r"GIGBRIDGE_KAFKA_SSL_CAFILE=.*missing\.pem: no such file"),
    (lambda d, ca, c: {"cafile": (d / "x.pem", (d / "x.pem").write_text("junk"))[0]}, "not a PEM file"),
    (lambda d, ca, c: {"cafile": ca.cert, "keyfile": c.key}, "KEYFILE is set but GIGBRIDGE_KAFKA_SSL_CERTFILE is not"),
    (lambda d, ca, c: {"cafile": ca.cert, "certfile": c.cert, "keyfile": ca.key}, "cannot be used"),
    (lambda d, ca, c: {"cafile": ca.cert, "certfile": d / "nope.pem"}, "CERTFILE=.*: no such file"),
])
def test_unusable_tls_files_are_named(pki, tmp_path, change, message):
    ca, client = pki
    with pytest.raises(KafkaTlsError, match=message):
        KafkaSecurity(protocol="SSL", **change(tmp_path, ca, client)).ssl_context()


def test_sasl_ssl_needs_a_username(pki):
    with pytest.raises(KafkaTlsError, match="needs GIGBRIDGE_KAFKA_USERNAME"):
        KafkaSecurity(protocol="SASL_SSL", cafile=pki[0].cert).client_config()


def test_client_certificate_validity_is_checked_with_the_given_clock(pki, tmp_path):
    ca, _ = pki
    start = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    cert = issue(ca, tmp_path, "later", "gigbridge-hub", not_before=start, not_after=start + dt.timedelta(days=1))
    security = KafkaSecurity(protocol="SSL", cafile=ca.cert, certfile=cert.cert, keyfile=cert.key)
    with pytest.raises(KafkaTlsError, match="not valid before 2030-01-01"):
        security.ssl_context()
    assert security.ssl_context(now=lambda: start + dt.timedelta(hours=1)) is not None
    with pytest.raises(KafkaTlsError, match="expired on 2030-01-02"):
        security.ssl_context(now=lambda: start + dt.timedelta(days=2))


def test_cli_missing_ca_file_is_a_configuration_error(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("GIGBRIDGE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("GIGBRIDGE_KAFKA_USERNAME", "admin")
    monkeypatch.setenv("GIGBRIDGE_KAFKA_SSL_CAFILE", str(tmp_path / "ca.pem"))
    assert cli.main(["topics", "ensure"]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "configuration error" in err and "GIGBRIDGE_KAFKA_SSL_CAFILE" in err and "no such file" in err


def test_worker_refuses_to_start_with_an_unreadable_ca_file(tmp_path):
    env = {"GIGBRIDGE_KAFKA_SECURITY_PROTOCOL": "SSL", "GIGBRIDGE_KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem"),
           "GIGBRIDGE_KAFKA_BOOTSTRAP": "127.0.0.1:9", "GIGBRIDGE_DATA_DIR": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "gigbridge.cli", "worker"], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == cli.EXIT_USAGE, done.stdout + done.stderr
    assert "GIGBRIDGE_KAFKA_SSL_CAFILE" in done.stderr


def test_broker_check_leaves_unreachable_brokers_to_the_clients(pki):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = KafkaSecurity(protocol="SSL", cafile=pki[0].cert).ssl_context()
    verify_broker_certificates(f"127.0.0.1:{port}", context, timeout_s=2)  # no error: retried later
    verify_broker_certificates("127.0.0.1:9", None)  # no TLS: nothing to check
