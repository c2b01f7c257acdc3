"""Custom resource handler (CDK provider framework): read a KMS public key, return it as PEM.

CloudFront's ``AWS::CloudFront::PublicKey`` takes a PEM; KMS hands out the DER
SubjectPublicKeyInfo. Only the public key ever leaves KMS.
"""

from __future__ import annotations

import base64
import textwrap
from typing import Any

import boto3

_kms = boto3.client("kms")


def der_to_pem(der: bytes) -> str:
    """SubjectPublicKeyInfo DER -> ``BEGIN PUBLIC KEY`` PEM (64-column base64)."""
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode("ascii"), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n"


def on_event(event: dict[str, Any], _context: object) -> dict[str, Any]:
    key_id = event["ResourceProperties"]["KeyId"]
    if event["RequestType"] == "Delete":
        return {"PhysicalResourceId": event.get("PhysicalResourceId", key_id)}
    response = _kms.get_public_key(KeyId=key_id)
    if response.get("KeyUsage") != "SIGN_VERIFY":
        raise ValueError(f"{key_id} is not a signing key")
    return {
        "PhysicalResourceId": response["KeyId"],
        "Data": {"Pem": der_to_pem(response["PublicKey"]), "KeySpec": response.get("KeySpec", "")},
    }
