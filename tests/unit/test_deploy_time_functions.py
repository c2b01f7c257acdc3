"""The two small Lambdas that are not minting: the KMS public-key reader and the pre-token trigger."""

from __future__ import annotations

import importlib
from typing import Any

import boto3
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from moto import mock_aws

from pre_token.handler import handler as pre_token


@pytest.fixture
def kms_reader(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-southeast-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    with mock_aws():
        import kms_public_key.handler as module

        yield importlib.reload(module)  # its client is built at import, inside the mock


def _event(request_type: str, key_id: str) -> dict[str, Any]:
    return {"RequestType": request_type, "ResourceProperties": {"KeyId": key_id}, "PhysicalResourceId": key_id}


def test_reader_returns_the_pem_of_the_kms_public_key(kms_reader: Any) -> None:
    # Given an ECC P-256 signing key in KMS
    kms = boto3.client("kms")
    key_id = kms.create_key(KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["Arn"]
    # When CloudFormation creates the custom resource
    result = kms_reader.on_event(_event("Create", key_id), None)
    # Then the PEM is the key's public half, and a KMS signature verifies against it
    pem = result["Data"]["Pem"]
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n") and pem.endswith("-----END PUBLIC KEY-----\n")
    assert all(len(line) <= 64 for line in pem.splitlines())
    public_key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    signature = kms.sign(KeyId=key_id, Message=b"policy", MessageType="RAW",
                         SigningAlgorithm="ECDSA_SHA_256")["Signature"]
    public_key.verify(signature, b"policy", ec.ECDSA(hashes.SHA256()))
    assert "PRIVATE" not in pem


def test_reader_refuses_a_key_that_cannot_sign(kms_reader: Any) -> None:
    key_id = boto3.client("kms").create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    with pytest.raises(ValueError, match="not a signing key"):
        kms_reader.on_event(_event("Update", key_id), None)


def test_reader_delete_touches_nothing(kms_reader: Any) -> None:
    assert kms_reader.on_event(_event("Delete", "gone"), None) == {"PhysicalResourceId": "gone"}


def test_pre_token_copies_org_id_into_the_access_token() -> None:
    # Given an org user's token request / When the trigger runs / Then the access token gets org_id
    event = {"request": {"userAttributes": {"sub": "u1", "custom:org_id": "acme"}}, "response": {}}
    claims = pre_token(event, None)["response"]["claimsAndScopeOverrideDetails"]
    assert claims == {"accessTokenGeneration": {"claimsToAddOrOverride": {"org_id": "acme"}}}


def test_pre_token_leaves_users_without_an_org_alone() -> None:
    event = {"request": {"userAttributes": {"sub": "u1"}}, "response": {}}
    assert pre_token(event, None) == {"request": {"userAttributes": {"sub": "u1"}}, "response": {}}
