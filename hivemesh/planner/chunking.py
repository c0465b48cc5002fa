"""Split job inputs into chunks and describe them briefly (pure).

Workers read chunks; the planner only ever sees ``describe``'s output: kind,
size, number of chunks and a preview of at most 200 characters. Chunks are
numbered across all inputs in order, which is what ``{{chunk:N}}`` refers to.
Token counts are approximate (4 characters per token), which is enough to
keep a chunk well inside a small model's context.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

CHARS_PER_TOKEN = 4
DEFAULT_CHUNK_TOKENS = 1000
MAX_PREVIEW_CHARS = 200

# Split by blank lines, then lines, then sentences, then words.
_SEPARATORS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\n\s*\n"), "\n\n"),
    (re.compile(r"\n"), "\n"),
    (re.compile(r"(?<=[.!?])\s+"), " "),
    (re.compile(r"\s+"), " "),
)


@dataclass(frozen=True)
class Chunk:
    index: int  # across all inputs
    input_index: int
    text: str


@dataclass(frozen=True)
class InputDescription:
    """What the planner is told about one input document."""

    index: int
    kind: str  # "text" | "markdown" | "code" | "json" | "csv"
    chars: int
    approx_tokens: int
    chunks: int
    first_chunk: int  # global index of its first chunk
    preview: str

    def to_dict(self) -> dict[str, object]:
        return {
            "index": self.index,
            "kind": self.kind,
            "chars": self.chars,
            "approx_tokens": self.approx_tokens,
            "chunks": self.chunks,
            "first_chunk": self.first_chunk,
            "preview": self.preview,
        }


def approx_tokens(chars: int) -> int:
    """Tokens in ``chars`` characters of text, roughly (ceil of chars/4)."""
    return -(-chars // CHARS_PER_TOKEN)


def split_text(text: str, chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> list[str]:
    """Split ``text`` into pieces of at most ``chunk_tokens`` (approx) tokens.

    Paragraphs stay whole where they fit; a longer paragraph is cut at line,
    then sentence, then word boundaries, and only a single overlong word is
    cut mid-way.
    """
    if chunk_tokens < 1:
        raise ValueError("chunk_tokens must be >= 1")
    text = text.strip()
    if not text:
        return []
    return _split(text, chunk_tokens * CHARS_PER_TOKEN, 0)


def _split(text: str, max_chars: int, level: int) -> list[str]:
    if len(text) <= max_chars:
        return [text]
    if level == len(_SEPARATORS):
        return [text[i : i + max_chars] for i in range(0, len(text), max_chars)]
    pattern, joiner = _SEPARATORS[level]
    parts = [p for p in pattern.split(text) if p.strip()]
    pieces: list[str] = []
    for part in parts:
        pieces.extend(_split(part, max_chars, level + 1))
    return _pack(pieces, max_chars, joiner)


def _pack(pieces: list[str], max_chars: int, joiner: str) -> list[str]:
    packed: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(joiner) + len(piece) <= max_chars:
            current += joiner + piece
        else:
            if current:
                packed.append(current)
            current = piece
    if current:
        packed.append(current)
    return packed


def chunk_inputs(inputs: Sequence[str], chunk_tokens: int = DEFAULT_CHUNK_TOKENS) -> list[Chunk]:
    """Every input split into chunks, numbered across inputs in order."""
    chunks: list[Chunk] = []
    for input_index, text in enumerate(inputs):
        for piece in split_text(text, chunk_tokens):
            chunks.append(Chunk(len(chunks), input_index, piece))
    return chunks


def describe(
    inputs: Sequence[str],
    chunk_tokens: int = DEFAULT_CHUNK_TOKENS,
    preview_chars: int = MAX_PREVIEW_CHARS,
) -> list[InputDescription]:
    """A short description of each input, consistent with ``chunk_inputs``."""
    preview_chars = max(0, min(preview_chars, MAX_PREVIEW_CHARS))
    described: list[InputDescription] = []
    first = 0
    for index, text in enumerate(inputs):
        n = len(split_text(text, chunk_tokens))
        described.append(
            InputDescription(
                index=index,
                kind=guess_kind(text),
                chars=len(text),
                approx_tokens=approx_tokens(len(text)),
                chunks=n,
                first_chunk=first,
                preview=preview(text, preview_chars),
            )
        )
        first += n
    return described


def preview(text: str, limit: int = MAX_PREVIEW_CHARS) -> str:
    """The start of ``text`` with whitespace collapsed, at most ``limit`` chars."""
    flat = " ".join(text.split())
    if limit <= 0:
        return ""
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


_CODE_LINE = re.compile(
    r"^\s*(def |class |import |from \S+ import |#include|function |fn |let |const |var |"
    r"public |private |return\b|if ?\(|for ?\(|while ?\()|[;{}]\s*$"
)


def guess_kind(text: str) -> str:
    """A cheap guess at what an input is: json, csv, code, markdown or text."""
    stripped = text.strip()
    if stripped[:1] in ("{", "[") and len(stripped) < 2_000_000 and _is_json(stripped):
        return "json"
    lines = [line for line in stripped.splitlines()[:200] if line.strip()]
    if not lines:
        return "text"
    if _looks_like_csv(lines):
        return "csv"
    if sum(bool(_CODE_LINE.search(line)) for line in lines) >= 0.3 * len(lines):
        return "code"
    if sum(line.lstrip().startswith(("#", "- ", "* ", "```")) for line in lines) >= 0.2 * len(
        lines
    ):
        return "markdown"
    return "text"


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


def _looks_like_csv(lines: list[str]) -> bool:
    head = lines[:5]
    if len(head) < 3:
        return False
    for sep in (",", "\t", ";"):
        counts = {line.count(sep) for line in head}
        if len(counts) == 1 and counts.pop() >= 1:
            return True
    return False
