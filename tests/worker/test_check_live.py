"""``/hivemesh/check/1`` over real py-libp2p streams: a peer checks another
peer's claimed output with the pinned weights and answers a signed verdict."""

import pytest

from hivemesh.errors import TaskError
from hivemesh.mesh import wire
from hivemesh.models.base import ChatMessage, CompletionRequest
from hivemesh.models.registry import ModelRegistry
from hivemesh.models.simulated import SimulatedModel
from hivemesh.worker.checker import call_check
from hivemesh.worker.checkwire import CHECK, CheckReply, CheckRequest, verify_statement
from tests.meshutil import peer_config, start, start_bootstrap, start_worker, wait_until


async def checker_and_gateway(nursery, model):
    registry = ModelRegistry()
    registry.add(model, ("general",))
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    checker = await start_worker(nursery, addr, registry)
    gateway = await start(nursery, peer_config(addr))
    await wait_until(lambda: checker.node.peer_id in gateway.node.view.peers, 10, "the checker's advert")
    return checker, gateway


def check(model_hash, output, prompt="Summarise the news", check_id="c1", **kw):
    return CheckRequest(check_id=check_id, model_hash=model_hash, prompt=prompt, output=output, **kw)


async def test_a_checker_signs_its_verdicts_on_honest_and_altered_outputs(nursery):
    sim = SimulatedModel("sim", reply_words=10)
    checker, gateway = await checker_and_gateway(nursery, sim)
    honest = sim.generate(CompletionRequest(messages=(ChatMessage("user", "Summarise the news"),))).text
    statement = await call_check(gateway.node, checker.node.peer_id, check(sim.model_hash, honest))
    assert statement.accepted and statement.checker == checker.node.peer_id and statement.tokens == len(honest.split())
    words = honest.split()
    words[2], words[5] = words[5], words[2]
    lie = await call_check(gateway.node, checker.node.peer_id, check(sim.model_hash, " ".join(words), check_id="c2"))
    assert not lie.accepted and lie.misses == 2 and lie.reason
    # a forged statement (the verdict flipped) fails the checker's signature
    reply_stream = await gateway.node.open_stream(checker.node.peer_id, CHECK)
    await wire.write_message(reply_stream, check(sim.model_hash, " ".join(words), check_id="c3"))
    reply = await wire.read_message(reply_stream, CheckReply)
    assert verify_statement(reply.statement, reply.sig)
    forged = type(reply.statement)(**{**reply.statement.__dict__, "accepted": True})
    assert not verify_statement(forged, reply.sig)


async def test_a_check_pinned_to_weights_the_peer_lacks_is_refused(nursery):
    checker, gateway = await checker_and_gateway(nursery, SimulatedModel("sim"))
    with pytest.raises(TaskError) as info:
        await call_check(gateway.node, checker.node.peer_id, check("0" * 64, "anything"))
    assert info.value.code == "wrong_model"


async def test_a_malformed_check_gets_a_bad_request_and_the_peer_keeps_checking(nursery):
    sim = SimulatedModel("sim")
    checker, gateway = await checker_and_gateway(nursery, sim)
    stream = await gateway.node.open_stream(checker.node.peer_id, CHECK)
    await stream.write(wire.frame(b"\x81\xa3bad\x01"))
    reply = await wire.read_message(stream, CheckReply)
    assert not reply.ok and reply.error_code == "bad_request"
    honest = sim.generate(CompletionRequest(messages=(ChatMessage("user", "Summarise the news"),))).text
    assert (await call_check(gateway.node, checker.node.peer_id, check(sim.model_hash, honest))).accepted


@pytest.mark.slow
async def test_a_real_model_checks_a_real_answer_over_the_mesh(nursery, gemma):
    prompt = "What is the capital of Japan? Answer in one word."
    honest = gemma.generate(CompletionRequest(messages=(ChatMessage("user", prompt),), max_tokens=16)).text
    checker, gateway = await checker_and_gateway(nursery, gemma)  # after: a generation here would block the loop
    ok = await call_check(gateway.node, checker.node.peer_id,
                          check(gemma.model_hash, honest, prompt=prompt, max_tokens=16))
    assert ok.accepted, ok
    lie = await call_check(gateway.node, checker.node.peer_id,
                           check(gemma.model_hash, "Paris is the capital, of course.", prompt=prompt,
                                 max_tokens=16, check_id="c2"))
    assert not lie.accepted
