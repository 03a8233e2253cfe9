"""Certificates and listener settings for a local Kafka with TLS (``python -m deploy.kafka.local up --tls``).

One private CA signs a broker certificate (SAN ``127.0.0.1`` and ``localhost``) and client
certificates; all are PEM files (keys: unencrypted PKCS#8 P-256, mode 0600), which Kafka 4.1 reads
as ``ssl.keystore.type=PEM`` / ``ssl.truststore.type=PEM`` and Python's ``ssl`` as they are.

The local broker then has two TLS listeners next to its ``CLIENT`` (SASL_PLAINTEXT) one:

* ``TLS``: SASL_SSL with SCRAM-SHA-512 (the production setup);
* ``MTLS``: SSL with client certificates required; the principal is the certificate's CN
  (``CN=gigbridge-hub`` -> ``User:gigbridge-hub``), so the same ACLs apply as for a SCRAM user
  of that name.

Nothing here does I/O except the functions that say they write files.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

TLS_LISTENER, MTLS_LISTENER = "TLS", "MTLS"
#: The certificate's CN becomes the Kafka user name (other DN parts are dropped).
PRINCIPAL_MAPPING_RULES = "RULE:^CN=([^,]+)(,.*)?$/$1/,DEFAULT"
BROKER_HOSTS = ("127.0.0.1", "localhost")


@dataclass(frozen=True)
class CertFiles:
    """A PEM certificate and its private key."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class LocalPki:
    """The CA, broker and client certificate files of one local cluster directory."""

    directory: Path
    ca: CertFiles
    broker: CertFiles
    client: CertFiles  # CN = the admin super-user, for mTLS with `up --tls`

    @property
    def broker_keystore(self) -> Path:
        """Broker key followed by its certificate chain: one PEM keystore file for Kafka."""
        return self.directory / "broker-keystore.pem"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def create_ca(directory: Path, name: str = "ca", common_name: str = "gigbridge local CA",
              now: dt.datetime | None = None, days: int = 3650) -> CertFiles:
    """Write a self-signed CA certificate and key as ``<name>.pem`` / ``<name>-key.pem``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = now or _utcnow()
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False,
                                         encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    return _write(directory, name, cert, key, chain=())


def issue(ca: CertFiles, directory: Path, name: str, common_name: str, *, hosts: Iterable[str] = (),
          server: bool = False, not_before: dt.datetime | None = None,
          not_after: dt.datetime | None = None) -> CertFiles:
    """Write a certificate signed by ``ca`` for ``common_name`` as ``<name>.pem`` (certificate then
    CA) and ``<name>-key.pem``. ``server`` certificates carry ``hosts`` as SANs and the serverAuth
    usage, others clientAuth. Validity: ``not_before`` (now - 5 min) to ``not_after`` (+ 825 days)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert = x509.load_pem_x509_certificate(ca.cert.read_bytes())
    ca_key = serialization.load_pem_private_key(ca.key.read_bytes(), password=None)
    now = _utcnow()
    key = ec.generate_private_key(ec.SECP256R1())
    usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(not_before or now - dt.timedelta(minutes=5))
               .not_valid_after(not_after or now + dt.timedelta(days=825))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                              critical=False))
    names = [_general_name(h) for h in hosts]
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return _write(directory, name, builder.sign(ca_key, hashes.SHA256()), key, chain=(ca_cert,))


def local_pki(directory: Path) -> LocalPki:
    """The file names of a cluster directory's certificates (no I/O)."""
    directory = Path(directory)

    def files(name: str) -> CertFiles:
        return CertFiles(directory / f"{name}.pem", directory / f"{name}-key.pem")

    return LocalPki(directory, files("ca"), files("broker"), files("client"))


def ensure_local_pki(directory: Path, client_cn: str) -> LocalPki:
    """The CA, broker and client certificates in ``directory``, created on first use and reused
    afterwards (a broker restart keeps trusting the same CA); writes the broker's PEM keystore."""
    pki = local_pki(directory)
    if not all(f.cert.exists() and f.key.exists() for f in (pki.ca, pki.broker, pki.client)):
        ca = create_ca(pki.directory)
        issue(ca, pki.directory, "broker", "localhost", hosts=BROKER_HOSTS, server=True)
        issue(ca, pki.directory, "client", client_cn)
    _write_private(pki.broker_keystore, pki.broker.key.read_bytes() + pki.broker.cert.read_bytes())
    return pki


def listener_properties(pki: LocalPki) -> dict[str, str]:
    """Broker properties shared by the ``TLS`` and ``MTLS`` listeners (PEM key and trust stores,
    client certificates required on ``MTLS`` only, CN -> principal)."""
    return {
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(pki.broker_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(pki.ca.cert),
        "ssl.client.auth": "none",
        f"listener.name.{MTLS_LISTENER.lower()}.ssl.client.auth": "required",
        "ssl.principal.mapping.rules": PRINCIPAL_MAPPING_RULES,
    }


def _general_name(host: str):
    from cryptography import x509

    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write(directory: Path, name: str, cert, key, chain) -> CertFiles:
    from cryptography.hazmat.primitives import serialization

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (cert, *chain))
    files = CertFiles(directory / f"{name}.pem", directory / f"{name}-key.pem")
    _write_private(files.key, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                serialization.NoEncryption()))
    files.cert.write_bytes(pem)
    return files


def _write_private(path: Path, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
