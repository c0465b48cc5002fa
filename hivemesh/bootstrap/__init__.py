"""The bootstrap role: a well-known peer that serves peer exchange only."""

from hivemesh.bootstrap.node import bootstrap_config

__all__ = ["bootstrap_config"]
