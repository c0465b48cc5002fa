"""Pure cache-key helpers for the plan and output caches.

Both return a sha256 hex digest over canonical JSON (sorted keys, no spaces,
UTF-8), tagged with a version so a format change can never hit old entries.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

PLAN_KEY_VERSION = "hivemesh-plan/1"
OUTPUT_KEY_VERSION = "hivemesh-output/1"


def normalize_job_text(text: str) -> str:
    """Strip, collapse runs of whitespace to one space, NFC, casefold."""
    collapsed = " ".join(text.split())
    return unicodedata.normalize("NFC", collapsed.casefold())


def plan_cache_key(job_text: str, inputs: Sequence[str], options: Mapping[str, Any]) -> str:
    """Same job (modulo case/whitespace), same inputs, same options -> same key.

    Inputs are hashed verbatim and in order: whitespace inside a document
    can matter to its meaning, and a different order is a different job.
    """
    payload = {
        "v": PLAN_KEY_VERSION,
        "job": normalize_job_text(job_text),
        "inputs": [_sha256(text.encode("utf-8")) for text in inputs],
        "options": options,
    }
    return _sha256(canonical_json(payload))


def output_cache_key(model: str, prompt: str, params: Mapping[str, Any]) -> str:
    """Same model, prompt and generation parameters -> same key."""
    payload = {"v": OUTPUT_KEY_VERSION, "model": model, "prompt": prompt, "params": params}
    return _sha256(canonical_json(payload))


def canonical_json(value: Any) -> bytes:
    """Deterministic JSON bytes; integral floats become ints (1.0 == 1)."""
    try:
        text = json.dumps(_canonical(value), sort_keys=True, separators=(",", ":"),
                          ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"cache key input is not plain JSON data: {exc}") from exc
    return text.encode("utf-8")


def _canonical(value: Any) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, (str, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return int(value)
        return value
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("cache key input maps must have string keys")
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    raise ValueError(f"cache key input has unsupported type {type(value).__name__}")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
