"""A slow or unreachable KMS / Secrets Manager ends as a retryable 503 well inside the Lambda timeout."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ConnectTimeoutError, EndpointConnectionError, ReadTimeoutError
from conftest import REGION, api_event, body, careers, create_kms_key, filegate_env, put_record

from filegate.adapters.dependency_config import LAMBDA_TIMEOUT_SECONDS, worst_case_seconds

ALICE_CV = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"
BUDGET_SECONDS = 8  # under the 10 s Lambda timeout, with room for the rest of the request


def _budget(config: Config) -> float:
    """Independent arithmetic: every attempt spends its connect and read timeouts, plus the
    standard-mode back-off (at most min(2**i, 20) s) before each retry."""
    attempts = config.retries["total_max_attempts"]
    backoff = sum(min(2**retry, 20) for retry in range(attempts - 1))
    return attempts * (config.connect_timeout + config.read_timeout) + backoff


def _kms_client(configure: Any) -> Any:
    minting = configure(**filegate_env(kms_key_id=create_kms_key()))
    from filegate.handlers import downloads
    return minting, downloads.runtime().signer._signer._client  # type: ignore[attr-defined]


def _secrets_client(configure: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from filegate.adapters import secret_signer
    providers: list[SecretsProvider] = []

    class Recording(SecretsProvider):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            providers.append(self)

    monkeypatch.setattr(secret_signer, "SecretsProvider", Recording)
    boto3.client("secretsmanager", region_name=REGION).create_secret(Name="filegate/edge/k2026a", SecretString="x")
    minting = configure(**filegate_env(secret_name="filegate/edge/k2026a", signer="secret"))
    from filegate.handlers import downloads
    downloads.runtime()
    assert len(providers) == 1
    return minting, providers[0].client


def test_kms_client_budget_stays_under_8_seconds(configure: Any) -> None:
    # Given the KMS client the download handler builds
    _, client = _kms_client(configure)
    config = client.meta.config
    # Then its timeouts and attempts are the short ones, and all attempts together fit the budget
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert _budget(config) == worst_case_seconds(config) == 7
    assert _budget(config) < BUDGET_SECONDS < LAMBDA_TIMEOUT_SECONDS


def test_secrets_manager_client_budget_stays_under_8_seconds(configure: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the Secrets Manager client inside the Powertools provider the secret signer reads through
    _, client = _secrets_client(configure, monkeypatch)
    config = client.meta.config
    # Then it has the same short timeouts (not botocore's 60 s) and fits the budget
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert _budget(config) < BUDGET_SECONDS


def test_botocore_defaults_would_not_fit() -> None:
    # Given botocore's defaults (60 s timeouts; max_attempts counts retries) / Then they blow the budget
    assert worst_case_seconds(Config()) > LAMBDA_TIMEOUT_SECONDS
    assert worst_case_seconds(Config(retries={"max_attempts": 2})) > LAMBDA_TIMEOUT_SECONDS


NETWORK_ERRORS = [
    lambda: ReadTimeoutError(endpoint_url="https://kms.ap-southeast-1.amazonaws.com"),
    lambda: ConnectTimeoutError(endpoint_url="https://kms.ap-southeast-1.amazonaws.com"),
    lambda: EndpointConnectionError(endpoint_url="https://kms.ap-southeast-1.amazonaws.com"),
]


@pytest.mark.parametrize("signer", ["kms", "secret"])
@pytest.mark.parametrize("error", NETWORK_ERRORS, ids=["read-timeout", "connect-timeout", "endpoint-connection"])
def test_network_failures_are_a_retryable_503(configure: Any, monkeypatch: pytest.MonkeyPatch, signer: str,
                                              error: Any) -> None:
    # Given a dependency whose every HTTP attempt fails the way botocore reports a slow or
    # unreachable endpoint (raised where the HTTP request is sent, so botocore's retries apply)
    minting, client = _kms_client(configure) if signer == "kms" else _secrets_client(configure, monkeypatch)
    put_record(ALICE_CV)
    attempts: list[str] = []

    def fail(**kwargs: Any) -> None:
        attempts.append(kwargs["event_name"])
        raise error()

    client.meta.events.register_first("before-send", fail)
    # When Alice asks for her file
    response = minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))
    # Then the call was tried exactly twice, and the client gets a retryable 503 naming no internals
    assert len(attempts) == 2
    assert response["statusCode"] == 503, response["body"]
    assert body(response) == {"error": {"code": "temporarily_unavailable",
                                        "message": "signing is temporarily unavailable; retry shortly"}}
    assert response["headers"]["Retry-After"] == "1"


@pytest.mark.parametrize("handler", ["uploads", "downloads", "files"])
def test_the_files_table_client_has_the_same_short_budget(configure: Any, handler: str) -> None:
    # Given the DynamoDB client each API handler reads or writes file records with
    configure(**filegate_env(kms_key_id=create_kms_key()))
    import importlib
    module = importlib.import_module(f"filegate.handlers.{handler}")
    config = module.runtime().files._client.meta.config
    # Then a slow DynamoDB is a 503 well inside the Lambda timeout, as for KMS
    assert (config.connect_timeout, config.read_timeout) == (1, 2)
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert _budget(config) < BUDGET_SECONDS


@pytest.mark.parametrize("error", NETWORK_ERRORS, ids=["read-timeout", "connect-timeout", "endpoint-connection"])
def test_an_unreachable_files_table_is_a_retryable_503(configure: Any, error: Any) -> None:
    # Given a DynamoDB whose every attempt fails
    minting = configure(**filegate_env(kms_key_id=create_kms_key()))
    from filegate.handlers import downloads, uploads
    for module in (uploads, downloads):
        module.runtime().files._client.meta.events.register_first(  # type: ignore[attr-defined]
            "before-send", lambda **_: (_ for _ in ()).throw(error()))
    # When an upload or a download is asked for / Then 503s that name no internals
    for response in (minting.upload(api_event("/uploads", {"rule": "cv", "content_type": "application/pdf",
                                                           "size": 5}, claims=careers("alice"))),
                     minting.download(api_event("/downloads", {"key": ALICE_CV}, claims=careers("alice")))):
        assert response["statusCode"] == 503, response["body"]
        assert body(response) == {"error": {"code": "temporarily_unavailable",
                                            "message": "file records are temporarily unavailable; retry shortly"}}
