"""The cloud system through a fake Anthropic API (real SDK, real HTTP), the
single system on the real bundled model, and the run loop's failure paths."""

import trio

from hivemesh.eval.runner import answer_in_time, run_suite
from hivemesh.eval.suite import load_suite
from hivemesh.eval.systems import CLOUD_SYSTEM, Answer, CloudModel, SingleModel, cloud_client, prompt_of
from hivemesh.planner.pricing import cloud_usd
from tests.fake_anthropic import FakeAnthropic, error_reply, scripted, text_reply

TASKS = {t.id: t for t in load_suite()}
MATH = TASKS["math-add-divide"]
MULTI = TASKS["multi-sum-city"]


async def test_cloud_answers_through_the_sdk_and_prices_its_tokens(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with FakeAnthropic(scripted(text_reply("(345 + 1289) / 7 = 233.43", usage=(61, 17)))) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        system = CloudModel(cloud_client("sk-test"), "claude-sonnet-4-5")
        answer = await system.answer(MATH)
    assert answer.text == "(345 + 1289) / 7 = 233.43" and not answer.error
    assert (answer.cloud_input_tokens, answer.cloud_output_tokens, answer.mesh_tokens) == (61, 17, 0)
    assert answer.usd == cloud_usd("claude-sonnet-4-5", 61, 17) > 0
    request = api.requests[0]
    assert request["system"] == CLOUD_SYSTEM and request["model"] == "claude-sonnet-4-5"
    assert request["messages"] == [{"role": "user", "content": prompt_of(MATH)}]
    sent = api.headers[0]
    assert sent.get("x-api-key") == "sk-test" or sent.get("authorization") == "Bearer sk-test"


async def test_cloud_api_failure_is_an_error_answer(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with FakeAnthropic(scripted(error_reply(529, "overloaded_error", "Overloaded"))) as api:
        monkeypatch.setenv("ANTHROPIC_BASE_URL", api.url)
        answer = await CloudModel(cloud_client("sk-test"), "claude-sonnet-4-5").answer(MATH)
    assert answer.text == "" and "Overloaded" in answer.error and answer.usd == 0


async def test_single_model_answers_with_the_bundled_model(gemma) -> None:  # type: ignore[no-untyped-def]
    answer = await SingleModel(gemma, max_tokens=8).answer(MATH)
    assert not answer.error and answer.mesh_tokens > 8 and answer.seconds > 0
    assert answer.cloud_tokens == 0 and answer.usd == 0


class Scripted:
    def __init__(self, name: str, texts: dict[str, str]) -> None:
        self.name, self.texts = name, texts

    async def answer(self, task):  # type: ignore[no-untyped-def]
        return Answer(self.texts.get(task.id, ""), 0.5, mesh_tokens=10)


class Stuck:
    name = "stuck"

    async def answer(self, task):  # type: ignore[no-untyped-def]
        await trio.sleep_forever()


class Broken:
    name = "broken"

    async def answer(self, task):  # type: ignore[no-untyped-def]
        raise RuntimeError("bug")


async def test_timeouts_and_bugs_become_error_answers() -> None:
    slow = await answer_in_time(Stuck(), MATH, 0.2)
    assert slow.error == "timed out after 0.2s" and slow.text == ""
    broken = await answer_in_time(Broken(), MATH, 5)
    assert broken.error == "internal error: RuntimeError: bug"


async def test_run_suite_scores_every_system_on_every_task() -> None:
    good = Scripted("good", {"math-add-divide": "233.43", "multi-sum-city": "Sum: 4725\n\nCity: Lagos"})
    half = Scripted("half", {"multi-sum-city": "Sum: 4725\n\nCity: Accra"})
    seen = []
    results = await run_suite([MATH, MULTI], [good, half], task_timeout=5, on_result=seen.append)
    assert [(r.task.id, r.system) for r in results] == [
        ("math-add-divide", "good"), ("math-add-divide", "half"), ("multi-sum-city", "good"), ("multi-sum-city", "half")]
    assert seen == results
    assert [r.score.score for r in results] == [1.0, 0.0, 1.0, 0.5]


async def test_mesh_over_bootstrap_submits_through_one_client_node() -> None:
    import dataclasses

    from hivemesh import config
    from hivemesh.embedded import embedded_mesh
    from hivemesh.eval.meshsys import over_bootstrap

    settings = dataclasses.replace(config.load({}, env={}), advert_interval=1.0)
    workers = {"sim": ("sim:simmy?echo=1", ("general", "summarize", "extract"))}
    async with embedded_mesh(settings, workers=workers) as mesh:
        entry = mesh.gateway.node.full_addrs()[:1]
        async with over_bootstrap(dataclasses.replace(settings, bootstrap=entry)) as system:
            first = await system.answer(TASKS["sum-polders"])
            second = await system.answer(TASKS["ext-people"])
    for answer in (first, second):
        assert not answer.error and answer.text and answer.mesh_tokens > 0 and answer.cloud_tokens == 0
        assert answer.detail.startswith("rules:")
