"""The service's HTTPS side: a local certificate authority, and a certificate for each AWS host it answers.

Some clients build their own endpoints: AWS's SageMaker SDK v2 and v3 make their STS client with
``endpoint_url="https://sts.<region>.amazonaws.com"``, which no ``AWS_ENDPOINT_URL_*`` variable overrides. For them
the service is also an HTTPS proxy (``HTTPS_PROXY=http://127.0.0.1:<port>``, which botocore honours): a
``CONNECT`` to a host of a service it answers (``HOSTS``: SageMaker, SageMaker Runtime, CloudWatch Logs, STS, IAM,
in any region) is answered by the service itself over TLS, with a certificate for that host signed by the local
CA (``AWS_CA_BUNDLE=<service dir>/tls/ca.pem``); a ``CONNECT`` anywhere else is refused (403): nothing leaves the
machine through it.

The CA (``tls/ca.pem``, its key ``tls/ca-key.pem`` mode 0600) is made once per service folder with
``cryptography``: 10 years, constrained to sign no CA below it. Host certificates are made in memory on first use
(one second each at most) and cached for the life of the process.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import ssl
import tempfile
import threading
from pathlib import Path

__all__ = ["HOSTS", "CertificateAuthority", "answers_host"]

HOSTS = re.compile(
    r"^(?:api\.sagemaker|sagemaker|runtime\.sagemaker|runtime-fips\.sagemaker|api-fips\.sagemaker|logs|sts|iam)"
    r"(?:\.[a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?$"
)


def answers_host(host: str) -> bool:
    """Whether a ``CONNECT`` to ``host`` is one the service answers itself."""
    return bool(HOSTS.match(host.lower()))


class CertificateAuthority:
    """The local CA of one service folder and the TLS contexts of the hosts it signs for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cert_path = folder / "ca.pem"
        self._key_path = folder / "ca-key.pem"
        self._lock = threading.Lock()
        self._contexts: dict[str, ssl.SSLContext] = {}
        self._ca: tuple[object, object] | None = None

    def _load_or_create(self) -> tuple[object, object]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        if self._ca is not None:
            return self._ca
        if self.cert_path.exists() and self._key_path.exists():
            key = serialization.load_pem_private_key(self._key_path.read_bytes(), password=None)
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            self._ca = (key, cert)
            return self._ca
        self.folder.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "opensagemaker local service CA")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption())
        descriptor = os.open(self._key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(key_pem)
        temporary = self.cert_path.with_suffix(".tmp")
        temporary.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        os.replace(temporary, self.cert_path)
        self._ca = (key, cert)
        return self._ca

    def ensure(self) -> Path:
        """The CA certificate's path (made now if there is none)."""
        with self._lock:
            self._load_or_create()
        return self.cert_path

    def context(self, host: str) -> ssl.SSLContext:
        """A server-side TLS context presenting a certificate for ``host`` signed by this CA."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        host = host.lower()
        with self._lock:
            context = self._contexts.get(host)
            if context is not None:
                return context
            ca_key, ca_cert = self._load_or_create()
            key = ec.generate_private_key(ec.SECP256R1())
            now = dt.datetime.now(dt.UTC)
            cert = (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(ca_cert.subject).public_key(key.public_key())  # type: ignore[attr-defined]
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=365))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),  # type: ignore[attr-defined]
                               critical=False)
                .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
            )
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with tempfile.TemporaryDirectory(dir=self.folder) as scratch:  # ssl loads chains from files only
                chain = Path(scratch) / "chain.pem"
                secret = Path(scratch) / "key.pem"
                chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
                secret.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
                context.load_cert_chain(chain, secret)
            self._contexts[host] = context
            return context
