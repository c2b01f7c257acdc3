"""Listing cursors, merges and pages (``filegate.domain.listing``), pure: no AWS.

The oracles are built here: a cursor is ``v1.<payload>.<mac>`` per docs/lifecycle.md, so a test
recomputes the MAC with ``hmac`` itself; a merge is checked against ``sorted`` over the union.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from filegate.domain.errors import Reason, Refusal
from filegate.domain.listing import (
    Frontier,
    assemble_page,
    decode_cursor,
    encode_cursor,
    merge_newest_first,
    parse_limit,
    scope_digest,
)
from filegate.domain.records import FileRecord, Status

KEY = b"k" * 40
SCOPE = scope_digest(channel="user", subject="alice", org="acme", rule="")
boundaries = st.builds(lambda t, i: f"{t:011d}#{i}", st.integers(0, 10**11 - 1),
                       st.from_regex(r"[0-9a-f]{32}", fullmatch=True))


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def record(created_at: int, file_id: str) -> FileRecord:
    return FileRecord(file_id=file_id, key=f"private/users/a/cv/{file_id}.pdf", rule="cv", owner_sub="a",
                      filename="f.pdf", content_type="application/pdf", declared_size=1, status=Status.CLEAN,
                      created_at=created_at, updated_at=created_at)


def refused(cursor: str, *, key: bytes = KEY, scope: str = SCOPE) -> bool:
    try:
        decode_cursor(key, cursor, scope=scope)
    except Refusal as refusal:
        return refusal.reason is Reason.INVALID_CURSOR and refusal.status == 400
    return False


@given(boundary=boundaries)
def test_a_cursor_is_the_documented_format_and_round_trips(boundary: str) -> None:
    # Given a boundary / When a cursor is issued
    cursor = encode_cursor(KEY, boundary=boundary, scope=SCOPE)
    # Then it is v1.<payload>.<first 16 bytes of HMAC-SHA256(key, "v1." + payload)>, base64url unpadded
    version, payload, mac = cursor.split(".")
    assert version == "v1" and "=" not in cursor
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == {"b": boundary, "q": SCOPE}
    assert mac == b64(hmac.new(KEY, f"v1.{payload}".encode(), hashlib.sha256).digest()[:16])
    # And it decodes to its boundary for its own scope only
    assert decode_cursor(KEY, cursor, scope=SCOPE) == boundary
    assert refused(cursor, scope=scope_digest(channel="user", subject="bob", org="acme", rule=""))
    assert refused(cursor, key=b"x" * 40)


@given(boundary=boundaries, data=st.data())
def test_any_byte_flip_is_refused_never_a_page(boundary: str, data: st.DataObject) -> None:
    # Given a valid cursor / When any one byte of it changes to any other byte
    cursor = encode_cursor(KEY, boundary=boundary, scope=SCOPE).encode()
    index = data.draw(st.integers(0, len(cursor) - 1))
    replacement = data.draw(st.integers(0, 255).filter(lambda value: value != cursor[index]))
    tampered = (cursor[:index] + bytes([replacement]) + cursor[index + 1:]).decode("latin-1")
    # Then it is refused (400 invalid_cursor)
    assert refused(tampered)


@given(text=st.one_of(st.text(max_size=80), st.binary(max_size=80).map(lambda raw: raw.decode("latin-1"))))
def test_arbitrary_text_is_refused(text: str) -> None:
    assert refused(text)


def test_forged_cursors_are_refused() -> None:
    boundary = f"{1:011d}#{'a' * 32}"

    def forge(payload: object, *, key: bytes = KEY, version: str = "v1") -> str:
        encoded = b64(json.dumps(payload).encode())
        mac = hmac.new(key, f"{version}.{encoded}".encode(), hashlib.sha256).digest()[:16]
        return f"{version}.{encoded}.{b64(mac)}"

    # A correct MAC over the wrong shapes, versions or boundaries: all refused
    assert not refused(forge({"b": boundary, "q": SCOPE}))
    for payload in ({"b": boundary}, {"b": boundary, "q": SCOPE, "x": 1}, {"b": "1#" + "a" * 32, "q": SCOPE},
                    {"b": 1, "q": SCOPE}, [boundary, SCOPE], {"b": boundary, "q": SCOPE.upper()}):
        assert refused(forge(payload)), payload
    assert refused(forge({"b": boundary, "q": SCOPE}, version="v2"))
    good = forge({"b": boundary, "q": SCOPE})
    # Padding, extra parts, a truncated MAC, a longer MAC, an enormous cursor
    assert refused(good + "=") and refused(good + ".x") and refused(good[:-2]) and refused(good + "AA")
    assert refused("v1." + "A" * 600 + "." + "A" * 22)


@pytest.mark.parametrize(("raw", "limit"), [(None, 50), ("1", 1), ("100", 100), ("101", 100), ("999999", 100)])
def test_limits(raw: str | None, limit: int) -> None:
    assert parse_limit(raw) == limit


@pytest.mark.parametrize("raw", ["0", "-1", "", "abc", "1.5", " 5", "1e3", "+5", "0x10", "1" * 12])
def test_bad_limits_are_400(raw: str) -> None:
    with pytest.raises(Refusal) as refusal:
        parse_limit(raw)
    assert refusal.value.reason is Reason.INVALID_QUERY


streams = st.lists(st.tuples(st.integers(0, 50), st.sampled_from([f"{n:032x}" for n in range(12)])), max_size=15)


IDS = [f"{n:032x}" for n in range(12)]


@given(own=streams, org=streams, limit=st.integers(1, 6), admitted=st.sets(st.sampled_from(IDS)))
def test_pages_cover_the_union_newest_first_each_record_once(own: list[tuple[int, str]], org: list[tuple[int, str]],
                                                             limit: int, admitted: set[str]) -> None:
    # Given two streams of records (one file id always has one created_at: it is one record)
    created = {file_id: at for at, file_id in [*own, *org]}
    own_records = sorted({record(created[i], i) for _, i in own}, key=lambda r: r.listed_at, reverse=True)
    org_records = sorted({record(created[i], i) for _, i in org}, key=lambda r: r.listed_at, reverse=True)
    expected = sorted({r.listed_at: r for r in [*own_records, *org_records] if r.file_id in admitted}.values(),
                      key=lambda r: r.listed_at, reverse=True)
    # When paged through, each page resuming after the previous boundary
    seen: list[FileRecord] = []
    boundary: str | None = None
    for _ in range(50):
        page = assemble_page(merge_newest_first([r for r in own_records if boundary is None or r.listed_at < boundary],
                                                [r for r in org_records if boundary is None or r.listed_at < boundary]),
                             admit=lambda r: r.file_id in admitted, limit=limit)
        assert len(page.records) <= limit
        seen.extend(page.records)
        boundary = page.next_boundary
        if boundary is None:
            break
    # Then every admitted record appears once, newest first, and nothing else
    assert [r.file_id for r in seen] == [r.file_id for r in expected]


def test_a_frontier_ends_the_page_at_its_boundary() -> None:
    # Given a stream that stopped early (its query budget spent) at a boundary
    newer, older = record(30, "b" * 32), record(10, "c" * 32)
    stop = Frontier(listed_at=record(20, "d" * 32).listed_at)
    page = assemble_page(merge_newest_first([newer, stop], [older]), admit=lambda _r: True, limit=10)
    # Then the page holds what is newer than the frontier, and resumes there
    assert page.records == (newer,) and page.next_boundary == stop.listed_at
    # And a frontier with nothing admitted still moves the listing on
    page = assemble_page(merge_newest_first([newer, stop]), admit=lambda _r: False, limit=10)
    assert page.records == () and page.next_boundary == stop.listed_at
