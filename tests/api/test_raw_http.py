"""Raw HTTP against a live gateway's API: bad requests get clear 4xx in
OpenAI's error shape, slow and vanishing clients are cut off, and the gateway
keeps serving."""

import json

import httpx
import trio

from hivemesh.api.app import ApiSettings
from tests.api.apimesh import api_mesh
from tests.meshutil import wait_until

GOOD = {"model": "general", "messages": [{"role": "user", "content": "Say hi"}]}


def host_port(url):
    host, port = url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


async def post(client, url, body, **kw):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return await client.post(url + "/v1/chat/completions", content=data,
                             headers={"content-type": "application/json"}, **kw)


def is_openai_error(response, status, code=None, param=None):
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    if code is not None:
        assert error["code"] == code, error
    if param is not None:
        assert error["param"] == param, error
    return error


async def test_bad_requests_get_4xx_in_openais_shape_and_the_gateway_keeps_serving(nursery):
    mesh = await api_mesh(nursery)
    async with httpx.AsyncClient(timeout=30) as client:
        is_openai_error(await post(client, mesh.url, b'{"model": "general", "messages": ['), 400, "invalid_json")
        is_openai_error(await post(client, mesh.url, b"\xff\xfe"), 400, "invalid_json")
        is_openai_error(await post(client, mesh.url, [1, 2]), 400)
        is_openai_error(await post(client, mesh.url, {"model": "general"}), 400, param="messages")
        is_openai_error(await post(client, mesh.url, {"messages": GOOD["messages"]}), 400, param="model")
        is_openai_error(await post(client, mesh.url, {**GOOD, "max_tokens": "64"}), 400, param="max_tokens")
        is_openai_error(await post(client, mesh.url, {**GOOD, "max_tokens": True}), 400, param="max_tokens")
        is_openai_error(await post(client, mesh.url, {**GOOD, "max_tokens": 10**6}), 400, "max_tokens_out_of_range")
        is_openai_error(await post(client, mesh.url, {**GOOD, "stream": "yes"}), 400, param="stream")
        is_openai_error(await post(client, mesh.url, {**GOOD, "messages": [{"role": "user", "content": 5}]}), 400,
                        param="messages[0].content")
        is_openai_error(await post(client, mesh.url, {**GOOD, "messages": [{"role": "robot", "content": "x"}]}), 400)
        is_openai_error(await post(client, mesh.url, {**GOOD, "functions": []}), 400, param="functions")
        is_openai_error(await post(client, mesh.url, {**GOOD, "messages": [{"role": "user", "content": "x" * 20000}]}),
                        400, "context_length_exceeded")
        is_openai_error(await post(client, mesh.url, b"{" + b" " * (2 * 1024 * 1024) + b"}"), 400, "request_too_large")
        is_openai_error(await post(client, mesh.url, {**GOOD, "model": "gpt-9"}), 404, "model_not_found")
        is_openai_error(await client.get(mesh.url + "/v1/nothing"), 404)
        is_openai_error(await client.get(mesh.url + "/v1/chat/completions"), 405)
        reply = await post(client, mesh.url, GOOD)
        assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"].startswith("[sim-general ")


async def test_missing_key_is_401_for_every_route(nursery):
    mesh = await api_mesh(nursery, ApiSettings(keys=("secret",)))
    async with httpx.AsyncClient(timeout=30) as client:
        is_openai_error(await client.get(mesh.url + "/v1/models"), 401, "invalid_api_key")
        is_openai_error(await post(client, mesh.url, GOOD), 401, "invalid_api_key")
        ok = await client.get(mesh.url + "/v1/models", headers={"authorization": "Bearer secret"})
        assert ok.status_code == 200 and ok.json()["data"][0]["id"] == "hivemesh"


async def test_a_client_dribbling_its_body_is_cut_off_with_408(nursery):
    mesh = await api_mesh(nursery, ApiSettings(body_timeout_s=1.0))
    stream = await trio.open_tcp_stream(*host_port(mesh.url))
    await stream.send_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                          b"content-length: 1000\r\n\r\n{")
    reply = b""
    with trio.fail_after(10):
        for _ in range(30):
            await trio.sleep(0.2)
            try:
                await stream.send_all(b" ")
            except trio.BrokenResourceError:
                break
            with trio.move_on_after(0.01):
                reply += await stream.receive_some(4096)
            if b"\r\n\r\n" in reply:
                break
    assert reply.startswith(b"HTTP/1.1 408"), reply
    assert b'"request_timeout"' in reply
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await post(client, mesh.url, GOOD)).status_code == 200


async def test_a_client_that_disconnects_cancels_its_job_on_the_worker(nursery):
    mesh = await api_mesh(nursery, tps=5, words=100)  # 20 s of generation if left alone
    worker = mesh.workers["general"]
    async with httpx.AsyncClient(timeout=30) as client:
        async with client.stream("POST", mesh.url + "/v1/chat/completions",
                                 json={**GOOD, "stream": True, "max_tokens": 200}) as response:
            job_id = response.headers["x-hivemesh-job"]
            async for line in response.aiter_lines():
                if '"content": "' in line and '"content": ""' not in line:
                    break  # the first token: the model is generating
    took = await wait_until(lambda: worker.worker.admission.running == 0, 5, "the worker's slot freed")
    assert took < 5
    events = [e async for e in mesh.gateway.follow(job_id)]
    assert events[-1].kind == "failed" and "client went away" in events[-1].detail
    assert worker.node.stages.stats["cancelled"] == 1
    async with httpx.AsyncClient(timeout=30) as client:  # and the gateway still serves
        assert (await post(client, mesh.url, {**GOOD, "max_tokens": 3})).status_code == 200


async def test_a_client_that_gives_up_waiting_for_a_whole_answer_cancels_its_job(nursery):
    mesh = await api_mesh(nursery, tps=5, words=100)
    worker = mesh.workers["general"]
    async with httpx.AsyncClient(timeout=httpx.Timeout(30, read=1.5)) as client:
        try:
            await post(client, mesh.url, {**GOOD, "max_tokens": 200})
        except httpx.ReadTimeout:
            pass
        else:
            raise AssertionError("the answer came before the client gave up")
    await wait_until(lambda: worker.node.stages.stats["cancelled"] == 1, 5, "the stage cancelled")
    assert worker.worker.admission.running == 0
    ended = [j for j in mesh.gateway.live.values() if j.cancelled]
    assert len(ended) == 1 and ended[0].events[-1].kind == "failed"


async def test_a_client_dribbling_its_headers_is_hung_up_on(nursery, monkeypatch):
    from hivemesh.api import server

    monkeypatch.setattr(server, "IDLE_TIMEOUT_S", 1)  # the real limit is 10 s
    mesh = await api_mesh(nursery)
    stream = await trio.open_tcp_stream(*host_port(mesh.url))
    await stream.send_all(b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\n")
    with trio.fail_after(5):
        while await stream.receive_some(4096):  # closed without an answer: b"" at the end
            pass
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await post(client, mesh.url, GOOD)).status_code == 200
