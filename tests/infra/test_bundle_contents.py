"""Each function's asset ships only what it imports, and stays within Lambda's 10 MiB zipped (issue 12).

The dynamic check reuses the Lambda-like machinery of ``benchmarks/lambda_like.py``: the asset
built as synthesis builds it (on a machine that is not arm64, its twin for this architecture:
same files, only native extensions differ), read-only; the base Python 3.13 with ``-S -P`` and
``PYTHONPATH=<asset>:<runtime>``; the runtime's variables and the function's own, against a
moto server stand-in; the handler imported, then invoked once with a real event. The child
reports every loaded module with its ``__file__``, and the test asserts that

(a) every top-level package or module shipped at the asset root (a directory with
    ``__init__.py``, a ``.py`` file, an extension module; ``*.dist-info`` and data folders such
    as ``pillow.libs`` are not importable) was imported from the asset, unless ``NOT_EXERCISED``
    names it with the reason the run cannot reach it, and
(b) nothing was imported from outside the asset, the runtime folder and the standard library.

The size check zips the real arm64 asset (``LambdaBundle.build``, deflated, as the CDK uploads it):
every function's, the verifier's included, within ``ASSET_ZIPPED_LIMIT_BYTES``. The same arm64
assets are checked for what Lambda's loader will do with them: every DT_NEEDED of every shipped
ELF file is a library shipped next to it (auditwheel's ``$ORIGIN`` RPATH) or one the Python 3.13
runtime (Amazon Linux 2023) provides, and every grafted library in a ``<dist>.libs`` folder is
needed by some shipped ELF file. Finally the verifier's asset, without the Pillow extensions and
the cryptography package it leaves out (pycryptodome decrypts for pypdf instead), must give the
content checks' verdicts the source tree gives, for encrypted PDFs and for every image format.
"""
from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import lambda_like  # noqa: E402

from stacks.lambda_bundling import (  # noqa: E402
    RUNTIME_PYTHON,
    LambdaBundle,
    elf_dependencies,
    is_elf,
)

FUNCTIONS = ("uploads", "downloads_kms", "downloads_secret", "verifier")

#: Shipped top-level packages the one Lambda-like invocation does not import, per function, and why.
#: Keep it minimal: anything else shipped and never imported is dead weight in the asset.
NOT_EXERCISED: dict[str, dict[str, str]] = {
    "verifier": {
        "olefile": "imported only when a .doc upload is inspected (OLE2); the run verifies a PDF",
    },
}

#: Each function's asset, zipped as uploaded, must stay within Lambda's direct-upload limit.
ASSET_ZIPPED_LIMIT_BYTES = lambda_like.ASSET_ZIPPED_LIMIT_BYTES

#: Shared libraries the Lambda Python 3.13 runtime (Amazon Linux 2023, glibc and zlib) provides, that
#: shipped ELF files need and may leave out of the asset: only those some asset needs today.
RUNTIME_LIBRARIES = {
    "ld-linux-aarch64.so.1",  # the dynamic loader (libXau links it)
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "libgcc_s.so.1",  # Rust's unwinder (pydantic-core, cryptography)
    "libz.so.1",  # Pillow's _imaging and libtiff; Amazon Linux 2023 ships zlib
}

# The child: import the handler, invoke it once, check its answer, report every loaded module.
_CHILD = r'''
import importlib, json, os, sys, time
request_path, result_path = sys.argv[1:3]
request = json.load(open(request_path))
module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(module_name), function_name)
{context}os.environ["_X_AMZN_TRACE_ID"] = request["trace_id"]
response = handler(request["event"], Context())
modules = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
with open(result_path, "w") as out:
    json.dump({"response": response if isinstance(response, dict) else repr(response),
               "modules": {name: path for name, path in modules.items() if isinstance(path, str)}}, out,
              default=repr)
'''.replace("{context}", lambda_like.CHILD_CONTEXT)


def _runtime_dir() -> Path:
    base = getattr(sys, "_base_executable", None) or sys.executable
    probe = subprocess.run([base, "-S", "-c", "import sys; print(sys.version_info[:2] == (3, 13))"],
                           capture_output=True, text=True, check=False)
    if probe.stdout.strip() != "True" or RUNTIME_PYTHON != (3, 13):
        pytest.skip(f"the Lambda-like child needs a base Python 3.13 interpreter ({base} is not one)")
    try:
        return Path(lambda_like.runtime_dir())
    except (lambda_like.LambdaLikeError, OSError) as error:
        pytest.skip(f"the Lambda-like runtime folder (boto3 and its dependencies) cannot be built: {error}")


@pytest.fixture(scope="module")
def stand_in() -> Iterator[lambda_like.StandIn]:
    with lambda_like.StandIn(lambda_like.dev_config().region) as server:
        yield server


def _spec(name: str) -> lambda_like.FunctionSpec:
    specs = {spec.name: spec for spec in [*lambda_like.minting_functions(), lambda_like.verifier_function()]}
    return specs[name]


def _bundle(name: str) -> LambdaBundle:
    """The function's bundle as its construct declares it."""
    spec = _spec(name)
    return LambdaBundle(entry_module=spec.handler.rsplit(".", 1)[0], requirements=tuple(spec.requirements),
                        dropped_extensions=spec.dropped_extensions)


@pytest.fixture(scope="module")
def deployed_assets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each function's arm64 asset, as synthesis uploads it (built once per module)."""
    assets = {}
    for name in FUNCTIONS:
        assets[name] = tmp_path_factory.mktemp(name) / "asset"
        _bundle(name).build(assets[name])
    return assets


def shipped_top_level(asset: Path) -> set[str]:
    """Importable names at the asset root: packages (with ``__init__.py``, or namespace packages
    holding ``.py`` files), modules, extension modules; not ``*.dist-info`` or data folders."""
    names = set()
    for entry in asset.iterdir():
        if entry.name.endswith(".dist-info") or entry.name == "__pycache__":
            continue
        if entry.is_dir() and entry.name.isidentifier() and any(entry.glob("*.py")):
            names.add(entry.name)
        elif entry.is_file() and entry.suffix in {".py", ".so", ".pyd"}:
            names.add(entry.name.split(".", 1)[0])
    return names


def _run(spec: lambda_like.FunctionSpec, stand_in: lambda_like.StandIn, runtime: Path,
         task_root: Path) -> dict[str, Any]:
    region = lambda_like.dev_config().region
    function_name = f"filegate-dev-{spec.name.replace('_', '-')}"
    environment = {
        **spec.environment(stand_in),
        **lambda_like.runtime_environment(function_name=function_name, handler=spec.handler, task_root=task_root,
                                          runtime_dir=runtime, region=region, memory_mb=spec.memory_mb,
                                          endpoint_url=stand_in.endpoint),
    }
    trace_id = environment.pop("_X_AMZN_TRACE_ID")
    invocation = spec.invocation(stand_in, 900)  # a run number the benchmark never uses
    request = {"event": invocation.event, "trace_id": trace_id, "request_id": "0f1e2d3c-4b5a-6978-8695-a4b3c2d1e0f9",
               "function_arn": f"arn:aws:lambda:{region}:{lambda_like.ACCOUNT}:function:{function_name}"}
    with tempfile.TemporaryDirectory(prefix="filegate-bundle-contents-") as scratch:
        request_path, result_path = Path(scratch) / "request.json", Path(scratch) / "result.json"
        request_path.write_text(json.dumps(request))
        done = subprocess.run(lambda_like.interpreter_command("-c", _CHILD, str(request_path), str(result_path)),
                              env=environment, cwd=task_root, capture_output=True, text=True, check=False,
                              timeout=lambda_like.CHILD_TIMEOUT_SECONDS)
        assert done.returncode == 0 and result_path.exists(), f"{spec.name} exited {done.returncode}:\n" \
                                                               f"{done.stderr[-4000:]}"
        result = json.loads(result_path.read_text())
    response = result["response"]
    if invocation.statuses:
        assert isinstance(response, dict) and response.get("statusCode") in invocation.statuses, str(response)[:2000]
    if invocation.no_batch_failures:
        assert isinstance(response, dict) and not response.get("batchItemFailures"), str(response)[:2000]
    if invocation.after is not None:
        invocation.after()
    return dict(result["modules"])


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_asset_ships_only_what_the_function_imports(name: str, stand_in: lambda_like.StandIn) -> None:
    runtime = _runtime_dir()
    spec = _spec(name)
    with spec.asset() as asset:
        task_root = asset.task_root
        modules = _run(spec, stand_in, runtime, task_root)
        shipped = shipped_top_level(task_root)

    roots = [str(task_root) + os.sep, str(runtime) + os.sep, *(root + os.sep for root in lambda_like._stdlib_roots())]
    stray = sorted(f"{module} ({path})" for module, path in modules.items() if not path.startswith(tuple(roots)))
    assert not stray, f"{name}: imported from outside the asset, the runtime and the standard library: {stray}"

    from_asset = {Path(path).relative_to(task_root).parts[0].split(".", 1)[0]
                  for path in modules.values() if path.startswith(str(task_root) + os.sep)}
    allowed = NOT_EXERCISED.get(name, {})
    never_imported = sorted(shipped - from_asset - set(allowed))
    assert not never_imported, f"{name}: shipped but never imported (drop them, or say why in NOT_EXERCISED): " \
                               f"{never_imported}"
    stale = sorted(set(allowed) & (from_asset | (set(allowed) - shipped)))
    assert not stale, f"{name}: NOT_EXERCISED entries that are imported or no longer shipped: {stale}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_the_zipped_asset_is_within_lambdas_limit(name: str, deployed_assets: dict[str, Path]) -> None:
    asset = deployed_assets[name]
    zipped, _unzipped = lambda_like.zipped_size(asset)  # ZIP_DEFLATED, every file, as uploaded
    assert zipped <= ASSET_ZIPPED_LIMIT_BYTES, \
        f"{name}: {zipped / 2**20:.2f} MiB zipped, over {ASSET_ZIPPED_LIMIT_BYTES / 2**20:.2f} MiB"
    # And every stripped arm64 extension is still a whole ELF file: Lambda's loader is never run here.
    for library in sorted(asset.rglob("*.so*")):
        _assert_whole_elf(library.read_bytes(), library)


def _shipped_elf_files(asset: Path) -> list[Path]:
    return [path for path in sorted(asset.rglob("*")) if path.is_file() and is_elf(path)]


def _resolved_in_asset(path: Path, needed: str, search_path: tuple[str, ...]) -> Path | None:
    """Where the loader finds ``needed`` for ``path`` inside the asset: through the file's own
    ``$ORIGIN`` RPATH/RUNPATH, or, for a grafted library, beside it (the extension's RPATH that
    loaded it points at its ``.libs`` folder)."""
    folders = [Path(os.path.normpath(entry.replace("${ORIGIN}", "$ORIGIN").replace("$ORIGIN", str(path.parent))))
               for entry in search_path if entry.startswith(("$ORIGIN", "${ORIGIN}"))]
    if path.parent.name.endswith(".libs"):
        folders.append(path.parent)
    return next((folder / needed for folder in folders if (folder / needed).is_file()), None)


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_shared_library_a_shipped_elf_file_needs_is_shipped_or_the_runtimes(
        name: str, deployed_assets: dict[str, Path]) -> None:
    asset = deployed_assets[name]
    unresolved = []
    for path in _shipped_elf_files(asset):
        dependencies = elf_dependencies(path)
        for needed in dependencies.needed:
            found = _resolved_in_asset(path, needed, dependencies.search_path)
            if found is None and needed not in RUNTIME_LIBRARIES:
                unresolved.append(f"{path.relative_to(asset)} needs {needed}")
            if found is not None:
                assert found.resolve().is_relative_to(asset.resolve()), f"{path}: {needed} resolves outside"
    assert not unresolved, f"{name}: libraries neither shipped nor in the Lambda runtime: {unresolved}"


@pytest.mark.parametrize("name", FUNCTIONS)
def test_every_grafted_library_is_needed_by_a_shipped_elf_file(name: str, deployed_assets: dict[str, Path]) -> None:
    asset = deployed_assets[name]
    grafted = {path.name: path for folder in asset.glob("*.libs") for path in folder.iterdir()}
    # Reachable from the shipped extensions and executables, through grafted libraries only.
    pending = [path for path in _shipped_elf_files(asset) if not path.parent.name.endswith(".libs")]
    needed: set[str] = set()
    while pending:
        for library in elf_dependencies(pending.pop()).needed:
            if library in grafted and library not in needed:
                needed.add(library)
                pending.append(grafted[library])
    orphans = sorted(str(path.relative_to(asset)) for library, path in grafted.items() if library not in needed)
    assert not orphans, f"{name}: grafted libraries nothing shipped needs: {orphans}"


def test_the_verifier_ships_neither_the_pillow_extensions_it_drops_nor_cryptography(
        deployed_assets: dict[str, Path]) -> None:
    asset = deployed_assets["verifier"]
    left = sorted(str(path.relative_to(asset)) for pattern in (
        "PIL/_avif*", "PIL/_imagingft*", "pillow.libs/libavif*", "pillow.libs/libfreetype*",
        "pillow.libs/libharfbuzz*", "pillow.libs/libbrotli*", "pillow.libs/libpng16*",
        "cryptography*", "cffi*", "_cffi_backend*", "Crypto/SelfTest", "Crypto/PublicKey", "Crypto/Signature",
    ) for path in asset.glob(pattern))
    assert not left, f"the verifier's asset still ships {left}"
    assert list(asset.glob("Crypto/Cipher/_raw_aes*")), "pycryptodome's AES (pypdf's provider) must ship"


# The child: the content checks on each sample, from the asset only (and the runtime's packages).
_CONTENT_CHILD = r"""
import base64, json, sys
from filegate.domain.content import inspect_content
samples = json.load(open(sys.argv[1]))
verdicts = {}
for name, sample in samples.items():
    data = base64.b64decode(sample["data"])
    result = inspect_content(data, declared_type=sample["type"], declared_size=len(data), max_bytes=len(data))
    verdicts[name] = [result.reason, result.detected_type, result.note, result.sha256]
modules = sorted(sys.modules)
import PIL.features, pypdf._crypt_providers
json.dump({"verdicts": verdicts, "modules": modules, "crypt_provider": pypdf._crypt_providers.crypt_provider[0],
           "features": {name: PIL.features.check_module(name) for name in ("avif", "freetype2", "littlecms2", "webp")}},
          open(sys.argv[2], "w"))
"""


def _encrypted_pdf(algorithm: str, source: bytes) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(source))
    writer.encrypt(user_password="", owner_password="owner", algorithm=algorithm)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def _verifier_samples() -> dict[str, tuple[str, bytes]]:
    """name -> (declared type, bytes): encrypted PDFs (every provider pypdf picks from), and one file
    of each image format, made by this process's pypdf and Pillow."""
    from PIL import ImageCms

    from tests.unit import samples

    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    return {
        "pdf-aes-128": (samples.PDF, _encrypted_pdf("AES-128", samples.pdf())),
        "pdf-aes-256": (samples.PDF, _encrypted_pdf("AES-256", samples.pdf())),
        "pdf-aes-256-open-action-js": (samples.PDF, _encrypted_pdf("AES-256", samples.pdf_with_open_action_js())),
        "pdf-aes-128-embedded-file": (samples.PDF, _encrypted_pdf("AES-128", samples.pdf_with_embedded_file())),
        "pdf-rc4-128": (samples.PDF, _encrypted_pdf("RC4-128", samples.pdf())),
        "png": (samples.PNG, samples.png()),
        "png-icc": (samples.PNG, samples.png(icc_profile=srgb)),
        "jpeg": (samples.JPEG, samples.jpeg()),
        "jpeg-icc": (samples.JPEG, samples.jpeg(icc_profile=srgb)),
        "gif": (samples.GIF, samples.gif()),
        "webp": (samples.WEBP, samples.webp()),
        "webp-lossy": (samples.WEBP, samples.webp(lossless=False)),
    }


def test_the_verifiers_asset_gives_the_source_trees_verdicts() -> None:
    """Without cryptography (pycryptodome decrypts), AVIF and FreeType, the asset's content checks
    decide every sample as the source tree's (this virtualenv, with cryptography) do."""
    from filegate.domain.content import inspect_content

    runtime = _runtime_dir()
    samples = _verifier_samples()
    expected = {}
    for name, (declared, data) in samples.items():
        result = inspect_content(data, declared_type=declared, declared_size=len(data), max_bytes=len(data))
        expected[name] = [result.reason, result.detected_type, result.note, result.sha256]
    assert {verdict[0] for verdict in expected.values()} > {None}, "the samples should include refused ones"

    with _spec("verifier").asset() as asset, tempfile.TemporaryDirectory() as scratch:
        task_root = asset.task_root
        samples_path, result_path = Path(scratch) / "samples.json", Path(scratch) / "result.json"
        samples_path.write_text(json.dumps({name: {"type": declared, "data": base64.b64encode(data).decode()}
                                            for name, (declared, data) in samples.items()}))
        done = subprocess.run(lambda_like.interpreter_command("-c", _CONTENT_CHILD, str(samples_path),
                                                              str(result_path)),
                              env={"PYTHONPATH": f"{task_root}{os.pathsep}{runtime}", "LANG": "C.UTF-8"},
                              cwd=task_root, capture_output=True, text=True, check=False,
                              timeout=lambda_like.CHILD_TIMEOUT_SECONDS)
        assert done.returncode == 0, done.stderr[-4000:]
        result = json.loads(result_path.read_text())

    differing = {name: (verdict, expected[name]) for name, verdict in result["verdicts"].items()
                 if verdict != expected[name]}
    assert not differing, f"asset verdict vs source tree's: {differing}"
    assert result["crypt_provider"] == "pycryptodome"
    assert not {"cryptography", "cffi", "_cffi_backend"} & set(result["modules"])
    assert {"PIL._imagingcms", "PIL._webp", "Crypto.Cipher.AES", "Crypto.Cipher.ARC4"} <= set(result["modules"])
    assert result["features"] == {"avif": False, "freetype2": False, "littlecms2": True, "webp": True}


_EM_AARCH64 = 183


def _assert_whole_elf(data: bytes, path: Path) -> None:
    """An ELF64 little-endian AArch64 file whose program headers, segments and section headers
    all lie inside it, with one section-name table: what symbol stripping must leave."""
    import struct

    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{path}: not ELF64 little-endian"
    assert struct.unpack_from("<H", data, 0x12)[0] == _EM_AARCH64, f"{path}: not built for arm64"
    for _type, offset, _vaddr, size in _segments(data):
        assert offset + size <= len(data), f"{path}: a segment runs past the end of the file"
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    assert shoff + shnum * shentsize <= len(data), f"{path}: the section headers run past the end"
    assert shstrndx < shnum, f"{path}: no section-name table"
    for index in range(shnum):
        kind, _flags, _addr, offset, size = struct.unpack_from("<IQQQQ", data, shoff + index * shentsize + 4)
        assert kind == 8 or offset + size <= len(data), f"{path}: section {index} runs past the end"  # 8: NOBITS


def _segments(data: bytes) -> list[tuple[int, int, int, int]]:
    """(type, file offset, virtual address, file size) of each program header of an ELF64 file."""
    import struct

    phoff = struct.unpack_from("<Q", data, 0x20)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    headers = [struct.unpack_from("<IIQQQQQQ", data, phoff + index * phentsize) for index in range(phnum)]
    return [(header[0], header[2], header[3], header[5]) for header in headers]


@pytest.mark.parametrize("module", ["wrapt._wrappers", "PIL._imaging"])
def test_symbol_stripping_keeps_every_byte_the_loader_maps(module: str, tmp_path: Path) -> None:
    """``_strip_symbols`` on this machine's copy of an extension (wrapt: the linker's layout;
    Pillow: auditwheel's, segments appended after the symbols): smaller zipped, every segment
    byte-identical at its offset, and the stripped copy still imports."""
    import importlib.util
    import zlib

    from stacks.lambda_bundling import _strip_symbols

    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        pytest.skip(f"{module} is not installed here")
    origin = Path(spec.origin)
    original = origin.read_bytes()
    stripped_path = tmp_path / origin.parent.name / origin.name
    stripped_path.parent.mkdir()
    for libraries in origin.parent.parent.glob("*.libs"):  # auditwheel's RPATH: $ORIGIN/../<dist>.libs
        (tmp_path / libraries.name).symlink_to(libraries)
    stripped_path.write_bytes(original)
    assert _strip_symbols(stripped_path)
    stripped = stripped_path.read_bytes()
    assert len(zlib.compress(stripped)) < len(zlib.compress(original)) * 0.8
    assert _segments(stripped) == _segments(original)
    def without_section_table_offset(data: bytes) -> bytes:  # e_shoff: the section headers moved
        return data[:0x28] + bytes(8) + data[0x30:]

    for _type, offset, _vaddr, size in _segments(original):
        assert (without_section_table_offset(stripped)[offset:offset + size]
                == without_section_table_offset(original)[offset:offset + size])
    assert not _strip_symbols(stripped_path), "stripping twice changes nothing"
    load = (f"import importlib.util, sys; spec = importlib.util.spec_from_file_location({module!r}, "
            f"{str(stripped_path)!r}); sys.modules[spec.name] = module = importlib.util.module_from_spec(spec); "
            f"spec.loader.exec_module(module)")
    parent = module.rpartition(".")[0]
    done = subprocess.run([sys.executable, "-c", f"import {parent}; {load}"], capture_output=True, text=True,
                          check=False, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
