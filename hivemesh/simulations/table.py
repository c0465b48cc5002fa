"""The human-readable table of a real-peer run's report."""

from __future__ import annotations

from typing import Any

from hivemesh.simulations.honesty import headline


def format_report(report: dict[str, Any]) -> str:
    jobs, lat, rec, gossip, res, mesh = (report["jobs"], report["latency_s"], report["recovery_s"],
                                         report["gossip_per_peer"], report["resources_per_peer"], report["mesh"])
    rows = [
        ("scenario", f"{report['scenario']} ({report['mode']}, {report['store']} store, seed {report['seed']})"),
        ("mesh", f"{report['peers']} peers: {report['workers']} workers, {report['gateways']} gateways; "
                 f"{report['stages']}-stage jobs; {_cadence(report['adverts'])}"),
        ("formed", _formed(mesh)),
        ("jobs", f"submitted {jobs['submitted']}, completed {jobs['completed']}, failed {jobs['failed']}, "
                 f"lost {jobs['lost']}, duplicated {jobs['duplicated']}; rejected {jobs.get('rejected', 0)} "
                 f"(every gateway busy until the client's deadline; {jobs.get('busy_answers', 0)} busy answers)"),
        ("latency p50/p95/p99/max", " / ".join(_s(lat[q]) for q in ("p50", "p95", "p99", "max"))),
        ("throughput", f"{_n(report['throughput_jobs_s'])} jobs/s, {_n(report.get('steady_jobs_s'))} while "
                       "jobs arrived"
                       + (f" (offered {report['offered_jobs_s']:g})" if report.get("offered_jobs_s") else "")),
        ("faults", _faults(rec, report.get("faults_skipped", 0))),
        ("recovery p50/p95/max", " / ".join(_s(rec[q]) for q in ("p50", "p95", "max"))
                                 + f" over {rec['count']} interrupted" + _by_kind(rec)),
        ("adverts per peer", f"in {_n(gossip['msgs_in_s'])}/s {_b(gossip['bytes_in_s'])}, "
                             f"out {_n(gossip['msgs_out_s'])}/s {_b(gossip['bytes_out_s'])}"),
        ("gossip RPCs per peer", f"{_n(gossip['rpcs_out_s'])}/s {_b(gossip['rpc_bytes_out_s'])} each way "
                                 f"({_n(gossip['copies_out_s'])} advert copies/s)"),
        ("CPU per peer mean/max", f"{_n(res['cpu_percent']['mean'])}% / {_n(res['cpu_percent']['max'])}%"),
        ("RSS per peer mean/max", f"{_n(res['rss_mb']['mean'])} MB / {_n(res['rss_mb']['max'])} MB"),
        ("views complete", _views(mesh)),
        *([("idle peer CPU / RSS", _idle(report["idle_per_peer"]))] if report.get("idle_per_peer") else []),
        ("wall time", f"{report['wall_s']:.1f} s from the first job"),
    ]
    if report.get("failures"):
        rows.append(("failures", "; ".join(f"{n}x {r}" for r, n in report["failures"].items())))
    if report.get("busy_answers"):
        rows.append(("busy answers", f"{report['busy_answers']['gateways']} by gateways (new jobs past their limit), "
                                     f"{report['busy_answers']['workers']} by workers (stages when full); "
                                     f"at most {report['busy_answers']['gateway_jobs_peak']} jobs at once on a gateway"))
    v = report.get("verification")
    if v:
        rows.append(("verification", f"liars {v['liars']} (banned {v['liars_banned']}), honest banned "
                                     f"{v['honest_banned']}, checked {v['subtasks_checked']}, failed "
                                     f"{v['checks_failed']}, wrong answers {v['wrong_answers_delivered']}"))
    if report.get("refused_streams"):
        rows.append(("refused streams", ", ".join(f"{k}={v}" for k, v in report["refused_streams"].items())))
    rows.append(("files", ", ".join(report.get("files", [])) or "none"))
    if report.get("plots_skipped"):
        rows.append(("plots", report["plots_skipped"]))
    width = max(len(name) for name, _ in rows)
    warning = headline(report.get("harness", {}))
    return "\n".join(([warning] if warning else []) + [f"{name:<{width}}  {value}" for name, value in rows])


def _cadence(adverts: dict[str, Any]) -> str:
    measured = adverts["measured_period_s"]
    return (f"adverts every {adverts['expected_period_s']:g} s (at least {adverts['min_interval_s']:g} s, "
            f"{adverts['budget_per_peer_s']:g}/s per peer"
            + (f"; measured {measured:g} s)" if measured else ")"))


def _formed(mesh: dict[str, Any]) -> str:
    if not mesh["formed"]:
        return "NO: the clients never saw every peer (see mesh.* in the JSON)"
    return f"in {mesh['formed_in_s']:.1f} s"


def _faults(rec: dict[str, Any], skipped: int) -> str:
    note = f"; {skipped} skipped: no live target" if skipped else ""
    if not rec["faults"]:
        return "none" + note
    return (f"{rec['faults']} ({rec['interrupted']} subtasks/jobs interrupted, "
            f"{rec['unrecovered']} never restarted elsewhere{note})")


def _by_kind(rec: dict[str, Any]) -> str:
    if len(rec["by_kind"]) < 2:
        return ""
    return " (" + "; ".join(f"{k}: max {_s(v['max'])}" for k, v in rec["by_kind"].items()) + ")"


def _views(mesh: dict[str, Any]) -> str:
    frac = mesh["view_complete_fraction"]
    lag = mesh["harness_loop_lag_s"]
    return (f"{_pct(frac)} of samples (worst: {mesh['view_missing_max']} live peers missing); "
            f"harness loop lag p99 {_s(lag['p99'])}, max {_s(lag['max'])}")


def _idle(idle: dict[str, Any]) -> str:
    cpu, rss = idle["cpu_percent"], idle["rss_mb"]
    return (f"{_n(cpu['mean'])}% of a core (max {_n(cpu['max'])}%) / {_n(rss['mean'])} MB (max {_n(rss['max'])} MB; "
            f"own pages {_n(idle['uss_mb']['mean'])} MB) over {idle['seconds']:.0f} s idle, {idle['peers']} peers")


def _s(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value * 1e3:.0f} ms" if value < 1 else f"{value:.2f} s"


def _n(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}".rstrip("0").rstrip(".")


def _b(value: float | None) -> str:
    return "-" if value is None else f"{value / 1024:.1f} KiB/s"


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"
