"""What the mesh offers as OpenAI models, and a requested model as a job (pure).

``hivemesh`` is the planned mesh: the gateway's planner splits the job. Any
capability or model name the mesh advertises now is one subtask of that
capability, no planning (a model name runs on a peer that offers the model's
first capability; placement is by capability, as for every subtask).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hivemesh.api.schema import ApiError
from hivemesh.planner.plan import Plan, Subtask

PLANNED = "hivemesh"
DIRECT_PLANNER = "direct"


@dataclass(frozen=True)
class Offer:
    capabilities: dict[str, set[str]]  # capability -> peers offering it
    models: dict[str, tuple[str, ...]]  # model name -> its capabilities

    @classmethod
    def from_view(cls, view: Any) -> Offer:
        caps: dict[str, set[str]] = {}
        models: dict[str, tuple[str, ...]] = {}
        for peer_id, entry in view.peers.items():
            for m in entry.advert.models:
                models.setdefault(m.name, tuple(m.capabilities))
                for cap in m.capabilities:
                    caps.setdefault(cap, set()).add(peer_id)
        return cls(caps, models)

    def listing(self, created: int = 0) -> dict[str, Any]:
        """``GET /v1/models``: ``hivemesh``, then capabilities, then model names."""
        ids = [PLANNED, *sorted(self.capabilities), *sorted(set(self.models) - set(self.capabilities))]
        return {"object": "list",
                "data": [{"id": i, "object": "model", "created": created, "owned_by": "hivemesh"} for i in ids]}

    def capability_for(self, model: str) -> str | None:
        """None for the planned mesh; else the capability to run ``model`` as."""
        if model == PLANNED:
            return None
        if model in self.capabilities:
            return model
        caps = self.models.get(model)
        if caps:
            return caps[0]
        raise ApiError(404, f"The model `{model}` does not exist or is not offered by the mesh now "
                            f"(GET /v1/models lists what is)", code="model_not_found", param="model")


def direct_plan(capability: str, max_tokens: int, stop: tuple[str, ...]) -> Plan:
    """The one-subtask plan of a job sent to ``capability``."""
    return Plan(subtasks=(Subtask(id="answer", capability=capability, prompt="{{job}}", max_tokens=max_tokens,
                                  stop=stop),), answer="answer", planner=DIRECT_PLANNER)
