"""OpenAI chat-completion requests and responses, checked and built here (pure).

A request is decoded strictly: every field's type and range is checked,
unknown fields are refused (as OpenAI does), and each problem is an
``ApiError`` carrying the HTTP status and OpenAI's error shape.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hivemesh.gateway.jobwire import MAX_JOB_TEXT, JobResult

MAX_BODY_BYTES = 256 * 1024
DEFAULT_MAX_TOKENS = 256
ROLES = ("system", "developer", "user", "assistant")
#: accepted, and without effect here (the mesh decodes greedily, one choice)
IGNORED = ("temperature", "top_p", "user", "seed", "presence_penalty", "frequency_penalty", "logit_bias",
           "metadata", "store", "parallel_tool_calls", "service_tier")
KNOWN = ("model", "messages", "max_tokens", "max_completion_tokens", "stream", "stream_options", "n", "stop",
         *IGNORED)


class ApiError(Exception):
    """An HTTP error in OpenAI's shape."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error",
                 code: str | None = None, param: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.param = status, message, type_, code, param
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(self.message, self.type, self.code, self.param)


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def bad(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: tuple[tuple[str, str], ...]  # (role, text)
    max_tokens: int
    stream: bool
    include_usage: bool
    stop: tuple[str, ...]

    def job_text(self) -> str:
        """What the job asks: the one user message, or the conversation."""
        if len(self.messages) == 1 and self.messages[0][0] == "user":
            return self.messages[0][1]
        return "\n\n".join(f"{role.title()}: {text}" for role, text in self.messages)


def parse_json(body: bytes) -> Any:
    if len(body) > MAX_BODY_BYTES:
        raise bad(f"request body is over {MAX_BODY_BYTES} bytes", code="request_too_large")
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad(f"request body is not valid JSON: {exc}", code="invalid_json") from None


def parse_chat(obj: Any, max_tokens_limit: int) -> ChatRequest:
    if not isinstance(obj, dict):
        raise bad("request body must be a JSON object")
    unknown = sorted(set(obj) - set(KNOWN))
    if unknown:
        raise bad(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0])
    model = _field(obj, "model", str, required=True)
    if not model:
        raise bad("model must not be empty", param="model")
    n = _field(obj, "n", int)
    if n not in (None, 1):
        raise bad("only n=1 is supported", param="n")
    max_tokens = _field(obj, "max_completion_tokens", int)
    if max_tokens is None:
        max_tokens = _field(obj, "max_tokens", int)
    if max_tokens is None:
        max_tokens = min(DEFAULT_MAX_TOKENS, max_tokens_limit)
    if not 1 <= max_tokens <= max_tokens_limit:
        raise bad(f"max_tokens must be 1-{max_tokens_limit} (got {max_tokens})", param="max_tokens",
                  code="max_tokens_out_of_range")
    stream = bool(_field(obj, "stream", bool))
    options = _field(obj, "stream_options", dict) or {}
    if set(options) - {"include_usage"} or not isinstance(options.get("include_usage", False), bool):
        raise bad("stream_options takes include_usage (a boolean) only", param="stream_options")
    for name in IGNORED:
        value = obj.get(name)
        if value is not None and not isinstance(value, (int, float, str, dict, bool)):
            raise bad(f"{name} has the wrong type", param=name)
    text = _messages(obj.get("messages"))
    chat = ChatRequest(model, text, max_tokens, stream, bool(options.get("include_usage")), _stop(obj.get("stop")))
    if len(chat.job_text()) > MAX_JOB_TEXT:
        raise bad(f"messages are over {MAX_JOB_TEXT} characters", param="messages", code="context_length_exceeded")
    return chat


def _field(obj: dict[str, Any], name: str, tp: type, required: bool = False) -> Any:
    value = obj.get(name)
    if value is None:
        if required:
            raise bad(f"missing required parameter: {name}", param=name)
        return None
    if type(value) is not tp:  # bool is not int, int is not bool
        raise bad(f"{name} must be of type {tp.__name__}, got {type(value).__name__}", param=name)
    return value


def _messages(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise bad("messages must be a non-empty array", param="messages")
    if len(value) > 256:
        raise bad("at most 256 messages", param="messages")
    out = []
    for i, m in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(m, dict) or m.get("role") not in ROLES:
            raise bad(f"{where} must be an object with a role of {', '.join(ROLES)}", param=where)
        if set(m) - {"role", "content", "name"}:
            raise bad(f"{where}: unsupported fields {sorted(set(m) - {'role', 'content', 'name'})}", param=where)
        out.append(("system" if m["role"] == "developer" else m["role"], _content(m.get("content"), where)))
    if out[-1][0] != "user":
        raise bad("the last message must be the user's", param="messages")
    return tuple(out)


def _content(value: Any, where: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and value and all(
            isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str) and len(p) == 2
            for p in value):
        return "\n".join(p["text"] for p in value)
    raise bad(f"{where}.content must be a string or an array of text parts", param=f"{where}.content")


def _stop(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    stops = [value] if isinstance(value, str) else value
    if not isinstance(stops, list) or len(stops) > 4 or not all(isinstance(s, str) and 1 <= len(s) <= 32
                                                                for s in stops):
        raise bad("stop must be a string or up to 4 strings of 1-32 characters", param="stop")
    return tuple(stops)


# --- responses -------------------------------------------------------------------


def usage(result: JobResult) -> dict[str, int]:
    """Tokens the mesh's models read and wrote for the job (cloud tokens are in ``hivemesh``)."""
    completion = sum(s.completion_tokens for s in result.subtasks)
    prompt = sum(s.tokens - s.completion_tokens for s in result.subtasks)
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def extension(result: JobResult) -> dict[str, Any]:
    """The ``hivemesh`` field: the job, who ran it, what it cost."""
    acc = result.accounting
    return {
        "job_id": result.job_id,
        "gateway": result.gateway,
        "planner": result.plan.planner if result.plan else "",
        "seconds": result.seconds,
        "peers": sorted({s.peer_id for s in result.subtasks}),
        "subtasks": [{"id": s.id, "capability": s.capability, "peer_id": s.peer_id, "model": s.model,
                      "tokens": s.tokens, "seconds": s.seconds, "cached": s.cached} for s in result.subtasks],
        "accounting": acc.to_wire() if acc else None,
    }


def completion(result: JobResult, model: str, created: int | None = None) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{result.job_id}", "object": "chat.completion", "created": created or int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": result.answer},
                     "finish_reason": "stop", "logprobs": None}],
        "usage": usage(result), "hivemesh": extension(result),
    }


def chunk(job_id: str, model: str, created: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {"id": f"chatcmpl-{job_id}", "object": "chat.completion.chunk", "created": created, "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}]}


def usage_chunk(result: JobResult, model: str, created: int) -> dict[str, Any]:
    return {"id": f"chatcmpl-{result.job_id}", "object": "chat.completion.chunk", "created": created,
            "model": model, "choices": [], "usage": usage(result), "hivemesh": extension(result)}


def sse(obj: Any) -> bytes:
    return b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
