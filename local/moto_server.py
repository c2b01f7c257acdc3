"""moto in server mode (KMS, Secrets Manager, DynamoDB, SQS, EventBridge, CloudFront, Lambda's
control plane for the local mode) on 127.0.0.1.

A thin wrapper around moto's own server entry point, so that the process's command line names
the local mode's data folder (the e2e tests check that no such process outlives a run), plus one
addition: Lambda invocations moto makes itself reach the local mode's function workers.

Secrets Manager's ``RotateSecret`` invokes the secret's rotation function four times
(``createSecret``, ``setSecret``, ``testSecret``, ``finishSecret``). moto does that through its
Lambda backend, which would run the function in Docker; here moto's Docker-less Lambda backend is
selected and its ``invoke`` posts the event to the function's worker (``--function NAME=URL``:
``local/function_worker.py`` running the real handler in its own process and environment). A
function that raises makes the invocation, and so ``RotateSecret``, fail. moto runs the steps
synchronously, inside the ``RotateSecret`` call (Secrets Manager runs them in the background).
A finished rotation does not block the next one (``allow_rotation_after_rotation``: moto 5.2's
check is the wrong way round).
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import Any

from moto.server import main as moto_main

#: Each step of a rotation may take the function's timeout (the stack's: 30 s) and then some.
INVOKE_TIMEOUT_SECONDS = 45


class InvocationFailed(RuntimeError):
    """The function raised (Lambda's unhandled error): the calling operation fails."""


def short_name(name_or_arn: str) -> str:
    """``rotation`` of ``rotation``, ``arn:aws:lambda:<region>:<account>:function:rotation[:qualifier]``."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn


def forward_invocations(workers: dict[str, str]) -> None:
    """Select moto's Docker-less Lambda backend, and send its invocations of ``workers`` to them."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config

    default_user_config["lambda"]["use_docker"] = False  # the dict moto's get_backend reads
    stub = LambdaSimpleBackend.invoke

    def invoke(self: LambdaSimpleBackend, function_name: str, qualifier: str | None, body: Any,  # noqa: PLR0917
               headers: Any, response_headers: Any) -> str | bytes | None:
        name = short_name(function_name)
        url = workers.get(name)
        if url is None:
            return stub(self, function_name, qualifier, body, headers, response_headers)
        payload = body if isinstance(body, bytes) else str(body or "{}").encode()
        request = urllib.request.Request(f"{url}/invoke", data=payload, method="POST",  # noqa: S310 - loopback
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=INVOKE_TIMEOUT_SECONDS) as answer:  # noqa: S310
                return bytes(answer.read())
        except urllib.error.HTTPError as error:  # the worker's 500: the function raised
            detail = error.read()[:300].decode(errors="replace")
            raise InvocationFailed(f"{name} failed: {detail}") from error

    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def allow_rotation_after_rotation() -> None:
    """Secrets Manager starts a rotation when no version is staged ``AWSPENDING``, or when that
    version is also ``AWSCURRENT`` (a finished rotation: "the AWSPENDING and AWSCURRENT staging labels
    are attached to the same version", Secrets Manager User Guide, rotation function); only a
    pending version that is not current means a rotation is still in progress. moto 5.2 refuses the
    finished case ("Previous rotation request is still in progress"), so a second rotation could
    never start locally: the finished rotation's ``AWSPENDING`` label is taken off first, which is
    the state Secrets Manager treats the same way."""
    from moto.secretsmanager.models import SecretsManagerBackend

    rotate = SecretsManagerBackend.rotate_secret

    def rotate_secret(self: SecretsManagerBackend, secret_id: str, *args: Any, **kwargs: Any) -> str:
        secret = self.secrets[secret_id] if self._is_valid_identifier(secret_id) else None
        for version in getattr(secret, "versions", {}).values():
            stages = version["version_stages"]
            if "AWSPENDING" in stages and "AWSCURRENT" in stages:
                stages.remove("AWSPENDING")
        return rotate(self, secret_id, *args, **kwargs)

    SecretsManagerBackend.rotate_secret = rotate_secret  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description="moto server for the filegate local mode")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--data-dir", required=True, help="the local mode's data folder (a marker only)")
    parser.add_argument("--function", action="append", default=[], metavar="NAME=URL",
                        help="a Lambda function moto invokes (e.g. a secret's rotation): its worker's URL")
    args = parser.parse_args()
    workers = dict(item.split("=", 1) for item in args.function)
    allow_rotation_after_rotation()
    if workers:
        forward_invocations(workers)
        print(f"moto: invocations of {json.dumps(sorted(workers))} go to their local workers", flush=True)
    moto_main(["-H", "127.0.0.1", "-p", str(args.port)])


if __name__ == "__main__":
    main()
