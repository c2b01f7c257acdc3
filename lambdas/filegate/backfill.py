"""Backfill of the listing attributes on records written before they existed (docs/lifecycle.md, "Upgrading").

``python -m filegate.backfill --table <files table> [--region R] [--segments N] [--rules-json FILE]``

Records written before ``listed_at`` / ``org_scope`` existed are in neither listing index
(``owner``, ``org``), so listing and erasure (which reads those indexes) do not find them. This
one-shot job finds them with a parallel Scan (``--segments`` workers, each one segment), filtered
on ``attribute_not_exists(listed_at) AND attribute_not_exists(tombstone)``, and sets on each:

- ``listed_at`` = ``f"{created_at:011d}#{file_id}"`` (``records.listed_at``);
- ``org_scope`` = ``owner_org_id``, for a rule whose template names ``{org_id}`` (and only when
  the record has an ``owner_org_id``).

Each write is conditional: ``listed_at`` still absent, no tombstone, and ``status`` and
``updated_at`` as scanned, so it never overwrites a record that changed meanwhile (a record that
moved on was rewritten by the current code, which sets ``listed_at`` itself). It is therefore
idempotent and resumable: a second run, or a run after an interrupted one, finds only what is
still missing. The rules come from ``FILEGATE_RULES`` (with ``FILEGATE_PLACEHOLDER_CLAIMS``), as in
the Lambdas, or from a ``--rules-json`` file holding the same JSON list.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from filegate.adapters.dynamodb import condition_failed
from filegate.domain.records import listed_at
from filegate.domain.rules import DEFAULT_PLACEHOLDER_CLAIMS, Rule, check_placeholder_claims, parse_rules

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

LISTED_AT = "listed_at"
ORG_SCOPE = "org_scope"
SCAN_FILTER = "attribute_not_exists(#l) AND attribute_not_exists(#t)"
SCAN_PAGE = 500


@dataclass
class Tally:
    scanned: int = 0
    updated: int = 0
    #: Changed since it was scanned (the current code wrote it): left alone.
    changed: int = 0
    #: Not a record this job can place (no ``created_at`` or ``status``).
    unusable: int = 0

    def add(self, other: Tally) -> None:
        self.scanned += other.scanned
        self.updated += other.updated
        self.changed += other.changed
        self.unusable += other.unusable

    def as_dict(self) -> dict[str, int]:
        return {"scanned": self.scanned, "updated": self.updated, "changed": self.changed,
                "unusable": self.unusable}


def load_rules(*, rules_json: str | None, environ: Mapping[str, str]) -> tuple[Rule, ...]:
    """The rules from a ``--rules-json`` file, else from ``FILEGATE_RULES`` (as the Lambdas read them)."""
    claims_raw = environ.get("FILEGATE_PLACEHOLDER_CLAIMS")
    claims = (check_placeholder_claims(json.loads(claims_raw), setting="FILEGATE_PLACEHOLDER_CLAIMS")
              if claims_raw else DEFAULT_PLACEHOLDER_CLAIMS)
    if rules_json is not None:
        with open(rules_json, encoding="utf-8") as source:
            return parse_rules(json.load(source), setting=rules_json, placeholder_claims=claims)
    raw = environ.get("FILEGATE_RULES")
    if not raw:
        raise SystemExit("the rules are needed: set FILEGATE_RULES or pass --rules-json")
    return parse_rules(json.loads(raw), setting="FILEGATE_RULES", placeholder_claims=claims)


def _text(item: Mapping[str, Any], name: str) -> str | None:
    value = item.get(name)
    return str(value["S"]) if isinstance(value, dict) and "S" in value else None


def _number(item: Mapping[str, Any], name: str) -> int | None:
    value = item.get(name)
    return int(value["N"]) if isinstance(value, dict) and "N" in value else None


def backfill_item(client: DynamoDBClient, table: str, item: Mapping[str, Any], org_rules: frozenset[str]) -> str:
    """One legacy record: ``updated``, ``changed`` (left alone) or ``unusable``."""
    file_id, status = _text(item, "file_id"), _text(item, "status")
    created_at, updated_at = _number(item, "created_at"), _number(item, "updated_at")
    if file_id is None or status is None or created_at is None:
        return "unusable"
    names = {"#l": LISTED_AT, "#t": "tombstone", "#s": "status", "#u": "updated_at"}
    values: dict[str, Any] = {":l": {"S": listed_at(created_at, file_id)}, ":s": {"S": status}}
    update = "SET #l = :l"
    org_id = _text(item, "owner_org_id")
    if _text(item, "rule") in org_rules and org_id is not None:
        names["#o"] = ORG_SCOPE
        values[":o"] = {"S": org_id}
        update += ", #o = :o"
    condition = "attribute_exists(file_id) AND " + SCAN_FILTER + " AND #s = :s AND "
    if updated_at is None:
        condition += "attribute_not_exists(#u)"
    else:
        condition += "#u = :u"
        values[":u"] = {"N": str(updated_at)}
    try:
        client.update_item(TableName=table, Key={"file_id": {"S": file_id}}, UpdateExpression=update,
                           ConditionExpression=condition, ExpressionAttributeNames=names,
                           ExpressionAttributeValues=values)
    except ClientError as error:
        if condition_failed(error):
            return "changed"
        raise
    return "updated"


def backfill_segment(client: DynamoDBClient, table: str, *, segment: int, segments: int,
                     org_rules: frozenset[str]) -> Tally:
    """One Scan segment to its end."""
    tally = Tally()
    request: dict[str, Any] = {"TableName": table, "Segment": segment, "TotalSegments": segments,
                               "FilterExpression": SCAN_FILTER, "Limit": SCAN_PAGE,
                               "ExpressionAttributeNames": {"#l": LISTED_AT, "#t": "tombstone"}}
    while True:
        response = client.scan(**request)
        for item in response.get("Items", []):
            tally.scanned += 1
            outcome = backfill_item(client, table, item, org_rules)
            setattr(tally, outcome, getattr(tally, outcome) + 1)
        start = response.get("LastEvaluatedKey")
        if not start:
            return tally
        request["ExclusiveStartKey"] = start


def backfill(client: DynamoDBClient, table: str, rules: Iterable[Rule], *, segments: int = 4) -> Tally:
    """Every legacy record of ``table``, ``segments`` Scan segments in parallel."""
    if not 1 <= segments <= 1_000_000:
        raise ValueError("segments must be 1 to 1000000")
    org_rules = frozenset(rule.name for rule in rules if rule.org_scoped)
    total = Tally()
    with ThreadPoolExecutor(max_workers=min(segments, 32)) as pool:
        for tally in pool.map(lambda segment: backfill_segment(client, table, segment=segment, segments=segments,
                                                               org_rules=org_rules), range(segments)):
            total.add(tally)
    return total


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m filegate.backfill", description=__doc__.split("\n", 1)[0])
    parser.add_argument("--table", required=True, help="the files table (FILEGATE_FILES_TABLE)")
    parser.add_argument("--region", default=None)
    parser.add_argument("--segments", type=int, default=4, help="parallel Scan segments (default 4)")
    parser.add_argument("--rules-json", default=None, help="a file with the rules' JSON list (else FILEGATE_RULES)")
    args = parser.parse_args(argv)
    rules = load_rules(rules_json=args.rules_json, environ=os.environ if environ is None else environ)
    client: DynamoDBClient = boto3.session.Session().client("dynamodb", region_name=args.region)
    tally = backfill(client, args.table, rules, segments=args.segments)
    print(json.dumps({"table": args.table, **tally.as_dict()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
