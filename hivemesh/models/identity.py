"""Pinned model identity: which weights a model is, as a SHA-256.

A GGUF model is its file's SHA-256, computed once per file and cached: in
memory (by path, size and modification time) and beside the file
(``<file>.sha256``, when the folder is writable), so a restart does not hash
hundreds of megabytes again. A stale side file (other size or time) is
ignored. A simulated model gets a deterministic pseudo-hash of everything
that shapes its replies; a tool, a hash of its name (its output is exact).
Quantisation comes from the GGUF's ``general.file_type`` as llama.cpp names
it (``Q4_K_M``); simulated models say ``sim``.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
from pathlib import Path

log = logging.getLogger(__name__)

HASH_RE = re.compile(r"[0-9a-f]{64}")
CHUNK = 1 << 20
_cache: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def is_model_hash(text: str) -> bool:
    return bool(HASH_RE.fullmatch(text))


def file_sha256(path: Path) -> str:
    """The SHA-256 of ``path``, cached in memory and in ``<path>.sha256``."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    with _lock:
        if key in _cache:
            return _cache[key]
        found = _read_side(path, stat.st_size, stat.st_mtime_ns)
        if found is None:
            found = _hash_file(path)
            _write_side(path, found, stat.st_size, stat.st_mtime_ns)
        _cache[key] = found
        return found


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(CHUNK):
            digest.update(block)
    log.info("model hashed path=%s sha256=%s", path, digest.hexdigest()[:16])
    return digest.hexdigest()


def _side(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def _read_side(path: Path, size: int, mtime_ns: int) -> str | None:
    """``<sha256> <size> <mtime_ns>`` from the side file, when it is current."""
    try:
        fields = _side(path).read_text().split()
    except OSError:
        return None
    if len(fields) == 3 and is_model_hash(fields[0]) and fields[1:] == [str(size), str(mtime_ns)]:
        return fields[0]
    return None


def _write_side(path: Path, sha: str, size: int, mtime_ns: int) -> None:
    try:
        _side(path).write_text(f"{sha} {size} {mtime_ns}\n")
    except OSError as exc:  # a read-only folder: the memory cache is enough
        log.debug("model hash not cached beside %s: %s", path, exc)


def pseudo_hash(kind: str, *parts: object) -> str:
    """A deterministic stand-in hash for a model without a weights file."""
    return hashlib.sha256("\x1f".join([kind, *map(str, parts)]).encode()).hexdigest()


def quant_name(file_type: str | int | None) -> str:
    """llama.cpp's name for a GGUF ``general.file_type`` (``15`` -> ``Q4_K_M``)."""
    if file_type is None:
        return ""
    try:
        number = int(file_type)
    except ValueError:
        return ""
    try:
        import llama_cpp
    except (ImportError, OSError):
        return f"ftype{number}"
    for name in dir(llama_cpp):
        if name.startswith("LLAMA_FTYPE_") and getattr(llama_cpp, name) == number:
            return name.removeprefix("LLAMA_FTYPE_").removeprefix("MOSTLY_").removeprefix("ALL_")
    return f"ftype{number}"
