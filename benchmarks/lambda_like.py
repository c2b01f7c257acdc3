"""Lambda-like cold starts: each function's built asset, the runtime's variables, the first invocation.

    python benchmarks/lambda_like.py [--runs 5] [--only uploads,downloads_kms,...] [--json PATH]

What a cold start in Lambda does, as closely as a machine without Lambda can (issue 12):

- **Code**: the function's asset, built as synthesis builds it (``stacks.lambda_bundling.LambdaBundle``,
  the requirements files ``stacks/constructs`` give that function, ``.pyc`` compiled with
  unchecked hashes), copied to a temporary folder and made read-only, as ``/var/task`` is.
  Lambda runs arm64 (``manylinux2014_aarch64`` wheels); on another machine the timed copy is the
  same bundle built for the host's architecture (same sources, same requirement pins, same
  stripping and compiling: only the native extensions differ), and the zipped size is the
  deployed arm64 asset's. ``lambda_like_asset_platform`` says which ran.
- **Runtime**: a folder standing in for ``/var/runtime`` and the runtime's site-packages: boto3,
  botocore and their dependencies at the virtualenv's versions, plus ``snapshot-restore-py``
  (the Python runtimes ship it), installed once and compiled (cached under ``.build/lambda-runtime``).
- **Interpreter**: the base Python 3.13 with ``-S -P`` (no site, so no virtualenv or user
  site-packages) and ``PYTHONPATH=<asset>:<runtime>``: only the asset, then the runtime, then the
  standard library are importable; a package an asset lacks fails to import, as in Lambda.
- **Environment**: the variables Lambda's runtime sets (``LAMBDA_TASK_ROOT``, ``AWS_EXECUTION_ENV``,
  ``AWS_LAMBDA_*``, ``_HANDLER``, credentials, X-Ray's daemon address and context-missing
  strategy, ``TZ``...) plus the function's own, from ``stacks.lambda_settings`` with the dev
  config and the stand-in's names. ``POWERTOOLS_TRACE_DISABLED`` is never set: with
  ``LAMBDA_TASK_ROOT`` set, Powertools' Tracer patches botocore as it does in Lambda (the
  segments go to a UDP address nothing listens on). ``_X_AMZN_TRACE_ID`` is set right before
  the invocation, as the runtime sets it per request.
- **AWS**: a moto server in this process on 127.0.0.1 (``AWS_ENDPOINT_URL``) holding what the
  first invocation reads: the files table with a ``clean`` record, the origin-verify secret,
  the signing key (KMS) or PEM (Secrets Manager), the verifier's bucket, object and bus.
- **Timed**, in each fresh child: (a) the handler module's import (the init phase) and (b) the
  first invocation, a real API Gateway v2.0 event (or SQS batch) that must succeed (200/201, or
  no batch item failures): a child that measures an error path exits non-zero and the run fails.
  Median of ``runs`` rounds, interleaved (each round: the baseline, then every function), and
  each ratio the median of its rounds' ratios, so that a machine's drift moves both sides alike.
  The baseline is ``import boto3; boto3.client("s3")`` in the same interpreter,
  environment and runtime folder with an empty task root.
- **``-X importtime``**: one more child per function (import only); the ten modules with the most
  self time (microseconds), the ten top-level packages with the most self time summed over
  their modules, and the whole import's cumulative time.

Fields (flat, ``lambda_like_`` prefix): ``<function>_init_s``, ``<function>_first_invocation_s``,
``<function>_cold_start_s``, ``baseline_boto3_plus_one_client_s``, ``asset_zipped_bytes_<function>``,
``asset_unzipped_bytes_<function>``, ``importtime_top10_self_us_<function>``,
``importtime_top10_packages_self_us_<function>``, ``importtime_total_us_<function>``,
``xray_patched_<function>`` (the modules the X-Ray SDK patched in the child),
``<function>_init_vs_baseline``, ``clients_<function>`` (the services of the clients the
function built), and the floor (``FLOOR_STEPS``: boto3 and those clients, then pydantic, then
Powertools with X-Ray, each a fresh child in the function's environment, interleaved with the
rest): ``floor_<function>_<step>_s`` and ``floor_<function>_<step>_vs_baseline``.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import zipfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
for _path in (ROOT, ROOT / "lambdas", Path(__file__).resolve().parent):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import support  # noqa: E402

RUNTIME_CACHE = ROOT / ".build" / "lambda-runtime"
#: Bundles built for this machine's architecture (when it is not Lambda's), apart from synthesis'.
HOST_ASSET_CACHE = ROOT / ".build" / "lambda-like-assets"
#: Lambda's limit on a zipped deployment package uploaded directly; the goal for each function's asset.
ASSET_ZIPPED_LIMIT_BYTES = 10 * 1024 * 1024
#: What the Python runtime provides besides the standard library (at the virtualenv's versions).
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")
#: Not in the virtualenv: the runtime's SnapStart hooks, at the version the runtimes ship.
RUNTIME_EXTRA = ("snapshot-restore-py==1.0.0",)
EXECUTION_ENV = "AWS_Lambda_python3.13"
RUNTIME_API = "127.0.0.1:9"  # the discard port: nothing may call the Runtime API
TRACE_ID = "Root=1-6a4b0c00-0123456789abcdef01234567;Parent=0123456789abcdef;Sampled=1"
ACCOUNT = "123456789012"
DEFAULT_RUNS = 5
CHILD_TIMEOUT_SECONDS = 120
PUBLIC_KEY_ID = "K2026ABENCHMARK"
DOWNLOAD_BASE_URL = "https://d111111abcdef8.cloudfront.net"


class LambdaLikeError(RuntimeError):
    """A Lambda-like child failed (import, invocation or its checks); the message has its stderr."""


# --- the environment ------------------------------------------------------------------------------

def runtime_environment(*, function_name: str, handler: str, task_root: Path, runtime_dir: Path, region: str,
                        memory_mb: int = 512, endpoint_url: str | None = None) -> dict[str, str]:
    """What Lambda's Python 3.13 runtime sets for a function (docs: "Defined runtime environment
    variables"), with local paths for ``/var/task`` and ``/var/runtime``. ``_X_AMZN_TRACE_ID`` is
    included; the launcher moves it to the invocation (the runtime sets it per request)."""
    lang_lib = Path(sys.base_prefix) / "lib"
    environment = {
        "LAMBDA_TASK_ROOT": str(task_root),
        "LAMBDA_RUNTIME_DIR": str(runtime_dir),
        "AWS_EXECUTION_ENV": EXECUTION_ENV,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory_mb),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function_name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0123456789abcdef0123456789abcdef",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",  # the functions' logging_format (stacks/constructs/python_function.py)
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_RUNTIME_API": RUNTIME_API,
        "_HANDLER": handler,
        "_X_AMZN_TRACE_ID": TRACE_ID,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "ASIABENCHMARKEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "bench/secret/access/key/not/a/real/one",
        "AWS_SESSION_TOKEN": "bench-session-token",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "TZ": ":UTC",
        "LANG": "en_US.UTF-8",
        "PATH": f"{Path(sys.base_prefix) / 'bin'}:/usr/local/bin:/usr/bin/:/bin:/opt/bin",
        "LD_LIBRARY_PATH": f"{lang_lib}:/lib64:/usr/lib64:{runtime_dir}:{runtime_dir}/lib:{task_root}:"
                           f"{task_root}/lib:/opt/lib",
        # The bootstrap puts the task root first, then the runtime's libraries (then the stdlib).
        "PYTHONPATH": f"{task_root}{os.pathsep}{runtime_dir}",
    }
    if endpoint_url:
        environment["AWS_ENDPOINT_URL"] = endpoint_url
    return environment


def interpreter_command(*options: str) -> list[str]:
    """The base Python 3.13 (not the virtualenv's), no ``site`` (``-S``: no site-packages at all),
    no unsafe ``sys.path[0]`` (``-P``): only ``PYTHONPATH`` and the standard library."""
    executable = getattr(sys, "_base_executable", None) or sys.executable
    return [executable, "-S", "-P", *options]


# --- the runtime folder -----------------------------------------------------------------------------

def runtime_requirements() -> list[str]:
    pins = [f"{name}=={importlib.metadata.version(name)}" for name in RUNTIME_DISTRIBUTIONS]
    return sorted(pins + list(RUNTIME_EXTRA))


_build_lock = threading.Lock()


def runtime_dir() -> Path:
    """The stand-in for ``/var/runtime`` plus the runtime's site-packages, built once and cached."""
    import compileall

    pins = runtime_requirements()
    digest = hashlib.sha256("\n".join([platform.python_version(), *pins]).encode()).hexdigest()[:16]
    target = RUNTIME_CACHE / digest
    with _build_lock:
        if target.is_dir():
            return target
        RUNTIME_CACHE.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=RUNTIME_CACHE) as scratch:
            staging = Path(scratch) / "runtime"
            command = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                       "--no-compile", "--no-deps", "--only-binary=:all:", "--target", str(staging), *pins]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                raise LambdaLikeError(f"pip could not install the runtime's packages:\n{result.stderr}")
            shutil.rmtree(staging / "bin", ignore_errors=True)
            if not compileall.compile_dir(str(staging), quiet=2, workers=1):
                raise LambdaLikeError(f"compileall failed in {staging}")
            staging.rename(target)
    return target


# --- assets ------------------------------------------------------------------------------------------

def host_platform() -> str:
    return f"manylinux2014_{platform.machine()}"


@contextlib.contextmanager
def _bundling_for(pip_platform: str, cache_root: Path) -> Iterator[None]:
    """``stacks.lambda_bundling`` with another wheel platform and cache (the host twin of an asset)."""
    from stacks import lambda_bundling

    saved = (lambda_bundling.PIP_PLATFORM, lambda_bundling.CACHE_ROOT)
    lambda_bundling.PIP_PLATFORM, lambda_bundling.CACHE_ROOT = pip_platform, cache_root
    try:
        yield
    finally:
        lambda_bundling.PIP_PLATFORM, lambda_bundling.CACHE_ROOT = saved


def zipped_size(directory: Path) -> tuple[int, int]:
    """(zipped, unzipped) bytes of ``directory`` as one deflated zip (as the asset is uploaded)."""
    buffer = io.BytesIO()
    unzipped = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
                unzipped += path.stat().st_size
    return len(buffer.getvalue()), unzipped


def _set_writable(directory: Path, writable: bool) -> None:
    for path in [directory, *directory.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(mode | 0o200 if writable else mode & ~0o222)


def _tree(directory: Path) -> dict[str, float]:
    return {str(path.relative_to(directory)): path.stat().st_mtime for path in directory.rglob("*")}


@dataclass
class Asset:
    """One function's asset: where the timed copy is (read-only) and what the deployed one weighs."""

    task_root: Path
    zipped_bytes: int
    unzipped_bytes: int
    platform: str
    files: dict[str, float] = field(default_factory=dict)


@contextlib.contextmanager
def built_asset(entry_module: str, requirements: Sequence[Path], dropped_extensions: Sequence[Any] = ()
                ) -> Iterator[Asset]:
    """The asset synthesis builds for ``entry_module`` (sized), and a read-only copy to run: the
    same asset, or on a machine that is not arm64 its twin built for this architecture.
    ``dropped_extensions``: the construct's ``DroppedExtension`` declarations, as synthesis passes them."""
    from stacks.lambda_bundling import PIP_PLATFORM, LambdaBundle

    bundle = LambdaBundle(entry_module=entry_module, requirements=tuple(requirements),
                          dropped_extensions=tuple(dropped_extensions))
    with tempfile.TemporaryDirectory(prefix="filegate-asset-") as scratch:
        deployed = Path(scratch) / "deployed"
        bundle.build(deployed)
        zipped, unzipped = zipped_size(deployed)
        if host_platform() == PIP_PLATFORM:
            task_root, used = deployed, PIP_PLATFORM
        else:
            task_root, used = Path(scratch) / "task", host_platform()
            with _build_lock, _bundling_for(used, HOST_ASSET_CACHE):
                bundle.build(task_root)  # same inputs, same hash: the platform is what differs
        _set_writable(task_root, False)
        try:
            yield Asset(task_root=task_root, zipped_bytes=zipped, unzipped_bytes=unzipped, platform=used,
                        files=_tree(task_root))
        finally:
            _set_writable(task_root, True)


# --- the AWS stand-in -----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class StandIn:
    """A moto server on 127.0.0.1 (in this process) and clients for it."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.endpoint = ""
        self._server: Any = None
        self.resources: dict[str, Any] = {}

    def __enter__(self) -> StandIn:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
        port = _free_port()
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self._server.start()
        self.endpoint = f"http://127.0.0.1:{port}"
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.stop()

    def client(self, service: str) -> Any:
        import boto3

        session = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench",
                                        region_name=self.region)
        return session.client(service, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """A resource made once per server (tables, secrets shared by several functions)."""
        if name not in self.resources:
            self.resources[name] = make()
        return self.resources[name]


# --- the functions ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Invocation:
    """The first event and what its answer must be: HTTP ``statuses``, or no SQS batch failures."""

    event: dict[str, Any]
    statuses: tuple[int, ...] = ()
    no_batch_failures: bool = False
    #: Checked in this process after the invocation (what the stand-in must now hold).
    after: Callable[[], None] | None = None


@dataclass(frozen=True)
class FunctionSpec:
    """One function as deployed: handler, requirements, memory; ``environment`` makes what it
    reads in the stand-in and returns its own variables; ``invocation`` gives run ``i``'s event."""

    name: str
    handler: str
    requirements: tuple[Path, ...]
    environment: Callable[[StandIn], dict[str, str]]
    invocation: Callable[[StandIn, int], Invocation]
    memory_mb: int = 512
    #: ``stacks.lambda_bundling.DroppedExtension`` declarations the construct passes to its bundle.
    dropped_extensions: tuple[Any, ...] = ()

    def asset(self) -> contextlib.AbstractContextManager[Asset]:
        """``built_asset`` for this function, with every bundle option its construct declares."""
        return built_asset(self.handler.rsplit(".", 1)[0], self.requirements, self.dropped_extensions)


def dev_config(signer: str | None = None) -> Any:
    from stacks.config import load_environment

    config = load_environment("dev")
    if signer is not None and signer != config.signing.signer:
        config = config.model_copy(update={"signing": config.signing.model_copy(update={"signer": signer})})
    return config


def _bucket(config: Any) -> str:
    return f"{config.prefix}-files-{ACCOUNT}"


def _bucket_key_arn(config: Any) -> str:
    return f"arn:aws:kms:{config.region}:{ACCOUNT}:key/0b0e8a6c-0000-4000-8000-000000000001"


def _tables(stand_in: StandIn, config: Any) -> None:
    from filegate.adapters.files_table import create_tables

    def make() -> bool:
        dynamodb = stand_in.client("dynamodb")
        create_tables(dynamodb, files_table=config.files_table_name, idempotency_table=config.idempotency_table_name)
        support.put_clean_records(dynamodb, config.files_table_name, 1)
        return True

    stand_in.once("tables", make)


def _origin_secret(stand_in: StandIn, config: Any) -> str:
    def make() -> str:
        value = "bench-origin-verify-" + hashlib.sha256(b"filegate").hexdigest()[:32]
        stand_in.client("secretsmanager").create_secret(Name=config.origin_secret_name, SecretString=value)
        return value

    return str(stand_in.once("origin_secret", make))


def _signing_slots(stand_in: StandIn, config: Any) -> str:
    slot = config.signing.active_slot
    if config.signing.signer == "kms":
        key_id = stand_in.once("kms_key", lambda: stand_in.client("kms").create_key(
            KeySpec="ECC_NIST_P256", KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"])
        slots = {slot: {"public_key_id": PUBLIC_KEY_ID, "kms_key_id": key_id, "secret_name": None}}
    else:
        def make() -> str:
            from cryptography.hazmat.primitives import serialization
            from cryptography.hazmat.primitives.asymmetric import ec

            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
            name = f"{config.prefix}/signing/{slot}"
            stand_in.client("secretsmanager").create_secret(Name=name, SecretString=pem)
            return name

        slots = {slot: {"public_key_id": PUBLIC_KEY_ID, "kms_key_id": None, "secret_name": stand_in.once(
            "signing_secret", make)}}
    return json.dumps(slots, separators=(",", ":"))


def _minting_environment(signer: str | None) -> Callable[[StandIn], dict[str, str]]:
    def environment(stand_in: StandIn) -> dict[str, str]:
        from stacks.lambda_settings import minting_environment

        config = dev_config(signer)
        _tables(stand_in, config)
        _origin_secret(stand_in, config)
        return minting_environment(
            config, bucket=_bucket(config), bucket_kms_key_arn=_bucket_key_arn(config),
            download_base_url=DOWNLOAD_BASE_URL, signing_slots_json=_signing_slots(stand_in, config),
            files_table=config.files_table_name, origin_secret=config.origin_secret_name)
    return environment


def _user_route(path: str, body: dict[str, Any], statuses: tuple[int, ...]) -> Callable[[StandIn, int], Invocation]:
    def invocation(stand_in: StandIn, run: int) -> Invocation:
        config = dev_config()
        headers = {"x-origin-verify": _origin_secret(stand_in, config), "authorization": "Bearer bench-token",
                   "x-forwarded-for": "198.51.100.7, 130.176.0.1"}
        event = support.api_event(path, body, claims=support.careers_claims(), headers=headers,
                                  stage=support.API_STAGE, request_id=f"bench-{run}")
        return Invocation(event=event, statuses=statuses)
    return invocation


def uploads_function() -> FunctionSpec:
    from stacks.constructs.minting_api import UPLOAD_HANDLER
    from stacks.constructs.python_function import API_REQUIREMENTS

    return FunctionSpec(
        name="uploads", handler=UPLOAD_HANDLER, requirements=API_REQUIREMENTS,
        environment=_minting_environment(None),
        invocation=_user_route("/uploads", {"rule": "cv", "content_type": "application/pdf", "size": 48213,
                                            "filename": "My CV.pdf"}, (201,)))


def downloads_function(signer: str) -> FunctionSpec:
    """``downloads_kms`` or ``downloads_secret``: the requirements as MintingApi gives them."""
    from stacks.constructs.minting_api import DOWNLOAD_HANDLER, download_requirements

    return FunctionSpec(
        name=f"downloads_{signer}", handler=DOWNLOAD_HANDLER, requirements=download_requirements(signer),
        environment=_minting_environment(signer),
        invocation=_user_route("/downloads", {"key": support.cv_key(0)}, (200,)))


def minting_functions() -> list[FunctionSpec]:
    """The minting benchmark's three: uploads, downloads with the KMS signer, with the secret signer."""
    return [uploads_function(), downloads_function("kms"), downloads_function("secret")]


# --- the children ---------------------------------------------------------------------------------

#: The Lambda context a child hands its handler (``request``: ``function_arn``, ``request_id``), as the
#: runtime builds it from its variables; ``test_bundle_contents`` runs handlers with it too.
CHILD_CONTEXT = r'''class Context:
    function_name = os.environ["AWS_LAMBDA_FUNCTION_NAME"]
    function_version = os.environ["AWS_LAMBDA_FUNCTION_VERSION"]
    memory_limit_in_mb = int(os.environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"])
    invoked_function_arn = request["function_arn"]
    log_group_name = os.environ["AWS_LAMBDA_LOG_GROUP_NAME"]
    log_stream_name = os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]
    aws_request_id = request["request_id"]
    deadline = time.time() + 10
    def get_remaining_time_in_millis(self):
        return int(max(self.deadline - time.time(), 0) * 1000)
'''

_CHILD = r'''
import time
started = time.perf_counter()
import sys
mode, request_path, result_path = sys.argv[1:4]
if mode == "baseline":
    import boto3
    boto3.client("s3", region_name=__import__("os").environ["AWS_REGION"])
elif mode.startswith("floor:"):  # floor:<step>:<service>,<service>... (FLOOR_STEPS)
    import os
    _, step, services = mode.split(":")
    if step in ("pydantic", "powertools"):
        from pydantic import BaseModel
    if step == "powertools":
        import importlib.util
        from aws_lambda_powertools import Logger, Metrics
        Logger(service="filegate")
        Metrics(namespace="filegate", service="filegate")
        if importlib.util.find_spec("aws_xray_sdk"):  # only the functions that trace ship it
            from aws_lambda_powertools import Tracer
            Tracer(service="filegate", patch_modules=["botocore"])
    import boto3
    session = boto3.session.Session()
    for service in filter(None, services.split(",")):
        session.client(service, region_name=os.environ["AWS_REGION"])
else:
    import importlib, os
    module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
    handler = getattr(importlib.import_module(module_name), function_name)
init_s = time.perf_counter() - started
import json, os
result = {"init_s": init_s, "path": sys.path}
request = json.load(open(request_path))
if mode == "invoke":
{context}
    event, context = request["event"], Context()
    os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
    invoked = time.perf_counter()
    response = handler(event, context)
    result["first_invocation_s"] = time.perf_counter() - invoked
    if request["statuses"]:
        status = response.get("statusCode") if isinstance(response, dict) else None
        if status not in request["statuses"]:
            sys.stderr.write(f"lambda-like: statusCode {status}, expected {request['statuses']}: "
                             f"{str(response)[:2000]}\n")
            sys.exit(3)
    if request["no_batch_failures"] and (not isinstance(response, dict) or response.get("batchItemFailures")):
        sys.stderr.write(f"lambda-like: batch item failures: {str(response)[:2000]}\n")
        sys.exit(3)
allowed = tuple(request["allowed_roots"])
stray = sorted({name.split(".")[0] for name, module in list(sys.modules.items())
                if isinstance(getattr(module, "__file__", None), str) and not module.__file__.startswith(allowed)})
if stray:
    sys.stderr.write(f"lambda-like: modules from outside the asset, the runtime and the stdlib: {stray}\n")
    sys.exit(4)
if mode == "invoke":  # the clients the function built (after the timing): the floor builds the same ones
    import gc
    from botocore.client import BaseClient
    result["clients"] = sorted({item.meta.service_model.service_name for item in gc.get_objects()
                                if isinstance(item, BaseClient)})
patcher = sys.modules.get("aws_xray_sdk.core.patcher")
result["xray_patched"] = sorted(getattr(patcher, "_PATCHED_MODULES", ()))
with open(result_path, "w") as out:
    json.dump(result, out)
'''.replace("{context}", textwrap.indent(CHILD_CONTEXT, "    ").rstrip("\n"))


#: The cold-start floor (issue 12): what any API function needs before a line of filegate runs, in
#: cumulative steps, each a fresh child in the function's own environment and asset (its pins):
#: ``boto3`` and the very clients the function built in its invoke child; then pydantic's
#: ``BaseModel`` (request validation, settings, rules); then Powertools' Logger, Metrics and
#: Tracer, whose X-Ray SDK patches botocore as in Lambda (only where the asset ships the SDK:
#: the functions that trace). No first invocation.
FLOOR_STEPS: tuple[tuple[str, str], ...] = (
    ("clients", "boto3 + its clients"),
    ("pydantic", "+ pydantic BaseModel"),
    ("powertools", "+ Powertools Logger, Metrics (and Tracer patching botocore where the X-Ray SDK ships)"),
)


def _stdlib_roots() -> list[str]:
    import sysconfig

    paths = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})
    return sorted({paths["stdlib"], paths["platstdlib"]})


def run_child(mode: str, environment: Mapping[str, str], *, invocation: Invocation | None = None,
              function_arn: str = "", importtime: bool = False) -> tuple[dict[str, Any], str]:
    """One fresh interpreter: ``baseline``, ``import`` (the handler) or ``invoke`` (import, then the
    first invocation). Its result and its stderr (where ``-X importtime`` writes)."""
    env = dict(environment)
    trace_id = env.pop("_X_AMZN_TRACE_ID", TRACE_ID)
    task_root, runtime = env["LAMBDA_TASK_ROOT"], env["LAMBDA_RUNTIME_DIR"]
    request = {
        "event": invocation.event if invocation else None,
        "statuses": list(invocation.statuses) if invocation else [],
        "no_batch_failures": bool(invocation and invocation.no_batch_failures),
        "trace_id": trace_id, "function_arn": function_arn, "request_id": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
        "allowed_roots": [task_root + os.sep, runtime + os.sep, *(root + os.sep for root in _stdlib_roots())],
    }
    with tempfile.TemporaryDirectory(prefix="filegate-lambda-like-") as scratch:
        request_path, result_path = Path(scratch) / "request.json", Path(scratch) / "result.json"
        request_path.write_text(json.dumps(request))
        command = interpreter_command(*(["-X", "importtime"] if importtime else []), "-c", _CHILD,
                                      mode, str(request_path), str(result_path))
        done = subprocess.run(command, env=env, cwd=task_root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              text=True, check=False, timeout=CHILD_TIMEOUT_SECONDS)
        if done.returncode != 0 or not result_path.exists():
            tail = "\n".join(line for line in done.stderr.splitlines() if not line.startswith("import time:"))
            raise LambdaLikeError(f"{env.get('AWS_LAMBDA_FUNCTION_NAME')} ({mode}) exited {done.returncode}:\n"
                                  f"{tail[-4000:]}")
        return json.loads(result_path.read_text()), done.stderr


def parse_importtime(stderr: str) -> dict[str, Any]:
    """``-X importtime`` lines: the ten modules with the most self time, the ten top-level packages
    with the most self time summed over their modules, and the total (sum of top-level cumulative)."""
    self_times: dict[str, int] = {}
    total = 0
    for line in stderr.splitlines():
        if not line.startswith("import time:"):
            continue
        parts = line[len("import time:"):].split("|")
        if len(parts) != 3 or not parts[0].strip().isdigit():
            continue  # the header line
        own, cumulative, name = int(parts[0]), int(parts[1]), parts[2]
        label = name[1:] if name.startswith(" ") else name  # " " + two spaces per nesting level + name
        module = label.strip()
        self_times[module] = self_times.get(module, 0) + own
        if not label.startswith(" "):
            total += cumulative
    packages: dict[str, int] = {}
    for module, own in self_times.items():
        packages[module.split(".")[0]] = packages.get(module.split(".")[0], 0) + own
    top = sorted(self_times.items(), key=lambda item: (-item[1], item[0]))[:10]
    top_packages = sorted(packages.items(), key=lambda item: (-item[1], item[0]))[:10]
    return {"top10_self_us": [[name, us] for name, us in top],
            "top10_packages_self_us": [[name, us] for name, us in top_packages], "total_us": total}


# --- the benchmark -----------------------------------------------------------------------------------

def _median(values: Sequence[float]) -> float:
    return statistics.median(values)


def lambda_like_cold_starts(functions: Sequence[FunctionSpec], *, runs: int = DEFAULT_RUNS,
                            region: str | None = None, baseline: bool = True,
                            progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Cold starts of ``functions`` (each: import and first invocation, median of ``runs`` fresh
    children), the boto3 baseline, each asset's zipped size and each ``-X importtime`` top 10.

    Runs are interleaved: round ``i`` starts the baseline's child and then each function's, so a
    machine that slows down or speeds up during the benchmark moves every figure of a round
    alike; a ratio is the median of the rounds' own ratios (function / that round's baseline)."""
    region = region or dev_config().region
    say = progress or (lambda _message: None)
    runtime = runtime_dir()
    results: dict[str, Any] = {"lambda_like_runs": runs, "lambda_like_runtime_packages": runtime_requirements(),
                               "lambda_like_interpreter": " ".join(interpreter_command()[1:]) + " (base "
                               + platform.python_version() + ")",
                               "lambda_like_asset_zipped_limit_bytes": ASSET_ZIPPED_LIMIT_BYTES,
                               "lambda_like_rounds": "interleaved: baseline, then each function, per round"}
    with StandIn(region) as stand_in, contextlib.ExitStack() as stack:
        empty = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="filegate-empty-task-")))
        base_environment = runtime_environment(function_name="filegate-baseline", handler="none.handler",
                                               task_root=empty, runtime_dir=runtime, region=region,
                                               endpoint_url=stand_in.endpoint)
        prepared = _prepare_assets(functions, stack=stack, stand_in=stand_in, runtime=runtime, region=region,
                                   results=results, say=say)
        base_times: list[float] = []
        timings: dict[str, dict[str, list[float]]] = {spec.name: {"init": [], "first": [], "cold": [], "ratio": []}
                                                     for spec, *_ in prepared}
        patched: dict[str, list[str]] = {}
        clients: dict[str, list[str]] = {}
        floors: dict[tuple[str, str], dict[str, list[float]]] = {
            (spec.name, step): {"init": [], "ratio": []} for spec, *_ in prepared for step, _label in FLOOR_STEPS}
        for run in range(runs):
            say(f"round {run + 1}/{runs}")
            if baseline:
                base_times.append(run_child("baseline", base_environment)[0]["init_s"])
            for spec, _asset, environment, arn in prepared:
                invocation = spec.invocation(stand_in, run)
                result, _ = run_child("invoke", environment, invocation=invocation, function_arn=arn)
                if invocation.after is not None:
                    invocation.after()
                cold = result["init_s"] + result["first_invocation_s"]
                timing = timings[spec.name]
                timing["init"].append(result["init_s"])
                timing["first"].append(result["first_invocation_s"])
                timing["cold"].append(cold)
                if baseline:
                    timing["ratio"].append(cold / base_times[-1])
                patched[spec.name] = result["xray_patched"]
                if clients.setdefault(spec.name, result["clients"]) != result["clients"]:
                    raise LambdaLikeError(f"{spec.name}: built {result['clients']}, earlier {clients[spec.name]}")
            _floor_round(prepared, clients, floors, base_times[-1] if baseline else None)
        if baseline:
            results["lambda_like_baseline_boto3_plus_one_client_s"] = _median(base_times)
            results.update(_importtime_fields("baseline", run_child("baseline", base_environment,
                                                                    importtime=True)[1]))
        for spec, asset, environment, _arn in prepared:
            name = spec.name
            results.update(_importtime_fields(name, run_child("import", environment, importtime=True)[1]))
            written = sorted(set(_tree(asset.task_root)) ^ set(asset.files))
            if written:
                raise LambdaLikeError(f"{name}: the read-only asset was written to: {written[:10]}")
            results.update(_timing_fields(name, timings[name], base_times))
            results[f"lambda_like_xray_patched_{name}"] = patched[name]
            results[f"lambda_like_clients_{name}"] = clients[name]
            results.update(_floor_fields(name, floors))
    return results


def _prepare_assets(functions: Sequence[FunctionSpec], *, stack: contextlib.ExitStack, stand_in: StandIn,
                    runtime: Path, region: str, results: dict[str, Any],
                    say: Callable[[str], None]) -> list[tuple[FunctionSpec, Asset, dict[str, str], str]]:
    """Build each function's asset (recording its sizes in ``results``) and its Lambda-like environment."""
    prepared = []
    for spec in functions:
        say(f"{spec.name}: building its asset")
        asset = stack.enter_context(spec.asset())
        results[f"lambda_like_asset_zipped_bytes_{spec.name}"] = asset.zipped_bytes
        results[f"lambda_like_asset_unzipped_bytes_{spec.name}"] = asset.unzipped_bytes
        results["lambda_like_asset_platform"] = asset.platform
        function_name = f"filegate-dev-{spec.name.replace('_', '-')}"
        environment = {
            **spec.environment(stand_in),
            **runtime_environment(function_name=function_name, handler=spec.handler,
                                  task_root=asset.task_root, runtime_dir=runtime, region=region,
                                  memory_mb=spec.memory_mb, endpoint_url=stand_in.endpoint),
        }
        prepared.append((spec, asset, environment, f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function_name}"))
    return prepared


def _timing_fields(name: str, timing: Mapping[str, list[float]], base_times: Sequence[float]) -> dict[str, float]:
    """A function's medians, and its ratios to the baseline when there is one (``base_times``)."""
    fields = {f"lambda_like_{name}_init_s": _median(timing["init"]),
              f"lambda_like_{name}_first_invocation_s": _median(timing["first"]),
              f"lambda_like_{name}_cold_start_s": _median(timing["cold"])}
    if base_times:
        fields[f"lambda_like_{name}_cold_start_vs_baseline"] = _median(timing["ratio"])
        fields[f"lambda_like_{name}_init_vs_baseline"] = _median(
            [init / base for init, base in zip(timing["init"], base_times, strict=True)])
    return fields


def _floor_round(prepared: Sequence[tuple[FunctionSpec, Asset, dict[str, str], str]], clients: Mapping[str, list[str]],
                 floors: dict[tuple[str, str], dict[str, list[float]]], base: float | None) -> None:
    """One round of ``FLOOR_STEPS`` children for each function, with the clients it built."""
    for spec, _asset, environment, _arn in prepared:
        for step, _label in FLOOR_STEPS:
            floor = run_child(f"floor:{step}:{','.join(clients[spec.name])}", environment)[0]["init_s"]
            floors[(spec.name, step)]["init"].append(floor)
            if base is not None:
                floors[(spec.name, step)]["ratio"].append(floor / base)


def _floor_fields(name: str, floors: Mapping[tuple[str, str], Mapping[str, list[float]]]) -> dict[str, float]:
    fields = {}
    for step, _label in FLOOR_STEPS:
        fields[f"lambda_like_floor_{name}_{step}_s"] = _median(floors[(name, step)]["init"])
        if floors[(name, step)]["ratio"]:
            fields[f"lambda_like_floor_{name}_{step}_vs_baseline"] = _median(floors[(name, step)]["ratio"])
    return fields


def _importtime_fields(name: str, stderr: str) -> dict[str, Any]:
    """``-X importtime``'s top 10s and total for ``name``, as result fields."""
    parsed = parse_importtime(stderr)
    return {f"lambda_like_importtime_top10_self_us_{name}": parsed["top10_self_us"],
            f"lambda_like_importtime_top10_packages_self_us_{name}": parsed["top10_packages_self_us"],
            f"lambda_like_importtime_total_us_{name}": parsed["total_us"]}


def table_rows(results: Mapping[str, Any], names: Sequence[str]) -> list[support.Row]:
    """Table rows (label, value, unit) for ``results`` of the functions ``names``."""
    rows: list[support.Row] = []
    if "lambda_like_baseline_boto3_plus_one_client_s" in results:
        rows.append(("Lambda-like: import boto3 + one client (ms)",
                     results["lambda_like_baseline_boto3_plus_one_client_s"] * 1000, ""))
    for name in names:
        rows += [
            (f"Lambda-like {name}: init, handler import (ms)", results[f"lambda_like_{name}_init_s"] * 1000, ""),
            ("  first invocation (ms)", results[f"lambda_like_{name}_first_invocation_s"] * 1000, ""),
            ("  cold start, init + first invocation (ms)", results[f"lambda_like_{name}_cold_start_s"] * 1000, ""),
        ]
        if f"lambda_like_{name}_cold_start_vs_baseline" in results:
            rows.append(("  ratio / boto3 + one client", results[f"lambda_like_{name}_cold_start_vs_baseline"], "x"))
            rows.append(("  init alone / boto3 + one client", results[f"lambda_like_{name}_init_vs_baseline"], "x"))
            services = ", ".join(results[f"lambda_like_clients_{name}"])
            for step, label in FLOOR_STEPS:
                rows.append((f"  floor, init only: {label.replace('its clients', services)}"
                             " / boto3 + one client", results[f"lambda_like_floor_{name}_{step}_vs_baseline"], "x"))
        rows.append(("  asset zipped (MiB; goal <= 10)",
                     results[f"lambda_like_asset_zipped_bytes_{name}"] / (1024 * 1024), ""))
    return rows


def importtime_lines(results: Mapping[str, Any], names: Sequence[str]) -> list[str]:
    lines = []
    for name in (["baseline"] if "lambda_like_importtime_top10_self_us_baseline" in results else []) + list(names):
        top = results[f"lambda_like_importtime_top10_self_us_{name}"]
        packages = results[f"lambda_like_importtime_top10_packages_self_us_{name}"]
        lines.append(f"-X importtime {name} (total {results[f'lambda_like_importtime_total_us_{name}'] / 1000:.1f} ms)")
        lines.append("  modules, self ms: " + ", ".join(f"{module} {us / 1000:.1f}" for module, us in top))
        lines.append("  packages, self ms: " + ", ".join(f"{package} {us / 1000:.1f}" for package, us in packages))
    return lines


def _verifier_environment(stand_in: StandIn) -> dict[str, str]:
    from stacks.lambda_settings import verifier_environment

    config = dev_config()
    _tables(stand_in, config)

    def make() -> str:
        s3 = stand_in.client("s3")
        s3.create_bucket(Bucket=_bucket(config), CreateBucketConfiguration={"LocationConstraint": config.region})
        s3.put_bucket_versioning(Bucket=_bucket(config), VersioningConfiguration={"Status": "Enabled"})
        stand_in.client("events").create_event_bus(Name=config.event_bus_name)
        return str(stand_in.client("kms").create_key(Description="bucket key")["KeyMetadata"]["Arn"])

    bucket_key_arn = stand_in.once("verifier_bucket", make)
    return verifier_environment(config, bucket=_bucket(config), bucket_kms_key_arn=bucket_key_arn,
                                files_table=config.files_table_name, idempotency_table=config.idempotency_table_name,
                                event_bus=config.event_bus_name)


def _verifier_invocation(stand_in: StandIn, run: int) -> Invocation:
    """A fresh upload per run (the idempotency record would answer a repeat without work): its
    record awaiting the upload, the bytes in quarantine, then one SQS batch with S3's ``Object
    Created`` and GuardDuty's clean verdict (the dev config scans with GuardDuty)."""
    from filegate.adapters.files_table import FilesTable
    from filegate.domain.records import new_record
    from tests.unit import samples

    config = dev_config()
    file_id = f"{0xbe00 + run:032x}"
    key = support.cv_key(0xbe00 + run)
    data = samples.pdf(text=f"Curriculum vitae {run}: ten years of building things")
    FilesTable(stand_in.client("dynamodb"), config.files_table_name).put_new(new_record(
        file_id=file_id, key=key, rule="cv", owner_sub="alice", owner_org_id=None, filename="cv.pdf",
        content_type="application/pdf", declared_size=len(data), now=int(time.time())))
    put = stand_in.client("s3").put_object(Bucket=_bucket(config), Key="incoming/" + key, Body=data,
                                           ContentType="application/pdf")
    version_id, etag = put["VersionId"], put["ETag"].strip('"')
    bodies = [
        {"version": "0", "id": f"oc-{run}", "detail-type": "Object Created", "source": "aws.s3", "account": ACCOUNT,
         "time": "2026-11-29T04:00:00Z", "region": config.region, "resources": [f"arn:aws:s3:::{_bucket(config)}"],
         "detail": {"version": "0", "bucket": {"name": _bucket(config)},
                    "object": {"key": "incoming/" + key, "size": len(data), "etag": etag, "version-id": version_id,
                               "sequencer": "00617F08299329D189"},
                    "request-id": "N4N7GDK58NMKJ12R", "requester": ACCOUNT, "source-ip-address": "198.51.100.7",
                    "reason": "POST Object"}},
        {"version": "0", "id": f"gd-{run}", "detail-type": "GuardDuty Malware Protection Object Scan Result",
         "source": "aws.guardduty", "account": ACCOUNT, "time": "2026-11-29T04:00:05Z", "region": config.region,
         "resources": [], "detail": {
             "schemaVersion": "1.0", "scanStatus": "COMPLETED", "resourceType": "S3_OBJECT",
             "s3ObjectDetails": {"bucketName": _bucket(config), "objectKey": "incoming/" + key, "eTag": etag,
                                 "versionId": version_id, "s3Throttled": False},
             "scanResultDetails": {"scanResultStatus": "NO_THREATS_FOUND", "threats": None}}},
    ]
    queue_arn = f"arn:aws:sqs:{config.region}:{ACCOUNT}:{config.prefix}-verification"
    records = [{"messageId": f"message-{run}-{index}", "receiptHandle": f"handle-{run}-{index}",
                "body": json.dumps(body), "attributes": {
                    "ApproximateReceiveCount": "1", "SentTimestamp": "1795924800000", "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1795924800000"},
                "messageAttributes": {}, "md5OfBody": hashlib.md5(json.dumps(body).encode()).hexdigest(),
                "eventSource": "aws:sqs", "eventSourceARN": queue_arn, "awsRegion": config.region}
               for index, body in enumerate(bodies)]

    def promoted() -> None:
        item = stand_in.client("dynamodb").get_item(TableName=config.files_table_name,
                                                    Key={"file_id": {"S": file_id}}).get("Item", {})
        if item.get("status", {}).get("S") != "clean":
            raise LambdaLikeError(f"verifier run {run}: the record is {item.get('status')}, not clean")

    return Invocation(event={"Records": records}, no_batch_failures=True, after=promoted)


def verifier_function() -> FunctionSpec:
    """The verifier as ``stacks/constructs/verification.py`` deploys it (requirements, memory)."""
    from stacks.constructs.python_function import BASE_REQUIREMENTS
    from stacks.constructs.verification import VERIFIER_DROPPED_EXTENSIONS, VERIFIER_HANDLER
    from stacks.lambda_bundling import LAMBDA_ROOT

    return FunctionSpec(
        name="verifier", handler=VERIFIER_HANDLER,
        requirements=(BASE_REQUIREMENTS, LAMBDA_ROOT / "requirements-verifier.txt"),
        environment=_verifier_environment, invocation=_verifier_invocation,
        memory_mb=dev_config().verification.verifier_memory_mb, dropped_extensions=VERIFIER_DROPPED_EXTENSIONS)


FUNCTIONS: dict[str, Callable[[], FunctionSpec]] = {
    "uploads": uploads_function,
    "downloads_kms": lambda: downloads_function("kms"),
    "downloads_secret": lambda: downloads_function("secret"),
    "verifier": verifier_function,
}


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    parser.add_argument("--only", default="uploads,downloads_kms,downloads_secret",
                        help=f"comma-separated, of {', '.join(FUNCTIONS)}")
    parser.add_argument("--json", type=Path, help="also write the fields to this file")
    args = parser.parse_args(argv)
    names = [name for name in args.only.split(",") if name]
    unknown = sorted(set(names) - set(FUNCTIONS))
    if unknown:
        parser.error(f"unknown functions: {', '.join(unknown)}")
    started = time.perf_counter()
    results = lambda_like_cold_starts([FUNCTIONS[name]() for name in names], runs=args.runs,
                                      progress=lambda message: print(message, file=sys.stderr))
    results["lambda_like_total_seconds"] = time.perf_counter() - started
    machine = support.machine()
    support.print_table(f"filegate Lambda-like cold starts (Python {machine['python']}, {machine['machine']}, "
                        f"asset {results.get('lambda_like_asset_platform')}, median of {args.runs})",
                        table_rows(results, names))
    for line in importtime_lines(results, names):
        print(line)
    print(f"total {results['lambda_like_total_seconds']:.1f} s")
    if args.json:
        support.write_results(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
