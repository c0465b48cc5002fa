"""What every worker path shares: the pinned-model check, the stable error
codes a refused or failed subtask carries, and ``TaskReply``, the result of
one subtask as the gateway keeps it (its output cache stores it; it is built
from a stage's ``StageDone``). Subtasks run on ``/hivemesh/stage/1`` only
(``worker.stages``); the single-subtask protocol ``/hivemesh/task/1`` is gone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hivemesh.errors import (
    CapabilityMissing,
    ContextOverflow,
    DeadlineExceeded,
    TaskError,
    WorkerBusy,
    WrongModel,
)
from hivemesh.mesh import wire
from hivemesh.models.identity import is_model_hash


def check_model_hash(value: str) -> None:
    """A pinned model hash is "" (none) or 64 lowercase hex digits."""
    if value and not is_model_hash(value):
        raise ValueError("model_hash must be 64 lowercase hex digits")


def check_pinned(model: Any, wanted: str) -> None:
    """``WrongModel`` when ``wanted`` is set and ``model`` is other weights."""
    have = str(getattr(model, "model_hash", ""))
    if wanted and have != wanted:
        raise WrongModel(f"model {getattr(model, 'name', '?')} here is {have[:12] or 'unpinned'}, "
                         f"not the pinned {wanted[:12]}")


@dataclass(frozen=True)
class TaskReply(wire.Message):
    MAX_BYTES = 256 * 1024

    task_id: str
    ok: bool
    text: str = ""
    error_code: str = ""
    error: str = ""
    peer_id: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    queue_s: float = 0.0
    run_s: float = 0.0
    finish_reason: str = ""


ERRORS: dict[str, type[TaskError]] = {
    CapabilityMissing.code: CapabilityMissing,
    WorkerBusy.code: WorkerBusy,
    DeadlineExceeded.code: DeadlineExceeded,
    WrongModel.code: WrongModel,
}
CONTEXT_OVERFLOW = "context_overflow"
BAD_REQUEST = "bad_request"


def error_code(exc: Exception) -> str:
    if isinstance(exc, TaskError):
        return exc.code
    if isinstance(exc, ContextOverflow):
        return CONTEXT_OVERFLOW
    return "failed"


def task_error(code: str, message: str) -> TaskError:
    """The ``TaskError`` subclass for a stable error ``code`` a peer answered with."""
    return ERRORS.get(code, TaskError)(message, code=code or "failed")
