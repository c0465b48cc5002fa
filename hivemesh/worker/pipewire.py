"""Pipeline messages: stages on workers, outputs worker to worker, signed claims.

``/hivemesh/stage/1`` (gateway -> worker, one stream per subtask attempt):
``StageAssign``, then ``StageAck``; when the assignment asks for ``tokens``
(the answer stage of a job whose clients follow its tokens), ``StageToken``
frames as the model generates; when the stage ends, ``StageDone`` on the
same stream. After the ack every frame is tagged with its kind (``token``,
``done`` or ``undelivered``: ``wire.encode_kind``). Closing the stream (before
the ``StageDone``) cancels the stage. The ``StageDone`` goes out as soon as
the output is written to every downstream peer, not when their acks are in;
the worker keeps the stream open until they are, and when a downstream peer
did not take its copy it says so in one ``Undelivered`` frame before it
closes (the gateway has the output re-sent).
``/hivemesh/output/1`` (worker -> worker): ``Output``, answered by ``OutputAck``.
``/hivemesh/resend/1`` (gateway -> worker): ``Resend``, answered by ``ResendAck``.

Outputs and completion reports carry an Ed25519 signature of the producing
peer over a ``Claim`` (job, subtask, attempt, output hash), so the gateway and
downstream peers know who produced what.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from hivemesh.mesh import wire
from hivemesh.worker.protocol import check_model_hash

STAGE = "/hivemesh/stage/1"
OUTPUT = "/hivemesh/output/1"
RESEND = "/hivemesh/resend/1"
MAX_TEXT = 256 * 1024
DOWNSTREAM_UNREACHABLE = "downstream unreachable"


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Route(wire.Message):
    subtask_id: str
    peer_id: str
    attempt: int


@dataclass(frozen=True)
class StageAssign(wire.Message):
    MAX_BYTES = 1024 * 1024 + 64 * 1024

    job_id: str
    subtask_id: str
    attempt: int
    capability: str
    template: str
    job_text: str
    inputs: dict[str, str]  # only the inputs and chunks the template needs, by index ("0", "1", ...)
    chunks: dict[str, str]
    depends_on: tuple[str, ...]
    downstream: tuple[Route, ...]
    max_tokens: int
    deadline_s: float
    answer: bool  # send the output text back to the gateway in StageDone
    chat: bool = True  # False: the prompt is raw text to continue (few-shot), not a user message
    stop: tuple[str, ...] = ()
    tokens: bool = False  # send the output as it is generated, in StageToken frames before StageDone
    model_hash: str = ""  # the weights this stage must run on (SHA-256); "" takes any for the capability
    checked: bool = False  # the gateway checks this output: send its text and the inputs it used back in StageDone

    def __post_init__(self) -> None:
        if len(self.stop) > 4 or any(not s or len(s) > 32 for s in self.stop):
            raise ValueError("at most 4 stop strings of 1-32 characters")
        check_model_hash(self.model_hash)


@dataclass(frozen=True)
class StageAck(wire.Message):
    ok: bool
    error_code: str = ""
    error: str = ""


@dataclass(frozen=True)
class StageToken(wire.Message):
    """Answer text generated since the last ``StageToken`` (one or more tokens)."""

    MAX_BYTES = 8 * 1024
    MAX_CHARS = 2048
    KIND = "token"

    token: str
    seq: int

    def __post_init__(self) -> None:
        if not 1 <= len(self.token) <= self.MAX_CHARS or self.seq < 0:
            raise ValueError(f"a token frame carries 1-{self.MAX_CHARS} characters and a seq >= 0")


@dataclass(frozen=True)
class Claim(wire.Message):
    """What a producer signs: it made ``output_hash`` for this subtask attempt."""

    job_id: str
    subtask_id: str
    attempt: int
    output_hash: str
    producer: str


@dataclass(frozen=True)
class Delivery(wire.Message):
    subtask_id: str
    peer_id: str
    ok: bool
    attempt: int = 0  # the attempt of ``subtask_id`` it was for (a stage moved back to the same peer is another)

    @property
    def route(self) -> tuple[str, str, int]:
        """(child, peer, attempt): how the gateway's state machine names a hand-off."""
        return self.subtask_id, self.peer_id, self.attempt


@dataclass(frozen=True)
class StageDone(wire.Message):
    MAX_BYTES = 2 * MAX_TEXT + 16 * 1024
    KIND = "done"

    ok: bool
    claim: Claim | None = None
    sig: bytes = b""
    output_bytes: int = 0
    text: str = ""  # only for the answer subtask, or a checked one
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    run_s: float = 0.0
    deliveries: tuple[Delivery, ...] = ()  # ok: written to that peer (its ack may still be on the way)
    input_hashes: dict[str, str] = field(default_factory=dict)  # the upstream outputs it used
    inputs: dict[str, str] = field(default_factory=dict)  # a checked stage's: the texts of those outputs
    error_code: str = ""
    error: str = ""


@dataclass(frozen=True)
class Undelivered(wire.Message):
    """After a ``StageDone``: the hand-offs it counted as written that their
    downstream peer did not take (no ack, or refused)."""

    KIND = "undelivered"

    deliveries: tuple[Delivery, ...]


@dataclass(frozen=True)
class Output(wire.Message):
    MAX_BYTES = MAX_TEXT + 4096

    to_subtask: str
    to_attempt: int
    claim: Claim
    sig: bytes
    text: str


@dataclass(frozen=True)
class OutputAck(wire.Message):
    status: str  # "accepted" | "duplicate" | "early" | "rejected"
    detail: str = ""


@dataclass(frozen=True)
class Resend(wire.Message):
    job_id: str
    from_subtask: str
    route: Route


@dataclass(frozen=True)
class ResendAck(wire.Message):
    ok: bool
    detail: str = ""


def sign_claim(claim: Claim, keypair: KeyPair) -> bytes:
    return keypair.private_key.sign(wire.encode(claim))


def verify_claim(claim: Claim, sig: bytes, text: str | None = None) -> bool:
    """The signature is the producer's, and (when given) ``text`` matches the hash."""
    if text is not None and digest(text) != claim.output_hash:
        return False
    try:
        key = ID.from_base58(claim.producer).extract_public_key()
        return key is not None and key.verify(wire.encode(claim), sig)
    except Exception:
        return False
