"""A local HTTP server that speaks the OpenAI Chat Completions wire format.

Deterministic: the reply to a request is looked up by the last user message in
`replies` (exact match), else "echo: <last user message>". Failures are
scripted: `fail_next(n, status)` answers the next n requests with that status,
`slow_seconds` delays every answer, `malformed_next(n)` sends broken bodies.
Every request received is kept in `requests`.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeOpenAI:
    def __init__(self) -> None:
        self.replies: dict[str, str] = {}
        # last user message -> replies given in turn (for consistency tests)
        self.sequences: dict[str, list[str]] = {}
        self._sequence_positions: dict[str, int] = {}
        self.requests: list[dict] = []
        self.slow_seconds = 0.0
        self._failures: list[int] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._failures.extend([status] * count)

    def malformed_next(self, count: int) -> None:
        self.fail_next(count, status=-1)

    def fail_always(self, status: int = 500) -> None:
        self.fail_next(10_000, status)

    def reset(self) -> None:
        with self._lock:
            self._failures.clear()
            self.requests.clear()
            self.replies.clear()
            self.sequences.clear()
            self._sequence_positions.clear()
            self.slow_seconds = 0.0

    def _next_failure(self) -> int | None:
        with self._lock:
            return self._failures.pop(0) if self._failures else None

    def reply_for(self, messages: list[dict]) -> str:
        last_user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
        if last_user in self.sequences:
            with self._lock:
                position = self._sequence_positions.get(last_user, 0)
                self._sequence_positions[last_user] = position + 1
            replies = self.sequences[last_user]
            return replies[position % len(replies)]
        if last_user in self.replies:
            return self.replies[last_user]
        system = next((m["content"] for m in messages if m.get("role") == "system"), "")
        if system in self.replies:
            return self.replies[system]
        return f"echo: {last_user or system}"

    def _handler_class(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _send(
                self, status: int, body: bytes, content_type: str = "application/json"
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "unknown path"}}')
                    return
                try:
                    request = json.loads(raw)
                except ValueError:
                    self._send(400, b'{"error": {"message": "bad json"}}')
                    return
                with fake._lock:
                    fake.requests.append(request)
                if fake.slow_seconds:
                    time.sleep(fake.slow_seconds)
                failure = fake._next_failure()
                if failure == -1:
                    self._send(200, b'{"choices": "not a list"', "application/json")
                    return
                if failure is not None:
                    self._send(
                        failure, json.dumps({"error": {"message": f"scripted {failure}"}}).encode()
                    )
                    return
                messages = request.get("messages") or []
                text = fake.reply_for(messages)
                prompt_tokens = sum(len(str(m.get("content", "")).split()) + 4 for m in messages)
                completion_tokens = len(text.split())
                body = {
                    "id": f"chatcmpl-{len(fake.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": request.get("model", "fake-model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": prompt_tokens,
                        "completion_tokens": completion_tokens,
                        "total_tokens": prompt_tokens + completion_tokens,
                        "prompt_tokens_details": {"cached_tokens": 0},
                    },
                }
                self._send(200, json.dumps(body).encode())

        return Handler
