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
import struct
import subprocess
import sys
import tempfile
from collections.abc import Callable
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
RECIPE_VERSION = "5"  # bump when the way bundles are built changes
LAMBDA_TASK_ROOT = "/var/task"
PIP_INSTALL_RECORDS = {"INSTALLER", "REQUESTED", "direct_url.json"}
#: Python 2 modules some wheels still ship next to their Python 3 code, never imported on 3.x
#: (and not compilable by it): olefile's legacy ``olefile2`` API.
PYTHON2_ONLY_MODULES = {"olefile/olefile2.py"}
#: Files a Lambda never reads: byte code of another interpreter, type stubs (``*.pyi``), and the C,
#: C++, Cython and Rust sources and headers some wheels ship next to their compiled extensions.
NEVER_LOADED_SUFFIXES = {".pyc", ".pyo", ".pyi", ".c", ".h", ".cc", ".cpp", ".hpp", ".pxd", ".pxi", ".pyx", ".rs"}
#: ...and the PEP 561 marker, for type checkers only.
NEVER_LOADED_NAMES = PIP_INSTALL_RECORDS | {"py.typed"}
#: Test suites inside third-party packages: dropped unless the function's import graph reaches them.
TEST_SUITE_DIRS = {"tests", "test"}
#: Top-level packages and modules a wheel ships that are dropped when the function's import graph
#: never reaches them: cffi's Python package is its build-time API (``cdef``, ``compile``); at run
#: time cryptography's bindings load only the ``_cffi_backend`` extension, which stays. olefile's
#: ``OleFileIO_PL`` is its pre-2015 name, an alias module nothing imports.
DROPPED_WHEN_UNREACHED = {"cffi", "OleFileIO_PL"}
#: Packages whose subpackages the function's import graph never reaches are dropped, at subpackage
#: granularity (never single modules): Powertools ships every utility (Kafka, AppSync, data
#: masking, OpenAPI...) and a function uses a few; pycryptodome ships its self-tests, public-key
#: algorithms and signatures next to the ciphers pypdf uses. pycryptodome loads its native
#: libraries by dotted name (``load_pycryptodome_raw_lib("Crypto.Cipher._raw_aes", ...)``), a string
#: constant the import graph follows, so the subpackages holding the ones it loads are reached.
PRUNED_TO_REACHED_SUBPACKAGES = ("aws_lambda_powertools", "Crypto")
#: ...and packages pruned further, to the very modules the graph reaches, native libraries included:
#: pycryptodome imports its Python modules statically and loads each native library by a constant
#: dotted name, so a cipher or hash nothing names (DES, Blowfish, ChaCha20, RIPEMD...) never loads.
PRUNED_TO_REACHED_MODULES = ("Crypto",)
#: Data files a wheel reads from one API only, dropped unless the function's own code calls it:
#: Powertools inlines its bundled Swagger UI (0.4 MiB zipped) into the page ``enable_swagger()``
#: serves when given no ``swagger_base_url``; the import graph reaches the package regardless.
DATA_READ_ONLY_BY = {
    "enable_swagger": ("aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui-bundle.min.js",
                       "aws_lambda_powertools/event_handler/openapi/swagger_ui/swagger-ui.min.css"),
}
#: ELF sections no loader maps (not ``SHF_ALLOC``): the full symbol table and its strings, and
#: DWARF debug information. ``dlopen`` resolves through ``.dynsym``/``.dynstr``, which stay; only
#: native backtraces lose function names. cryptography's Rust extension, Pillow's and wrapt's
#: ship unstripped (manylinux only requires the libraries auditwheel grafts to be stripped).
UNMAPPED_ELF_SECTIONS = (".symtab", ".strtab", ".debug")
#: Calls that import a module named at run time: a module making one with a non-constant name
#: counts as importing its whole package (``importlib.import_module(f"{__name__}.envelopes")``).
DYNAMIC_IMPORT_CALLS = {"import_module", "__import__", "LazyLoader", "spec_from_file_location"}


class BundlingError(RuntimeError):
    """A Lambda asset could not be built; the message says which and why."""


@dataclass(frozen=True)
class DroppedExtension:
    """An optional extension module a function never runs, left out of its asset with the shared
    libraries only it links. Its package must import it only where an ``ImportError`` is handled
    (or under ``TYPE_CHECKING``), which the bundler checks, so the package degrades as it does
    where the extension was never built."""

    module: str  # dotted name, e.g. "PIL._avif"
    reason: str  # why the function can do without it, for whoever audits the asset


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
    dropped_extensions: tuple[DroppedExtension, ...] = ()

    def sources(self) -> list[Path]:
        files = module_closure(self.entry_module)
        if not files:
            raise BundlingError(f"{self.entry_module}: no such module under {LAMBDA_ROOT}")
        return files

    def fingerprint(self) -> str:
        digest = hashlib.sha256()
        dropped = sorted(extension.module for extension in self.dropped_extensions)
        for part in (RECIPE_VERSION, PIP_PLATFORM, ".".join(map(str, RUNTIME_PYTHON)), self.entry_module, *dropped):
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
        _drop_extensions(staging, self.dropped_extensions)
        _drop_data_for_uncalled_apis(staging, self.sources())
        reached = import_graph(self.entry_module, staging)
        _strip(staging, reached, first_party=self.entry_module.split(".", maxsplit=1)[0])
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


class _ModuleIndex:
    """The importable modules under an asset root: dotted name -> source file (``None`` for an
    extension module, whose imports cannot be read)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[str, Path | None] = {}
        for path in sorted(root.rglob("*")):
            if not path.is_file() or any(part.endswith(".dist-info") for part in path.relative_to(root).parts):
                continue
            parts = list(path.relative_to(root).parts)
            if path.suffix == ".py":
                parts[-1] = path.stem
                if parts[-1] == "__init__":
                    parts.pop()
                if parts and all(part.isidentifier() for part in parts):
                    self.files[".".join(parts)] = path
            elif path.suffix in {".so", ".pyd"}:
                parts[-1] = path.name.split(".", 1)[0]
                if all(part.isidentifier() for part in parts):
                    self.files.setdefault(".".join(parts), None)

    def package_of(self, module: str) -> str:
        path = self.files.get(module)
        return module if path is not None and path.name == "__init__.py" else module.rpartition(".")[0]


def import_graph(entry_module: str, root: Path) -> set[str]:
    """Every module under ``root`` that importing ``entry_module`` can reach, transitively, across
    first- and third-party code, erring on the side of including: imports inside functions and
    under ``TYPE_CHECKING`` count, every package on a module's way is reached, ``from p import n``
    reaches ``p.n`` when it is a module, a string constant naming a module counts as importing it
    (Powertools' ``LazyLoader`` takes its module's name from a constant), and a module importing
    by a name computed at run time (``importlib.import_module(f"{__name__}.x")``) reaches its
    whole package. A module that cannot be parsed reaches its whole top-level package."""
    index = _ModuleIndex(root)
    reached: set[str] = set()
    pending = [entry_module]

    def reach(name: str) -> None:
        parts = name.split(".")
        for depth in range(1, len(parts) + 1):
            candidate = ".".join(parts[:depth])
            if candidate in index.files and candidate not in reached:
                reached.add(candidate)
                pending.append(candidate)

    def reach_subtree(package: str) -> None:
        for name in index.files:
            if name == package or name.startswith(package + "."):
                reach(name)

    while pending:
        name = pending.pop()
        reach(name)
        path = index.files.get(name)
        if path is None:
            continue
        try:
            tree = ast.parse(path.read_bytes(), filename=str(path))
        except (SyntaxError, ValueError):
            reach_subtree(name.split(".")[0])
            continue
        package = index.package_of(name).split(".") if index.package_of(name) else []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    reach(alias.name)
            elif isinstance(node, ast.ImportFrom):
                base = package[: len(package) - node.level + 1] if node.level else []
                prefix = ".".join(base + ([node.module] if node.module else []))
                reach(prefix)
                for alias in node.names:
                    reach(f"{prefix}.{alias.name}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in index.files:
                reach(node.value)
            elif isinstance(node, ast.Call):
                called = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                if called in DYNAMIC_IMPORT_CALLS and not all(isinstance(arg, ast.Constant) for arg in node.args):
                    reach_subtree(".".join(package) or name)
    return reached


def _reaches(reached: set[str], package: str) -> bool:
    return any(name == package or name.startswith(package + ".") for name in reached)


def _strip(staging: Path, reached: set[str] | None = None, first_party: str | None = None) -> None:
    """Drop what a Lambda never runs: scripts, caches, pip's per-install files, type stubs and
    C/Rust sources, stub-only packages, (given ``reached``, the function's import graph) the
    test suites, build-time packages and Powertools and pycryptodome subpackages that graph never
    reaches, and then the grafted shared libraries no remaining ELF file needs."""
    for path in sorted(staging.rglob("*"), reverse=True):
        relative = path.relative_to(staging)
        if path.is_dir():
            if path.name in {"__pycache__", "bin"} or (len(relative.parts) == 1 and path.name.endswith("-stubs")):
                shutil.rmtree(path)
        elif (path.suffix in NEVER_LOADED_SUFFIXES or path.name in NEVER_LOADED_NAMES
              or relative.as_posix() in PYTHON2_ONLY_MODULES):
            path.unlink()
        elif path.suffix == ".so" or ".so." in path.name:
            _strip_symbols(path)
    if reached is not None:
        _drop_unreached(staging, reached, first_party)
    _drop_unneeded_grafted_libraries(staging)
    for path in sorted(staging.rglob("*"), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()  # e.g. cryptography's ``_rust/`` once its stubs are gone


_ELF64_HEADER = struct.Struct("<16sHHIQQQIHHHHHH")
_ELF64_PROGRAM_HEADER = struct.Struct("<IIQQQQQQ")
_ELF64_SECTION_HEADER = struct.Struct("<IIQQQQIIQQ")
_SHF_ALLOC, _SHF_INFO_LINK, _SHT_NOBITS = 0x2, 0x40, 8


def _strip_symbols(path: Path) -> bool:
    """Drop the ``UNMAPPED_ELF_SECTIONS`` of a little-endian ELF64 shared object, in pure Python (no
    binutils for another architecture needed, the same bytes on every machine). Every byte a
    segment (or an allocated section) covers is kept verbatim, at its offset: dropped sections
    after the last segment are cut off, those between segments (where patchelf appended
    segments) are zeroed in place, kept unmapped sections after the last segment move up, and
    the dropped sections' headers become ``SHT_NULL``. A file this cannot handle safely (another
    layout, a kept section linking to a dropped one, a dropped section overlapping a segment, a
    kept one straddling the last segment's end) is left as it is. True when the file changed."""
    data = path.read_bytes()
    if len(data) < _ELF64_HEADER.size or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    try:
        stripped = _without_unmapped_sections(data)
    except (struct.error, ValueError, IndexError):
        return False  # not the layout it reads: leave it
    if stripped is None or stripped == data:
        return False
    path.write_bytes(stripped)
    return True


def _without_unmapped_sections(data: bytes) -> bytes | None:
    header = _ELF64_HEADER.unpack_from(data)
    phoff, shoff, ehsize, phentsize, phnum, shentsize, shnum, shstrndx = header[5], header[6], *header[8:]
    if (not shoff or not shnum or shstrndx >= shnum or phentsize != _ELF64_PROGRAM_HEADER.size
            or shentsize != _ELF64_SECTION_HEADER.size or shoff + shnum * shentsize > len(data)):
        return None
    sections = [list(_ELF64_SECTION_HEADER.unpack_from(data, shoff + index * shentsize)) for index in range(shnum)]
    dropped = _droppable_sections(data, sections, shstrndx)
    if not dropped:
        return None
    segments = _mapped_ranges(data, phoff, phnum, ehsize, sections)
    for index in dropped:
        start, end = sections[index][4], sections[index][4] + sections[index][5]
        if end > len(data) or any(start < mapped_to and mapped_from < end for mapped_from, mapped_to in segments):
            return None
    mapped_end = max(end for _start, end in segments)
    out = bytearray(data[:mapped_end])
    for index, section in enumerate(sections):
        if not index or section[1] == _SHT_NOBITS or section[2] & _SHF_ALLOC:
            continue
        if index in dropped:
            # Between two segments (patchelf appends segments after them): zeroed in place.
            start, end = section[4], min(section[4] + section[5], mapped_end)
            if start < end:
                out[start:end] = bytes(end - start)
            sections[index] = [section[0], 0, 0, 0, 0, 0, 0, 0, 0, 0]
        elif section[4] < mapped_end:
            if section[4] + section[5] > mapped_end:
                return None
        else:
            out += bytes(-len(out) % max(section[8], 1))
            start, section[4] = section[4], len(out)
            out += data[start:start + section[5]]
    out += bytes(-len(out) % 8)
    new_shoff = len(out)
    for section in sections:
        out += _ELF64_SECTION_HEADER.pack(*section)
    struct.pack_into("<Q", out, 0x28, new_shoff)  # e_shoff
    return bytes(out)


def _droppable_sections(data: bytes, sections: list[list[int]], shstrndx: int) -> set[int]:
    """Indexes of the unmapped sections to drop; none when a kept section links to one of them."""
    names = sections[shstrndx][4]

    def name(section: list[int]) -> str:
        start = names + section[0]
        return data[start:data.index(b"\0", start)].decode("ascii", "replace")

    dropped = {index for index, section in enumerate(sections) if index and not section[2] & _SHF_ALLOC
               and section[1] != _SHT_NOBITS and name(section).startswith(UNMAPPED_ELF_SECTIONS)}
    if shstrndx in dropped or any(
            section[6] in dropped or (section[2] & _SHF_INFO_LINK and section[7] in dropped)
            for index, section in enumerate(sections) if index not in dropped):
        return set()
    return dropped


def _mapped_ranges(data: bytes, phoff: int, phnum: int, ehsize: int,
                   sections: list[list[int]]) -> list[tuple[int, int]]:
    """File ranges the loader reads: the headers, every segment, every allocated section."""
    ranges = [(0, max(ehsize, phoff + phnum * _ELF64_PROGRAM_HEADER.size))]
    for index in range(phnum):
        segment = _ELF64_PROGRAM_HEADER.unpack_from(data, phoff + index * _ELF64_PROGRAM_HEADER.size)
        ranges.append((segment[2], segment[2] + segment[5]))
    ranges += [(section[4], section[4] + section[5]) for section in sections
               if section[2] & _SHF_ALLOC and section[1] != _SHT_NOBITS]
    return ranges


def _drop_unreached(staging: Path, reached: set[str], first_party: str | None) -> None:
    for path in sorted(staging.rglob("*")):
        if not path.is_dir() or not path.exists():
            continue
        parts = path.relative_to(staging).parts
        if parts[0].endswith(".dist-info") or parts[0] == first_party:
            continue
        module = ".".join(parts)
        package = (path / "__init__.py").exists()
        if _reaches(reached, module):
            continue
        top_level = len(parts) == 1
        if ((top_level and module in DROPPED_WHEN_UNREACHED)
                or (package and not top_level and path.name in TEST_SUITE_DIRS)
                or (package and not top_level and parts[0] in PRUNED_TO_REACHED_SUBPACKAGES)):
            shutil.rmtree(path)
    for name in DROPPED_WHEN_UNREACHED:
        single = staging / f"{name}.py"
        if single.is_file() and name not in reached:
            single.unlink()
    for path in sorted(staging.rglob("*")):
        relative = path.relative_to(staging)
        if path.is_file() and relative.parts[0] in PRUNED_TO_REACHED_MODULES:
            module = _module_name(relative)
            if module is not None and module not in reached:
                path.unlink()


def _module_name(relative: Path) -> str | None:
    """The dotted module a ``.py`` or extension file under the asset root is, None for data."""
    parts = list(relative.parts)
    if relative.suffix == ".py":
        parts[-1] = relative.stem
        if parts[-1] == "__init__":
            parts.pop()
    elif relative.suffix in {".so", ".pyd"}:
        parts[-1] = relative.name.split(".", 1)[0]
    else:
        return None
    return ".".join(parts) if parts and all(part.isidentifier() for part in parts) else None


def _drop_data_for_uncalled_apis(staging: Path, sources: list[Path]) -> None:
    """Delete the ``DATA_READ_ONLY_BY`` files of each API no first-party module calls."""
    called: set[str] = set()
    for source in sources:
        for node in ast.walk(ast.parse(source.read_bytes(), filename=str(source))):
            if isinstance(node, ast.Call):
                called.add(node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", ""))
    for api, files in DATA_READ_ONLY_BY.items():
        if api not in called:
            for relative in files:
                (staging / relative).unlink(missing_ok=True)


def _drop_extensions(staging: Path, extensions: tuple[DroppedExtension, ...]) -> None:
    """Delete each declared extension module, after checking that its package can do without it:
    a declaration that names nothing (a renamed extension) or an extension some module imports
    unguarded (it became required) stops the build instead of shipping a broken asset."""
    for extension in extensions:
        *package, name = extension.module.split(".")
        folder = staging.joinpath(*package)
        files = sorted(path for path in folder.glob(f"{name}.*") if path.is_file()
                       and path.name.split(".", 1)[0] == name and path.suffix in {".so", ".pyd"})
        if not files:
            raise BundlingError(f"{extension.module}: declared as dropped, but the asset has no such extension "
                                f"module in {folder.relative_to(staging)}/ (renamed or gone? update the declaration)")
        unguarded = _unguarded_importers(staging, extension.module)
        if unguarded:
            raise BundlingError(f"{extension.module}: declared as dropped, but imported where an ImportError is not "
                                f"handled, so the function would fail without it: {', '.join(unguarded)}")
        for path in files:
            path.unlink()


def _unguarded_importers(staging: Path, module: str) -> list[str]:
    """``file:line`` of each import of ``module`` in the asset's Python files that is neither inside
    a ``try`` whose handler catches ``ImportError`` without re-raising nor under ``TYPE_CHECKING``."""
    found: list[str] = []
    needle = module.rsplit(".", 1)[-1].encode()
    for path in sorted(staging.rglob("*.py")):
        source = path.read_bytes()
        if needle not in source:
            continue
        try:
            tree = ast.parse(source, filename=str(path))
        except (SyntaxError, ValueError):
            continue  # never importable on this Python, so it imports nothing
        package = list(path.relative_to(staging).parts[:-1])
        found += [f"{path.relative_to(staging)}:{line}" for line in _unguarded_import_lines(tree, package, module)]
    return found


def _unguarded_import_lines(tree: ast.AST, package: list[str], module: str) -> list[int]:
    lines: list[int] = []

    def imports_module(node: ast.Import | ast.ImportFrom) -> bool:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            base = package[: len(package) - node.level + 1] if node.level else []
            prefix = ".".join(base + ([node.module] if node.module else []))
            names = [prefix, *(f"{prefix}.{alias.name}" for alias in node.names)]
        return any(name == module or name.startswith(module + ".") for name in names)

    def visit(node: ast.AST, guarded: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            if not guarded and imports_module(node):
                lines.append(node.lineno)
            return
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            guarded = False  # runs later, outside any try around its definition
        if isinstance(node, ast.Try | ast.TryStar):
            for child in node.body:
                visit(child, guarded or any(_handles_import_error(handler) for handler in node.handlers))
            for child in [*node.handlers, *node.orelse, *node.finalbody]:
                visit(child, guarded)
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, True)
            for child in node.orelse:
                visit(child, guarded)
            return
        for child in ast.iter_child_nodes(node):
            visit(child, guarded)

    visit(tree, False)
    return lines


def _handles_import_error(handler: ast.ExceptHandler) -> bool:
    caught = handler.type
    names = ([] if caught is None else caught.elts if isinstance(caught, ast.Tuple) else [caught])
    catches = caught is None or any(
        (element.id if isinstance(element, ast.Name) else getattr(element, "attr", ""))
        in {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"} for element in names)
    reraises = any(isinstance(node, ast.Raise) for node in ast.walk(handler))
    return catches and not reraises


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


_SHT_STRTAB, _SHT_DYNAMIC = 3, 6
_DT_NULL, _DT_NEEDED, _DT_RPATH, _DT_RUNPATH = 0, 1, 15, 29
_ELF64_DYNAMIC_ENTRY = struct.Struct("<qQ")


@dataclass(frozen=True)
class ElfDependencies:
    """What the dynamic loader reads from a shared object's ``.dynamic`` section."""

    needed: tuple[str, ...]  # DT_NEEDED: sonames, in load order
    search_path: tuple[str, ...]  # DT_RUNPATH, else DT_RPATH, as written (``$ORIGIN`` unexpanded)


def is_elf(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(4) == b"\x7fELF"


def elf_dependencies(path: Path) -> ElfDependencies:
    """DT_NEEDED and the library search path of a little-endian ELF64 file, in pure Python (no
    binutils for the target architecture). Anything it cannot read is a ``BundlingError`` naming
    the file: guessing would silently drop a library something loads, or keep dead weight."""
    data = path.read_bytes()

    def malformed(why: str) -> BundlingError:
        return BundlingError(f"{path}: {why}; cannot read which shared libraries it needs")

    located = _dynamic_section(data, malformed)
    if located is None:
        return ElfDependencies(needed=(), search_path=())  # statically linked: loads nothing
    dynamic_offset, dynamic_size, strings_offset, strings_size = located

    def string(offset: int) -> str:
        end = data.find(b"\0", strings_offset + offset, strings_offset + strings_size)
        if offset >= strings_size or end < 0:
            raise malformed(f"a dynamic entry names string {offset}, outside its string table")
        try:
            return data[strings_offset + offset:end].decode()
        except UnicodeDecodeError as error:
            raise malformed(f"a dynamic entry's string at {offset} is not UTF-8") from error

    needed: list[str] = []
    paths: dict[int, str] = {}
    for entry in range(dynamic_offset, dynamic_offset + dynamic_size, _ELF64_DYNAMIC_ENTRY.size):
        tag, value = _ELF64_DYNAMIC_ENTRY.unpack_from(data, entry)
        if tag == _DT_NULL:
            break
        if tag == _DT_NEEDED:
            needed.append(string(value))
        elif tag in {_DT_RPATH, _DT_RUNPATH}:
            paths[tag] = string(value)
    else:
        raise malformed("the dynamic section has no DT_NULL terminator")
    search = paths.get(_DT_RUNPATH, paths.get(_DT_RPATH, ""))  # the loader ignores RPATH given RUNPATH
    return ElfDependencies(needed=tuple(needed), search_path=tuple(entry for entry in search.split(":") if entry))


def _dynamic_section(data: bytes, malformed: Callable[[str], BundlingError]) -> tuple[int, int, int, int] | None:
    """(offset, size) of the ``.dynamic`` section and of the string table it links, or None."""
    if len(data) < _ELF64_HEADER.size or data[:4] != b"\x7fELF":
        raise malformed("not an ELF file (or truncated)")
    if data[4] != 2 or data[5] != 1:
        raise malformed("not a little-endian ELF64 file")
    header = _ELF64_HEADER.unpack_from(data)
    shoff, shentsize, shnum = header[6], header[11], header[12]
    if not shoff or not shnum:
        raise malformed("no section headers")
    if shentsize != _ELF64_SECTION_HEADER.size or shoff + shnum * shentsize > len(data):
        raise malformed("section headers of an unexpected size or past the end of the file")
    sections = [_ELF64_SECTION_HEADER.unpack_from(data, shoff + index * shentsize) for index in range(shnum)]
    dynamic = [section for section in sections if section[1] == _SHT_DYNAMIC]
    if not dynamic:
        return None
    if len(dynamic) > 1:
        raise malformed("more than one dynamic section")
    _name, _type, _flags, _addr, dynamic_offset, dynamic_size, strings_index, *_rest = dynamic[0]
    if dynamic_offset + dynamic_size > len(data) or dynamic_size % _ELF64_DYNAMIC_ENTRY.size:
        raise malformed("a dynamic section past the end of the file or not a whole number of entries")
    if strings_index >= shnum or sections[strings_index][1] != _SHT_STRTAB:
        raise malformed("the dynamic section's sh_link is not a string table")
    strings_offset, strings_size = sections[strings_index][4], sections[strings_index][5]
    if strings_offset + strings_size > len(data):
        raise malformed("the dynamic string table runs past the end of the file")
    return dynamic_offset, dynamic_size, strings_offset, strings_size


def _drop_unneeded_grafted_libraries(staging: Path) -> None:
    """Delete the shared libraries auditwheel grafted into ``<dist>.libs/`` folders that no ELF file
    left in the asset needs, directly or through another grafted library (the transitive closure of
    DT_NEEDED from every other ELF file): after dropping an extension (``DroppedExtension``) or an
    unreached package, what only it linked (Pillow's libavif with ``_avif``) is dead weight.
    auditwheel names each grafted library uniquely (``libavif-c06c46c1.so.16.4.1``), and a needed
    name keeps every grafted file of that name, wherever the loader would look."""
    grafted = [path for folder in sorted(staging.glob("*.libs")) if folder.is_dir()
               for path in sorted(folder.iterdir()) if path.is_file() and is_elf(path)]
    if not grafted:
        return
    by_name: dict[str, list[Path]] = {}
    for library in grafted:
        by_name.setdefault(library.name, []).append(library)
    grafted_set = set(grafted)
    pending = [path for path in sorted(staging.rglob("*"))
               if path.is_file() and path not in grafted_set and is_elf(path)]
    kept: set[Path] = set()
    while pending:
        for name in elf_dependencies(pending.pop()).needed:
            for library in by_name.get(name, []):
                if library not in kept:
                    kept.add(library)
                    pending.append(library)
    for library in grafted:
        if library not in kept:
            library.unlink()


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
