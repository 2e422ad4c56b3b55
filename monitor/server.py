"""HTTP: /metrics for Prometheus, /healthz for orchestrators.

Rendering 10,000 series takes tens of milliseconds of pure Python, and scrapes from several
Prometheus replicas (and Grafana's ad-hoc ones) arrive together; so one rendering is shared by
every scrape until the state changes or `ttl` seconds pass. Only one scrape renders at a time;
one that races it is answered with the previous rendering (at most one poll or `ttl` old).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.exposition import ThreadingWSGIServer

from gate.errors import InfraError
from monitor.metrics import MonitorState

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    """No access log line per scrape: a 15 s scrape interval would drown the service's own log."""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        pass


class _Server(ThreadingWSGIServer):
    # socketserver's default listen backlog is 5: with 20 scrapers connecting at once the kernel
    # drops SYNs and clients wait a full 1 s retransmit, which was the whole p99.
    request_queue_size = 128


class MonitorApp:
    """The WSGI application."""

    def __init__(self, registry: CollectorRegistry, state: MonitorState, ttl: float = 1.0) -> None:
        self.registry = registry
        self.state = state
        self.ttl = ttl
        self._lock = threading.Lock()
        self._cached: tuple[int, float, bytes] | None = None

    def render(self) -> bytes:
        cached = self._cached
        if cached is not None and self._fresh(cached):
            return cached[2]
        # One scrape re-renders; scrapes that arrive meanwhile get the previous rendering at once
        # rather than queueing behind a render that holds the GIL for tens of milliseconds.
        if not self._lock.acquire(blocking=cached is None):
            return cached[2]  # type: ignore[index]  # not None: a blocking acquire succeeded
        try:
            if self._cached is not None and self._fresh(self._cached):
                return self._cached[2]
            generation = self.state.generation
            body = generate_latest(self.registry)
            self._cached = (generation, time.monotonic(), body)
            return body
        finally:
            self._lock.release()

    def _fresh(self, cached: tuple[int, float, bytes]) -> bool:
        generation, at, _ = cached
        return generation == self.state.generation and time.monotonic() - at < self.ttl

    def health(self) -> bytes:
        state = self.state
        return json.dumps(
            {"status": "ok", "source_up": state.source_up, "last_success": state.last_success}
        ).encode()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/metrics":
            status, kind, body = "200 OK", CONTENT_TYPE_LATEST, self.render()
        elif path == "/healthz":
            status, kind, body = "200 OK", "application/json", self.health()
        elif path == "/":
            status, kind = "200 OK", "text/plain; charset=utf-8"
            body = b"gate-monitor: /metrics (Prometheus), /healthz\n"
        else:
            status, kind, body = "404 Not Found", "text/plain; charset=utf-8", b"not found\n"
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]


def serve(app: MonitorApp, host: str, port: int) -> tuple[_Server, threading.Thread]:
    """Start serving in a daemon thread; returns the server (port 0 picks a free one)."""
    try:
        httpd = make_server(host, port, app, _Server, handler_class=_QuietHandler)
    except OSError as exc:
        raise InfraError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    thread = threading.Thread(target=httpd.serve_forever, name="gate-monitor-http", daemon=True)
    thread.start()
    return httpd, thread
