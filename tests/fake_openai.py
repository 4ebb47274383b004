"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests, with scripted replies.

``openai_server`` (a fixture, available to every test through conftest.py) records each
request and answers through ``behaviour(request_number, body) -> Reply``; the default echoes
the last user turn and the seed it was sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Reply:
    status: int = 200
    body: object = None  # dict -> JSON, str -> plain text
    headers: dict[str, str] = field(default_factory=dict)
    sleep: float = 0.0


def echo(n: int, body: dict) -> Reply:
    """Default behaviour: a completion naming the last user turn and the seed it was sent."""
    content = f"echo:{body['messages'][-1]['content']}|seed={body.get('seed')}"
    return Reply(body={"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]})


def completion(content: str | None) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": content}}]}


class FakeServer:
    """What the handler saw, and how it should answer (``behaviour(request_number, body)``)."""

    def __init__(self) -> None:
        self.url = ""
        self.requests: list[dict] = []
        self.behaviour: Callable[[int, dict], Reply] = echo
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.closing = threading.Event()

    @property
    def bodies(self) -> list[dict]:
        return [r["body"] for r in self.requests]


class Handler(BaseHTTPRequestHandler):
    server: ThreadingHTTPServer

    def do_POST(self) -> None:
        state: FakeServer = self.server.state  # type: ignore[attr-defined]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with state.lock:
            n = len(state.requests)
            state.requests.append({"path": self.path, "authorization": self.headers.get("Authorization"), "body": body})
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if self.path == "/v1/chat/completions":
                reply = state.behaviour(n, body)
            else:
                reply = Reply(404, {"error": {"message": f"no route {self.path}"}})
            if reply.sleep:
                state.closing.wait(reply.sleep)  # interruptible, so teardown is quick
        finally:
            with state.lock:
                state.in_flight -= 1
        payload = (reply.body if isinstance(reply.body, str) else json.dumps(reply.body)).encode()
        try:
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass  # the client gave up (time-out test)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def openai_server() -> Iterator[FakeServer]:
    state = FakeServer()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    yield state
    state.closing.set()
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)
