"""``/hivemesh/task/1``: one subtask per stream, one reply frame.

The caller writes a ``TaskRequest`` and keeps the stream open until the
``TaskReply`` arrives; closing or resetting the stream cancels the subtask.
A full worker, a capability it lacks, a malformed frame or an impossible
prompt are answered at once with ``ok=False`` and a stable ``error_code``.
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

PROTOCOL = "/hivemesh/task/1"
MAX_PROMPT_BYTES = 192 * 1024
MAX_OUTPUT_TOKENS = 4096
MAX_DEADLINE_S = 3600.0


@dataclass(frozen=True)
class TaskRequest(wire.Message):
    MAX_BYTES = MAX_PROMPT_BYTES + 16 * 1024

    task_id: str
    job_id: str
    capability: str
    prompt: str
    max_tokens: int = 256
    temperature: float = 0.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    json_schema: str | None = None
    chat: bool = True  # use the model's chat template when it has one
    deadline_s: float = 300.0  # budget from receipt; relative, so clock skew does not matter
    model_hash: str = ""  # the weights wanted (SHA-256); "" takes whatever serves the capability

    def __post_init__(self) -> None:
        if not self.task_id or len(self.task_id) > 128 or len(self.job_id) > 128:
            raise ValueError("task_id must be 1-128 chars, job_id at most 128")
        if not 1 <= self.max_tokens <= MAX_OUTPUT_TOKENS:
            raise ValueError(f"max_tokens must be 1..{MAX_OUTPUT_TOKENS}")
        if not 0 < self.deadline_s <= MAX_DEADLINE_S:
            raise ValueError(f"deadline_s must be in (0, {MAX_DEADLINE_S:.0f}]")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be 0..2")
        if len(self.stop) > 8:
            raise ValueError("at most 8 stop strings")
        check_model_hash(self.model_hash)


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


def raise_for(reply: TaskReply) -> TaskReply:
    """Turn a failed reply into its TaskError subclass; return an ok reply."""
    if reply.ok:
        return reply
    cls = ERRORS.get(reply.error_code, TaskError)
    raise cls(f"peer {reply.peer_id[-8:]}: {reply.error}", code=reply.error_code)
