"""The fork server (``zygote``): peers forked from one process that imported their code once."""

import pytest
import trio

from hivemesh.simulations.errors import PeerStartFailed
from hivemesh.simulations.forkserver import ForkServer
from hivemesh.simulations.harness import run_simulation
from hivemesh.simulations.report import incomplete_spans
from hivemesh.simulations.settings import SimSettings


async def wait_exit(proc, timeout=20):
    with trio.fail_after(timeout):
        while proc.poll() is None:
            await trio.sleep(0.05)


async def test_a_forked_child_runs_peerproc_with_its_own_output_files(tmp_path):
    server = ForkServer(tmp_path)
    await server.start()
    try:
        child = await server.spawn(["--help"], "helpless")
        await wait_exit(child)
        assert (tmp_path / "helpless.out").read_text().startswith("usage: python -m hivemesh.simulations.peerproc")
        bad = await server.spawn(["--no-such-flag"], "bad")
        await wait_exit(bad)
        assert "arguments are required" in (tmp_path / "bad.log").read_text()
        survivor = await server.spawn(["--help"], "again")  # a child's exit leaves the zygote serving
        await wait_exit(survivor)
        assert (tmp_path / "again.out").read_text().startswith("usage:")
    finally:
        server.close()


async def test_the_zygote_refuses_a_malformed_request_and_keeps_serving(tmp_path):
    server = ForkServer(tmp_path)
    await server.start()
    try:
        with pytest.raises(PeerStartFailed, match="argv must be a list of strings"):
            await server.spawn([1, 2], "odd")  # type: ignore[list-item]
        child = await server.spawn(["--help"], "fine")
        await wait_exit(child)
    finally:
        server.close()


def test_incomplete_view_spans():
    samples = [(-2.0, 0), (-1.0, 1), (0.0, 2), (1.0, 0), (2.0, 1), (3.0, 0)]
    assert incomplete_spans(samples) == [[-1.0, 0.0, 2], [2.0, 2.0, 1]]
    assert incomplete_spans([(0.0, 0)]) == []


@pytest.mark.slow
async def test_forked_peers_form_a_mesh_share_their_code_and_die_alone():
    """Forked peer processes run jobs; a killed one is replaced; each holds much
    less memory of its own (PSS) than its RSS, most of which is the shared template."""
    report = await run_simulation(SimSettings(scenario="kill-workers", kills=1, peers=6, gateways=2, jobs=10,
                                              rate=2.0, stages=2, seed=3, advert_interval=1.0, processes=True,
                                              idle=3.0))
    jobs = report["jobs"]
    assert jobs["lost"] == 0 and jobs["duplicated"] == 0 and jobs["completed"] + jobs["failed"] == 10, jobs
    assert report["recovery_s"]["faults"] == 1 and report["recovery_s"]["unrecovered"] == 0
    idle = report["idle_per_peer"]
    assert idle["peers"] == 6
    assert idle["pss_mb"]["mean"] < 0.6 * idle["rss_mb"]["mean"], idle

