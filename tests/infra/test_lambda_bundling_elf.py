"""The bundler's ELF dependency reading and the pruning built on it (stacks/lambda_bundling.py):
DT_NEEDED as ``readelf`` reads it, a loud ``BundlingError`` on a file it cannot read, grafted
libraries dropped exactly when nothing left needs them, and declared extension drops checked
against how their package imports them."""

from __future__ import annotations

import importlib.util
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from stacks.lambda_bundling import (
    BundlingError,
    DroppedExtension,
    LambdaBundle,
    _drop_extensions,
    _drop_unneeded_grafted_libraries,
    elf_dependencies,
)


def _installed_pillow() -> tuple[Path, Path]:
    """This machine's PIL package and its auditwheel ``pillow.libs`` folder."""
    spec = importlib.util.find_spec("PIL")
    if spec is None or not spec.origin:
        pytest.skip("Pillow is not installed here")
    package = Path(spec.origin).parent
    libraries = package.parent / "pillow.libs"
    if not libraries.is_dir():
        pytest.skip("this Pillow has no auditwheel pillow.libs (not a manylinux wheel)")
    return package, libraries


def _extension(package: Path, name: str) -> Path:
    return next(package.glob(f"{name}.*.so"))


def test_needed_libraries_and_rpath_match_readelf() -> None:
    package, _libraries = _installed_pillow()
    readelf = shutil.which("readelf")
    if readelf is None:
        pytest.skip("no readelf to compare with")
    for path in [_extension(package, "_imaging"), _extension(package, "_imagingft"), *sorted(_libraries.iterdir())]:
        shown = subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True, check=True).stdout
        dependencies = elf_dependencies(path)
        assert list(dependencies.needed) == re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", shown)
        paths = re.findall(r"\((?:RPATH|RUNPATH)\)\s+Library r(?:un)?path: \[(.+?)\]", shown)
        assert list(dependencies.search_path) == [entry for value in paths[-1:] for entry in value.split(":")]


def _section_headers(data: bytes) -> list[tuple[int, ...]]:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    return [struct.unpack_from("<IIQQQQIIQQ", data, shoff + index * shentsize) for index in range(shnum)]


def _dynamic_header_offset(data: bytes) -> tuple[int, tuple[int, ...]]:
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize = struct.unpack_from("<H", data, 0x3A)[0]
    for index, section in enumerate(_section_headers(data)):
        if section[1] == 6:  # SHT_DYNAMIC
            return shoff + index * shentsize, section
    raise AssertionError("no dynamic section")


def _truncated(data: bytes) -> bytes:
    return data[: len(data) // 2]


def _elf32(data: bytes) -> bytes:
    return data[:4] + b"\x01" + data[5:]


def _dynamic_linking_to_null_section(data: bytes) -> bytes:
    header, _section = _dynamic_header_offset(data)
    out = bytearray(data)
    struct.pack_into("<I", out, header + 40, 0)  # sh_link -> section 0 (SHT_NULL)
    return bytes(out)


def _needed_name_outside_string_table(data: bytes) -> bytes:
    _header, section = _dynamic_header_offset(data)
    out = bytearray(data)
    for entry in range(section[4], section[4] + section[5], 16):
        if struct.unpack_from("<q", out, entry)[0] == 1:  # DT_NEEDED
            struct.pack_into("<Q", out, entry + 8, 1 << 40)
            return bytes(out)
    raise AssertionError("no DT_NEEDED")


def _dynamic_without_terminator(data: bytes) -> bytes:
    _header, section = _dynamic_header_offset(data)
    out = bytearray(data)
    for entry in range(section[4], section[4] + section[5], 16):
        if struct.unpack_from("<q", out, entry)[0] == 0:  # DT_NULL -> DT_DEBUG (no string)
            struct.pack_into("<qQ", out, entry, 21, 0)
    return bytes(out)


@pytest.mark.parametrize("damage", [_truncated, _elf32, _dynamic_linking_to_null_section,
                                    _needed_name_outside_string_table, _dynamic_without_terminator])
def test_a_file_it_cannot_read_is_a_bundling_error_naming_it(damage: object, tmp_path: Path) -> None:
    package, _libraries = _installed_pillow()
    damaged = tmp_path / "_imaging.so"
    damaged.write_bytes(damage(_extension(package, "_imaging").read_bytes()))  # type: ignore[operator]
    with pytest.raises(BundlingError, match=re.escape(str(damaged))):
        elf_dependencies(damaged)


def _pillow_asset(tmp_path: Path) -> Path:
    package, libraries = _installed_pillow()
    asset = tmp_path / "asset"
    shutil.copytree(package, asset / "PIL")
    shutil.copytree(libraries, asset / libraries.name)
    return asset


def _grafted(asset: Path, prefix: str) -> list[Path]:
    return sorted((asset / "pillow.libs").glob(f"{prefix}*"))


def test_grafted_libraries_only_a_dropped_extension_needs_go_with_it(tmp_path: Path) -> None:
    asset = _pillow_asset(tmp_path)
    before = sorted(path.name for path in (asset / "pillow.libs").iterdir())
    _drop_unneeded_grafted_libraries(asset)
    assert sorted(path.name for path in (asset / "pillow.libs").iterdir()) == before, "all needed while all ship"

    _drop_extensions(asset, (DroppedExtension("PIL._avif", "test"), DroppedExtension("PIL._imagingft", "test")))
    _drop_unneeded_grafted_libraries(asset)
    for gone in ("libavif", "libfreetype", "libharfbuzz", "libbrotlidec", "libbrotlicommon", "libpng16"):
        assert not _grafted(asset, gone), gone
    for kept in ("libjpeg", "libtiff", "libzstd", "liblzma", "libopenjp2", "libwebp", "liblcms2", "libxcb"):
        assert _grafted(asset, kept), kept
    assert not list((asset / "PIL").glob("_avif*.so")) and not list((asset / "PIL").glob("_imagingft*.so"))


def test_a_malformed_elf_file_stops_the_pruning(tmp_path: Path) -> None:
    asset = _pillow_asset(tmp_path)
    imaging = _extension(asset / "PIL", "_imaging")
    imaging.write_bytes(_truncated(imaging.read_bytes()))
    before = sorted((asset / "pillow.libs").iterdir())
    with pytest.raises(BundlingError, match=re.escape(str(imaging))):
        _drop_unneeded_grafted_libraries(asset)
    assert sorted((asset / "pillow.libs").iterdir()) == before


def _package_importing(tmp_path: Path, source: str) -> Path:
    asset = tmp_path / "asset"
    (asset / "pkg").mkdir(parents=True)
    (asset / "pkg" / "__init__.py").write_text(source)
    (asset / "pkg" / "_native.cpython-313-x86_64-linux-gnu.so").write_bytes(b"\x7fELF")
    return asset


@pytest.mark.parametrize("source", [
    "try:\n    from . import _native\nexcept ImportError:\n    _native = None\n",
    "try:\n    from pkg._native import f\nexcept (OSError, ModuleNotFoundError):\n    f = None\n",
    "TYPE_CHECKING = False\nif TYPE_CHECKING:\n    from ._native import f\n",
], ids=["guarded", "guarded-absolute", "type-checking"])
def test_an_extension_imported_guarded_is_dropped(source: str, tmp_path: Path) -> None:
    asset = _package_importing(tmp_path, source)
    _drop_extensions(asset, (DroppedExtension("pkg._native", "test"),))
    assert not list((asset / "pkg").glob("_native*"))


@pytest.mark.parametrize("source", [
    "from . import _native\n",
    "try:\n    import pkg._native\nexcept ImportError:\n    raise\n",
    "try:\n    def load():\n        from . import _native\nexcept ImportError:\n    pass\n",
], ids=["unguarded", "re-raised", "in-a-function"])
def test_an_extension_its_package_needs_is_refused(source: str, tmp_path: Path) -> None:
    asset = _package_importing(tmp_path, source)
    with pytest.raises(BundlingError, match=r"pkg\._native: .*pkg/__init__\.py:\d"):
        _drop_extensions(asset, (DroppedExtension("pkg._native", "test"),))
    assert list((asset / "pkg").glob("_native*"))


def test_a_declared_extension_that_is_not_shipped_is_refused(tmp_path: Path) -> None:
    asset = _package_importing(tmp_path, "")
    with pytest.raises(BundlingError, match=r"pkg\._gone: declared as dropped"):
        _drop_extensions(asset, (DroppedExtension("pkg._gone", "test"),))


def test_dropped_extensions_change_the_fingerprint_and_reasons_do_not() -> None:
    plain = LambdaBundle(entry_module="filegate.handlers.verifier")
    dropping = LambdaBundle(entry_module="filegate.handlers.verifier",
                            dropped_extensions=(DroppedExtension("PIL._avif", "one reason"),))
    reworded = LambdaBundle(entry_module="filegate.handlers.verifier",
                            dropped_extensions=(DroppedExtension("PIL._avif", "another reason"),))
    assert plain.fingerprint() != dropping.fingerprint() == reworded.fingerprint()
