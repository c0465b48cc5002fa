"""hivemesh: a cloud LLM plans, a peer-to-peer mesh of small models does the work.

    from hivemesh import Client
    result = Client("/ip4/127.0.0.1/tcp/4001/p2p/12D3KooW...").submit("Summarise ...", [document])
    print(result.answer, result.accounting)
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Client", "__version__"]


def __getattr__(name: str) -> Any:
    # imported on use, so that `hivemesh --help` does not load py-libp2p
    if name == "Client":
        from hivemesh.client import Client

        return Client
    raise AttributeError(f"module 'hivemesh' has no attribute {name!r}")
