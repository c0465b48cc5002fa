"""SLM backends, model specs, and the capability registry.

Importing this package does not import llama.cpp; ``LlamaCppModel`` lives in
``hivemesh.models.llama`` and is loaded by ``load_model`` when a spec needs it.
"""

from hivemesh.models.base import (
    ChatMessage,
    Completion,
    CompletionRequest,
    ModelBackend,
    SpeedMeter,
)
from hivemesh.models.registry import (
    STANDARD_CAPABILITIES,
    ModelInfo,
    ModelRegistry,
    parse_model_args,
)
from hivemesh.models.simulated import SimulatedModel
from hivemesh.models.sources import ModelSpec, load_model, parse_spec

__all__ = [
    "STANDARD_CAPABILITIES",
    "ChatMessage",
    "Completion",
    "CompletionRequest",
    "ModelBackend",
    "ModelInfo",
    "ModelRegistry",
    "ModelSpec",
    "SimulatedModel",
    "SpeedMeter",
    "load_model",
    "parse_model_args",
    "parse_spec",
]
