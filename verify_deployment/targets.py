"""Building a ``Target``: from CloudFormation (``describe_stacks`` of the environment's
``FileStore`` and ``FileApi`` stacks), from a ``cdk deploy --outputs-file`` JSON, from the
``FILEGATE_*`` variables (the pipeline's ``env_from_cfn_outputs``), or from a local mode's
endpoints.json. Every way ends in the same Target; only where URLs and credentials come from differs.

In AWS the S3 checks use the credentials the verifier started with (an operator's, the
pipeline's or the workflow's), and the ``/backend/*`` calls the verifier role's, assumed with STS
(session ``filegate-verify``) when its ARN is known, unless the caller already is that role.
Anything missing or unreadable is a ``ConfigurationError`` naming it (exit 2).
"""

# ruff: noqa: PLC0415 (stacks.stage loads the CDK: imported only when an AWS target needs it)

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import boto3
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from verify_deployment.backends import LocalKeyBackend, SigV4Backend
from verify_deployment.model import ConfigurationError, Target

if TYPE_CHECKING:
    from stacks.config import EnvironmentConfig

#: The stacks whose outputs the verifier reads (``stacks.stage.stack_name`` kinds), first wins.
OUTPUT_STACK_KINDS = ("FileStore", "FileApi")
#: The output that may be absent: without it the caller's own credentials sign the backend calls.
OPTIONAL_OUTPUTS = frozenset({"VerifierRoleArn"})
ROLE_SESSION_NAME = "filegate-verify"
ROLE_SESSION_SECONDS = 3600
DEFAULT_ENDPOINTS = Path(".local/endpoints.json")
#: Bounds on the waits, by target kind (``--wait-seconds`` overrides the first).
AWS_WAIT_SECONDS = 300.0
LOCAL_WAIT_SECONDS = 60.0
_EXECUTE_API_HOST = re.compile(r"^[a-z0-9]+\.execute-api\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?$")
_ASSUMED_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<name>[\w+=,.@-]+)/")
_ROLE = re.compile(r"^arn:(?P<partition>[\w-]+):iam::(?P<account>\d{12}):role/(?:[\w+=,.@/-]*/)?(?P<name>[\w+=,.@-]+)$")


def s3_config(addressing: Literal["path", "virtual"], *, signed: bool = True) -> Config:
    """SigV4 (or nothing) with the given addressing style: virtual-hosted in AWS, path-style
    against the local S3 (DESIGN.md, traps: botocore's presigning defaults)."""
    if signed:
        return Config(signature_version="s3v4", s3={"addressing_style": addressing})
    return Config(signature_version=UNSIGNED, s3={"addressing_style": addressing})


def load_config(env: str) -> EnvironmentConfig:
    """The environment's config from cdk.json (rules, region, ``domain``, the WAF's body limit)."""
    from stacks.config import ConfigError, load_environment

    try:
        return load_environment(env)
    except ConfigError as error:
        raise ConfigurationError(f"config: {error}") from error


def output_variables() -> dict[str, str]:
    """``FILEGATE_*`` variable -> stack output (``stacks.stage.VERIFIER_OUTPUT_VARIABLES``)."""
    from stacks.stage import VERIFIER_OUTPUT_VARIABLES

    return dict(VERIFIER_OUTPUT_VARIABLES)


def stack_names(config: EnvironmentConfig) -> dict[str, str]:
    """kind -> stack name, e.g. ``FileStore`` -> ``FilegateDevFileStore``."""
    from stacks.stage import stack_name

    return {kind: stack_name(config, kind) for kind in OUTPUT_STACK_KINDS}


# --- where the outputs come from --------------------------------------------------------------


def _merged(per_stack: Mapping[str, Mapping[str, Any]], names: Mapping[str, str]) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for kind in reversed(OUTPUT_STACK_KINDS):  # the first kind (FileStore) wins
        for key, value in (per_stack.get(names[kind]) or {}).items():
            if isinstance(value, str) and value:
                outputs[key] = value
    return outputs


def outputs_from_stacks(cloudformation: Any, names: Mapping[str, str]) -> dict[str, str]:
    """The outputs of the environment's stacks, by ``describe_stacks``; the FileStore stack must
    exist (the FileApi stack's outputs are read when it does)."""
    per_stack: dict[str, dict[str, str]] = {}
    for kind in OUTPUT_STACK_KINDS:
        name = names[kind]
        try:
            stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if kind != OUTPUT_STACK_KINDS[0] and "does not exist" in str(error):
                continue
            raise ConfigurationError(f"describe_stacks {name}: {error}") from error
        except BotoCoreError as error:
            raise ConfigurationError(f"describe_stacks {name}: {error}") from error
        per_stack[name] = {str(output["OutputKey"]): str(output.get("OutputValue", ""))
                           for stack in stacks for output in stack.get("Outputs") or []}
    return _merged(per_stack, names)


def outputs_from_file(path: Path, names: Mapping[str, str]) -> dict[str, str]:
    """The outputs in a ``cdk deploy --outputs-file`` JSON: ``{stackName: {OutputKey: value}}``."""
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ConfigurationError(f"--outputs {path}: no such file") from error
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"--outputs {path}: not a readable JSON file ({type(error).__name__})") from error
    if not isinstance(document, dict) or not all(isinstance(value, dict) for value in document.values()):
        raise ConfigurationError(f"--outputs {path}: not a cdk outputs file ({{stackName: {{OutputKey: value}}}})")
    if names[OUTPUT_STACK_KINDS[0]] not in document:
        raise ConfigurationError(f"--outputs {path}: no stack {names[OUTPUT_STACK_KINDS[0]]} "
                                 f"(stacks in the file: {sorted(document)})")
    return _merged(document, names)


def outputs_from_environment(environ: Mapping[str, str], variables: Mapping[str, str]) -> dict[str, str]:
    """The outputs the ``FILEGATE_*`` variables carry (empty ones count as missing)."""
    return {output: environ[variable] for variable, output in variables.items() if environ.get(variable)}


def require_outputs(outputs: Mapping[str, str], variables: Mapping[str, str], *, where: str) -> None:
    """Every output but the optional ones must be there; else name each missing one."""
    missing = [f"{output} ({variable})" for variable, output in variables.items()
               if output not in OPTIONAL_OUTPUTS and not outputs.get(output)]
    if missing:
        raise ConfigurationError(f"missing stack output{'s' if len(missing) > 1 else ''} in {where}: "
                                 + ", ".join(missing))
    for output in ("ApiUrl", "BackendApiUrl", "DownloadBaseUrl"):
        if urlsplit(outputs[output]).scheme not in {"http", "https"}:
            raise ConfigurationError(f"stack output {output} in {where} is not a URL")


# --- AWS ------------------------------------------------------------------------------------


def role_of_identity(identity_arn: str) -> tuple[str, str] | None:
    """(account, role name) of an assumed-role session ARN, else None."""
    match = _ASSUMED_ROLE.match(identity_arn)
    return (match["account"], match["name"]) if match else None


def is_same_role(identity_arn: str, role_arn: str) -> bool:
    """Whether the caller (``GetCallerIdentity`` ARN) already is a session of ``role_arn``."""
    role = _ROLE.match(role_arn)
    current = role_of_identity(identity_arn)
    return bool(role and current and current == (role["account"], role["name"]))


def assume_verifier_role(session: Any, role_arn: str, region: str) -> tuple[Any, str]:
    """A session acting as the verifier role (and what was done): the caller's own session when
    it already is that role, else the role assumed with STS (session ``filegate-verify``)."""
    sts = session.client("sts", region_name=region)
    try:
        identity = str(sts.get_caller_identity()["Arn"])
        if is_same_role(identity, role_arn):
            return session, "already the verifier role"
        credentials = sts.assume_role(RoleArn=role_arn, RoleSessionName=ROLE_SESSION_NAME,
                                      DurationSeconds=ROLE_SESSION_SECONDS)["Credentials"]
    except (ClientError, BotoCoreError) as error:
        raise ConfigurationError(f"cannot act as the verifier role {role_arn}: {error}") from error
    assumed = boto3.Session(aws_access_key_id=credentials["AccessKeyId"],
                            aws_secret_access_key=credentials["SecretAccessKey"],
                            aws_session_token=credentials["SessionToken"], region_name=region)
    return assumed, "verifier role assumed"


def execute_api_region(url: str, default: str) -> str:
    """The region in an execute-api host (``<id>.execute-api.<region>.amazonaws.com``)."""
    match = _EXECUTE_API_HOST.match(urlsplit(url).hostname or "")
    return match["region"] if match else default


def aws_s3_clients(session: Any, region: str) -> tuple[Any, Any]:
    """(the caller's S3 client, an unsigned one): SigV4, virtual-hosted, the bucket's region
    (DESIGN.md, traps: botocore's presigning defaults)."""
    def operator() -> Any:
        return session.client("s3", region_name=region, config=s3_config("virtual"))

    def anonymous() -> Any:
        return boto3.Session(region_name=region).client("s3", region_name=region,
                                                        config=s3_config("virtual", signed=False))

    return operator, anonymous


def aws_target(config: EnvironmentConfig, outputs: Mapping[str, str], *, session: Any, source: str,
               role_arn: str | None = None, wait_seconds: float | None = None) -> Target:
    """The Target of a deployed environment: its outputs, the caller's session for S3, and the
    verifier role's session (when known) for the backend calls."""
    variables = output_variables()
    require_outputs(outputs, variables, where=source)
    role_arn = role_arn or outputs.get("VerifierRoleArn")
    notes: list[str] = []
    backend_session = session
    if role_arn:
        backend_session, note = assume_verifier_role(session, role_arn, config.region)
        notes.append(note)
    else:
        notes.append("no verifier role known: the caller's own credentials sign the backend calls")
    backend_url = outputs["BackendApiUrl"].rstrip("/")
    operator, anonymous = aws_s3_clients(session, config.region)
    wait = AWS_WAIT_SECONDS if wait_seconds is None else wait_seconds
    return Target(
        kind="aws", env=config.name, config=config, api_url=outputs["ApiUrl"].rstrip("/"),
        backend_api_url=backend_url, download_base_url=outputs["DownloadBaseUrl"].rstrip("/"),
        bucket=outputs["BucketName"], region=config.region,
        backend=SigV4Backend(backend_url, backend_session, execute_api_region(backend_url, config.region)),
        operator_s3=operator, anonymous_s3=anonymous, wait_seconds=wait,
        revocation_wait_seconds=min(max(wait, 1.0), 120.0), poll_seconds=0.5, max_poll_seconds=3.0,
        source=source, notes=tuple(notes),
    )


def target_from_aws(env: str, *, outputs_file: Path | None = None, outputs_from_env: bool = False,
                    role_arn: str | None = None, wait_seconds: float | None = None,
                    environ: Mapping[str, str] | None = None, session: Any = None) -> Target:
    """``--env``: the outputs from CloudFormation, an outputs file, or the ``FILEGATE_*`` variables."""
    config = load_config(env)
    environ = os.environ if environ is None else environ
    session = session if session is not None else boto3.Session(region_name=config.region)
    names = stack_names(config)
    if outputs_from_env:
        outputs = outputs_from_environment(environ, output_variables())
        source = "the FILEGATE_* environment variables"
    elif outputs_file is not None:
        outputs = outputs_from_file(outputs_file, names)
        source = str(outputs_file)
    else:
        try:
            cloudformation = session.client("cloudformation", region_name=config.region)
        except (BotoCoreError, ClientError) as error:
            raise ConfigurationError(f"cloudformation client: {error}") from error
        outputs = outputs_from_stacks(cloudformation, names)
        source = f"stacks {', '.join(names.values())} ({config.region})"
    return aws_target(config, outputs, session=session, source=source, role_arn=role_arn, wait_seconds=wait_seconds)


# --- local mode -------------------------------------------------------------------------------


def _endpoint(endpoints: Mapping[str, Any], name: str, path: Path) -> Any:
    value = endpoints.get(name)
    if value in (None, "", {}):
        raise ConfigurationError(f"{path}: no {name!r} (a local mode older than the verifier? restart `make local`)")
    return value


def target_from_local(path: Path = DEFAULT_ENDPOINTS, *, env: str | None = None,
                      wait_seconds: float | None = None) -> Target:
    """``--target local``: a running local mode's endpoints.json. The download base is the local
    edge; ``"operator"`` holds the bucket owner's keys (the caller's own credentials here); the
    backend key stands for IAM."""
    try:
        endpoints = json.loads(path.read_text())
    except FileNotFoundError as error:
        raise ConfigurationError(f"{path}: no such file (is `make local` running?)") from error
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"{path}: not a readable endpoints.json ({type(error).__name__})") from error
    if not isinstance(endpoints, dict):
        raise ConfigurationError(f"{path}: not an endpoints.json object")
    config = load_config(env or str(_endpoint(endpoints, "env", path)))
    s3_url = str(_endpoint(endpoints, "s3", path))
    region = str(endpoints.get("region") or config.region)
    operator_keys = _endpoint(endpoints, "operator", path)
    if not (isinstance(operator_keys, dict) and operator_keys.get("access_key") and operator_keys.get("secret_key")):
        raise ConfigurationError(f"{path}: 'operator' must hold access_key and secret_key")

    def operator() -> Any:
        return boto3.Session().client(
            "s3", endpoint_url=s3_url, region_name=region, aws_access_key_id=str(operator_keys["access_key"]),
            aws_secret_access_key=str(operator_keys["secret_key"]), config=s3_config("path"))

    def anonymous() -> Any:
        return boto3.Session().client("s3", endpoint_url=s3_url, region_name=region,
                                      config=s3_config("path", signed=False))

    backend_url = str(_endpoint(endpoints, "backend_api", path)).rstrip("/")
    wait = LOCAL_WAIT_SECONDS if wait_seconds is None else wait_seconds
    return Target(
        kind="local", env=config.name, config=config, api_url=str(_endpoint(endpoints, "api", path)).rstrip("/"),
        backend_api_url=backend_url, download_base_url=str(_endpoint(endpoints, "edge", path)).rstrip("/"),
        bucket=str(_endpoint(endpoints, "bucket", path)), region=region,
        backend=LocalKeyBackend(backend_url, str(_endpoint(endpoints, "backend_key_header", path)),
                                str(_endpoint(endpoints, "backend_key", path))),
        operator_s3=operator, anonymous_s3=anonymous, wait_seconds=wait,
        revocation_wait_seconds=min(max(wait, 1.0), 15.0), poll_seconds=0.05, max_poll_seconds=0.5,
        source=str(path), notes=("local mode: the backend key stands for IAM",),
    )
