"""The gateways' shared trust record (hivemesh.gateway.trustshare) over a store
two gateways share: the in-process store and a real throwaway redis-server.
A worker trusted through one gateway is trusted by the other; a worker banned
by one is banned by the other; a store that fails or hangs makes a gateway
check every output, and the outcomes it noted meanwhile are written later."""

from __future__ import annotations

import threading

import pytest
import trio

from hivemesh.errors import StoreUnavailable
from hivemesh.gateway.store import JobStore, MemoryBackend, MemoryStore
from hivemesh.gateway.trust import PeerRecord, TrustBook, TrustSettings
from hivemesh.gateway.trustshare import SharedTrust
from hivemesh.mesh import wire
from tests.redis_server import redis_server_binary, throwaway_redis

SETTINGS = TrustSettings(new_peer_checks=5, trusted_share=0.0, ban_failures=2)


def gateway(store: JobStore, **kwargs) -> tuple[TrustBook, SharedTrust, list[str]]:
    book, bans = TrustBook(SETTINGS), []
    return book, SharedTrust(store, book, on_ban=bans.append, **kwargs), bans


async def trusted_by_a_then_by_b(store_a: JobStore, store_b: JobStore) -> None:
    book_a, share_a, bans_a = gateway(store_a)
    book_b, share_b, bans_b = gateway(store_b)
    for _ in range(5):
        assert book_a.should_check("worker")
        book_a.first_verdict("worker", "checker", accepted=True)
    await share_b.sync()
    share_b.look()
    assert book_b.should_check("worker")  # B has not heard of it yet
    await share_a.sync()
    await share_b.sync()
    assert not book_a.should_check("worker") and not book_b.should_check("worker")  # trusted by both
    assert book_b.record("worker").passed == 5

    for book, share in ((book_a, share_a), (book_b, share_b)):  # one confirmed failure each: banned
        book.first_verdict("liar", "checker", accepted=False)
        book.third_verdict("liar", "checker", accepted=False)
        await share.sync()
    assert bans_b == ["liar"]  # B's own write made the second failure
    await share_a.sync()
    assert bans_a == ["liar"]  # A learns it from the shared record
    assert wire.decode(PeerRecord, store_a.trust_record("liar")).failed == 2


async def test_two_gateways_on_one_memory_backend_share_trust_and_bans():
    backend = MemoryBackend()
    await trusted_by_a_then_by_b(MemoryStore(backend=backend), MemoryStore(backend=backend))


@pytest.mark.skipif(redis_server_binary() is None, reason="redis-server not installed")
async def test_two_gateways_on_a_real_redis_share_trust_and_bans():
    from hivemesh.gateway.store.redis_store import RedisStore

    with throwaway_redis() as server:
        a, b = RedisStore.from_url(server.url), RedisStore.from_url(server.url)
        try:
            await trusted_by_a_then_by_b(a, b)
        finally:
            a.close()
            b.close()


class Flaky:
    """A store handle that can be made to fail (``down``) or hang (``hold`` cleared)."""

    def __init__(self, store: JobStore) -> None:
        self.store, self.down, self.hold = store, False, threading.Event()
        self.hold.set()

    def __getattr__(self, name):
        call = getattr(self.store, name)

        def wrapped(*args):
            self.hold.wait(30)
            if self.down:
                raise StoreUnavailable("store down (test)")
            return call(*args)

        return wrapped


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_a_store_down_or_hanging_means_every_output_checked_and_outcomes_wait():
    flaky, clock = Flaky(MemoryStore()), Clock()
    book, share, _ = gateway(flaky, clock=clock, max_age_s=10.0)  # type: ignore[arg-type]
    share.look()
    assert book.blind  # nothing read yet: check everything
    for _ in range(5):
        book.first_verdict("worker", "checker", accepted=True)
    await share.sync()
    share.look()
    assert not book.blind and not book.should_check("worker")

    flaky.down = True
    book.first_verdict("worker", "checker", accepted=True)
    with pytest.raises(StoreUnavailable):
        await share.sync()
    clock.now += 5
    share.look()
    assert not book.blind  # a short outage: the records read 5 s ago still count
    clock.now += 6
    share.look()
    assert book.blind and all(book.should_check("worker") for _ in range(10))
    assert share.pending == [("worker", "passed")]

    flaky.down = False  # back: the waiting outcome is written, trust comes back
    await share.sync()
    share.look()
    assert not book.blind and share.pending == []
    assert wire.decode(PeerRecord, flaky.store.trust_record("worker")).passed == 6

    async with trio.open_nursery() as nursery:  # hanging, with the loop running: blind once too old
        flaky.hold.clear()
        nursery.start_soon(share.run)
        await trio.sleep(0.2)
        clock.now += 11
        share.look()
        assert book.blind and book.should_check("worker")
        flaky.hold.set()
        await trio.sleep(0.3)
        assert not book.blind
        nursery.cancel_scope.cancel()
