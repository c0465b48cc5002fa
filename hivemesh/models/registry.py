"""Capability registry: which loaded model serves which capability.

``--model CAP=SPEC`` (or ``CAP1,CAP2=SPEC``) maps capabilities to model
specs. Several capabilities may name one spec: that model is loaded once and
serves all of them. A capability may be served by one model only. With no
``--model`` the bundled model serves ``general``. Capabilities are data: any
name matching ``[a-z][a-z0-9_-]{0,31}`` works; ``STANDARD_CAPABILITIES`` are
the ones planners know.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from hivemesh.errors import CapabilityMissing, ConfigError, HivemeshError, ModelNotFound
from hivemesh.models.base import Completion, CompletionRequest, ModelBackend, SpeedMeter
from hivemesh.models.sources import ModelSpec, load_model, parse_spec

log = logging.getLogger(__name__)

STANDARD_CAPABILITIES = (
    "summarize",
    "code",
    "analysis",
    "math",
    "general",
    "extract",
    "classify",
    "instruct",
    "join",
    "count",
    "translate",
)
# The default capability -> bundled model map, chosen by ``hivemesh eval
# --mesh-model bundled --mesh-model smollm2-135m-instruct`` (README, "Quality"):
# Gemma 3 270M extracts (0.55 vs 0.46) and classifies (0.60 vs 0.50) better,
# few-shot; SmolLM2 135M Instruct summarises (0.28 vs 0.11) and writes code
# (0.39 vs 0) better.
GEMMA_CAPABILITIES = ("general", "extract", "classify", "translate")
SMOLLM2_CAPABILITIES = ("summarize", "code", "analysis", "instruct")
DEFAULT_MODEL_ARGS = (f"{','.join(GEMMA_CAPABILITIES)}=bundled",
                      f"{','.join(SMOLLM2_CAPABILITIES)}=smollm2-135m-instruct")
CAPABILITY_RE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
WARM_UP_PROMPT = "Count from one to twenty: one, two, three,"


@dataclass(frozen=True)
class ModelAssignment:
    """One model to load and the capabilities it serves."""

    spec: ModelSpec
    capabilities: tuple[str, ...]


@dataclass(frozen=True)
class ModelInfo:
    """What an advert says about one model."""

    name: str
    capabilities: tuple[str, ...]
    context_size: int
    tokens_per_second: float
    sha256: str = ""  # the weights (a GGUF file's SHA-256; a pseudo-hash for simulated models)
    quant: str = ""


def model_hash(backend: ModelBackend) -> str:
    """The backend's pinned identity, or "" for one that declares none."""
    return str(getattr(backend, "model_hash", ""))


def check_capability(name: str) -> str:
    """Returns ``name`` if it is a valid capability name, else ``ConfigError``."""
    if not CAPABILITY_RE.fullmatch(name):
        raise ConfigError(
            f"bad capability {name!r}: lowercase letters, digits, '-' and '_', "
            "starting with a letter, at most 32 characters"
        )
    return name


def parse_model_arg(text: str) -> tuple[tuple[str, ...], ModelSpec]:
    """``"CAP1,CAP2=SPEC"`` -> ``((CAP1, CAP2), spec)``."""
    caps, sep, spec = text.partition("=")
    if not sep or not spec.strip():
        raise ConfigError(f"--model wants CAP=SPEC, got {text!r}")
    names = tuple(check_capability(c.strip()) for c in caps.split(","))
    return names, parse_spec(spec)


def with_tools(args: Sequence[str], tools: Sequence[str]) -> list[str]:
    """``args`` (or the default model) plus ``CAP=tool:CAP`` for each tool whose
    capability no ``--model`` gives to a model already."""
    given = list(args or DEFAULT_MODEL_ARGS)
    taken = {cap for text in given for cap in parse_model_arg(text)[0]}
    return given + [f"{tool}=tool:{tool}" for tool in tools if tool not in taken]


def parse_model_args(args: Sequence[str]) -> tuple[ModelAssignment, ...]:
    """Groups ``--model`` values by model, in first-seen order."""
    by_spec: dict[str, list[str]] = {}
    specs: dict[str, ModelSpec] = {}
    owner: dict[str, str] = {}
    for text in args or DEFAULT_MODEL_ARGS:
        caps, spec = parse_model_arg(text)
        key = spec.canonical()
        specs.setdefault(key, spec)
        served = by_spec.setdefault(key, [])
        for cap in caps:
            if owner.setdefault(cap, key) != key:
                raise ConfigError(f"capability {cap!r} is given to {owner[cap]!r} and {key!r}")
            if cap not in served:
                served.append(cap)
    return tuple(ModelAssignment(specs[k], tuple(v)) for k, v in by_spec.items())


@dataclass
class _Entry:
    backend: ModelBackend
    capabilities: tuple[str, ...]
    speed: SpeedMeter


class ModelRegistry:
    """Loaded models, the capabilities each serves, and their measured speed."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._by_capability: dict[str, str] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_args(
        cls,
        args: Sequence[str] = (),
        *,
        loader: Callable[[ModelSpec], ModelBackend] = load_model,
        tools: Sequence[str] = (),
    ) -> ModelRegistry:
        """Parses ``--model`` values and loads each distinct model once; adds
        the ``tools`` (``hivemesh.models.tools``) whose capability is free."""
        registry = cls()
        try:
            for item in parse_model_args(with_tools(args, tools) if tools else args):
                registry.add(loader(item.spec), item.capabilities)
        except BaseException:
            registry.close()
            raise
        return registry

    def add(self, backend: ModelBackend, capabilities: Iterable[str]) -> None:
        caps = tuple(dict.fromkeys(check_capability(c) for c in capabilities))
        if not caps:
            raise ConfigError(f"model {backend.name!r} serves no capability")
        if backend.name in self._entries:
            raise ConfigError(f"two models are named {backend.name!r}; set ?name= on one")
        taken = [c for c in caps if c in self._by_capability]
        if taken:
            raise ConfigError(f"capabilities {taken} already have a model")
        self._entries[backend.name] = _Entry(backend, caps, SpeedMeter())
        self._by_capability.update((c, backend.name) for c in caps)
        extra = [c for c in caps if c not in STANDARD_CAPABILITIES]
        log.info("model added name=%s capabilities=%s", backend.name, ",".join(caps))
        if extra:
            log.info("model %s serves non-standard capabilities %s", backend.name, extra)

    def model_for(self, capability: str) -> ModelBackend:
        name = self._by_capability.get(capability)
        if name is None:
            raise CapabilityMissing(f"no model here serves {capability!r}")
        return self._entries[name].backend

    def model_by_hash(self, sha256: str) -> ModelBackend | None:
        """The loaded model with these weights, if any."""
        for entry in self._entries.values():
            if sha256 and model_hash(entry.backend) == sha256:
                return entry.backend
        return None

    def capabilities(self) -> tuple[str, ...]:
        return tuple(self._by_capability)

    def models(self) -> tuple[ModelBackend, ...]:
        return tuple(e.backend for e in self._entries.values())

    def infos(self) -> list[ModelInfo]:
        with self._lock:
            return [
                ModelInfo(name, e.capabilities, e.backend.context_size, e.speed.tokens_per_second,
                          model_hash(e.backend), str(getattr(e.backend, "quant", "")))
                for name, e in self._entries.items()
            ]

    def observe(self, name: str, completion: Completion) -> None:
        """Feeds a real completion of model ``name`` into its speed estimate."""
        entry = self._entries.get(name)
        if entry is None:
            raise ModelNotFound(f"no model named {name!r} in this registry")
        with self._lock:
            entry.speed.observe(completion)

    def warm_up(self, max_tokens: int = 16) -> None:
        """Runs one short generation per model to measure its tokens/s."""
        request = CompletionRequest(prompt=WARM_UP_PROMPT, max_tokens=max_tokens)
        for name, entry in self._entries.items():
            if getattr(entry.backend, "is_tool", False):
                continue  # no tokens to measure
            try:
                completion = entry.backend.generate(request)
            except HivemeshError as exc:
                log.warning("model warm-up failed name=%s: %s", name, exc)
                continue
            self.observe(name, completion)
            log.info(
                "model warm name=%s tokens=%d tokens_per_second=%.1f",
                name,
                completion.completion_tokens,
                completion.tokens_per_second,
            )

    def close(self) -> None:
        """Frees every model that can be freed."""
        for entry in self._entries.values():
            close = getattr(entry.backend, "close", None)
            if callable(close):
                close()
