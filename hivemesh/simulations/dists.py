"""Distributions of the simulated models' speed, drawn once per peer.

Latency specs are the model-only ones (``lognormal:200ms,0.5``,
``uniform:100ms,300ms``, ``fixed:200ms``; see ``latency``); token-rate specs
have the same forms without units (``lognormal:50,0.3``, ``uniform:20,80``,
``fixed:50``; 0 means "emit at once").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hivemesh.simulations.errors import SimConfigError
from hivemesh.simulations.latency import KINDS, MAX_SIGMA, LatencySpec, ModelConfigError, parse_latency

MAX_TPS = 100_000.0


@dataclass(frozen=True)
class Dist:
    """A parsed spec and the text it came from."""

    text: str
    spec: LatencySpec

    def draw(self, rng: np.random.Generator) -> float:
        return max(0.0, float(self.spec.sample(rng, 1)[0]))

    def is_zero(self) -> bool:
        return self.spec.kind == "fixed" and self.spec.a == 0


def parse_latency_dist(text: str, flag: str) -> Dist:
    """A duration distribution; ``SimConfigError`` naming ``flag`` when bad."""
    try:
        return Dist(text, parse_latency(text))
    except ModelConfigError as exc:
        raise SimConfigError(f"{flag}: {exc}") from None


def parse_rate_dist(text: str, flag: str) -> Dist:
    """A tokens-per-second distribution (numbers without units)."""
    kind, sep, rest = text.strip().partition(":")
    kind = kind.strip().lower()
    args = [a.strip() for a in rest.split(",")]
    want = 1 if kind == "fixed" else 2
    if not sep or kind not in KINDS or len(args) != want:
        raise SimConfigError(f"{flag}: bad rate spec {text!r}: want lognormal:50,0.3, uniform:20,80 or fixed:50")
    try:
        values = [float(a) for a in args]
    except ValueError:
        raise SimConfigError(f"{flag}: bad rate spec {text!r}: arguments must be numbers") from None
    if not all(math.isfinite(v) for v in values):
        raise SimConfigError(f"{flag}: bad rate spec {text!r}: arguments must be finite")
    return Dist(text, _rate_spec(kind, values, text, flag))


def _rate_spec(kind: str, values: list[float], text: str, flag: str) -> LatencySpec:
    if kind == "lognormal":
        median, sigma = values
        if not 0 < median <= MAX_TPS or not 0 <= sigma <= MAX_SIGMA:
            raise SimConfigError(f"{flag}: {text!r}: median must be in (0, {MAX_TPS:g}], sigma in [0, {MAX_SIGMA}]")
        return LatencySpec("lognormal", median, sigma)
    if kind == "uniform":
        low, high = values
        if not 0 <= low <= high <= MAX_TPS:
            raise SimConfigError(f"{flag}: {text!r}: want 0 <= min <= max <= {MAX_TPS:g}")
        return LatencySpec("uniform", low, high)
    if not 0 <= values[0] <= MAX_TPS:
        raise SimConfigError(f"{flag}: {text!r}: want 0 <= rate <= {MAX_TPS:g}")
    return LatencySpec("fixed", values[0])
