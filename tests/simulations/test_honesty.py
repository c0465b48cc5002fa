"""The harness's verdict on itself: when its own loop or CPU is saturated, the report says so first."""

from hivemesh.simulations.honesty import headline, verdict


def test_an_idle_harness_is_not_saturated():
    v = verdict(cpu_s=3.0, wall_s=30.0, lag_p99_s=0.004, mode="in-process")
    assert not v["saturated"] and v["cpu_fraction"] == 0.1 and headline(v) == ""


def test_a_busy_process_in_process_is_told_to_use_processes():
    v = verdict(cpu_s=29.0, wall_s=30.0, lag_p99_s=0.01, mode="in-process")
    assert v["saturated"] and "97% of a core" in v["why"] and "--processes" in v["advice"]
    assert headline(v).startswith("WARNING: the harness was saturated")


def test_a_starved_loop_alone_is_saturation_and_process_mode_advice_differs():
    v = verdict(cpu_s=6.0, wall_s=30.0, lag_p99_s=0.35, mode="processes")
    assert v["saturated"] and "350 ms late" in v["why"] and "--processes" not in v["advice"]
    assert verdict(cpu_s=0.0, wall_s=0.0, lag_p99_s=None, mode="processes")["saturated"] is False



def test_a_busy_machine_is_named_as_the_cause_when_the_process_itself_was_not():
    v = verdict(cpu_s=0.5, wall_s=30.0, lag_p99_s=0.7, mode="processes", machine_busy=0.99, cores=2)
    assert v["saturated"] and "2 cores were 99% busy" in v["why"] and "idle machine" in v["advice"]
    calm = verdict(cpu_s=0.5, wall_s=30.0, lag_p99_s=0.01, mode="processes", machine_busy=0.4, cores=2)
    assert not calm["saturated"] and calm["machine_busy"] == 0.4
