"""A worker's inbox of upstream outputs: which copies are late, which are kept. No sockets."""

from types import SimpleNamespace

from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.worker.pipewire import Claim, Output, StageAssign, digest, sign_claim
from hivemesh.worker.stages import Stage, StageRunner

KEY = generate()
PRODUCER = peer_id_of(KEY)


def output(to_attempt, text="upstream says hi"):
    claim = Claim("j", "s0", 1, digest(text), PRODUCER)
    return Output("s1", to_attempt, claim, sign_claim(claim, KEY), text)


def assign(attempt):
    return StageAssign(job_id="j", subtask_id="s1", attempt=attempt, capability="general", template="{{out:s0}}",
                       job_text="", inputs={}, chunks={}, depends_on=("s0",), downstream=(), max_tokens=8,
                       deadline_s=10.0, answer=True)


def runner():
    return StageRunner(worker=None, node=SimpleNamespace(peer_id="me", penalize=lambda *a: None))


def test_an_output_for_a_new_attempt_of_a_stage_that_ran_here_is_kept():
    """s1 ran here (attempt 1) but its report was lost with its gateway; the
    gateway that resumes the job places s1 here again (attempt 2) and has s0
    re-sent, which may arrive before the new assignment does."""
    inbox = runner()
    inbox.finished[("j", "s1", 1)] = None
    assert inbox.receive(output(to_attempt=1), PRODUCER) == "duplicate"  # a late copy for the run that is over
    assert inbox.receive(output(to_attempt=2), PRODUCER) == "early"  # for the new run: kept until it is assigned
    stage = Stage(assign(attempt=2))
    inbox._absorb_early(stage)
    assert stage.ready.is_set() and stage.inputs["s0"].text == "upstream says hi"


def test_a_forged_output_is_rejected():
    inbox = runner()
    forged = output(to_attempt=1)
    assert inbox.receive(Output("s1", 1, forged.claim, forged.sig, "something else"), PRODUCER) == "rejected"
