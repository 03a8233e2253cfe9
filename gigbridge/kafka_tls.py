"""How every Kafka client of the hub authenticates and encrypts: one description, one SSL context.

:class:`KafkaSecurity` is built from ``Settings`` (``Settings.kafka_security``) or from a test
connection (``deploy.kafka.connection.KafkaConnection``) and renders the same choice for each client
library: kafka-python and aiokafka keyword arguments (:meth:`KafkaSecurity.client_config`),
Faust credentials (:meth:`KafkaSecurity.faust_credentials`) and librdkafka properties for
confluent-kafka and kcat (:meth:`KafkaSecurity.rdkafka_config`).

Guarantees:

* with ``SSL`` or ``SASL_SSL`` every client gets a TLS context (never a silent plaintext
  fallback); it verifies the broker certificate against ``cafile`` (the system trust store when
  no CA file is set) and, unless ``check_hostname`` is off, the broker's host name;
* a CA file, client certificate or key that is missing, unreadable, not PEM, expired or not yet
  valid raises :class:`KafkaTlsError` naming the setting, before any connection is tried
  (the CLI turns it into exit code 2).
"""

from __future__ import annotations

import datetime as dt
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


class KafkaTlsError(ValueError):
    """The Kafka TLS configuration cannot work (a configuration error, exit code 2)."""


@dataclass(frozen=True)
class KafkaSecurity:
    """Security protocol, SASL credentials and TLS files of a Kafka connection.

    ``username`` unset with a ``SASL_PLAINTEXT`` protocol means an unauthenticated plaintext
    connection (the development default); ``SASL_SSL`` without a username is an error.
    """

    protocol: str = "SASL_PLAINTEXT"
    username: str | None = None
    password: str | None = None
    mechanism: str = "SCRAM-SHA-512"
    cafile: Path | None = None
    certfile: Path | None = None
    keyfile: Path | None = None
    key_password: str | None = None
    check_hostname: bool = True

    @property
    def uses_tls(self) -> bool:
        return self.protocol in TLS_PROTOCOLS

    @property
    def uses_sasl(self) -> bool:
        if self.protocol == "SASL_SSL" and not self.username:
            raise KafkaTlsError("GIGBRIDGE_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs GIGBRIDGE_KAFKA_USERNAME "
                                "(use SSL for certificate-only authentication)")
        return self.protocol in SASL_PROTOCOLS and bool(self.username)

    def ssl_context(self, now: Callable[[], dt.datetime] | None = None) -> ssl.SSLContext | None:
        """A new client TLS context for ``SSL``/``SASL_SSL`` (``None`` for plaintext protocols)."""
        if not self.uses_tls:
            return None
        return build_ssl_context(self.cafile, self.certfile, self.keyfile, self.key_password,
                                 self.check_hostname, now=now)

    def client_config(self, ssl_context: ssl.SSLContext | None = None) -> dict:
        """Security keyword arguments for kafka-python and aiokafka clients (no bootstrap servers).

        Pass an already built ``ssl_context`` to share one between clients; otherwise one is built."""
        cfg: dict = {}
        if self.uses_sasl:
            cfg.update(security_protocol=self.protocol, sasl_mechanism=self.mechanism,
                       sasl_plain_username=self.username, sasl_plain_password=self.password or "")
        if self.uses_tls:
            cfg["security_protocol"] = self.protocol
            cfg["ssl_context"] = ssl_context or self.ssl_context()
        return cfg

    def faust_credentials(self, ssl_context: ssl.SSLContext | None = None):
        """``broker_credentials`` for ``faust.App`` through Faust's public credential classes."""
        import faust

        context = (ssl_context or self.ssl_context()) if self.uses_tls else None
        if self.uses_sasl:
            return faust.SASLCredentials(username=self.username, password=self.password or "",
                                         mechanism=self.mechanism, ssl_context=context)
        if context is not None:
            return faust.SSLCredentials(context)
        return None

    def rdkafka_config(self) -> dict[str, str]:
        """librdkafka properties (confluent-kafka ``Producer``/``Consumer``, ``kcat -X``)."""
        cfg: dict[str, str] = {}
        if self.uses_sasl:
            cfg.update({"security.protocol": self.protocol, "sasl.mechanisms": self.mechanism,
                        "sasl.username": self.username or "", "sasl.password": self.password or ""})
        if self.uses_tls:
            self.ssl_context()  # the same checks (readable files, validity dates) as every other client
            cfg["security.protocol"] = self.protocol
            cfg["ssl.endpoint.identification.algorithm"] = "https" if self.check_hostname else "none"
            for key, path in (("ssl.ca.location", self.cafile), ("ssl.certificate.location", self.certfile),
                              ("ssl.key.location", self.keyfile)):
                if path is not None:
                    cfg[key] = str(path)
            if self.key_password:
                cfg["ssl.key.password"] = self.key_password
        return cfg


def verify_broker_certificates(bootstrap: str, context: ssl.SSLContext | None, timeout_s: float = 10.0) -> None:
    """One TLS handshake with each bootstrap server: raise :class:`KafkaTlsError` if a broker's
    certificate is not trusted (another CA, a wrong host name), which no retry heals, instead of
    letting the clients retry it until their bootstrap timeout. Servers that cannot be reached are
    left to the clients' own retries. A no-op without TLS (``context`` None)."""
    if context is None:
        return
    for server in filter(None, (s.strip() for s in bootstrap.split(","))):
        host, _, port = server.rpartition(":")
        host = host.strip("[]")
        try:
            with socket.create_connection((host, int(port)), timeout=timeout_s) as raw, \
                    context.wrap_socket(raw, server_hostname=host):
                pass
        except ssl.SSLCertVerificationError as exc:
            raise KafkaTlsError(f"the broker {server} presented a certificate this client does not trust "
                                f"({exc.verify_message}); is GIGBRIDGE_KAFKA_SSL_CAFILE the CA that signed it"
                                f"{'' if not context.check_hostname else ', and does it name ' + host}?") from exc
        except (OSError, ValueError):
            continue  # unreachable now: the clients retry


def build_ssl_context(cafile: Path | None, certfile: Path | None = None, keyfile: Path | None = None,
                      key_password: str | None = None, check_hostname: bool = True, *,
                      now: Callable[[], dt.datetime] | None = None) -> ssl.SSLContext:
    """A client context: TLS 1.2+, broker certificate verified against ``cafile`` (or the system
    trust store), host name checked unless ``check_hostname`` is false, and the client certificate
    ``certfile``/``keyfile`` presented for mutual TLS when given. Raises :class:`KafkaTlsError`."""
    if keyfile is not None and certfile is None:
        raise KafkaTlsError("GIGBRIDGE_KAFKA_SSL_KEYFILE is set but GIGBRIDGE_KAFKA_SSL_CERTFILE is not")
    now = now or (lambda: dt.datetime.now(dt.timezone.utc))
    ca_pem = _read_pem("GIGBRIDGE_KAFKA_SSL_CAFILE", cafile) if cafile is not None else None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    except ssl.SSLError as exc:
        raise KafkaTlsError(f"GIGBRIDGE_KAFKA_SSL_CAFILE={cafile}: not a PEM CA certificate ({exc})") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if certfile is not None:
        _check_validity("GIGBRIDGE_KAFKA_SSL_CERTFILE", certfile, _read_pem("GIGBRIDGE_KAFKA_SSL_CERTFILE", certfile),
                        now())
        if keyfile is not None:
            _read_pem("GIGBRIDGE_KAFKA_SSL_KEYFILE", keyfile)
        try:
            context.load_cert_chain(certfile, keyfile, password=key_password)
        except ssl.SSLError as exc:
            raise KafkaTlsError(f"client certificate {certfile} / key {keyfile or certfile} cannot be used "
                                f"(wrong key, key password or format?): {exc}") from exc
    return context


def _read_pem(setting: str, path: Path) -> str:
    try:
        text = Path(path).read_text(encoding="ascii")
    except FileNotFoundError:
        raise KafkaTlsError(f"{setting}={path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KafkaTlsError(f"{setting}={path}: cannot be read as a PEM file ({exc})") from exc
    if "-----BEGIN " not in text:
        raise KafkaTlsError(f"{setting}={path}: not a PEM file (no -----BEGIN line)")
    return text


def _check_validity(setting: str, path: Path, pem: str, now: dt.datetime) -> None:
    """Refuse an expired or not-yet-valid client certificate here, with its dates, rather than
    as a bare handshake failure from the broker."""
    from cryptography import x509

    try:
        cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
    except ValueError as exc:
        raise KafkaTlsError(f"{setting}={path}: no PEM certificate in it ({exc})") from exc
    if now > cert.not_valid_after_utc:
        raise KafkaTlsError(f"{setting}={path}: the client certificate expired on "
                            f"{cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S} UTC")
    if now < cert.not_valid_before_utc:
        raise KafkaTlsError(f"{setting}={path}: the client certificate is not valid before "
                            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S} UTC")
