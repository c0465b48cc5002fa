"""``/hivemesh/check/1``: a gateway asks a peer to check another peer's output.

The gateway writes one ``CheckRequest`` (the pinned model hash, the prompt
and sampling parameters the producer was given, the claimed output); the
checker scores the claim with the same weights (``ModelBackend.score``, one
prefill pass) and answers one ``CheckReply`` carrying a ``CheckStatement``
signed with its peer key, so the verdict can be shown to others (a third
opinion, a reputation record) as the checker's word.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from libp2p.crypto.keys import KeyPair
from libp2p.peer.id import ID

from hivemesh.mesh import wire
from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.identity import is_model_hash

CHECK = "/hivemesh/check/1"
MAX_PROMPT_BYTES = 192 * 1024
MAX_OUTPUT_BYTES = 64 * 1024
MAX_CHECK_TOKENS = 4096


@dataclass(frozen=True)
class CheckRequest(wire.Message):
    MAX_BYTES = MAX_PROMPT_BYTES + MAX_OUTPUT_BYTES + 8 * 1024

    check_id: str
    model_hash: str
    prompt: str
    output: str
    chat: bool = True
    max_tokens: int = 256
    temperature: float = 0.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= len(self.check_id) <= 128:
            raise ValueError("check_id must be 1-128 characters")
        if not is_model_hash(self.model_hash):
            raise ValueError("model_hash must be 64 lowercase hex digits")
        if len(self.prompt.encode()) > MAX_PROMPT_BYTES or len(self.output.encode()) > MAX_OUTPUT_BYTES:
            raise ValueError("prompt or output too long")
        if not 1 <= self.max_tokens <= MAX_CHECK_TOKENS:
            raise ValueError(f"max_tokens must be 1..{MAX_CHECK_TOKENS}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be 0..2")
        if len(self.stop) > 8 or any(not s or len(s) > 32 for s in self.stop):
            raise ValueError("at most 8 stop strings of 1-32 characters")

    def completion_request(self) -> CompletionRequest:
        """The request the producer ran, as the checker's model sees it."""
        common = dict(max_tokens=self.max_tokens, temperature=self.temperature, seed=self.seed, stop=self.stop)
        if self.chat:
            return CompletionRequest(messages=(ChatMessage("user", self.prompt),), **common)
        return CompletionRequest(prompt=self.prompt, **common)

    def digest(self) -> str:
        return hashlib.sha256(wire.encode(self)).hexdigest()


@dataclass(frozen=True)
class CheckStatement(wire.Message):
    """What a checker signs: its verdict on the request with this digest."""

    check_id: str
    request_hash: str
    model_hash: str
    accepted: bool
    tokens: int
    misses: int
    mean_gap: float
    checker: str
    reason: str = ""

    def __post_init__(self) -> None:
        if len(self.reason) > 300:
            raise ValueError("reason is at most 300 characters")


@dataclass(frozen=True)
class CheckReply(wire.Message):
    MAX_BYTES = 4 * 1024

    ok: bool  # the check ran; the verdict is in the statement
    statement: CheckStatement | None = None
    sig: bytes = b""
    check_s: float = 0.0
    error_code: str = ""
    error: str = ""


def sign_statement(statement: CheckStatement, keypair: KeyPair) -> bytes:
    return keypair.private_key.sign(wire.encode(statement))


def verify_statement(statement: CheckStatement, sig: bytes) -> bool:
    """The signature is the checker's own."""
    try:
        key = ID.from_base58(statement.checker).extract_public_key()
        return key is not None and key.verify(wire.encode(statement), sig)
    except Exception:
        return False
