"""``/metrics`` of live peers, read with Prometheus' own text parser."""

import httpx
import trio
from prometheus_client.parser import text_string_to_metric_families

from hivemesh.api.metrics import NAMES
from hivemesh.mesh.identity import generate, peer_id_of
from tests.api.apimesh import api_mesh

GOOD = {"model": "general", "messages": [{"role": "user", "content": "Say hi"}]}


async def scrape(client, url):
    response = await client.get(url + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


async def scrape_once_counted(client, url, key, timeout_s=10.0):
    """The samples once ``key`` is exported: a job's end and a stage's time are
    counted just after the answer leaves (the client may ask first)."""
    with trio.move_on_after(timeout_s):
        while key not in (samples := await scrape(client, url)):
            await trio.sleep(0.05)
        return samples
    return await scrape(client, url)


async def test_metrics_count_jobs_subtasks_http_statuses_and_mesh_state(nursery):
    mesh = await api_mesh(nursery, metrics=True)
    gw_node = mesh.gateway.node
    gw_node.view.offer(b"not an advert", 0.0)  # what the gossip validator does with a garbage advert
    bad_peer = peer_id_of(generate())
    for _ in range(20):
        gw_node.penalize(bad_peer, "malformed")
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(mesh.url + "/v1/chat/completions", json=GOOD)).status_code == 200
        assert (await client.post(mesh.url + "/v1/chat/completions", json={"model": 1})).status_code == 400
        gateway = await scrape_once_counted(client, mesh.metrics["gateway"].url,
                                            ("hivemesh_jobs_total", (("outcome", "done"),)))
        worker = await scrape_once_counted(client, mesh.metrics["general"].url,
                                           ("hivemesh_subtask_seconds_count", (("capability", "general"),)))

    assert gateway[("hivemesh_jobs_total", (("outcome", "done"),))] == 1
    assert gateway[("hivemesh_job_seconds_count", ())] == 1
    assert gateway[("hivemesh_http_requests_total", (("status", "200"),))] == 1
    assert gateway[("hivemesh_http_requests_total", (("status", "400"),))] == 1
    assert gateway[("hivemesh_peers_in_view", ())] == len(gw_node.view.peers) >= 2  # at least the two workers
    assert gateway[("hivemesh_adverts_rejected_total", (("reason", "malformed"),))] == 1
    assert gateway[("hivemesh_bans_total", ())] == 1 and gateway[("hivemesh_banned_peers", ())] == 1

    assert worker[("hivemesh_subtask_seconds_count", (("capability", "general"),))] == 1
    assert ("hivemesh_model_tokens_per_second", (("model", "sim-general"),)) in worker
    assert worker[("hivemesh_queue_length", ())] == 0 and worker[("hivemesh_slots_busy", ())] == 0
    names = {name for name, _ in gateway} | {name for name, _ in worker}
    for name in NAMES:  # every documented name is exported (histograms as _count/_sum/_bucket)
        assert name in names or name + "_count" in names, name
