"""The OpenAI-compatible app: ``GET /v1/models``, ``POST /v1/chat/completions``.

A completion is a job through the gateway's own path (``Gateway.open_job``,
``Gateway.follow``): stored, leased, resumable like any other. With
``stream: true`` the answer goes out as server-sent ``chat.completion.chunk``
events as the answer stage generates it. A client that disconnects cancels
its job (its stages stop on their workers).
"""

from __future__ import annotations

import hmac
import logging
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from hivemesh.api import schema
from hivemesh.api.models import DIRECT_PLANNER, Offer, direct_plan
from hivemesh.api.schema import ApiError, ChatRequest
from hivemesh.errors import GatewayBusy, HivemeshError
from hivemesh.gateway.jobwire import JobResult, JobSubmit
from hivemesh.streaming import AnswerStream

log = logging.getLogger(__name__)

CANCELLED = "cancelled: the HTTP client went away"


@dataclass(frozen=True)
class ApiSettings:
    keys: tuple[str, ...] = ()  # bearer keys; none: no key asked
    max_jobs: int = 32  # jobs in flight through this API; past it, 429
    max_tokens: int = 1024  # the largest max_tokens a request may ask
    body_timeout_s: float = 10.0  # the whole body must arrive within this
    retry_after_s: int = 2


def error_response(exc: ApiError) -> JSONResponse:
    return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)


class Api:
    def __init__(self, gateway: Any, settings: ApiSettings = ApiSettings(),
                 on_status: Callable[[int], None] | None = None) -> None:
        self.gateway, self.settings = gateway, settings
        self.on_status = on_status or (lambda status: None)
        self.active = 0

    def app(self) -> Any:
        routes = [Route("/v1/models", self.models, methods=["GET"]),
                  Route("/v1/chat/completions", self.chat, methods=["POST"])]
        app = Starlette(routes=routes, exception_handlers={HTTPException: self._http_error})
        return CountStatus(app, self.on_status)

    async def _http_error(self, request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        kind = "not_found" if status == 404 else "method_not_allowed" if status == 405 else "invalid_request_error"
        return JSONResponse(schema.error_body(str(getattr(exc, "detail", exc)), kind), status_code=status)

    def _authorize(self, request: Request) -> None:
        if not self.settings.keys:
            return
        header = request.headers.get("authorization", "")
        given = header[7:].strip() if header[:7].lower() == "bearer " else ""
        if not any(hmac.compare_digest(given.encode(), k.encode()) for k in self.settings.keys):
            raise ApiError(401, "Incorrect API key provided." if given else "Missing bearer API key.",
                           code="invalid_api_key")

    async def models(self, request: Request) -> Response:
        try:
            self._authorize(request)
        except ApiError as exc:
            return error_response(exc)
        return JSONResponse(Offer.from_view(self.gateway.node.view).listing())

    async def chat(self, request: Request) -> Response:
        try:
            self._authorize(request)
            chat = schema.parse_chat(schema.parse_json(await self._body(request)), self.settings.max_tokens)
            capability = Offer.from_view(self.gateway.node.view).capability_for(chat.model)
            self._admit()
        except ApiError as exc:
            return error_response(exc)
        except ClientDisconnect:
            return Response(status_code=499)
        return JobResponse(self, chat, capability)

    async def _body(self, request: Request) -> bytes:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > schema.MAX_BODY_BYTES:
            raise schema.bad(f"request body is over {schema.MAX_BODY_BYTES} bytes", code="request_too_large")
        body = bytearray()
        with trio.move_on_after(self.settings.body_timeout_s):
            async for part in request.stream():
                body += part
                if len(body) > schema.MAX_BODY_BYTES:
                    raise schema.bad(f"request body is over {schema.MAX_BODY_BYTES} bytes", code="request_too_large")
            return bytes(body)
        raise ApiError(408, f"request body not received within {self.settings.body_timeout_s:.0f}s",
                       code="request_timeout")

    def _admit(self) -> None:
        retry = {"Retry-After": str(self.settings.retry_after_s)}
        if not self.gateway.available:
            raise ApiError(503, "gateway store unavailable; try another gateway", "server_error",
                           code="unavailable", headers=retry)
        if self.active >= self.settings.max_jobs:
            raise ApiError(429, f"busy: {self.active} jobs in flight on this gateway; retry later",
                           "rate_limit_error", code="busy", headers=retry)


class CountStatus:
    """ASGI wrapper: report each HTTP response's status."""

    def __init__(self, app: Any, on_status: Callable[[int], None]) -> None:
        self.app, self.on_status = app, on_status

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def counted(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                self.on_status(message["status"])
            await send(message)

        await self.app(scope, receive, counted)


class JobResponse(Response):
    """Runs the job while the client stays; a client that leaves cancels it."""

    def __init__(self, api: Api, chat: ChatRequest, capability: str | None) -> None:
        super().__init__()
        self.api, self.chat, self.capability = api, chat, capability
        self.job_id = "api-" + uuid.uuid4().hex
        self.created = int(time.time())
        api.active += 1  # taken in the handler, so the admission check counts it at once

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._watch, receive, nursery.cancel_scope)
                await self._run(send)
                nursery.cancel_scope.cancel()
        finally:
            self.api.active -= 1

    async def _watch(self, receive: Any, scope: trio.CancelScope) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        if self.api.gateway.cancel(self.job_id, CANCELLED):
            log.info("HTTP client went away; job %s cancelled", self.job_id)
        scope.cancel()

    async def _run(self, send: Any) -> None:
        chat, gateway = self.chat, self.api.gateway
        submit = JobSubmit(job_id=self.job_id, text=chat.job_text(), tokens=chat.stream)
        plan = direct_plan(self.capability, chat.max_tokens, chat.stop) if self.capability else None
        try:
            await gateway.open_job(submit, plan, DIRECT_PLANNER if plan is not None else "")
        except GatewayBusy as exc:  # the gateway runs all it can: 429 with its retry-after
            exc_ = ApiError(429, f"busy: {exc.reason}; retry later", "rate_limit_error", code="busy",
                            headers={"Retry-After": str(max(1, math.ceil(exc.retry_after_s)))})
            return await error_response(exc_)({"type": "http"}, _nothing, send)
        except HivemeshError as exc:
            exc_ = ApiError(503, str(exc), "server_error", code="unavailable",
                            headers={"Retry-After": str(self.api.settings.retry_after_s)})
            return await error_response(exc_)({"type": "http"}, _nothing, send)
        events = gateway.follow(self.job_id, tokens=chat.stream, stay=True)
        if chat.stream:
            return await self._stream(events, send)
        result = None
        async for event in events:
            if event.terminal:
                result = event.result
        await self._send_result(result, send)

    async def _send_result(self, result: JobResult | None, send: Any) -> None:
        if result is not None and result.status == "done":
            response = JSONResponse(schema.completion(result, self.chat.model, self.created))
        else:
            error = result.error if result is not None else "no result"
            response = JSONResponse(schema.error_body(f"job failed: {error}", "server_error", "job_failed"),
                                    status_code=500)
        await response({"type": "http"}, _nothing, send)

    async def _stream(self, events: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-cache"),
                                (b"x-hivemesh-job", self.job_id.encode())]})
        await self._chunk(send, {"role": "assistant", "content": ""})
        answer = AnswerStream()
        async for event in events:
            piece = answer.feed(event)
            if piece:
                await self._chunk(send, {"content": piece})
            if not event.terminal:
                continue
            result = event.result
            if result is not None and result.status == "done":
                await self._chunk(send, {}, "stop")
                if self.chat.include_usage:
                    await _body(send, schema.sse(schema.usage_chunk(result, self.chat.model, self.created)))
            else:
                error = result.error if result is not None else "no result"
                await _body(send, schema.sse(schema.error_body(f"job failed: {error}", "server_error", "job_failed")))
        await _body(send, schema.sse(b"[DONE]"))
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _chunk(self, send: Any, delta: dict[str, Any], finish: str | None = None) -> None:
        await _body(send, schema.sse(schema.chunk(self.job_id, self.chat.model, self.created, delta, finish)))


async def _body(send: Any, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _nothing() -> dict[str, Any]:
    return {"type": "http.disconnect"}
