"""The real bundled GGUF behind the API: the streamed answer is what the model
gives the same request directly, and its tokens come while it generates."""

import time

import openai
import pytest
import trio

from hivemesh.api.app import Api, ApiSettings
from hivemesh.api.server import serve
from hivemesh.gateway.store.memory import MemoryStore
from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.registry import ModelRegistry
from hivemesh.peer.inprocess import start_gateway
from hivemesh.planner.errors import PlanError
from hivemesh.planner.offline import ScriptedPlanner
from tests.meshutil import peer_config, start_bootstrap, start_worker, wait_until

pytestmark = pytest.mark.slow


async def test_streamed_answer_from_llama_cpp_is_the_plain_answer(nursery, gemma):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    registry = ModelRegistry()
    registry.add(gemma, ("general",))
    worker = await start_worker(nursery, addr, registry)
    gw = await start_gateway(nursery, peer_config(addr, roles=()), MemoryStore(),
                             ScriptedPlanner([PlanError("not planned")]))
    await wait_until(lambda: worker.node.peer_id in gw.node.view.peers, 15, "the worker in the gateway's view")
    url = await nursery.start(serve, Api(gw.extra["gateway"], ApiSettings()).app(), "127.0.0.1:0")
    client = openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0, timeout=120)
    ask = dict(model="general", max_tokens=32, messages=[{"role": "user", "content": "Write a short story about a cat who finds a key."}])

    def stream():
        started, arrivals, pieces = time.monotonic(), [], []
        for chunk in client.chat.completions.create(stream=True, **ask):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                arrivals.append(time.monotonic() - started)
        return pieces, arrivals

    pieces, arrivals = await trio.to_thread.run_sync(stream)
    request = CompletionRequest(messages=(ChatMessage("user", "Write a short story about a cat who finds a key."),), max_tokens=32)
    plain = await trio.to_thread.run_sync(gemma.generate, request)  # the same model asked directly
    assert "".join(pieces) == plain.text != ""
    assert len(pieces) > 3 and arrivals[-1] - arrivals[0] > 0.05  # token by token while it generated
