"""``edge/revocation.js`` refuses what the deny list names, and nothing else.

The function runs as the local edge runs it: unchanged, under Node, in ``local/edge_function.mjs``,
reading a ``local/keyvaluestore.py`` stand-in started here on 127.0.0.1. Entries are written straight
into the stand-in's store (not through the adapter under test elsewhere).
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest

from local.edge_function import (
    FUNCTION_FILE,
    FunctionFailed,
    FunctionHost,
    FunctionResult,
    host_argv,
    viewer_request_event,
)
from local.keyvaluestore import KeyValueStores, Store, serve_in_thread

ARN = "arn:aws:cloudfront::123456789012:key-value-store/8562a61f-caba-4845-9d99-b97d1bae5d3c"
ALICE_CV = "private/users/alice/cv/0123456789abcdef0123456789abcdef.pdf"
DENIED_BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code>'
               b"<Message>Access denied</Message></Error>")


@dataclass
class Edge:
    host: FunctionHost
    stores: KeyValueStores
    store: Store

    def run(self, uri: str, **extra: Any) -> FunctionResult:
        event = viewer_request_event(method="GET", raw_path=uri, raw_query=extra.get("query", ""),
                                     headers=[("Host", "d111111abcdef8.cloudfront.net")], cookies={},
                                     viewer_ip="192.0.2.1", distribution_id="EDFDVBD6EXAMPLE",
                                     domain_name="d111111abcdef8.cloudfront.net")
        return self.host.run(event)

    def revoke(self, name: str, until: int | str) -> None:
        self.store.items[name] = str(until)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def host() -> Iterator[tuple[FunctionHost, KeyValueStores]]:
    stores = KeyValueStores([ARN])
    server = serve_in_thread(stores)
    port = _free_port()
    process = subprocess.Popen(host_argv(port=port, kvs_url=f"http://127.0.0.1:{server.server_address[1]}",
                                         kvs_arn=ARN), stdout=subprocess.DEVNULL)
    client = FunctionHost(f"http://127.0.0.1:{port}")
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the Node function host did not start") from None
            time.sleep(0.05)
    yield client, stores
    process.terminate()
    process.wait(timeout=10)
    server.shutdown()
    server.server_close()


@pytest.fixture
def edge(host: tuple[FunctionHost, KeyValueStores]) -> Iterator[Edge]:
    client, stores = host
    store = stores.create(ARN)
    store.items.clear()
    stores.get_key_error = False
    yield Edge(client, stores, store)
    store.items.clear()
    stores.get_key_error = False


def assert_refused(result: FunctionResult) -> None:
    assert result.request is None and result.response is not None
    response = result.response
    assert response.status == 403
    assert response.body == DENIED_BODY
    headers = {name.lower(): value for name, value in response.headers}
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"] == "text/xml"


def assert_passed(result: FunctionResult, uri: str) -> None:
    assert result.response is None and result.request is not None
    assert result.request["uri"] == uri  # returned unchanged


def test_the_function_fits_cloudfront_functions_limits() -> None:
    source = FUNCTION_FILE.read_bytes()
    assert len(source) <= 10 * 1024
    assert source.splitlines()[0] == b"import cf from 'cloudfront';"
    assert b"require(" not in source and source.count(b"import ") == 1


def test_a_request_with_no_entry_passes_unchanged(edge: Edge) -> None:
    assert_passed(edge.run(f"/{ALICE_CV}", query="Expires=1&Signature=x&Key-Pair-Id=K1"), f"/{ALICE_CV}")


def test_a_revoked_key_is_refused_until_its_until(edge: Edge) -> None:
    edge.revoke(ALICE_CV, int(time.time()) + 3600)
    assert_refused(edge.run(f"/{ALICE_CV}"))
    # Another file next to it is not
    other = ALICE_CV.replace("0123", "9999")
    assert_passed(edge.run(f"/{other}"), f"/{other}")


def test_an_expired_entry_is_ignored(edge: Edge) -> None:
    edge.revoke(ALICE_CV, int(time.time()) - 1)
    assert_passed(edge.run(f"/{ALICE_CV}"), f"/{ALICE_CV}")


@pytest.mark.parametrize("prefix", ["private/", "private/users/", "private/users/alice/", "private/users/alice/cv/"])
def test_a_revoked_prefix_refuses_everything_under_it(edge: Edge, prefix: str) -> None:
    edge.revoke(prefix, int(time.time()) + 60)
    assert_refused(edge.run(f"/{ALICE_CV}"))


def test_a_sibling_prefix_is_not_revoked(edge: Edge) -> None:
    # "private/orgs/acme/" covers acme's files, never "acme-corp" or "acmex" (prefixes end at a "/")
    until = int(time.time()) + 60
    edge.revoke("private/orgs/acme/", until)
    edge.revoke("private/orgs/acme", until)  # a name without the slash is a key, not a prefix
    assert_refused(edge.run("/private/orgs/acme/registration/a.pdf"))
    for uri in ("/private/orgs/acme-corp/registration/a.pdf", "/private/orgs/acmex/registration/a.pdf"):
        assert_passed(edge.run(uri), uri)


def test_an_encoded_uri_is_decoded_once_as_s3_decodes_it(edge: Edge) -> None:
    edge.revoke(ALICE_CV, int(time.time()) + 60)
    # Encoded slashes and letters name the same S3 key: refused
    for uri in ("/" + quote(ALICE_CV, safe=""), "/private%2Fusers/alice/cv/" + ALICE_CV.rsplit("/", 1)[1],
                "/pri%76ate/users/alice/cv/" + ALICE_CV.rsplit("/", 1)[1]):
        assert_refused(edge.run(uri))
    # A doubly encoded one names another key ("private%2Fusers/..." literally): not this entry
    doubled = "/private%252Fusers/alice/cv/" + ALICE_CV.rsplit("/", 1)[1]
    assert_passed(edge.run(doubled), doubled)


def test_a_non_ascii_key_matches_its_entry(edge: Edge) -> None:
    key = "private/users/zoë/cv/résumé.pdf"
    edge.revoke("private/users/zoë/", int(time.time()) + 60)
    assert_refused(edge.run("/" + quote(key)))


@pytest.mark.parametrize("uri", ["/%E0%A4%A", "/private/users/alice/%", "/%C0%AF", "/%ED%A0%80"])
def test_a_malformed_uri_is_refused(edge: Edge, uri: str) -> None:
    assert_refused(edge.run(uri))


def test_a_store_error_refuses(edge: Edge) -> None:
    # Given a store that answers every read with an error (not "not found")
    edge.stores.get_key_error = True
    # Then nothing passes: the function fails closed
    assert_refused(edge.run(f"/{ALICE_CV}"))
    edge.stores.get_key_error = False
    assert_passed(edge.run(f"/{ALICE_CV}"), f"/{ALICE_CV}")


def test_an_unreadable_value_refuses(edge: Edge) -> None:
    edge.revoke(ALICE_CV, "soon")
    assert_refused(edge.run(f"/{ALICE_CV}"))


def test_a_name_longer_than_a_store_name_is_not_looked_up(edge: Edge) -> None:
    # A key longer than 512 bytes can have no entry of its own; its prefixes still count
    long_key = "private/users/alice/cv/" + "a" * 600 + ".pdf"
    assert_passed(edge.run(f"/{long_key}"), f"/{long_key}")
    edge.revoke("private/users/alice/", int(time.time()) + 60)
    assert_refused(edge.run(f"/{long_key}"))


# --- a host that fails never lets a request through ---------------------------------------------

def _event() -> dict[str, Any]:
    return viewer_request_event(method="GET", raw_path="/" + ALICE_CV, raw_query="", headers=[], cookies={},
                                viewer_ip="192.0.2.1", distribution_id="EDFDVBD6EXAMPLE",
                                domain_name="d111111abcdef8.cloudfront.net")


@pytest.mark.parametrize(("status", "answer"), [
    (200, b"not json"), (200, b"null"), (200, b"[]"), (200, b'"GET"'),
    (200, b'{"statusCode": "403"}'), (200, b'{"uri": "relative"}'), (200, b'{"method": "GET"}'),
    (500, b'{"error": "TypeError: x is undefined"}'),
])
def test_a_host_answering_nonsense_is_a_failure_not_a_pass(status: int, answer: bytes) -> None:
    # Given a host that answers something other than a request or a response
    import http.server
    import threading

    class Nonsense(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *_: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Nonsense)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # Then running the function fails (the local edge answers 503), it never passes the request on
        with pytest.raises(FunctionFailed):
            FunctionHost(f"http://127.0.0.1:{server.server_address[1]}").run(_event())
    finally:
        server.shutdown()
        server.server_close()


def test_a_host_that_is_down_is_a_failure() -> None:
    # Given no host listening
    port = _free_port()
    # Then running the function fails, quickly
    started = time.monotonic()
    with pytest.raises(FunctionFailed):
        FunctionHost(f"http://127.0.0.1:{port}", timeout=2).run(_event())
    assert time.monotonic() - started < 5
