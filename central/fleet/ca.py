"""A small local certificate authority (ECDSA P-256): broker and agent certificates, the CRL.

Keys are written 0600 by the caller (see `central.fleet.files`); nothing here logs key material.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
CERT_DAYS = 825
CRL_DAYS = 365
_BACKDATE = timedelta(minutes=5)  # tolerate a little clock skew between boxes


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key, both PEM."""

    cert_pem: bytes
    key_pem: bytes
    serial: int
    not_after: datetime


def new_key() -> ec.EllipticCurvePrivateKey:
    """A fresh P-256 private key."""
    return ec.generate_private_key(ec.SECP256R1())


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (the file's mode protects it)."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _name(cn: str, org: str = "Siaga") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        key_cert_sign=ca,
        crl_sign=ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=not ca,
        encipher_only=False,
        decipher_only=False,
    )


def _window(
    days: int, not_before: datetime | None, not_after: datetime | None
) -> tuple[datetime, datetime]:
    start = not_before or datetime.now(UTC) - _BACKDATE
    end = not_after or start + _BACKDATE + timedelta(days=days)
    if end <= start:
        raise ValueError("a certificate must end after it starts")
    return start, end


def create_ca(common_name: str = "Siaga fleet CA", *, days: int = CA_DAYS) -> Issued:
    """A self-signed CA that can sign leaf certificates and CRLs (path length 0)."""
    key = new_key()
    start, end = _window(days, None, None)
    serial = x509.random_serial_number()
    pub = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(pub)
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_usage(ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(pub), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key), serial, end)


@dataclass(frozen=True)
class Authority:
    """A loaded CA: its certificate and signing key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @classmethod
    def load(cls, cert_pem: bytes, key_pem_: bytes) -> Authority:
        """From PEM bytes (ValueError when they are not a CA certificate and its EC key)."""
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem_, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the CA key is not an EC private key")
        if key.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
            raise ValueError("the CA key does not belong to the CA certificate")
        return cls(cert, key)

    def _leaf(
        self,
        cn: str,
        *,
        days: int,
        usage: x509.ObjectIdentifier,
        sans: Sequence[x509.GeneralName] = (),
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Issued:
        key = new_key()
        start, end = _window(days, not_before, not_after)
        serial = x509.random_serial_number()
        b = (
            x509.CertificateBuilder()
            .subject_name(_name(cn))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.cert.public_key()),  # type: ignore[arg-type]
                critical=False,
            )
        )
        if sans:
            b = b.add_extension(x509.SubjectAlternativeName(list(sans)), critical=False)
        cert = b.sign(self.key, hashes.SHA256())
        return Issued(cert.public_bytes(serialization.Encoding.PEM), key_pem(key), serial, end)

    def server_cert(
        self, hostnames: Iterable[str], ips: Iterable[str], *, days: int = CERT_DAYS
    ) -> Issued:
        """The broker's certificate, naming every host name and IP address clients use."""
        names = list(hostnames)
        addrs = [ipaddress.ip_address(ip) for ip in ips]
        if not names and not addrs:
            raise ValueError("the broker certificate needs at least one host name or IP address")
        sans: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
        sans += [x509.IPAddress(a) for a in addrs]
        cn = names[0] if names else str(addrs[0])
        return self._leaf(cn, days=days, usage=ExtendedKeyUsageOID.SERVER_AUTH, sans=sans)

    def client_cert(
        self,
        cn: str,
        *,
        days: int = CERT_DAYS,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> Issued:
        """An agent's certificate: CN = agent id (the broker takes it as the user name)."""
        return self._leaf(cn, days=days, usage=ExtendedKeyUsageOID.CLIENT_AUTH,
                          not_before=not_before, not_after=not_after)  # fmt: skip

    def crl(self, revoked: Iterable[tuple[int, datetime]], *, days: int = CRL_DAYS) -> bytes:
        """A CRL (PEM) listing (serial, revoked at); the broker refuses everyone once it expires."""
        now = datetime.now(UTC)
        b = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.cert.subject)
            .last_update(now - _BACKDATE)
            .next_update(now + timedelta(days=days))
        )
        for serial, when in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when).build()
            )
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)
