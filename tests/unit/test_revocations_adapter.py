"""``EdgeRevocations`` writes and expires the edge's deny list through boto3's real client.

The client is ``revocations_client`` as the Lambdas build it, pointed at a ``local/keyvaluestore.py``
stand-in on 127.0.0.1 the way local mode points it (an unresolvable endpoint host, the stand-in as
``HTTP_PROXY``, ``NO_PROXY`` for the loopback): botocore's endpoint rules, SigV4A signing (awscrt),
the rest-json shapes and error parsing are all the real ones. Other writers are simulated by
changing the store between the adapter's calls.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest

from filegate.adapters.revocations import (
    CONFLICT_ATTEMPTS,
    CONFLICT_BASE_SECONDS,
    CONFLICT_CAP_SECONDS,
    MAX_BATCH,
    EdgeRevocations,
    RevocationUnavailable,
    revocations_client,
)
from local.keyvaluestore import PROXY_HOST, KeyValueStores, Store, new_etag, serve_in_thread

ARN = "arn:aws:cloudfront::123456789012:key-value-store/8562a61f-caba-4845-9d99-b97d1bae5d3c"
REGION = "eu-west-1"
NOW = 1_800_000_000


@dataclass
class Kvs:
    stores: KeyValueStores
    store: Store
    client: Any
    revocations: EdgeRevocations
    calls: list[str] = field(default_factory=list)
    #: The back-off waits asked for (none really slept).
    waits: list[float] = field(default_factory=list)

    def on(self, operation: str, hook: Any) -> None:
        self.client.meta.events.register(f"before-call.cloudfront-keyvaluestore.{operation}", hook)


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[KeyValueStores, int]]:
    stores = KeyValueStores([ARN])
    server = serve_in_thread(stores)
    yield stores, server.server_address[1]
    server.shutdown()
    server.server_close()


def _point_at(monkeypatch: pytest.MonkeyPatch, proxy_port: int) -> None:
    for name, value in {
        "AWS_ENDPOINT_URL_CLOUDFRONT_KEYVALUESTORE": f"http://{PROXY_HOST}",
        "HTTP_PROXY": f"http://127.0.0.1:{proxy_port}", "NO_PROXY": "127.0.0.1,localhost",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


@pytest.fixture
def kvs(standin: tuple[KeyValueStores, int], monkeypatch: pytest.MonkeyPatch) -> Kvs:
    stores, port = standin
    _point_at(monkeypatch, port)
    store = stores.create(ARN)
    store.items.clear()
    client = revocations_client(boto3.session.Session(), REGION)
    waits: list[float] = []
    found = Kvs(stores, store, client, EdgeRevocations(client, ARN, sleep=waits.append), waits=waits)

    def count(event_name: str, **_: Any) -> None:
        found.calls.append(event_name.rsplit(".", 1)[1])

    client.meta.events.register("before-call.cloudfront-keyvaluestore.*", count)
    return found


def test_revoke_writes_until_for_every_name(kvs: Kvs) -> None:
    etag = kvs.store.etag
    kvs.revocations.revoke(["private/users/u1/cv/a.pdf", "private/orgs/acme/"], until=NOW + 3600)
    assert kvs.store.items == {"private/users/u1/cv/a.pdf": str(NOW + 3600), "private/orgs/acme/": str(NOW + 3600)}
    assert kvs.store.etag != etag
    assert kvs.calls == ["DescribeKeyValueStore", "UpdateKeys"]
    assert kvs.stores.last_auth_scheme == "AWS4-ECDSA-P256-SHA256"  # SigV4A, signed by awscrt


def test_revoke_again_replaces_the_entry(kvs: Kvs) -> None:
    kvs.revocations.revoke(["private/orgs/acme/"], until=NOW)
    kvs.revocations.revoke(["private/orgs/acme/"], until=NOW + 10)
    assert kvs.store.items == {"private/orgs/acme/": str(NOW + 10)}


def test_many_names_go_in_batches_within_the_api_limit(kvs: Kvs) -> None:
    names = [f"private/users/u{n}/cv/f.pdf" for n in range(2 * MAX_BATCH + 7)]
    kvs.revocations.revoke([*names, names[0]], until=NOW)  # a repeated name is written once
    assert set(kvs.store.items) == set(names)
    assert kvs.calls.count("UpdateKeys") == 3


def test_a_conflict_reads_the_etag_again_and_retries(kvs: Kvs) -> None:
    # Given another writer that changes the store between our describe and our update, twice
    interruptions = [2]

    def other_writer(**_: Any) -> None:
        if interruptions[0]:
            interruptions[0] -= 1
            kvs.store.items["someone/else"] = "1"
            kvs.store.etag = new_etag()

    kvs.on("UpdateKeys", other_writer)
    kvs.revocations.revoke(["private/users/u1/cv/a.pdf"], until=NOW)
    # Then the third attempt lands, and the other writer's entry is kept (UpdateKeys is a merge)
    assert kvs.store.items == {"someone/else": "1", "private/users/u1/cv/a.pdf": str(NOW)}
    assert kvs.calls.count("UpdateKeys") == 3 and kvs.calls.count("DescribeKeyValueStore") == 3


def test_conflicts_without_end_are_unavailable(kvs: Kvs) -> None:
    def other_writer(**_: Any) -> None:
        kvs.store.etag = new_etag()

    kvs.on("UpdateKeys", other_writer)
    with pytest.raises(RevocationUnavailable, match="ConflictException"):
        kvs.revocations.revoke(["private/users/u1/cv/a.pdf"], until=NOW)
    assert kvs.calls.count("UpdateKeys") == CONFLICT_ATTEMPTS
    assert kvs.store.items == {}
    # (after a jittered, capped, growing wait between attempts)
    assert len(kvs.waits) == CONFLICT_ATTEMPTS - 1
    assert all(0 <= wait <= min(CONFLICT_CAP_SECONDS, CONFLICT_BASE_SECONDS * 2 ** n)
               for n, wait in enumerate(kvs.waits))


def test_concurrent_writers_back_off_and_all_land() -> None:
    """Review finding 7: many deletes revoking at once all contend for the store's one ETag."""
    import random
    import threading
    import time

    from botocore.exceptions import ClientError

    class ContendedStore:
        """One write per ETag, with the service's round trips (a few ms here, scaled down)."""

        def __init__(self) -> None:
            self.lock, self.etag, self.items = threading.Lock(), 0, {}

        def describe_key_value_store(self, KvsARN: str) -> dict[str, str]:
            time.sleep(random.uniform(0.002, 0.005))
            return {"ETag": str(self.etag)}

        def update_keys(self, KvsARN: str, IfMatch: str, Puts: Any, Deletes: Any) -> dict[str, str]:
            time.sleep(random.uniform(0.005, 0.015))
            with self.lock:
                if IfMatch != str(self.etag):
                    raise ClientError({"Error": {"Code": "ConflictException", "Message": "etag"}}, "UpdateKeys")
                self.etag += 1
                self.items.update({put["Key"]: put["Value"] for put in Puts})
            return {"ETag": str(self.etag)}

    # Given ten deletes revoking their keys at the same moment, with the back-off scaled like the calls
    store = ContendedStore()
    revocations = EdgeRevocations(store, ARN, sleep=lambda seconds: time.sleep(seconds / 10))  # type: ignore[arg-type]
    failed: list[int] = []

    def one(n: int) -> None:
        try:
            revocations.revoke([f"private/users/u{n}/cv/x.pdf"], until=NOW)
        except RevocationUnavailable:
            failed.append(n)

    threads = [threading.Thread(target=one, args=(n,)) for n in range(10)]
    # When they all run
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Then every one of them landed (none answered 503)
    assert failed == [] and len(store.items) == 10


def test_a_name_over_512_bytes_is_refused_before_anything_is_written(kvs: Kvs) -> None:
    with pytest.raises(ValueError, match="512 bytes"):
        kvs.revocations.revoke(["private/ok/", "private/" + "é" * 260], until=NOW)
    with pytest.raises(ValueError, match="512 bytes"):
        kvs.revocations.revoke([""], until=NOW)
    assert kvs.calls == [] and kvs.store.items == {}


def test_an_unknown_store_is_unavailable(kvs: Kvs) -> None:
    other = EdgeRevocations(kvs.client, ARN.replace("8562a61f", "00000000"))
    with pytest.raises(RevocationUnavailable):
        other.revoke(["private/a/"], until=NOW)
    with pytest.raises(RevocationUnavailable):
        other.expire(now=NOW)


def test_an_unreachable_store_is_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    # No stand-in behind the proxy address (a closed port): a connection error, not a pass
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    _point_at(monkeypatch, closed_port)
    revocations = EdgeRevocations(revocations_client(boto3.session.Session(), REGION), ARN)
    started = time.monotonic()
    with pytest.raises(RevocationUnavailable):
        revocations.revoke(["private/a/"], until=NOW)
    with pytest.raises(RevocationUnavailable):
        revocations.expire(now=NOW)
    assert time.monotonic() - started < 8  # the dependency config's short timeouts


def test_a_service_error_is_unavailable(kvs: Kvs) -> None:
    kvs.store.items.update({f"filler/{n}": "x" * 1000 for n in range(5300)})  # ~5.3 MB: over the 5 MB quota
    with pytest.raises(RevocationUnavailable, match="ServiceQuotaExceeded"):
        kvs.revocations.revoke(["private/a/"], until=NOW)


def test_expire_deletes_passed_entries_across_pages(kvs: Kvs) -> None:
    passed = {f"private/users/u{n}/cv/f.pdf": str(NOW - n) for n in range(70)}
    kept = {"private/orgs/acme/": str(NOW + 1), "private/users/later/": str(NOW + 900)}
    kvs.store.items.update({**passed, **kept, "private/users/now/": str(NOW), "manual/entry": "forever"})
    deleted = kvs.revocations.expire(now=NOW)
    assert deleted == 71  # until <= now: "not later than now"
    assert kvs.store.items == {**kept, "manual/entry": "forever"}
    assert kvs.calls.count("ListKeys") == 2  # 50 a page
    assert kvs.calls.count("UpdateKeys") == 2  # 50 names an update
    # Then again: nothing left to do
    kvs.calls.clear()
    assert kvs.revocations.expire(now=NOW) == 0
    assert "UpdateKeys" not in kvs.calls


def test_expire_keeps_a_name_revoked_again_after_it_was_listed(kvs: Kvs) -> None:
    kvs.store.items.update({"private/users/u1/cv/a.pdf": str(NOW - 5), "private/users/u2/cv/b.pdf": str(NOW - 5)})
    revoked_again = [False]

    def delete_happens_meanwhile(**_: Any) -> None:
        if not revoked_again[0]:  # after ListKeys, before the expiry's update: a new delete revokes a.pdf
            revoked_again[0] = True
            kvs.store.items["private/users/u1/cv/a.pdf"] = str(NOW + 3600)
            kvs.store.etag = new_etag()

    kvs.on("DescribeKeyValueStore", delete_happens_meanwhile)
    assert kvs.revocations.expire(now=NOW) == 1
    assert kvs.store.items == {"private/users/u1/cv/a.pdf": str(NOW + 3600)}
