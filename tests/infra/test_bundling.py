"""Lambda assets: arm64 wheels without Docker, only what each function needs, .pyc for 3.13."""

from __future__ import annotations

import ast
import hashlib
import importlib.util
import sys
from pathlib import Path

import pytest

from stacks.lambda_bundling import LAMBDA_ROOT, RUNTIME_PYTHON, LambdaBundle, module_closure
from stacks.stage import stack_name
from tests.infra.conftest import Synthesized


def _asset_dir(synth: Synthesized, env: str, handler: str) -> Path:
    template = synth.template_json(env, "FileApi")
    (function,) = [r for r in template["Resources"].values()
                   if r["Type"] == "AWS::Lambda::Function" and r["Properties"].get("Handler") == handler]
    return synth.asset_dir(env, function["Metadata"]["aws:asset:path"])


def _tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_upload_asset_holds_only_what_the_upload_handler_needs(app: Synthesized) -> None:
    asset = _asset_dir(app, "prod", "filegate.handlers.uploads.handler")
    assert (asset / "filegate" / "handlers" / "uploads.py").exists()
    assert not (asset / "filegate" / "handlers" / "downloads.py").exists()
    assert (asset / "aws_lambda_powertools").is_dir() and (asset / "pydantic_core").is_dir()
    assert not (asset / "cryptography").exists(), "the upload function never signs"
    assert not (asset / "boto3").exists() and not (asset / "botocore").exists(), "the runtime provides boto3"
    assert not (asset / "kms_public_key").exists() and not (asset / "pre_token").exists()


def test_native_wheels_are_for_linux_arm64(app: Synthesized) -> None:
    asset = _asset_dir(app, "prod", "filegate.handlers.downloads.handler")
    native = list(asset.rglob("*.so"))
    assert native, "pydantic-core ships a native module"
    assert all("aarch64" in path.name for path in native if "cpython" in path.name)


def test_download_asset_gains_cryptography_only_with_the_secret_signer(app: Synthesized, variant: Synthesized) -> None:
    assert not (_asset_dir(app, "prod", "filegate.handlers.downloads.handler") / "cryptography").exists()
    assert (_asset_dir(variant, "edge", "filegate.handlers.downloads.handler") / "cryptography").is_dir()


def test_bytecode_is_compiled_for_the_runtime_python_and_never_rechecked(app: Synthesized) -> None:
    assert sys.version_info[:2] == RUNTIME_PYTHON, "tests must run on the Lambda runtime's Python"
    asset = _asset_dir(app, "prod", "filegate.handlers.uploads.handler")
    sources = list(asset.rglob("*.py"))
    compiled = {p.parent.parent / p.name.split(".")[0] for p in asset.rglob("__pycache__/*.pyc")}
    missing = [p for p in sources if p.with_suffix("") not in compiled]
    assert sources and not missing[:5]
    tag = sys.implementation.cache_tag  # e.g. cpython-313
    for pyc in list(asset.rglob("__pycache__/*.pyc"))[:200]:
        header = pyc.read_bytes()[:16]
        assert tag in pyc.name
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert int.from_bytes(header[4:8], "little") == 0b01, "unchecked-hash pyc: the read-only code folder is trusted"


def test_bytecode_names_the_lambda_task_root_not_the_build_machine(app: Synthesized) -> None:
    asset = _asset_dir(app, "prod", "filegate.handlers.uploads.handler")
    pyc = next(asset.rglob("filegate/handlers/__pycache__/uploads*.pyc"))
    assert b"/var/task/filegate/handlers/uploads.py" in pyc.read_bytes()
    assert str(Path.cwd()).encode() not in pyc.read_bytes()


def test_the_first_party_import_graph_is_followed() -> None:
    files = {str(p.relative_to(LAMBDA_ROOT)) for p in module_closure("filegate.handlers.uploads")}
    assert "filegate/handlers/uploads.py" in files
    assert "filegate/__init__.py" in files and "filegate/handlers/__init__.py" in files
    assert "filegate/handlers/downloads.py" not in files


@pytest.mark.parametrize("entry", ["filegate.handlers.uploads", "kms_public_key.handler"])
def test_builds_are_deterministic(entry: str, tmp_path: Path) -> None:
    requirements = (LAMBDA_ROOT / "requirements.txt",) if entry.startswith("filegate") else ()
    bundle = LambdaBundle(entry_module=entry, requirements=requirements)
    assert bundle.fingerprint() == LambdaBundle(entry_module=entry, requirements=requirements).fingerprint()
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    bundle._build_fresh(first)
    bundle._build_fresh(second)
    assert _tree_digest(first) == _tree_digest(second)


def test_asset_hash_follows_the_inputs_not_the_build(app: Synthesized, variant: Synthesized) -> None:
    # Same inputs (dev and prod upload function), same asset; other requirements, another asset.
    upload = "filegate.handlers.uploads.handler"
    download = "filegate.handlers.downloads.handler"
    assert _asset_dir(app, "dev", upload).name == _asset_dir(app, "prod", upload).name
    assert _asset_dir(app, "prod", download).name != _asset_dir(variant, "edge", download).name
    assert _asset_dir(app, "prod", upload).name != _asset_dir(app, "prod", download).name


def _creates_a_tracer(asset: Path) -> bool:
    """Whether the asset's own code (``filegate``) calls Powertools' ``Tracer``: read from the sources
    shipped, not from the construct that chose the requirements."""
    for source in (asset / "filegate").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Call):
                called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                if called == "Tracer":
                    return True
    return False


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_only_the_functions_that_trace_ship_the_xray_sdk(app: Synthesized, env: str) -> None:
    # Given every filegate function of the environment, from each stack's template
    stacks = app.environments[env]
    functions = {}
    stack_names = {stack_name(stacks.config, kind) for kind in ("EdgeSecurity", "FileStore", "FileApi")}
    assert stack_names <= set(app.raw)
    for name in sorted(stack_names):
        template = app.raw[name]
        for logical_id, resource in template.get("Resources", {}).items():
            path = resource.get("Metadata", {}).get("aws:asset:path")
            if resource["Type"] == "AWS::Lambda::Function" and path:
                asset = app.asset_dir(env, path)
                if (asset / "filegate").is_dir():
                    functions[logical_id] = asset
    assert len(functions) >= 8, sorted(functions)
    # Then each ships the X-Ray SDK (and wrapt, its one dependency) exactly when its code creates a Tracer
    tracing = {name for name, asset in functions.items() if _creates_a_tracer(asset)}
    shipping = {name for name, asset in functions.items() if (asset / "aws_xray_sdk").is_dir()}
    with_wrapt = {name for name, asset in functions.items() if (asset / "wrapt").is_dir()}
    assert tracing and tracing != set(functions), "both kinds exist: API functions and queue/schedule ones"
    assert shipping == tracing, f"ship it without tracing: {sorted(shipping - tracing)}; " \
                                f"trace without it: {sorted(tracing - shipping)}"
    assert with_wrapt == tracing
