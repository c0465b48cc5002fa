"""py-libp2p settings chosen at our boundary (never by editing py-libp2p).

Yamux window updates: py-libp2p 0.8.1 by default (``PY_YAMUX_RELEASE_ON_READ=1``)
answers every read on a stream with a WINDOW_UPDATE frame for the bytes read,
so each gossip RPC and each stream message a peer receives costs a frame back
(built, encrypted, written): in an idle mesh of peer processes these frames
were about a tenth of each peer's CPU. The variable at 0 was meant to make
it grant credit as go-yamux does, in one update once half the receive window
is consumed: the same flow control, fewer frames. py-libp2p reads the
variable at call time; a value already in the environment is kept.
That variable alone did not do it (measured in issue 13's second round: an
idle 7-peer process sent 247 WINDOW_UPDATE frames against 238 data frames in
2 s): py-libp2p's ``_auto_tune_and_send_window_update`` has a "partial
slack" branch that, whenever the bytes consumed since the last update are
under the threshold, credits them at once, so every read of a small frame
(each frame length, each body) still sent an update. ``batch_window_updates``
replaces it by go-yamux's rule (``sendWindowUpdate``): credit the consumed
bytes only once they reach the threshold (half the target window), with
py-libp2p's own window growth (auto-tuning) kept. With
``PY_YAMUX_RELEASE_ON_READ`` set to 1 py-libp2p's method runs unchanged.

Gossipsub: py-libp2p's "adaptive gossip" (v2.0 in its words) rescales the mesh
degree up to ``degree_high + 4``, the IHAVE share and the heartbeat (to 30-60 s)
from a health score that a busy machine drags down; we set the degree and the
heartbeat ourselves (``GOSSIP_DEGREE``, ``GOSSIP_HEARTBEAT_S``), so it is off.
IHAVE gossip (lazy push) goes to ``GOSSIP_LAZY`` peers outside the mesh per
heartbeat instead of max(6, a quarter of the topic's peers): see ``lazy_gossip``.

Signed peer records: every pubsub RPC a peer receives carries its sender's
signed peer record, and py-libp2p checks the Ed25519 signature and rewrites
the peerstore entry for each one (0.089 ms of CPU per RPC here, about a tenth
of an RPC's cost), though a neighbour sends the same bytes every time.
``cache_signed_records`` accepts bytes already accepted from that neighbour
for ``RECORD_RECHECK_S`` without checking them again; new bytes (a new
record, or a forged one) are checked as before.

The host's addresses: py-libp2p puts our signed peer record in every pubsub
RPC it sends (each forwarded advert copy, each replay to a new neighbour,
each control message) and rebuilds our address list for it each time,
parsing every listen multiaddr afresh (~1 ms of CPU per RPC here: a sixth of
a gateway process's CPU in a 10-peer mesh of processes). ``cache_addrs``
keeps the list for ``ADDRS_TTL_S``.

TCP reads: buffered (``tcpread``). Multistream-select: a lazy opener's
proposal is answered in one message (``lazyselect.answer_in_one_write``).
"""

from __future__ import annotations

import os
import time
from typing import Any

from hivemesh.mesh import lazyselect, tcpread

LIBP2P_ENV = {"PY_YAMUX_RELEASE_ON_READ": "0"}
#: gossipsub's mesh degree (target, low, high): every advert copy a peer forwards costs it
#: and its neighbour an RPC each (framing, encryption, a signed-record check), so an idle
#: peer's CPU grows with the degree times the mesh's advert rate. 20 idle peer processes,
#: 2 adverts/s from the mesh: 12.6 RPCs/s out per peer at (4, 3, 8) against 74 at (6, 4, 12)
#: and 10 adverts/s (1.2% of a core against 6.5%). With a high bound of 8 the meshes filled
#: up to it (100 peers: ~9 copies out of each advert); 5 keeps them near the target. Adverts
#: are signed and refreshed, so a copy lost to the thinner mesh costs a view nothing until
#: 2.5 periods pass
GOSSIP_DEGREE = (4, 3, 5)
#: seconds between gossipsub heartbeats. Each heartbeat sends IHAVE (the ids of recent
#: messages) to peers outside the mesh (``GOSSIP_LAZY``) whenever any advert arrived lately;
#: the mesh repairs itself at this pace too, and adverts live for minutes
GOSSIP_HEARTBEAT_S = 3
#: seconds a peer pruned from a gossipsub mesh (either side) may not graft the other again;
#: py-libp2p's default is 60. Joining, each peer grafts ``degree`` peers, so meshes start near
#: twice the degree, above the high bound of 5, and heartbeats prune them down: a peer whose
#: connections had all pruned it sat outside every mesh for the whole minute, hearing little
#: and heard by few (a simulated 40-peer mesh: peers' own views fell from 36 to 8 for ~60 s and
#: the clients' views were complete in 41-63% of samples; with 10 s, 91%)
GOSSIP_PRUNE_BACKOFF_S = 10
#: peers outside the mesh sent IHAVE (the ids of recent messages) per heartbeat; py-libp2p
#: sends to max(6, 1/4 of the topic's peers) whenever a message arrived in the last three
#: heartbeats, which in a mesh of 100 peers advertising ~1/s is every heartbeat: ~2 RPCs/s
#: against ~5 advert copies/s (estimated, degree 4-5, not counted apart). The mesh (degree 4) carries every advert; IHAVE only mends a copy
#: a broken mesh link lost, and an advert is repeated every period with 2.5 periods of life
GOSSIP_LAZY = 2
ADDRS_TTL_S = 2.0  # our listen addresses change when a listener starts or stops, not per message
#: a neighbour's signed peer record, once checked, is taken on trust this long when the
#: same bytes come again (py-libp2p keeps the addresses it carries for 2 hours)
RECORD_RECHECK_S = 60.0
MAX_RECORDS = 4096  # checked records remembered per host; past it the memory starts over


def apply() -> None:
    """Set our py-libp2p settings (idempotent); call before the first connection."""
    for name, value in LIBP2P_ENV.items():
        os.environ.setdefault(name, value)
    tcpread.apply()  # fewer scheduler trips per frame on a connection's reader
    batch_window_updates()
    lazyselect.answer_in_one_write()  # a lazy opener's proposal answered in one message


def batch_window_updates() -> None:
    """Patch ``YamuxStream._auto_tune_and_send_window_update`` once (idempotent):
    go-yamux's credit rule, see the module's docstring."""
    from libp2p.stream_muxer.yamux import yamux

    stream_cls = yamux.YamuxStream
    original = stream_cls._auto_tune_and_send_window_update
    if getattr(original, "hivemesh_batched", False):
        return

    async def credit(self: Any, *, bytes_read: int = 0) -> None:
        if yamux._yamux_release_on_read():
            await original(self, bytes_read=bytes_read)
            return
        increment = 0
        async with self.window_lock:
            buffered = len(self.conn.stream_buffers.get(self.stream_id, b""))
            consumed = self.target_recv_window - (self.recv_window + buffered)  # read, not yet credited
            if consumed > 0 and consumed >= self._grow_threshold():
                increment = self._grow_to_delta(buffered) + self._apply_autotune_epoch(buffered)
                self._pending_recv_release = 0
        if increment > 0:
            await self.send_window_update(increment, skip_lock=True)

    credit.hivemesh_batched = True  # type: ignore[attr-defined]
    stream_cls._auto_tune_and_send_window_update = credit  # type: ignore[method-assign]


def lazy_gossip(router: Any, peers: int = GOSSIP_LAZY) -> None:
    """Send IHAVE to at most ``peers`` peers outside the mesh per heartbeat
    (an instance attribute on py-libp2p's ``GossipSub``: the method it asks)."""

    def count(topic: str, total_peers: int) -> int:
        return max(0, min(peers, total_peers))

    router._get_adaptive_gossip_peers_count = count


def cache_addrs(host: Any, ttl_s: float = ADDRS_TTL_S) -> None:
    """Make ``host.get_addrs()`` reuse its answer for ``ttl_s`` (an instance
    attribute: py-libp2p itself is untouched). A copy each call: callers may
    change the list."""
    if getattr(host, "hivemesh_addrs_cached", False):
        return
    compute = host.get_addrs
    cached: list[Any] = []
    until = [0.0]

    def get_addrs() -> list[Any]:
        now = time.monotonic()
        if now >= until[0] or not cached:
            cached[:] = compute()
            until[0] = now + ttl_s
        return list(cached)

    host.get_addrs = get_addrs
    host.hivemesh_addrs_cached = True


def no_auto_connector(host: Any) -> None:
    """Keep py-libp2p's auto-connector from starting. Its target is the middle
    of ``[low_watermark, high_watermark]`` (150 with the defaults, whatever
    ``min_connections`` says), so it redials every peer in the peerstore after
    each disconnect: a peer we banned and hung up on (seen in the fuzzing
    test's log: "Auto-connected to peer <the banned attacker>"), a killed
    worker's stale addresses. ``ConnectionConfig(min_connections=0,
    low_watermark=0)`` was meant to stop it and did not. Our dial loop
    (``Dialer``) decides whom to dial."""
    connector = getattr(host.get_network(), "auto_connector", None)
    if connector is None:
        return

    async def stay_stopped() -> None:  # its loop and maybe_connect do nothing unless started
        return None

    connector.start = stay_stopped


def cache_signed_records() -> None:
    """Wrap py-libp2p's pubsub check of a sender's signed peer record (the
    module-level name pubsub and gossipsub call; idempotent) so identical
    bytes from the same neighbour are checked once per ``RECORD_RECHECK_S``
    per host."""
    import libp2p.pubsub.gossipsub as gossipsub_module
    import libp2p.pubsub.pubsub as pubsub_module

    check = pubsub_module.maybe_consume_signed_record
    if getattr(check, "hivemesh_cached", False):
        return

    def consume(msg: Any, host: Any, peer_id: Any) -> bool:
        if not msg.HasField("senderRecord"):
            return bool(check(msg, host, peer_id))
        accepted: dict[tuple[Any, bytes], float] = host.__dict__.setdefault("hivemesh_records", {})
        key, now = (peer_id, bytes(msg.senderRecord)), time.monotonic()
        if accepted.get(key, 0.0) > now:
            return True
        ok = bool(check(msg, host, peer_id))
        if ok:
            if len(accepted) >= MAX_RECORDS:
                accepted.clear()
            accepted[key] = now + RECORD_RECHECK_S
        return ok

    consume.hivemesh_cached = True  # type: ignore[attr-defined]
    pubsub_module.maybe_consume_signed_record = consume
    gossipsub_module.maybe_consume_signed_record = consume
