"""Lambda assets built without Docker: pip for arm64 wheels, plus ``.pyc`` for the runtime.

Each function's asset holds the modules its handler imports (found by walking the import
graph of our own package), the wheels its requirements file names, and byte code compiled by
the same Python minor version as the Lambda runtime. Lambda's code folder is read-only: a
bundle without ``.pyc`` files recompiles on every cold start.

The asset hash is computed from the inputs (sources, requirements, platform, recipe), not the
output, so an unchanged function keeps its hash, and a finished bundle is cached under
``.build/lambda-assets/<hash>`` so repeated syntheses skip pip entirely.
"""

from __future__ import annotations

import ast
import compileall
import hashlib
import py_compile
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_lambda as lambda_

ROOT = Path(__file__).resolve().parent.parent
LAMBDA_ROOT = ROOT / "lambdas"
CACHE_ROOT = ROOT / ".build" / "lambda-assets"
RUNTIME = lambda_.Runtime.PYTHON_3_13
RUNTIME_PYTHON = (3, 13)
PIP_PLATFORM = "manylinux2014_aarch64"
RECIPE_VERSION = "3"  # bump when the way bundles are built changes
LAMBDA_TASK_ROOT = "/var/task"
PIP_INSTALL_RECORDS = {"INSTALLER", "REQUESTED", "direct_url.json"}
#: Python 2 modules some wheels still ship next to their Python 3 code, never imported on 3.x
#: (and not compilable by it): olefile's legacy ``olefile2`` API.
PYTHON2_ONLY_MODULES = {"olefile/olefile2.py"}


class BundlingError(RuntimeError):
    """A Lambda asset could not be built; the message says which and why."""


def module_closure(entry_module: str, root: Path = LAMBDA_ROOT) -> list[Path]:
    """Source files of ``entry_module`` and every first-party module it imports, transitively.

    Imports inside functions count too (a lazily imported signer is still needed at run time
    when configured), so this errs on the side of including.
    """
    package = entry_module.split(".", maxsplit=1)[0]
    seen: set[Path] = set()
    pending = [entry_module]
    while pending:
        name = pending.pop()
        for path in _files_for(name, root):
            if path in seen:
                continue
            seen.add(path)
            pending.extend(_first_party_imports(path, package, root))
    # Every package on the way needs its __init__.py.
    for path in list(seen):
        parent = path.parent
        while parent != root:
            init = parent / "__init__.py"
            if init.exists():
                seen.add(init)
            parent = parent.parent
    return sorted(seen)


def _files_for(module: str, root: Path) -> list[Path]:
    base = root.joinpath(*module.split("."))
    if base.with_suffix(".py").exists():
        return [base.with_suffix(".py")]
    if (base / "__init__.py").exists():
        return [base / "__init__.py"]
    return []


def _first_party_imports(path: Path, package: str, root: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    module_parts = list(path.relative_to(root).with_suffix("").parts)
    if module_parts[-1] == "__init__":
        module_parts = module_parts[:-1]
        current_package = module_parts
    else:
        current_package = module_parts[:-1]
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = current_package[: len(current_package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.append(prefix)
            found.extend(f"{prefix}.{alias.name}" for alias in node.names)
    return [name for name in found if name == package or name.startswith(package + ".")]


@dataclass(frozen=True)
class LambdaBundle:
    """What goes into one function's asset."""

    entry_module: str
    requirements: tuple[Path, ...] = ()

    def sources(self) -> list[Path]:
        files = module_closure(self.entry_module)
        if not files:
            raise BundlingError(f"{self.entry_module}: no such module under {LAMBDA_ROOT}")
        return files

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        for part in (RECIPE_VERSION, PIP_PLATFORM, ".".join(map(str, RUNTIME_PYTHON)), self.entry_module):
            digest.update(part.encode() + b"\0")
        for path in self.sources() + list(self.requirements):
            digest.update(str(path.relative_to(ROOT)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
        return digest.hexdigest()

    def build(self, output_dir: Path) -> None:
        """Build into an empty ``output_dir`` (or copy a cached build)."""
        fingerprint = self.fingerprint()
        cached = CACHE_ROOT / fingerprint
        if not cached.exists():
            CACHE_ROOT.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=CACHE_ROOT) as scratch:
                staging = Path(scratch) / "bundle"
                staging.mkdir()
                self._build_fresh(staging)
                try:
                    staging.rename(cached)
                except OSError:
                    # Another synthesis (a parallel test worker) built the same inputs first:
                    # its bundle is identical (builds are deterministic), so keep it.
                    if not cached.is_dir():
                        raise
        shutil.copytree(cached, output_dir, dirs_exist_ok=True)

    def _build_fresh(self, staging: Path) -> None:
        for requirements in self.requirements:
            _pip_install(requirements, staging)
        for source in self.sources():
            target = staging / source.relative_to(LAMBDA_ROOT)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        _strip(staging)
        _compile(staging)


def _pip_install(requirements: Path, target: Path) -> None:
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-compile", "--no-deps", "--only-binary=:all:", "--platform", PIP_PLATFORM,
        "--implementation", "cp", "--python-version", ".".join(map(str, RUNTIME_PYTHON)),
        "--target", str(target), "--requirement", str(requirements),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603 (fixed argv)
    if result.returncode != 0:
        raise BundlingError(f"pip could not install {requirements.name} for {PIP_PLATFORM}:\n{result.stderr}")


def _strip(staging: Path) -> None:
    """Drop what a Lambda never runs: scripts, caches, and pip's per-install files."""
    for path in sorted(staging.rglob("*"), reverse=True):
        if path.name in {"__pycache__", "bin"} and path.is_dir():
            shutil.rmtree(path)
        elif path.is_file() and (path.suffix in {".pyc", ".pyo"} or path.name in PIP_INSTALL_RECORDS
                                 or path.relative_to(staging).as_posix() in PYTHON2_ONLY_MODULES):
            path.unlink()


def _compile(staging: Path) -> None:
    if sys.version_info[:2] != RUNTIME_PYTHON:
        raise BundlingError(
            f"byte code must be compiled by Python {'.'.join(map(str, RUNTIME_PYTHON))} (the Lambda "
            f"runtime), but synthesis runs on {sys.version.split()[0]}: build the virtualenv with it")
    ok = compileall.compile_dir(
        str(staging), ddir=LAMBDA_TASK_ROOT, quiet=2, optimize=0, workers=1,
        invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
    )
    if not ok:
        raise BundlingError(f"compileall failed in {staging}")


@jsii.implements(ILocalBundling)
class _LocalBundling:
    def __init__(self, bundle: LambdaBundle) -> None:
        self._bundle = bundle

    def try_bundle(self, output_dir: str, *args: object, **kwargs: object) -> bool:
        self._bundle.build(Path(output_dir))
        return True


def lambda_code(bundle: LambdaBundle) -> lambda_.Code:
    """A Lambda ``Code`` built locally; Docker is never needed (the image is never pulled)."""
    return lambda_.Code.from_asset(
        str(LAMBDA_ROOT),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundle.fingerprint(),
        bundling=BundlingOptions(
            image=DockerImage.from_registry("local-bundling-only"),
            local=_LocalBundling(bundle),
        ),
    )
