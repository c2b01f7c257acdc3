"""The one interface both CloudFront signers implement."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


class SignerUnavailable(Exception):
    """The signing dependency (KMS, Secrets Manager) failed; the client may retry."""


@runtime_checkable
class Signer(Protocol):
    """Signs CloudFront policy statements with the active slot's private key.

    ``sign`` returns the raw signature bytes (DER for ECDSA, PKCS#1 v1.5 for RSA) over the
    exact bytes given, hashed with ``hash_algorithm``; it raises ``SignerUnavailable`` when the
    backing service fails.
    """

    @property
    def key_pair_id(self) -> str: ...

    @property
    def hash_algorithm(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...
