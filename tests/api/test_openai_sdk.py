"""The official ``openai`` SDK against a live gateway's HTTP API: models,
completions (direct and planned), streaming, keys, busy."""

import time

import openai
import pytest
import trio

from hivemesh.api.app import ApiSettings
from hivemesh.gateway.jobrun import JobSettings
from hivemesh.models.simulated import SimulatedModel
from hivemesh.models.base import ChatMessage, CompletionRequest
from tests.api.apimesh import api_mesh


def sdk(url, key="none", **kw):
    return openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0, timeout=30, **kw)


def ask(client, model="general", **kw):
    return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Say hi"}], **kw)


def expected(cap, words=12):
    """What the worker's simulated model answers to the job 'Say hi' sent as is."""
    model = SimulatedModel(f"sim-{cap}", reply_words=words)
    return model.generate(CompletionRequest(messages=(ChatMessage("user", "Say hi"),))).text


async def test_sdk_lists_models_and_completes_on_a_direct_capability(nursery):
    mesh = await api_mesh(nursery)
    client = sdk(mesh.url)
    models = await trio.to_thread.run_sync(lambda: [m.id for m in client.models.list()])
    assert models[0] == "hivemesh" and {"general", "summarize", "sim-general"} <= set(models)

    reply = await trio.to_thread.run_sync(lambda: ask(client, max_tokens=64))
    assert reply.choices[0].message.content == expected("general")
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.completion_tokens == len(expected("general").split())  # the model's words
    ext = reply.model_extra["hivemesh"]
    assert ext["planner"] == "direct" and ext["peers"] == [mesh.workers["general"].node.peer_id]
    assert ext["accounting"]["mesh_tokens"] == reply.usage.total_tokens

    by_name = await trio.to_thread.run_sync(lambda: ask(client, model="sim-general"))
    assert by_name.choices[0].message.content == expected("general")


async def test_sdk_planned_model_runs_the_planners_pipeline(nursery):
    mesh = await api_mesh(nursery)
    reply = await trio.to_thread.run_sync(lambda: ask(sdk(mesh.url), model="hivemesh"))
    ext = reply.model_extra["hivemesh"]
    assert ext["planner"] == "scripted"
    assert [s["id"] for s in ext["subtasks"]] == ["a", "b"]
    assert reply.choices[0].message.content.startswith("[sim-general ")


async def test_sdk_stream_sends_tokens_while_the_model_generates(nursery):
    mesh = await api_mesh(nursery, tps=20, words=20)  # ~1 s of generation

    def stream():
        pieces, times, usage = [], [], None
        started = time.monotonic()
        for chunk in ask(sdk(mesh.url), stream=True, stream_options={"include_usage": True}):
            if chunk.usage is not None:
                usage = chunk.usage
            for choice in chunk.choices:
                if choice.delta.content:
                    pieces.append(choice.delta.content)
                    times.append(time.monotonic() - started)
        return pieces, times, usage

    pieces, times, usage = await trio.to_thread.run_sync(stream)
    assert "".join(pieces) == expected("general", 20)
    assert len(pieces) >= 10, pieces  # token by token, not one block at the end
    assert times[-1] - times[0] > 0.5  # the first token came well before the last
    assert usage is not None and usage.completion_tokens == len(expected("general", 20).split())


async def test_api_keys_refuse_with_401_in_openais_shape(nursery):
    mesh = await api_mesh(nursery, ApiSettings(keys=("k-one", "k-two")))
    with pytest.raises(openai.AuthenticationError) as err:
        await trio.to_thread.run_sync(lambda: ask(sdk(mesh.url, key="k-three")))
    assert err.value.status_code == 401 and err.value.body["code"] == "invalid_api_key"
    with pytest.raises(openai.AuthenticationError):
        await trio.to_thread.run_sync(lambda: sdk(mesh.url, key="wrong").models.list())
    reply = await trio.to_thread.run_sync(lambda: ask(sdk(mesh.url, key="k-two")))
    assert reply.choices[0].message.content == expected("general")


async def test_busy_is_429_with_retry_after_and_the_gateway_recovers(nursery):
    mesh = await api_mesh(nursery, ApiSettings(max_jobs=1, retry_after_s=3), tps=10, words=10)
    client = sdk(mesh.url)
    first = []

    async def slow():
        first.append(await trio.to_thread.run_sync(lambda: ask(client)))

    nursery.start_soon(slow)
    while mesh.api.active == 0:
        await trio.sleep(0.01)
    with pytest.raises(openai.RateLimitError) as err:
        await trio.to_thread.run_sync(lambda: ask(client))
    assert err.value.response.headers["retry-after"] == "3" and err.value.body["code"] == "busy"
    while not first:
        await trio.sleep(0.05)
    again = await trio.to_thread.run_sync(lambda: ask(client))
    assert again.choices[0].message.content == first[0].choices[0].message.content


async def test_a_gateway_past_its_own_job_limit_answers_the_api_429_with_its_retry_after(nursery):
    mesh = await api_mesh(nursery, ApiSettings(max_jobs=8, retry_after_s=30), tps=10, words=10,
                          jobs=JobSettings(max_jobs=1))
    client = sdk(mesh.url)
    first = []

    async def slow():
        first.append(await trio.to_thread.run_sync(lambda: ask(client)))

    nursery.start_soon(slow)
    while not mesh.gateway.gate.running:
        await trio.sleep(0.01)
    with pytest.raises(openai.RateLimitError) as err:
        await trio.to_thread.run_sync(lambda: ask(client))
    assert err.value.body["code"] == "busy" and "1 jobs in flight" in err.value.body["message"]
    assert 1 <= int(err.value.response.headers["retry-after"]) <= 10  # the gateway's, not the API's 30
    assert mesh.gateway.stats["busy"] == 1
    while not first:
        await trio.sleep(0.05)
    again = await trio.to_thread.run_sync(lambda: ask(client))
    assert again.choices[0].message.content == first[0].choices[0].message.content
