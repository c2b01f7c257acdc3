"""Who lists, reads and deletes what: generated worlds of records and callers (docs/lifecycle.md).

The oracle is built from how each record and caller was generated, never from
``records.owned_by`` or ``keys.key_in_rule``: a caller may see a record when one of the rule's
groups (written below by hand) is one of the caller's, and every claim the rule's template
names is the claim the record's creator had (``{sub}``: the same subject; ``{org_id}``: the same
org); where the template names no claim (a shared space), the caller is the creator. It lists
the records it may see that it created itself or that belong to its org. It
deletes what it may see where the rule has ``delete``. Every listing is paged to the end, every
cursor it receives is also tampered with and replayed by another caller: never a page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3
from conftest import FILES_TABLE, REGION, Minting, body
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lifecycle_helpers import delete, get, put_file, user

#: The design's rules, by hand: which groups each admits, which claims its template names, delete.
GROUPS = {"cv": {"careers"}, "certificate": {"careers"}, "business-registration": {"org"}, "marketing": {"marketing"}}
CLAIMS = {"cv": ("sub",), "certificate": ("sub",), "business-registration": ("org_id",), "marketing": ()}
DELETES = {"cv", "business-registration", "marketing"}


@dataclass(frozen=True)
class Caller:
    sub: str
    groups: frozenset[str]
    org_id: str | None

    def claims(self) -> dict[str, Any]:
        return user(self.sub, *sorted(self.groups), org_id=self.org_id)


@dataclass(frozen=True)
class Made:
    file_id: str
    rule: str
    creator: Caller


callers = st.builds(Caller, st.sampled_from(["alice", "bob", "carol"]),
                    st.frozensets(st.sampled_from(["careers", "org", "marketing"])),
                    st.sampled_from(["acme", "evil", None]))
worlds = st.lists(st.tuples(callers, st.sampled_from(sorted(GROUPS)), st.integers(0, 1000)), min_size=1, max_size=8)


def sees(viewer: Caller, made: Made) -> bool:
    if not GROUPS[made.rule] & viewer.groups:
        return False
    if not CLAIMS[made.rule]:  # a shared space: only the one who uploaded it
        return viewer.sub == made.creator.sub
    return all(getattr(viewer, claim) == getattr(made.creator, claim) for claim in CLAIMS[made.rule])


def listed(viewer: Caller, made: Made) -> bool:
    return sees(viewer, made) and (made.creator.sub == viewer.sub or "org_id" in CLAIMS[made.rule])


def clear_table() -> None:
    table = boto3.resource("dynamodb", region_name=REGION).Table(FILES_TABLE)
    with table.batch_writer() as batch:
        for item in table.scan(ProjectionExpression="file_id")["Items"]:
            batch.delete_item(Key={"file_id": item["file_id"]})


def flip(cursor: str, index: int) -> str:
    char = cursor[index % len(cursor)]
    replacement = "A" if char != "A" else "B"
    position = index % len(cursor)
    return cursor[:position] + replacement + cursor[position + 1:]


def list_all(life: Minting, viewer: Caller, limit: int, others: list[Caller]) -> list[str]:
    found: list[str] = []
    query = f"limit={limit}"
    for page_number in range(50):
        response = life.file(get("/files", viewer.claims(), query=query))
        assert response["statusCode"] == 200, response["body"]
        page = body(response)
        found += [item["file_id"] for item in page["files"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return found
        # A tampered cursor, and this cursor replayed by a caller of another scope: both 400
        tampered = life.file(get("/files", viewer.claims(), query=f"limit={limit}&cursor={flip(cursor, page_number)}"))
        assert tampered["statusCode"] == 400
        for other in others:
            if other.sub != viewer.sub:
                replayed = life.file(get("/files", other.claims(), query=f"limit={limit}&cursor={cursor}"))
                assert replayed["statusCode"] == 400
                break
        query = f"limit={limit}&cursor={cursor}"
    raise AssertionError("the listing did not end")


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(world=worlds, viewers=st.lists(callers, min_size=1, max_size=4), limit=st.integers(1, 3),
       attempts=st.lists(st.tuples(st.integers(0, 3), st.integers(0, 7)), max_size=4))
def test_no_caller_lists_reads_or_deletes_outside_its_rules(life: Minting, world: list[tuple[Caller, str, int]],
                                                            viewers: list[Caller], limit: int,
                                                            attempts: list[tuple[int, int]]) -> None:
    # Given records, each made by one caller under one rule
    clear_table()
    made: list[Made] = []
    for creator, rule, offset in world:
        if "org_id" in CLAIMS[rule] and creator.org_id is None:
            continue  # such a caller cannot build that rule's key
        item = put_file(rule, sub=creator.sub, org_id=creator.org_id, created_at=1_800_000_000 + offset,
                        with_object=False)
        made.append(Made(item["file_id"], rule, creator))
    everyone = [*viewers, *[entry.creator for entry in made]]
    for viewer in viewers:
        # When the caller lists every page / Then exactly what the oracle allows, each once
        found = list_all(life, viewer, limit, everyone)
        assert len(found) == len(set(found))
        assert set(found) == {entry.file_id for entry in made if listed(viewer, entry)}, viewer
        # And reads answer 200 exactly where the oracle says so, else 404
        for entry in made:
            status = life.file(get(f"/files/{entry.file_id}", viewer.claims()))["statusCode"]
            assert status == (200 if sees(viewer, entry) else 404), (viewer, entry)
    # When callers try to delete / Then 204 only where they see it and the rule deletes; 403 where
    # they see it but may not delete; 404 where they do not see it
    gone: set[str] = set()
    for viewer_index, record_index in attempts:
        if not made:
            break
        viewer, entry = viewers[viewer_index % len(viewers)], made[record_index % len(made)]
        status = life.delete(delete(f"/files/{entry.file_id}", viewer.claims()))["statusCode"]
        if entry.file_id in gone:
            assert status == 204  # a tombstone: the retry of a delete
        elif not sees(viewer, entry):
            assert status == 404, (viewer, entry)
        elif entry.rule not in DELETES:
            assert status == 403, (viewer, entry)
        else:
            assert status == 204, (viewer, entry)
            gone.add(entry.file_id)
