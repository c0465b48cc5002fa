"""Slowness is not failure: a gateway's timeouts and leases allow for its own loop's lag."""

import time

import pytest
import trio

from hivemesh.gateway import lease
from hivemesh.gateway.looplag import MAX_ALLOWANCE_S, LagStats, LoopLag, counted


def test_lag_is_the_overshoot_of_a_short_sleep_and_the_allowance_its_recent_worst():
    stats = LagStats(window=3)
    assert stats.allowance() == 0.0
    for overshoot in (0.002, -0.001, 0.5, 0.01):
        stats.observe(overshoot)
    assert stats.allowance() == 0.5 and stats.worst == 0.5 and stats.total == pytest.approx(0.512)
    for _ in range(3):
        stats.observe(0.0)
    assert stats.allowance() == 0.0 and stats.worst == 0.5  # the window moved on
    stats.observe(1000.0)
    assert stats.allowance() == MAX_ALLOWANCE_S


def test_a_late_tick_counts_as_one_on_time():
    assert counted(0.1, 0.1) == 0.1 and counted(3.0, 0.1) == 0.1 and counted(0.05, 0.1) == 0.05


def test_a_renewal_holds_the_lease_longer_on_a_slow_loop():
    assert lease.ttl(0.0) == lease.LEASE_TTL_S and lease.ttl(2.5) == lease.LEASE_TTL_S + 2.5
    assert lease.RENEW_EVERY_S < lease.LEASE_TTL_S / 2  # two renewals may come late before it lapses


async def test_a_starved_loop_does_not_trip_a_lag_aware_timeout():
    lag = LoopLag()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lag.run)
        await trio.sleep(0.15)
        with lag.fail_after(0.5):
            for _ in range(3):
                time.sleep(0.4)  # the loop is starved: 1.2 s gone, little of it the loop's own time
                await trio.sleep(0.01)
        assert lag.stats.worst > 0.3
        with pytest.raises(trio.TooSlowError):  # a real wait still times out
            with lag.fail_after(0.3):
                await trio.sleep(5)
        with pytest.raises(trio.TooSlowError):  # a plain timeout on the same starved loop fires
            with trio.fail_after(0.5):
                for _ in range(3):
                    time.sleep(0.4)
                    await trio.sleep(0.01)
        nursery.cancel_scope.cancel()


async def test_without_its_task_running_it_is_a_plain_timeout():
    with pytest.raises(trio.TooSlowError):
        with LoopLag().fail_after(0.05):
            await trio.sleep(1)


async def test_the_pipeline_clock_leaves_a_starved_loops_lag_out():
    """The conductor steps its state machine on ``LoopLag.clock``: a stage is
    "stalled" only after its deadline and grace of time the gateway's loop
    had, not because the gateway itself was starved (issue 13)."""
    lag = LoopLag()
    async with trio.open_nursery() as nursery:
        await nursery.start(lag.run)
        await trio.sleep(0.15)
        clock0, wall0 = lag.clock(), trio.current_time()
        for _ in range(4):
            time.sleep(0.4)  # 1.6 s gone, the loop blocked nearly all of it
            await trio.sleep(0.12)
        counted, wall = lag.clock() - clock0, trio.current_time() - wall0
        assert wall > 1.6 and counted < 0.9
        before = lag.clock()
        await trio.sleep(0.5)  # a healthy loop's time counts in full
        assert lag.clock() - before > 0.35
        nursery.cancel_scope.cancel()
    assert lag.clock() >= before  # it never goes back
