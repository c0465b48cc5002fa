"""``--http``, ``--api-key-file`` and ``--metrics`` on peers run as processes,
as a user starts them; ``hivemesh submit`` prints the answer as it grows."""

import subprocess

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from tests.redis_server import free_port, throwaway_redis
from tests.test_cli_process import HIVEMESH, INTERVAL, first_line, procs, spawn  # noqa: F401  (fixture)


def metric(url, name, **labels):
    text = httpx.get(url + "/metrics", timeout=10).text
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


def test_gateway_process_serves_the_api_and_every_peer_its_metrics(tmp_path, procs):  # noqa: F811
    keys = tmp_path / "keys"
    keys.write_text("# API keys\nfirst-key\n\nsecond-key\n")
    http, m_boot, m_gw = free_port(), free_port(), free_port()
    with throwaway_redis() as server:
        boot = spawn("bootstrap", "--metrics", f"127.0.0.1:{m_boot}", tmp_path=tmp_path, name="boot")
        procs.append(boot)
        addr = first_line(boot)
        common = ["--bootstrap", addr, "--advert-interval", INTERVAL]
        gw = spawn("peer", *common, "--gateway", "--redis", server.url, "--planner-model", "none",
                   "--model", "general=sim:gw?tps=40&words=40", "--http", f"127.0.0.1:{http}",
                   "--api-key-file", str(keys), "--metrics", f"127.0.0.1:{m_gw}", tmp_path=tmp_path, name="gw")
        procs.append(gw)
        first_line(gw)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{http}/v1", api_key="second-key", max_retries=0)
        assert {"hivemesh", "general", "gw"} <= {m.id for m in client.models.list()}
        pieces = [c.choices[0].delta.content for c in client.chat.completions.create(
            model="general", messages=[{"role": "user", "content": "Say hi"}], stream=True) if c.choices]
        answer = "".join(p for p in pieces if p)
        assert answer.startswith("[gw ") and len(answer.split()) == 42 and len(pieces) > 10

        out = subprocess.run(HIVEMESH + ["submit", *common, "Say hi"], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        printed = out.stdout.split("\n")[0]
        assert printed.startswith("[gw ") and len(printed.split()) == 42  # the answer once, as it grew
        assert out.stdout.count(printed) == 1

        assert metric(f"http://127.0.0.1:{m_gw}", "hivemesh_jobs_total", outcome="done") == 2
        assert metric(f"http://127.0.0.1:{m_gw}", "hivemesh_http_requests_total", status="200") == 2
        assert metric(f"http://127.0.0.1:{m_gw}", "hivemesh_subtask_seconds_count", capability="general") == 2
        boot_metrics = httpx.get(f"http://127.0.0.1:{m_boot}/metrics", timeout=10).text
        assert "hivemesh_peers_in_view 0.0" in boot_metrics  # a bootstrap takes no gossip: no view
        assert "hivemesh_bans_total 0.0" in boot_metrics
