"""Errors of the simulation harness, inside hivemesh's exception tree."""

from __future__ import annotations

from hivemesh.errors import ConfigError, MeshError


class SimConfigError(ConfigError, ValueError):
    """A bad simulation setting (exit code 2)."""


class PeerStartFailed(MeshError):
    """A simulated peer (thread or process) could not be started."""
