"""The checker role: score another peer's claimed output on ``/hivemesh/check/1``.

A check runs on the model with the pinned hash (never another one: a peer
without those weights answers ``wrong_model``), in one of the worker's slots
like a subtask, and is answered with a signed statement. Bad input gets a
``bad_request`` reply (and costs a malformed sender reputation); the peer
keeps serving. ``call_check`` is the asking side.
"""

from __future__ import annotations

import logging
import time
from collections import Counter

import trio

from hivemesh.errors import DecodeError, HivemeshError, PeerUnreachable, StreamBroken, TaskError, WrongModel
from hivemesh.mesh.node import MeshNode
from hivemesh.mesh.stream import Stream
from hivemesh.worker.checkwire import (
    CHECK, CheckReply, CheckRequest, CheckStatement, sign_statement, verify_statement,
)
from hivemesh.worker.protocol import BAD_REQUEST, error_code
from hivemesh.worker.worker import Worker

log = logging.getLogger(__name__)

READ_TIMEOUT_S = 10.0
CHECK_DEADLINE_S = 120.0


class Checker:
    def __init__(self, worker: Worker, node: MeshNode) -> None:
        self.worker, self.node = worker, node
        self.stats: Counter[str] = Counter()

    def install(self) -> None:
        self.node.handle(CHECK, self.handle)

    async def handle(self, stream: Stream) -> None:
        request = await stream.request(CheckRequest, READ_TIMEOUT_S, self.node.penalize,
                                       lambda why: self._error(BAD_REQUEST, why))
        if request is not None:
            await stream.send(await self.check(request))

    async def check(self, request: CheckRequest) -> CheckReply:
        """Score ``request``'s claimed output; a signed verdict or an error reply."""
        started = time.monotonic()
        try:
            model = self.worker.registry.model_by_hash(request.model_hash)
            if model is None or not callable(getattr(model, "score", None)):
                raise WrongModel(f"no model here with weights {request.model_hash[:12]} that can check")
            with trio.fail_after(CHECK_DEADLINE_S):
                verdict = await self.worker.run_blocking(model, model.score, request.completion_request(),
                                                         request.output)
        except trio.TooSlowError:
            return self._error("deadline", f"check took over {CHECK_DEADLINE_S:.0f}s")
        except HivemeshError as exc:
            return self._error(error_code(exc), str(exc))
        statement = CheckStatement(
            check_id=request.check_id, request_hash=request.digest(), model_hash=request.model_hash,
            accepted=verdict.ok, tokens=verdict.tokens, misses=verdict.misses, mean_gap=verdict.mean_gap,
            checker=self.node.peer_id, reason=verdict.reason[:300])
        self.stats["accepted" if verdict.ok else "rejected"] += 1
        log.info("check done check=%s accepted=%s tokens=%d misses=%d mean_gap=%.3f seconds=%.2f",
                 request.check_id, verdict.ok, verdict.tokens, verdict.misses, verdict.mean_gap,
                 time.monotonic() - started)
        return CheckReply(True, statement, sign_statement(statement, self.node.config.keypair),
                          check_s=round(time.monotonic() - started, 4))

    def _error(self, code: str, message: str) -> CheckReply:
        self.stats[code] += 1
        return CheckReply(False, error_code=code, error=message[:300])


async def call_check(node: MeshNode, peer_id: str, request: CheckRequest,
                     timeout_s: float = CHECK_DEADLINE_S + 10) -> CheckStatement:
    """Ask ``peer_id`` to check ``request``; its verified statement, or a ``TaskError``
    (a refusal, a bad or forged reply) / ``PeerUnreachable``."""
    stream = await node.open_stream(peer_id, CHECK)  # PeerUnreachable when it cannot be opened
    try:
        await stream.send(request)
        reply = await stream.receive(CheckReply, timeout_s)
    except trio.TooSlowError:
        raise TaskError(f"checker {peer_id[-8:]} did not answer in {timeout_s:.0f}s", code="deadline") from None
    except StreamBroken as exc:
        raise PeerUnreachable(f"checker {peer_id[-8:]} dropped the check: {exc}") from None
    except DecodeError as exc:
        raise TaskError(f"checker {peer_id[-8:]} sent a bad reply: {exc}", code="bad_reply") from None
    finally:
        await stream.close()
    if not reply.ok or reply.statement is None:
        raise TaskError(f"checker {peer_id[-8:]}: {reply.error}", code=reply.error_code or "failed")
    statement = reply.statement
    if (statement.checker != peer_id or statement.check_id != request.check_id
            or statement.request_hash != request.digest() or not verify_statement(statement, reply.sig)):
        raise TaskError(f"checker {peer_id[-8:]} sent a verdict it did not sign for this request", code="bad_reply")
    return statement
