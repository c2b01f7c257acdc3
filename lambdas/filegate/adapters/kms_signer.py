"""Signs with ``kms:Sign``: the private key never leaves KMS.

The key policy allows ``kms:Sign`` only with ``ECDSA_SHA_256`` and ``MessageType=RAW``, so this
signer sends exactly that and nothing else. KMS signs at most 4096 bytes of raw message; the
CloudFront policy builder refuses longer policies before any signer is asked (the same limit
for both signers, so the choice of signer never changes which requests succeed).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.signer import SignerUnavailable
from filegate.domain.cloudfront import MAX_POLICY_BYTES

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

SIGNING_ALGORITHM: Final = "ECDSA_SHA_256"


class KmsSigner:
    """``kms:Sign`` with ``MessageType=RAW`` and ``ECDSA_SHA_256`` (``ECC_NIST_P256`` keys)."""

    hash_algorithm = "SHA256"

    def __init__(self, client: KMSClient, *, key_id: str, key_pair_id: str) -> None:
        self._client = client
        self._key_id = key_id
        self.key_pair_id = key_pair_id
        self.calls = 0  # KMS round trips made; read by the benchmark and tests

    def sign(self, message: bytes) -> bytes:
        if len(message) > MAX_POLICY_BYTES:  # refused upstream; never sent as a DIGEST
            raise ValueError(f"a policy over {MAX_POLICY_BYTES} bytes cannot be signed as a RAW message")
        self.calls += 1
        try:
            response = self._client.sign(KeyId=self._key_id, Message=message, MessageType="RAW",
                                         SigningAlgorithm=SIGNING_ALGORITHM)
        except (ClientError, BotoCoreError) as error:  # timeouts and connection errors are BotoCoreErrors
            raise SignerUnavailable(f"kms:Sign failed: {type(error).__name__}") from error
        return response["Signature"]
