"""Gateway election by rendezvous hashing. Pure: same view, same answer.

Every peer ranks the live gateway-eligible peers by a hash of their peer id
and takes the top k; no messages are exchanged. When a gateway's adverts
stop it leaves the views and the next one in rank takes its place. A client
orders the elected gateways for one job by a hash of (job id, peer id), so a
resubmitted job goes to the same gateway while that gateway lives.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from hivemesh.mesh.view import MeshView

DEFAULT_K = 3
_SALT = b"hivemesh-gateway/1"


def _score(*parts: str) -> bytes:
    return hashlib.sha256(_SALT + b"\x00".join(p.encode() for p in parts)).digest()


def elect(eligible: Iterable[str], k: int = DEFAULT_K) -> list[str]:
    """The top ``k`` of ``eligible`` peer ids, best first."""
    if k < 1:
        raise ValueError("k must be >= 1")
    return sorted(set(eligible), key=lambda p: _score(p), reverse=True)[:k]


def elect_from_view(view: MeshView, k: int = DEFAULT_K) -> list[str]:
    return elect((e.peer_id for e in view.gateway_eligible()), k)


def route(job_id: str, gateways: Iterable[str]) -> list[str]:
    """``gateways`` in the order a client should try them for ``job_id``."""
    return sorted(gateways, key=lambda p: _score(job_id, p), reverse=True)
