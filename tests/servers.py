"""Real servers for integration tests, on 127.0.0.1 only, with bounded waits.

- MlflowServer: a real `mlflow server` with a SQLite backend, stoppable and restartable on the
  same port (the monitor's fault tests need the server to vanish and come back).
- Recorder: a local HTTP server standing in for a Slack webhook; it records every request and
  plays back a list of status codes (429 with Retry-After, 500, ...), then answers 200.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(ready: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `ready` every 0.25 s; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} within {timeout:.0f} s")
        time.sleep(0.25)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


class MlflowServer:
    """`mlflow server` over a SQLite file in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        mlflow = Path(sys.executable).with_name("mlflow")
        self.process = subprocess.Popen(
            [
                str(mlflow),
                "server",
                "--backend-store-uri",
                f"sqlite:///{self.root / 'db.sqlite'}",
                "--default-artifact-root",
                str(self.root / "artifacts"),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.root,
        )
        process = self.process

        def ready() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"mlflow server exited with {process.returncode}")
            return http_ok(f"{self.uri}/health")

        wait_until(ready, timeout=90, what="mlflow server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=30)
        self.process = None


class _Loopback:
    """A ThreadingHTTPServer on 127.0.0.1 that runs while the `with` block does."""

    server: ThreadingHTTPServer

    def _serve(self, handler: type[BaseHTTPRequestHandler]) -> int:
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        return int(self.server.server_address[1])

    def __enter__(self) -> Any:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=10)


class Recorder(_Loopback):
    """Webhook stand-in: records every request and plays back a list of status codes."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                status = recorder.statuses.pop(0) if recorder.statuses else 200
                recorder.requests.append(
                    {"path": self.path, "body": json.loads(body), "status": status}
                )
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "1")
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"error")

            def log_message(self, *args: object) -> None:
                return

        port = self._serve(Handler)
        self.url = f"http://127.0.0.1:{port}/services/T000/B000/SECRET42"

    def delivered(self) -> list[dict[str, Any]]:
        """Bodies of the requests that were answered 200."""
        return [r["body"] for r in self.requests if r["status"] == 200]


class OpenAIStub(_Loopback):
    """An OpenAI-compatible server on loopback: /v1/models and /v1/chat/completions.

    It answers "Sure: <prompt>", plays back a list of status codes first (429 with Retry-After,
    503, ...), records every request with its Authorization header, and the most requests it
    was handling at once (each answer takes `delay` seconds).
    """

    def __init__(
        self, statuses: list[int] | None = None, *, model: str = "m", delay: float = 0.0
    ) -> None:
        self.statuses = list(statuses or [])
        self.requests: list[dict[str, Any]] = []
        self.authorization: list[str] = []
        self.active = 0
        self.most_active = 0
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _reply(self, status: int, payload: Any) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                if status == 429:
                    self.send_header("Retry-After", "0")
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                self._reply(200, {"data": [{"id": model}]})

            def do_POST(self) -> None:  # noqa: N802
                request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub._lock:
                    stub.requests.append(request)
                    stub.authorization.append(self.headers.get("Authorization", ""))
                    status = stub.statuses.pop(0) if stub.statuses else 200
                    stub.active += 1
                    stub.most_active = max(stub.most_active, stub.active)
                time.sleep(delay)
                with stub._lock:
                    stub.active -= 1
                if status != 200:
                    self._reply(status, {"error": "try again"})
                    return
                text = f"Sure: {request['messages'][-1]['content']}"
                choice = {"message": {"content": text}, "finish_reason": "stop"}
                self._reply(200, {"choices": [choice], "usage": {"completion_tokens": 3}})

            def log_message(self, *args: object) -> None:
                return

        self.base_url = f"http://127.0.0.1:{self._serve(Handler)}/v1"


class VLLMServer:
    """vLLM's OpenAI server from `.venv-vllm`, started without waiting so that several servers
    (and other set-up) can start side by side; `wait` blocks until it answers /v1/models."""

    def __init__(self, python: Path, args: list[str], env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.log = log
        command = [str(python), "-m", "vllm.entrypoints.openai.api_server", *args]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT
            )

    def wait(self, timeout: float = 400) -> str:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"vLLM server exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            return http_ok(f"{self.base_url}/models")

        wait_until(ready, timeout=timeout, what=f"the vLLM server ({self.log}) did not start")
        return self.base_url

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
