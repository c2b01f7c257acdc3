"""The local events URL: what the product's event bus delivered, readable with one GET.

EventBridge (moto) routes every event on the ``<prefix>-files`` bus to an archive queue (a local
rule; a deployment would point a rule at the Rails app or an API destination). This server
drains that queue, keeps every event in memory since start, and answers

    GET {events}            -> 200 {"events": [{"version", "id", "detail-type", "source", "account",
                                                "time", "region", "resources", "detail"}, ...]}
    GET {events}?detail-type=File%20Verified  (optional filter)

oldest first (delivery order), each as EventBridge delivered it to the queue. Draining happens on
every GET (so an event published before the GET is in its answer) and in the background.
Run inside the local mode's own process (``python -m local``); local only, unauthenticated, like
the dev issuer.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

from local.httpserver import LocalRequestHandler


class EventsFeed:
    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs = sqs
        self.queue_url = queue_url
        self.events: list[dict[str, Any]] = []
        self.errors = 0
        self._lock = threading.Lock()

    def drain(self) -> None:
        """Move everything the archive queue holds into memory (one reader at a time)."""
        with self._lock:
            while True:
                response = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                    WaitTimeSeconds=0, VisibilityTimeout=30)
                messages = response.get("Messages", [])
                if not messages:
                    return
                for message in messages:
                    try:
                        self.events.append(json.loads(message["Body"]))
                    except (ValueError, KeyError):
                        self.errors += 1
                self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=[
                    {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"]}
                    for index, message in enumerate(messages)])

    def snapshot(self, detail_type: str | None = None) -> list[dict[str, Any]]:
        self.drain()
        with self._lock:
            events = list(self.events)
        if detail_type:
            events = [event for event in events if event.get("detail-type") == detail_type]
        return events

    def run_in_background(self, stop: threading.Event, interval: float = 1.0,
                          on_error: Callable[[BaseException], None] | None = None) -> threading.Thread:
        def loop() -> None:
            while not stop.wait(interval):
                try:
                    self.drain()
                except Exception as error:  # the next GET drains again (and reports)
                    if on_error is not None:
                        on_error(error)

        thread = threading.Thread(target=loop, name="events-feed", daemon=True)
        thread.start()
        return thread


def make_handler(feed: EventsFeed) -> type[BaseHTTPRequestHandler]:
    class Handler(LocalRequestHandler):
        server_version = "local-events"

        def _reply(self, status: int, payload: dict[str, Any]) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Filegate-Local-Only", "true")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path not in {"", "/"}:
                self._reply(404, {"message": "Not Found"})
                return
            detail_type = dict(parse_qsl(query)).get("detail-type")
            try:
                events = feed.snapshot(detail_type)
            except Exception as error:  # moto unreachable: say so, never an empty list
                self._reply(503, {"error": {"code": "unavailable", "message": f"{type(error).__name__}: {error}"}})
                return
            self._reply(200, {"events": events})

        do_HEAD = do_GET

    return Handler


def make_server(feed: EventsFeed, port: int) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(feed))
    server.daemon_threads = True
    return server
