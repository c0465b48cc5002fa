"""A fake Anthropic Messages API on loopback, for end-to-end tests offline.

A real HTTP server (a thread of this process) answering ``POST /v1/messages``
with bodies in the shape the API returns (recorded shapes: a ``message`` with
``content`` blocks, ``usage``, ``stop_reason``; errors as ``{"type": "error",
...}``). The real ``anthropic`` SDK talks to it over real HTTP: point it there
with ``ANTHROPIC_BASE_URL=server.url`` (also honoured by subprocesses) or
``anthropic.Anthropic(base_url=server.url)``.

Replies come from a *responder*: a function of the request body that returns
``(status, body, headers)``. ``scripted(...)`` replays a list; ``Planner()``
answers the way Claude would, by request kind: a forced ``submit_plan`` tool
call gets a valid plan (one subtask per capability it can recognise, joined),
an aggregation or a plain question gets a text message.

    with FakeAnthropic(Planner()) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        ...
        assert api.requests[0]["tool_choice"]["name"] == "submit_plan"
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = tuple[int, dict[str, Any], dict[str, str]]
Responder = Callable[[dict[str, Any]], Reply]

MODEL = "claude-sonnet-4-5-20250929"
REQUEST_ID = "req_011CSHoEeqs5C35K2UUqR7Fz"


def message(content: list[dict[str, Any]], usage: tuple[int, int], stop_reason: str) -> dict[str, Any]:
    """A Messages API response body (the recorded shape)."""
    return {
        "id": "msg_01XFDUDYJgAACzvnptvVoYEL",
        "type": "message",
        "role": "assistant",
        "model": MODEL,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": usage[0], "output_tokens": usage[1],
                  "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "service_tier": "standard"},
    }


def tool_reply(plan: Any, usage: tuple[int, int] = (812, 301), stop_reason: str = "tool_use") -> Reply:
    block = {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "submit_plan", "input": plan}
    return 200, message([block], usage, stop_reason), {"request-id": REQUEST_ID}


def text_reply(text: str, usage: tuple[int, int] = (500, 120), stop_reason: str = "end_turn") -> Reply:
    return 200, message([{"type": "text", "text": text}], usage, stop_reason), {"request-id": REQUEST_ID}


def error_reply(status: int, kind: str, text: str) -> Reply:
    body = {"type": "error", "error": {"type": kind, "message": text}, "request_id": REQUEST_ID}
    return status, body, {"retry-after-ms": "1", "request-id": REQUEST_ID}


def scripted(*replies: Reply) -> Responder:
    """Answer with ``replies`` in order; the last one repeats."""
    queue = list(replies)

    def respond(body: dict[str, Any]) -> Reply:
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return respond


class Planner:
    """Answers like Claude: plans for ``submit_plan`` calls, text otherwise.

    ``bad_first`` makes the first plan invalid (a cycle), so the planner's
    repair turn runs. ``answer`` is the text of every non-plan reply.
    """

    def __init__(self, *, bad_first: bool = False, answer: str = "A short answer from Claude.") -> None:
        self.bad_first = bad_first
        self.answer = answer
        self.plans = 0

    def __call__(self, body: dict[str, Any]) -> Reply:
        if body.get("tool_choice", {}).get("name") != "submit_plan":
            return text_reply(self.answer, usage=(_words(body) + 40, len(self.answer.split()) + 5))
        self.plans += 1
        tool = body["tools"][0]["input_schema"]
        caps = tool["properties"]["subtasks"]["items"]["properties"]["capability"].get("enum", ["general"])
        if self.bad_first and self.plans == 1:
            return tool_reply(_cycle(caps[0]), usage=(_words(body) + 700, 180))
        return tool_reply(_plan(caps, _has_inputs(body)), usage=(_words(body) + 700, 240))


def _words(body: dict[str, Any]) -> int:
    return len(json.dumps(body.get("messages", [])).split())


def _has_inputs(body: dict[str, Any]) -> bool:
    first = body["messages"][0]["content"]
    text = first if isinstance(first, str) else json.dumps(first)
    return "input:0" in text


def _plan(caps: list[str], inputs: bool) -> dict[str, Any]:
    source = "\n\n{{input}}" if inputs else ""
    first = "summarize" if "summarize" in caps else caps[0]
    second = "extract" if "extract" in caps else caps[-1]
    return {
        "subtasks": [
            {"id": "part_1", "capability": first, "prompt": "Do the first part of: {{job}}" + source,
             "depends_on": [], "max_tokens": 96},
            {"id": "part_2", "capability": second, "prompt": "Do the second part of: {{job}}" + source,
             "depends_on": [], "max_tokens": 64},
            {"id": "answer", "capability": "join" if "join" in caps else first,
             "prompt": "Part 1:\n{{out:part_1}}\n\nPart 2:\n{{out:part_2}}",
             "depends_on": ["part_1", "part_2"], "max_tokens": 256},
        ],
        "answer": "answer",
    }


def _cycle(cap: str) -> dict[str, Any]:
    return {
        "subtasks": [
            {"id": "a", "capability": cap, "prompt": "{{out:b}}", "depends_on": ["b"], "max_tokens": 32},
            {"id": "b", "capability": cap, "prompt": "{{out:a}}", "depends_on": ["a"], "max_tokens": 32},
        ],
        "answer": "a",
    }


class FakeAnthropic:
    """The server; ``requests`` records every request body, in order."""

    def __init__(self, responder: Responder) -> None:
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.replies: list[dict[str, Any]] = []  # the 200 bodies sent back
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeAnthropic:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _reply(self, body: dict[str, Any], headers: dict[str, str]) -> Reply:
        with self._lock:
            self.requests.append(body)
            self.headers.append(headers)
            reply = self.responder(body)
            if reply[0] == 200:
                self.replies.append(reply[1])
            return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("content-length", 0))
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/messages":
                    self._send(*error_reply(404, "not_found_error", f"no route {self.path}"))
                    return
                self._send(*fake._reply(json.loads(raw), {k.lower(): v for k, v in self.headers.items()}))

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        return Handler
