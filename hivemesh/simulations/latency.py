"""Link-latency specs for the model-only simulation: parse once, sample many.

A spec is ``kind:args`` with units on every duration::

    lognormal:40ms,0.5     median 40 ms, sigma 0.5 (of the log)
    uniform:10ms,100ms     uniform between 10 ms and 100 ms
    fixed:40ms             every link 40 ms

``parse_latency`` is pure and raises ``ModelConfigError`` (a ``ValueError``
and a ``ConfigError``) with a message saying what was wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from hivemesh.errors import ConfigError

KINDS = ("lognormal", "uniform", "fixed")
MAX_LATENCY_S = 60.0
MAX_SIGMA = 3.0

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(us|ms|s)\s*$")


class ModelConfigError(ConfigError, ValueError):
    """A bad model-only simulation setting (latency spec, peer count, ...)."""


@dataclass(frozen=True)
class LatencySpec:
    """A parsed latency distribution; ``a``/``b`` mean per ``kind`` (seconds)."""

    kind: str
    a: float
    b: float = 0.0

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` one-way latencies in seconds."""
        if self.kind == "lognormal":
            return self.a * np.exp(self.b * rng.standard_normal(size))
        if self.kind == "uniform":
            return rng.uniform(self.a, self.b, size)
        return np.full(size, self.a)

    def median(self) -> float:
        return (self.a + self.b) / 2 if self.kind == "uniform" else self.a


def parse_duration(text: str) -> float:
    """``"40ms"`` -> 0.04. A unit (us, ms, s) is required."""
    match = _DURATION.match(text)
    if match is None:
        raise ModelConfigError(f"bad duration {text!r}: want a number with a unit, e.g. 40ms, 0.1s, 500us")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse_latency(spec: str) -> LatencySpec:
    """Parse ``lognormal:MEDIAN,SIGMA``, ``uniform:MIN,MAX`` or ``fixed:VALUE``."""
    kind, sep, rest = spec.strip().partition(":")
    kind = kind.strip().lower()
    if not sep or kind not in KINDS:
        raise ModelConfigError(f"bad latency spec {spec!r}: want one of {_forms()}")
    args = [a.strip() for a in rest.split(",")]
    want = 1 if kind == "fixed" else 2
    if len(args) != want or not all(args):
        raise ModelConfigError(
            f"bad latency spec {spec!r}: {kind} takes {want} argument(s), e.g. {_example(kind)}")
    if kind == "lognormal":
        return _lognormal(spec, args)
    if kind == "uniform":
        return _uniform(spec, args)
    return LatencySpec("fixed", _duration(spec, args[0]))


def _lognormal(spec: str, args: list[str]) -> LatencySpec:
    median = _duration(spec, args[0])
    try:
        sigma = float(args[1])
    except ValueError:
        raise ModelConfigError(f"bad latency spec {spec!r}: sigma {args[1]!r} is not a number") from None
    if not (math.isfinite(sigma) and 0.0 <= sigma <= MAX_SIGMA):
        raise ModelConfigError(f"bad latency spec {spec!r}: sigma must be in [0, {MAX_SIGMA}]")
    if median <= 0:
        raise ModelConfigError(f"bad latency spec {spec!r}: median must be > 0")
    return LatencySpec("lognormal", median, sigma)


def _uniform(spec: str, args: list[str]) -> LatencySpec:
    low, high = (_duration(spec, a) for a in args)
    if low > high:
        raise ModelConfigError(f"bad latency spec {spec!r}: min {args[0]} is above max {args[1]}")
    return LatencySpec("uniform", low, high)


def _duration(spec: str, text: str) -> float:
    try:
        seconds = parse_duration(text)
    except ModelConfigError as exc:
        raise ModelConfigError(f"bad latency spec {spec!r}: {exc}") from None
    if not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_LATENCY_S):
        raise ModelConfigError(f"bad latency spec {spec!r}: durations must be within 0..{MAX_LATENCY_S:g}s")
    return seconds


def _example(kind: str) -> str:
    return {"lognormal": "lognormal:40ms,0.5", "uniform": "uniform:10ms,100ms", "fixed": "fixed:40ms"}[kind]


def _forms() -> str:
    return ", ".join(_example(k) for k in KINDS)
