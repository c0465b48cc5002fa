"""Settings: typed, read in one place, unknown keys are errors.

Sources, later ones winning: defaults, a TOML file (``--config`` or
``HIVEMESH_CONFIG``), ``HIVEMESH_*`` environment variables, command-line flags.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

from hivemesh.errors import ConfigError

ENV_PREFIX = "HIVEMESH_"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("hivemesh"))


@dataclass
class Settings:
    identity: Path | None = None  # default: <data dir>/<role>.key
    swarm_key: Path | None = None  # private swarm: libp2p PSK file
    listen: list[str] = field(default_factory=lambda: ["/ip4/127.0.0.1/tcp/0"])
    bootstrap: list[str] = field(default_factory=list)
    advert_interval: float = 2.0  # the shortest; stretched as the mesh grows
    advert_budget: float = 10.0  # adverts/s each peer takes from the whole mesh (0: fixed interval)
    target_peers: int = 8
    models: list[str] = field(default_factory=list)  # "cap[,cap]=spec"
    tools: list[str] = field(default_factory=lambda: ["math", "join", "count"])  # besides the models; ["none"]: none
    slots: int = 0  # 0: from the number of cores
    threads: int = 0  # llama.cpp threads per model; 0: from the number of cores
    n_ctx: int = 2048
    n_gpu_layers: int = 0
    gateway: bool = False
    redis: str | None = None
    gateways: int = 3  # k of the gateway election
    anthropic_api_key: str | None = field(default=None, repr=False)  # also ANTHROPIC_API_KEY
    claude_model: str = "claude-sonnet-4-5"
    planner_model: str = "none"  # offline planner's local model (used if it passes a self-check); "none": rules
    planner_timeout: float = 5.0  # the local planner gives way to the rule-based plan after this
    planner_preview: int = 200  # characters of each input the planner may see (0: none, at most 200)
    subtask_deadline: float = 300.0
    check_share: float = 0.05  # gateways: share of a trusted worker's outputs checked (new ones: all); < 0: no checks
    http: str | None = None  # HOST:PORT of the OpenAI-compatible API (gateway peers)
    api_key: list[str] = field(default_factory=list, repr=False)  # bearer keys the API takes (none: no key asked)
    api_key_file: Path | None = None  # more keys, one a line
    http_max_jobs: int = 32  # API jobs in flight on this gateway; past it, 429
    max_jobs: int = 0  # jobs a gateway runs at once before it answers busy; 0: from the workers' slots in its view
    metrics: str | None = None  # HOST:PORT of the Prometheus /metrics endpoint
    log_level: str | None = None  # default: info for daemons, warning for one-shot commands

    def identity_path(self, role: str) -> Path:
        return self.identity or default_data_dir() / f"{role}.key"

    def tool_list(self) -> list[str]:
        """The tools this peer serves (``hivemesh.models.tools``); "none" for none."""
        from hivemesh.models.tools import TOOLS

        names = [t.strip().lower() for t in self.tools if t.strip()]
        if names == ["none"]:
            return []
        unknown = [t for t in names if t not in TOOLS]
        if unknown:
            raise ConfigError(f"unknown tool(s) {', '.join(unknown)} (known: {', '.join(TOOLS)}, or none)")
        return names

    def api_keys(self) -> tuple[str, ...]:
        """``api_key`` and the lines of ``api_key_file`` (blank lines and # comments skipped)."""
        keys = [k for k in self.api_key if k]
        if self.api_key_file is not None:
            try:
                lines = self.api_key_file.read_text().splitlines()
            except OSError as exc:
                raise ConfigError(f"cannot read api_key_file {self.api_key_file}: {exc.strerror}") from None
            keys += [ln.strip() for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        return tuple(keys)

    def psk(self) -> str | None:
        """The private swarm key, or None for an open swarm."""
        if self.swarm_key is None:
            return None
        from hivemesh.mesh import swarmkey

        return swarmkey.load(self.swarm_key)


_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
_HINTS = typing.get_type_hints(Settings)


def _coerce(name: str, value: Any, source: str) -> Any:
    tp = _HINTS[name]
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if value is None and type(None) in args:
        return None
    if origin in (typing.Union, types.UnionType):
        tp = next(a for a in args if a is not type(None))
        origin = typing.get_origin(tp)
    try:
        if origin is list:
            if isinstance(value, str):
                value = [v for v in (p.strip() for p in value.split(",")) if v] if source == "env" else [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError("expected a list of strings")
            return list(value)
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
                return value.lower() in ("1", "true", "yes", "on")
            raise TypeError("expected true or false")
        if tp is int and not isinstance(value, bool):
            return int(value)
        if tp is float and not isinstance(value, bool):
            return float(value)
        if tp is Path:
            return Path(value).expanduser()
        if tp is str and isinstance(value, str):
            return value
        raise TypeError(f"expected {getattr(tp, '__name__', tp)}")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r} from {source}: {exc} (got {value!r})") from None


def _apply(values: dict[str, Any], layer: Mapping[str, Any], source: str) -> None:
    for key, value in layer.items():
        name = key.replace("-", "_")
        if name not in _FIELDS:
            raise ConfigError(f"unknown setting {key!r} in {source}; known: {', '.join(sorted(_FIELDS))}")
        values[name] = _coerce(name, value, source)


def read_toml(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return data.get("hivemesh", data) if isinstance(data.get("hivemesh"), dict) else data


def read_env(env: Mapping[str, str]) -> dict[str, str]:
    return {
        k[len(ENV_PREFIX):].lower(): v
        for k, v in env.items()
        if k.startswith(ENV_PREFIX) and k != ENV_PREFIX + "CONFIG"
    }


def load(
    flags: Mapping[str, Any] | None = None,
    config_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Build ``Settings``; flags whose value is None were not given."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    path = config_file or (Path(env[ENV_PREFIX + "CONFIG"]) if env.get(ENV_PREFIX + "CONFIG") else None)
    if path is not None:
        _apply(values, read_toml(path), f"config file {path}")
    _apply(values, read_env(env), "env")
    if env.get("ANTHROPIC_API_KEY") and "anthropic_api_key" not in values:
        values["anthropic_api_key"] = env["ANTHROPIC_API_KEY"]
    _apply(values, {k: v for k, v in (flags or {}).items() if v is not None}, "flags")
    return check(Settings(**values))


def check(settings: Settings) -> Settings:
    """Values that type-check but cannot work are errors too."""
    import math

    problems = [
        (not (math.isfinite(settings.advert_interval) and settings.advert_interval > 0),
         f"advert_interval must be > 0 s (got {settings.advert_interval})"),
        (not 0 <= settings.planner_preview <= 200,
         f"planner_preview must be 0-200 characters (got {settings.planner_preview})"),
        (not (math.isfinite(settings.check_share) and settings.check_share <= 1),
         f"check_share must be at most 1 (a share; below 0: no checks; got {settings.check_share})"),
        (not (math.isfinite(settings.advert_budget) and settings.advert_budget >= 0),
         f"advert_budget must be >= 0 adverts/s, 0 for a fixed interval (got {settings.advert_budget})"),
    ]
    problems += [
        (settings.http is not None and not settings.gateway, "--http serves the gateway's API: it needs --gateway"),
        (settings.http_max_jobs < 1, f"http_max_jobs must be >= 1 (got {settings.http_max_jobs})"),
        (settings.max_jobs < 0, f"max_jobs must be >= 0, 0 for the default (got {settings.max_jobs})"),
    ]
    for bind, flag in ((settings.http, "--http"), (settings.metrics, "--metrics")):
        if bind is not None:
            from hivemesh.api.server import parse_bind

            parse_bind(bind, flag)
    for bad, message in problems:
        if bad:
            raise ConfigError(message)
    if settings.redis and settings.redis != "memory://":  # a bad --redis URL fails at start, not at first job
        from hivemesh.gateway.store.redis_url import parse_redis_url

        parse_redis_url(settings.redis)
    return settings
