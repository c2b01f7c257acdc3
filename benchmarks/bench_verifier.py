"""Verifier content-check benchmarks: what ``filegate.domain.content`` costs per file and per cold start.

Run: ``python benchmarks/bench_verifier.py`` (``make bench``). In-process, no network, bounded
(about half a minute). Prints a table and writes ``benchmarks/results/verifier.json``.

Figures:
1. ``inspect_content`` throughput (files/s and MiB/s) on a 1 MiB PDF (a text page plus an
   uncompressed image of noise, padded to exactly 1 MiB), a ~1 MiB DOCX (1 MB of text in
   ``word/document.xml`` plus a noise PNG under ``word/media/``), a 1-megapixel PNG and a
   1-megapixel JPEG (both photo-like gradients with noise; images are decoded *and re-encoded*);
2. cold import (fresh interpreter, median of several runs) of ``filegate.domain.content``
   alone, of it plus ``preload()`` (every parser: what a Lambda pays if it preloads in its init
   phase), and of it plus one first PDF inspection; against ``import boto3`` plus one client
   (from the source tree, the virtualenv's interpreter);
3. the verifier's Lambda-like cold start (``benchmarks/lambda_like.py``): its built asset,
   read-only, the runtime's variables and libraries, init plus a first invocation (an SQS batch
   with S3's Object Created and GuardDuty's clean verdict for a PDF, which it promotes), median of
   several fresh children; the asset's zipped size and a ``-X importtime`` top 10 (``lambda_like_*``).
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lambda_like
import support
from cold_import import cold_import as timed_cold_import

ROOT = Path(__file__).resolve().parents[1]
LAMBDAS = ROOT / "lambdas"
sys.path[:0] = [str(LAMBDAS), str(ROOT / "tests" / "unit")]
RESULTS = ROOT / "benchmarks" / "results" / "verifier.json"
MIB = 1024 * 1024
SECONDS_PER_RATE = 2.0
IMPORT_RUNS = 7


def rate(function: Callable[[], Any], seconds: float = SECONDS_PER_RATE) -> float:
    """Calls per second of ``function()`` over about ``seconds`` (after a warm-up call)."""
    return support.rate(lambda _index: function(), seconds, warmup=1, batch=1)


def pdf_1mib() -> bytes:
    import samples

    return samples.pdf(text="Curriculum vitae: ten years of building things", pad_to=MIB)


def docx_about_1mib() -> bytes:
    import samples

    rng = random.Random(3)
    words = ["design", "build", "ship", "measure", "team", "customer", "python", "cloud", "storage", "secure",
             "review", "deliver", "mentor", "scale", "reliable", "incident", "budget", "roadmap"]
    paragraphs = []
    size = 0
    while size < 1_000_000:
        text = " ".join(rng.choice(words) for _ in range(40))
        paragraph = f"<w:p><w:r><w:t>{text}</w:t></w:r></w:p>"
        paragraphs.append(paragraph)
        size += len(paragraph)
    document = ('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
                + "".join(paragraphs) + "</w:body></w:document>").encode()
    parts = samples.ooxml_parts(samples.DOCX)
    parts["word/document.xml"] = document
    parts["word/_rels/document.xml.rels"] = samples.relationships([("image", "media/image1.png", None)])
    text_only = len(samples.zip_bytes(parts))
    side = int(((MIB - text_only) / 3) ** 0.5)
    parts["word/media/image1.png"] = samples.png(side, side, seed=5)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def photo_like(width: int, height: int) -> Any:
    """A gradient with mild noise: compresses like a photo, not like a flat fill or pure noise."""
    from PIL import Image, ImageChops

    gradient = Image.linear_gradient("L").resize((width, height))
    base = Image.merge("RGB", (gradient, gradient.rotate(90), gradient.transpose(Image.Transpose.FLIP_LEFT_RIGHT)))
    noise = Image.effect_noise((width, height), 12).convert("RGB")
    return ImageChops.add(base, noise, scale=1.2)


def image_1mp(fmt: str) -> bytes:
    out = io.BytesIO()
    params: dict[str, Any] = {"quality": 90} if fmt == "JPEG" else {}
    photo_like(1000, 1000).save(out, fmt, **params)
    return out.getvalue()


def throughput() -> dict[str, Any]:
    from filegate.domain.content import inspect_content

    samples: dict[str, tuple[str, bytes]] = {
        "pdf_1mib": ("application/pdf", pdf_1mib()),
        "docx_1mib": ("application/vnd.openxmlformats-officedocument.wordprocessingml.document", docx_about_1mib()),
        "png_1mp": ("image/png", image_1mp("PNG")),
        "jpeg_1mp": ("image/jpeg", image_1mp("JPEG")),
    }
    results: dict[str, Any] = {}
    for name, (declared, data) in samples.items():
        result = inspect_content(data, declared_type=declared, declared_size=len(data), max_bytes=20 * MIB)
        assert result.reason is None, (name, result.note)
        per_second = rate(lambda d=data, t=declared: inspect_content(d, declared_type=t, declared_size=len(d),
                                                                     max_bytes=20 * MIB))
        results[f"{name}_bytes"] = len(data)
        results[f"{name}_files_per_s"] = per_second
        results[f"{name}_mib_per_s"] = per_second * len(data) / MIB
        results[f"{name}_ms_per_file"] = 1000 / per_second
    return results


def cold_import(code: str, env: dict[str, str]) -> float:
    return timed_cold_import(code, env, runs=IMPORT_RUNS)


def cold_imports() -> dict[str, Any]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("FILEGATE_", "AWS_ENDPOINT"))}
    env.update({"PYTHONPATH": str(LAMBDAS), "AWS_DEFAULT_REGION": "ap-southeast-1", "AWS_ACCESS_KEY_ID": "bench",
                "AWS_SECRET_ACCESS_KEY": "bench"})
    first_pdf = ("import filegate.domain.content as c\n"
                 "import sys; sys.path.insert(0, 'tests/unit'); import samples\n"
                 "data = samples.pdf()\n"
                 "started = time.perf_counter()\n"
                 "c.inspect_content(data, declared_type='application/pdf', declared_size=len(data), max_bytes=1 << 20)")
    content_own = ("import filegate.domain.records\n"
                   "started = time.perf_counter()\n"
                   "import filegate.domain.content")
    results = {
        "import_content_own_s": cold_import(content_own, env),
        "import_boto3_plus_one_client_s": cold_import(
            "import boto3; boto3.client('s3', region_name='ap-southeast-1')", env),
        "import_records_s": cold_import("import filegate.domain.records", env),
        "import_content_s": cold_import("import filegate.domain.content", env),
        "import_content_preload_s": cold_import("import filegate.domain.content as c; c.preload()", env),
        # the verifier Lambda's entry point as Lambda imports it (Powertools, boto3, adapters; no clients)
        "import_verifier_handler_s": cold_import("import filegate.handlers.verifier", env),
        # time of the first inspection only (parsers load lazily inside it), after the module import
        "first_pdf_inspection_s": cold_import(first_pdf, env),
    }
    baseline = results["import_boto3_plus_one_client_s"]
    for name in ("content", "content_preload", "verifier_handler"):
        results[f"import_{name}_vs_boto3"] = results[f"import_{name}_s"] / baseline
    return results


def lambda_like_cold_start() -> dict[str, Any]:
    """The verifier as Lambda starts it (``lambda_like``): init, first invocation, asset size, importtime."""
    return lambda_like.lambda_like_cold_starts([lambda_like.verifier_function()], runs=IMPORT_RUNS)


def main() -> None:
    started = time.perf_counter()
    results = {**throughput(), **cold_imports(), **lambda_like_cold_start()}
    results["total_seconds"] = time.perf_counter() - started
    results.update(support.machine())
    rows: list[tuple[str, float, str]] = []
    for name, label in (("pdf_1mib", "1 MiB PDF"), ("docx_1mib", "~1 MiB DOCX"), ("png_1mp", "1 MP PNG"),
                        ("jpeg_1mp", "1 MP JPEG")):
        rows.append((f"inspect_content, {label} ({results[f'{name}_bytes']:,} bytes), files/s",
                     results[f"{name}_files_per_s"], ""))
        rows.append(("  MiB/s", results[f"{name}_mib_per_s"], ""))
    rows += [
        ("cold import: boto3 + one client (ms)", results["import_boto3_plus_one_client_s"] * 1000, ""),
        ("cold import: filegate.domain.records (ms)", results["import_records_s"] * 1000, ""),
        ("cold import: filegate.domain.content (ms)", results["import_content_s"] * 1000, ""),
        ("  of which content itself, after records (ms)", results["import_content_own_s"] * 1000, ""),
        ("  ratio / boto3 + one client", results["import_content_vs_boto3"], "x"),
        ("cold import: content + preload(), every parser (ms)", results["import_content_preload_s"] * 1000, ""),
        ("  ratio / boto3 + one client", results["import_content_preload_vs_boto3"], "x"),
        ("cold import: filegate.handlers.verifier (ms)", results["import_verifier_handler_s"] * 1000, ""),
        ("  ratio / boto3 + one client", results["import_verifier_handler_vs_boto3"], "x"),
        ("first PDF inspection after import, lazy parsers (ms)", results["first_pdf_inspection_s"] * 1000, ""),
        *lambda_like.table_rows(results, ["verifier"]),
    ]
    support.print_table(f"filegate verifier benchmarks (Python {results['python']}, {results['machine']}; "
                        f"Lambda-like asset {results['lambda_like_asset_platform']})", rows)
    for line in lambda_like.importtime_lines(results, ["verifier"]):
        print(line)
    print(f"total {results['total_seconds']:.1f} s; written to {support.relative(RESULTS)}")
    support.write_results(RESULTS, results)


if __name__ == "__main__":
    main()
