"""botocore settings for the services a download request waits on: KMS and Secrets Manager.

The Lambda times out after ``LAMBDA_TIMEOUT_SECONDS``. A slow or unreachable dependency must
end as a retryable 503 (``SignerUnavailable``) well before that, not as a Lambda timeout (a
bare 503/504 from API Gateway, no audit record). botocore's defaults (60 s connect and read
timeouts, legacy retries) allow minutes. Here each attempt gets at most
``connect_timeout + read_timeout`` seconds, and standard-mode retries add at most
``min(2 ** i, 20)`` seconds of back-off before retry ``i`` (``worst_case_seconds``).
"""

from __future__ import annotations

from botocore.config import Config

LAMBDA_TIMEOUT_SECONDS = 10
CONNECT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
#: The first call and one retry. botocore's ``max_attempts`` counts *retries* (it becomes
#: ``total_max_attempts = max_attempts + 1``), so the total is set explicitly.
TOTAL_MAX_ATTEMPTS = 2
_MAX_BACKOFF_SECONDS = 20  # botocore.retries.standard.ExponentialBackoff


def dependency_config() -> Config:
    """Client config for KMS and Secrets Manager: short timeouts, one retry, standard mode."""
    return Config(connect_timeout=CONNECT_TIMEOUT_SECONDS, read_timeout=READ_TIMEOUT_SECONDS,
                  retries={"mode": "standard", "total_max_attempts": TOTAL_MAX_ATTEMPTS})


def worst_case_seconds(config: Config) -> float:
    """The longest a call made with ``config`` can wait: every attempt timing out, plus back-off.

    Works on the config given to a client and on a built client's ``meta.config``.
    """
    retries: dict[str, object] = getattr(config, "retries", None) or {}
    if "total_max_attempts" in retries:
        attempts = int(str(retries["total_max_attempts"]))
    else:  # botocore's default is 3 attempts in standard mode (legacy: 5)
        attempts = int(str(retries["max_attempts"])) + 1 if "max_attempts" in retries else 5
    per_attempt = float(getattr(config, "connect_timeout", 60)) + float(getattr(config, "read_timeout", 60))
    backoff = sum(min(2.0**retry, _MAX_BACKOFF_SECONDS) for retry in range(attempts - 1))
    return attempts * per_attempt + backoff
