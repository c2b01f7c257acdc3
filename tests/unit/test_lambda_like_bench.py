"""The Lambda-like cold-start benchmark (benchmarks/lambda_like.py) runs what Lambda runs: the
runtime's variables, and a child interpreter that sees only the asset and the runtime folder."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import lambda_like  # noqa: E402

#: What Lambda's runtime sets (docs: "Defined runtime environment variables"), all of them.
RUNTIME_VARIABLES = {
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "AWS_EXECUTION_ENV", "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME", "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_RUNTIME_API", "_HANDLER",
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_XRAY_DAEMON_ADDRESS", "AWS_XRAY_CONTEXT_MISSING", "_X_AMZN_TRACE_ID", "TZ", "LANG", "PATH",
}


def environment(task_root: Path, runtime_dir: Path) -> dict[str, str]:
    return lambda_like.runtime_environment(
        function_name="filegate-dev-uploads", handler="filegate.handlers.uploads.handler", task_root=task_root,
        runtime_dir=runtime_dir, region="ap-southeast-1", endpoint_url="http://127.0.0.1:1")


def test_the_environment_has_every_runtime_variable_and_tracing_stays_on(tmp_path: Path) -> None:
    env = environment(tmp_path / "task", tmp_path / "runtime")
    assert set(env) >= RUNTIME_VARIABLES
    assert all(env[name] for name in RUNTIME_VARIABLES)
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path / "task")
    assert env["LAMBDA_RUNTIME_DIR"] == str(tmp_path / "runtime")
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.13"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_RUNTIME_API"].startswith("127.0.0.1:")
    assert env["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:2000"
    assert env["AWS_XRAY_CONTEXT_MISSING"] == "LOG_ERROR"
    assert env["TZ"] == ":UTC"
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")
    # Powertools' Tracer must behave as in Lambda, where the functions trace actively
    assert not any(name.startswith("POWERTOOLS_TRACE") for name in env)


@pytest.mark.parametrize("signer", ["kms", "secret"])
def test_the_function_variables_never_disable_tracing(signer: str) -> None:
    from stacks.lambda_settings import minting_environment

    config = lambda_like.dev_config(signer)
    env = minting_environment(config, bucket="b-123", bucket_kms_key_arn=None, download_base_url="https://d.example",
                              signing_slots_json="{}")
    assert "POWERTOOLS_TRACE_DISABLED" not in env
    assert env["FILEGATE_SIGNER"] == signer


def test_a_child_imports_only_from_the_asset_and_the_runtime_before_the_stdlib(tmp_path: Path) -> None:
    task_root, runtime_dir = tmp_path / "task", tmp_path / "runtime"
    task_root.mkdir()
    runtime_dir.mkdir()
    env = environment(task_root, runtime_dir)
    command = lambda_like.interpreter_command("-c", "import json, sys; print(json.dumps(sys.path))")
    done = subprocess.run(command, env=env, cwd=task_root, capture_output=True, text=True, check=True, timeout=30)
    path = json.loads(done.stdout)
    assert path[:2] == [str(task_root), str(runtime_dir)]
    stdlib = {Path(entry).resolve() for entry in lambda_like._stdlib_roots()}
    for entry in path[2:]:
        resolved = Path(entry).resolve()
        assert "site-packages" not in resolved.parts, entry
        assert any(resolved == root or root in resolved.parents or resolved.parent == root.parent
                   for root in stdlib), entry


def test_a_package_the_asset_lacks_is_not_found_elsewhere(tmp_path: Path) -> None:
    task_root, runtime_dir = tmp_path / "task", tmp_path / "runtime"
    task_root.mkdir()
    runtime_dir.mkdir()
    command = lambda_like.interpreter_command("-c", "import pydantic")
    done = subprocess.run(command, env=environment(task_root, runtime_dir), cwd=task_root, capture_output=True,
                          text=True, check=False, timeout=30)
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr


def test_importtime_lines_are_parsed() -> None:
    stderr = "\n".join([
        "import time: self [us] | cumulative | imported package",
        "import time:       100 |        100 |   botocore.exceptions",
        "import time:       300 |        400 | botocore",
        "import time:        50 |         50 |     pydantic.types",
        "import time:       900 |       1000 | pydantic",
        "a line the child wrote",
    ])
    parsed = lambda_like.parse_importtime(stderr)
    assert parsed["top10_self_us"][0] == ["pydantic", 900]
    assert parsed["top10_packages_self_us"] == [["pydantic", 950], ["botocore", 400]]
    assert parsed["total_us"] == 1400
