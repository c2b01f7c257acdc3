"""Signs with ``kms:Sign``: the private key never leaves KMS."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Literal

from botocore.exceptions import BotoCoreError, ClientError

from filegate.adapters.signer import SignerUnavailable

if TYPE_CHECKING:
    from mypy_boto3_kms import KMSClient

KmsSigningAlgorithm = Literal["ECDSA_SHA_256", "RSASSA_PKCS1_V1_5_SHA_256"]
#: KMS signs at most 4096 bytes of raw message; longer policies are sent as their SHA-256 digest
#: (``MessageType=DIGEST``), which yields the same signature.
KMS_RAW_MESSAGE_LIMIT = 4096


class KmsSigner:
    """``kms:Sign`` with ``MessageType=RAW`` (``ECDSA_SHA_256`` for P-256 keys by default)."""

    hash_algorithm = "SHA256"

    def __init__(self, client: KMSClient, *, key_id: str, key_pair_id: str,
                 signing_algorithm: KmsSigningAlgorithm = "ECDSA_SHA_256") -> None:
        self._client = client
        self._key_id = key_id
        self._algorithm: KmsSigningAlgorithm = signing_algorithm
        self.key_pair_id = key_pair_id
        self.calls = 0  # KMS round trips made; read by the benchmark and tests

    def sign(self, message: bytes) -> bytes:
        self.calls += 1
        try:
            if len(message) <= KMS_RAW_MESSAGE_LIMIT:
                response = self._client.sign(KeyId=self._key_id, Message=message, MessageType="RAW",
                                             SigningAlgorithm=self._algorithm)
            else:
                response = self._client.sign(KeyId=self._key_id, Message=hashlib.sha256(message).digest(),
                                             MessageType="DIGEST", SigningAlgorithm=self._algorithm)
        except (ClientError, BotoCoreError) as error:
            raise SignerUnavailable(f"kms:Sign failed: {type(error).__name__}") from error
        return response["Signature"]
