"""What one mint costs, piece by piece, and the handlers with their record I/O set aside.

Called by ``bench_minting.py`` inside moto's in-process mock (``mock_aws``) with the environment
configured. The handlers run unchanged except for their file records: the table adapter is
swapped for ``PreloadedRecords``, a map of the records the real adapter read from the table once
(downloads) or an append-only list (uploads). Why: a record read or write through botocore costs
far more client CPU than everything else in a mint (``record_read_botocore_us`` measures it, with
the network left out: the request is built, signed and its answer parsed, but nothing is sent),
and the peers the goals compare with do no record I/O at all. Every other piece is the deployed
code: routing, validation, identity, rules, signing (ECDSA P-256, every mint signs), the audit
line and the metric line.

Pieces (µs per mint, each timed alone on the inputs of a download mint):
``routing`` (method and path to a route), ``validation`` (JSON body parsed and validated),
``identity`` (claims to an identity, groups read), ``rules`` (the rule that allows the key),
``signing`` (the policy signed), ``audit_log`` (the audit record built and written),
``metrics`` (the EMF line). The framework overhead is measured, not subtracted: the same handler
with a signer that answers one precomputed signature. ``envelope`` is what the named pieces
leave of it (event normalisation, the front door check, the file record check, the URL, the
response).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import statistics
from collections.abc import Callable, Sequence
from typing import Any

import support

SECONDS_PER_PIECE = 1.0


class PreloadedRecords:
    """The file records a benchmark's mints use, read once through the real adapter."""

    def __init__(self, records: dict[str, Any]) -> None:
        self._records = records
        self.written: list[Any] = []

    def get(self, file_id: str) -> Any:
        return self._records.get(file_id)

    def put_new(self, record: Any) -> None:
        self.written.append(record)

    def count_for_quota(self, *_: Any, **__: Any) -> int:  # pragma: no cover - the bench rule has no quota
        return 0


def _per_call_us(function: Callable[[int], Any], seconds: float = SECONDS_PER_PIECE) -> float:
    return 1e6 / support.rate(function, seconds)


def _with_runtime(module: Any, state: Any, measure: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``measure()`` with ``module.runtime()`` answering ``state``."""
    real = module.runtime
    module.runtime = lambda: state
    try:
        return measure()
    finally:
        module.runtime = real


def download_pieces(events: Sequence[dict[str, Any]], context: Any, reference: Callable[[int], Any]
                    ) -> dict[str, float]:
    """The download handler (records preloaded) per mint, with and without its signature, its
    rate beside ``reference``'s (the peer the goal names, in the same interleaved rounds), and its
    pieces (module docstring). A piece the code under test does not have (an older commit) is
    left out rather than guessed."""
    from filegate.adapters.files_table import FilesTable
    from filegate.domain.quarantine import file_id_of
    from filegate.handlers import downloads

    real = downloads.runtime()
    assert isinstance(real.files, FilesTable)
    keys = [json.loads(event["body"])["key"] for event in events]
    records = {file_id: real.files.get(file_id) for file_id in map(file_id_of, keys) if file_id}
    assert all(record is not None for record in records.values()), "every benchmark file has a clean record"
    state = dataclasses.replace(real, files=PreloadedRecords(records))
    signature = state.signing_key.sign(b"any policy")
    # The same runtime whose signer answers one precomputed signature: the handler without signing.
    unsigned = dataclasses.replace(state, signing_key=dataclasses.replace(state.signing_key,
                                                                          sign=lambda _message: signature))
    serving = {"state": state}

    def mint(index: int) -> Any:
        return downloads.handler(events[index % len(events)], context)

    def measure() -> dict[str, float]:
        with support.quiet_stdout():
            assert mint(0)["statusCode"] == 200
            rates = support.interleaved_rates({
                "handler": (lambda: serving.__setitem__("state", state), mint),
                "framework": (lambda: serving.__setitem__("state", unsigned), mint),
                "reference": (lambda: None, reference),
            })
        serving["state"] = state
        return {"handler": 1e6 / statistics.median(rates["handler"]),
                "framework": 1e6 / statistics.median(rates["framework"]),
                "reference_rate": statistics.median(rates["reference"]),
                "handler_vs_reference": support.median_ratio(rates["handler"], rates["reference"])}

    real_runtime = downloads.runtime
    downloads.runtime = lambda: serving["state"]
    try:
        measured = measure()
        measured.update(_pieces(events, context, state, keys))
    finally:
        downloads.runtime = real_runtime
    policy = ('{"Statement":[{"Resource":"' + support.cv_key(1) + '","Condition":{"DateLessThan":'
              '{"AWS:EpochTime":1800000000}}}]}').encode()
    measured["signing"] = _per_call_us(lambda i: state.signing_key.sign(policy))
    return measured


def _pieces(events: Sequence[dict[str, Any]], context: Any, state: Any, keys: list[str]) -> dict[str, float]:
    """Routing, validation, identity, rules, audit log and metrics, each timed alone."""
    from filegate.domain.keys import rule_for_key
    from filegate.handlers import common, downloads
    from filegate.handlers.models import DownloadRequest

    pieces: dict[str, float] = {}
    identity = common.jwt_identity(events[0], state.settings.groups)
    with support.quiet_stdout():
        pieces["identity"] = _per_call_us(lambda i: common.jwt_identity(events[0], state.settings.groups))
        pieces["rules"] = _per_call_us(lambda i: rule_for_key(state.rules, identity, keys[i % len(keys)]))
        try:
            from filegate.handlers.observability import request_log
            from filegate.handlers.routing import validated_body
        except ImportError:  # the code before issue 12: Powertools' resolver, logger and metrics
            return pieces
        audit_record = _audit_record(downloads.handler, events[0], context)
        pieces["routing"] = _per_call_us(lambda i: downloads.app.match("POST", common._routed_path(events[0])))
        pieces["validation"] = _per_call_us(lambda i: validated_body(DownloadRequest,
                                                                    json.loads(events[i % len(events)]["body"])))
        pieces["audit_log"] = _per_call_us(lambda i: _write_audit(common, audit_record))
        pieces["metrics"] = _per_call_us(lambda i: request_log.count("UrlsMinted", {"action": "download",
                                                                                   "rule": "cv"}))
    return pieces


def _audit_record(handler: Any, event: dict[str, Any], context: Any) -> Any:
    """A download's ``RequestAudit`` as its route leaves it, captured from one real mint."""
    from filegate.handlers import common

    captured: list[Any] = []
    real = common.write_audit

    def capture(status: int, **kwargs: Any) -> None:
        captured.append(dataclasses.replace(common.current_audit(), written=False))
        real(status, **kwargs)

    common.write_audit = capture  # type: ignore[assignment]
    try:
        handler(event, context)
    finally:
        common.write_audit = real
    return captured[0]


def _write_audit(common: Any, audit: Any) -> None:
    """The audit record built from ``audit`` and its line written (as ``write_audit``, less the metric)."""
    from filegate.handlers.observability import request_log

    request_log.audit(logging.INFO, common.audit_record(audit, 200))


def stored_item(files_table: str, file_id: str) -> dict[str, Any]:
    """The item DynamoDB (moto) returns for ``file_id``: what ``record_read_botocore_us`` answers with."""
    import boto3

    client = boto3.client("dynamodb", region_name=support.REGION)
    item: dict[str, Any] = client.get_item(TableName=files_table, Key={"file_id": {"S": file_id}},
                                           ConsistentRead=True)["Item"]
    return item


def botocore_record_read_us(files_table: str, file_id: str, item: dict[str, Any]) -> float:
    """µs per ``FilesTable.get`` through botocore, the network left out: the signed request goes
    no further than ``before-send``, which answers with ``item`` (call it outside moto's mock)."""
    import boto3
    from botocore.awsrequest import AWSResponse

    from filegate.adapters.dependency_config import dependency_config
    from filegate.adapters.files_table import FilesTable

    answer = json.dumps({"Item": item}).encode()

    class Body:
        def stream(self, **_: Any) -> Any:
            yield answer

    offline = boto3.session.Session(aws_access_key_id="bench", aws_secret_access_key="bench").client(
        "dynamodb", region_name=support.REGION, config=dependency_config())
    offline.meta.events.register("before-send", lambda request, **_: AWSResponse(
        request.url, 200, {"x-amzn-requestid": "bench"}, Body()))
    table = FilesTable(offline, files_table)
    assert table.get(file_id) is not None
    return _per_call_us(lambda i: table.get(file_id))


def upload_handler_preloaded(upload_event: dict[str, Any], context: Any, raw_post: Callable[[int], Any]
                             ) -> dict[str, float]:
    """Upload mints per second with the record write set aside (``PreloadedRecords.put_new``),
    beside a raw presigned POST's in the same interleaved rounds."""
    from filegate.handlers import uploads

    state = dataclasses.replace(uploads.runtime(), files=PreloadedRecords({}))

    def measure() -> dict[str, float]:
        with support.quiet_stdout():
            assert uploads.handler(upload_event, context)["statusCode"] == 201
            rates = support.interleaved_rates({
                "handler": (lambda: None, lambda i: uploads.handler(upload_event, context)),
                "raw": (lambda: None, raw_post),
            })
        return {"rate": statistics.median(rates["handler"]), "raw": statistics.median(rates["raw"]),
                "ratio": support.median_ratio(rates["handler"], rates["raw"])}

    return _with_runtime(uploads, state, measure)


def hot_path_fields(pieces: dict[str, float]) -> dict[str, float]:
    """Result fields ``hot_path_<piece>_us``, the framework overhead (the handler with its
    signature precomputed) and the envelope (what the named pieces leave of it)."""
    named = ("routing", "validation", "identity", "rules", "audit_log", "metrics")
    fields = {f"hot_path_{name}_us": pieces[name] for name in (*named, "signing") if name in pieces}
    if all(name in pieces for name in named):
        fields["hot_path_envelope_us"] = pieces["framework"] - sum(pieces[name] for name in named)
    fields.update({
        "hot_path_download_mint_us": pieces["handler"],
        "download_framework_overhead_excluding_signing_us": pieces["framework"],
    })
    if "record_read_botocore" in pieces:
        fields["record_read_botocore_us"] = pieces["record_read_botocore"]
    return fields


ROWS: tuple[tuple[str, str], ...] = (
    ("download mint, records preloaded (us)", "hot_path_download_mint_us"),
    ("  routing (us)", "hot_path_routing_us"),
    ("  validation (us)", "hot_path_validation_us"),
    ("  identity (us)", "hot_path_identity_us"),
    ("  rules (us)", "hot_path_rules_us"),
    ("  signing, ECDSA P-256 (us)", "hot_path_signing_us"),
    ("  audit log (us)", "hot_path_audit_log_us"),
    ("  metrics (us)", "hot_path_metrics_us"),
    ("  envelope: normalising, front door, record check, URL, response (us)", "hot_path_envelope_us"),
    ("framework overhead per download mint, excluding signing (us)",
     "download_framework_overhead_excluding_signing_us"),
    ("record read through botocore, network left out (us, not in the above)", "record_read_botocore_us"),
)


def rows(results: dict[str, Any]) -> list[support.Row]:
    return [(label, results[name], "") for label, name in ROWS if name in results]


