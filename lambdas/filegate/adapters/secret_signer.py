"""Signs locally with a PEM private key kept in Secrets Manager (for very high request rates).

Imported only when ``FILEGATE_SIGNER=secret``: it is the only module that needs
``cryptography``. The secret is read through a Powertools ``SecretsProvider`` (cached for
``max_age`` seconds) whose client has the short timeouts of ``dependency_config`` rather than
botocore's 60 s, so a slow Secrets Manager is a retryable 503, not a Lambda timeout. The
parsed key is kept until the secret's value changes, because loading a PEM validates the key
(tens of milliseconds for RSA) and must not happen per request.
"""

from __future__ import annotations

from collections.abc import Callable

import boto3
from aws_lambda_powertools.utilities.parameters import SecretsProvider
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from filegate.adapters.dependency_config import dependency_config
from filegate.adapters.signer import SignerUnavailable

SecretReader = Callable[[str], str]
_DETERMINISTIC_ECDSA = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


def load_signing_key(pem: str | bytes) -> PrivateKey:
    """Parse a PEM private key CloudFront can verify: ECDSA P-256 or RSA-2048."""
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    key = serialization.load_pem_private_key(data, password=None)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise ValueError(f"ECDSA keys must use P-256, not {key.curve.name}")
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size != 2048:
            raise ValueError(f"RSA keys must be 2048 bits, not {key.key_size}")
        return key
    raise ValueError(f"unsupported key type {type(key).__name__}: use ECDSA P-256 or RSA-2048")


def sign_with(key: PrivateKey, message: bytes) -> bytes:
    """SHA-256 signature as CloudFront verifies it: DER ECDSA, or RSA PKCS#1 v1.5.

    ECDSA is deterministic (RFC 6979): its nonce comes from the key and the message, never from
    a random generator whose state a SnapStart snapshot would share between environments (a
    nonce used twice with one key gives the key away)."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, _DETERMINISTIC_ECDSA)
    return key.sign(message, padding.PKCS1v15(), hashes.SHA256())


def secrets_provider(region: str | None = None, session: boto3.session.Session | None = None) -> SecretsProvider:
    """A Powertools provider whose Secrets Manager client gives up well inside the Lambda timeout
    (its client from ``session`` when given, in ``region``)."""
    client = (session or boto3.session.Session()).client("secretsmanager", region_name=region,
                                                           config=dependency_config())
    return SecretsProvider(boto3_client=client)


def powertools_secret_reader(max_age: int, provider: SecretsProvider | None = None) -> SecretReader:
    """Read a secret string through ``provider`` (default: ``secrets_provider()``), cached for
    ``max_age`` seconds."""
    source = provider if provider is not None else secrets_provider()

    def read(name: str) -> str:
        value = source.get(name, max_age=max_age)
        if not isinstance(value, str):  # a binary secret or a transformed value
            raise TypeError("the signing secret must be a PEM string")
        return value

    return read


class SecretKeySigner:
    """Signs with a private key read from Secrets Manager (``ECDSA P-256`` or ``RSA-2048``)."""

    hash_algorithm = "SHA256"

    def __init__(self, *, secret_name: str, key_pair_id: str, read_secret: SecretReader) -> None:
        self._secret_name = secret_name
        self._read_secret = read_secret
        self._pem: str | None = None
        self._key: PrivateKey | None = None
        self.key_pair_id = key_pair_id

    def _current_key(self) -> PrivateKey:
        try:
            pem = self._read_secret(self._secret_name)
        except Exception as error:  # Powertools wraps every provider failure; all mean "retry later"
            raise SignerUnavailable(f"reading the signing secret failed: {type(error).__name__}") from error
        if self._key is None or pem != self._pem:
            try:
                self._key = load_signing_key(pem)
            except (ValueError, TypeError) as error:
                raise SignerUnavailable(f"the signing secret holds no usable key: {error}") from error
            self._pem = pem
        return self._key

    def sign(self, message: bytes) -> bytes:
        return sign_with(self._current_key(), message)
