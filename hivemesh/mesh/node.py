"""The libp2p shell of a peer: host, gossip, adverts, peer exchange.

``MeshNode`` moves bytes and calls the pure pieces (``advert.verify`` through
``MeshView.offer``, ``PxTable``); it owns no policy of its own beyond timing.
"""

from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import trio
from libp2p import new_host
from libp2p.crypto.keys import KeyPair
from libp2p.custom_types import TProtocol
from libp2p.network.config import ConnectionConfig
from libp2p.peer.id import ID
from libp2p.pubsub.gossipsub import GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service.context import background_trio_service

from hivemesh.errors import PeerUnreachable
from hivemesh.mesh import advert as adv
from hivemesh.mesh import cadence, gossip, guard, liveness, px, tuning
from hivemesh.mesh.addrs import announce_addrs, parse_listen_addr
from hivemesh.mesh.dialer import DIAL_TIMEOUT_S, Dialer, short_error
from hivemesh.mesh.identity import peer_id_of
from hivemesh.mesh.inbound import release_inbound_slots
from hivemesh.mesh.reputation import Reputation
from hivemesh.mesh.shutdown import close_sockets
from hivemesh.mesh.stream import Stream, blames_sender, refused_protocol
from hivemesh.mesh.view import MeshView

log = logging.getLogger(__name__)

STREAM_TIMEOUT_S = 10.0
MAX_STREAMS_PER_PEER = 64  # concurrent inbound streams on our protocols, per remote peer
HEARD_WINDOW_S = 300.0  # peers heard from this recently count towards the mesh's size
ADVERT_JITTER = 0.1  # each wait between adverts is the period +- 10%
PENALIZED_REJECTIONS = ("bad_signature", "bad_peer_id", "malformed", "oversize", "future")

AdvertFields = Callable[[], tuple[tuple[adv.ModelAd, ...], adv.Capacity]]


def _no_models() -> tuple[tuple[adv.ModelAd, ...], adv.Capacity]:
    return (), adv.Capacity(slots_total=0, slots_free=0, queue=0)


@dataclass
class MeshConfig:
    keypair: KeyPair
    listen: list[str] = field(default_factory=lambda: ["/ip4/127.0.0.1/tcp/0"])
    bootstrap: list[str] = field(default_factory=list)
    advert_interval: float = 2.0  # the shortest; stretched as the mesh grows (``cadence``)
    advert_budget: float = cadence.DEFAULT_BUDGET  # adverts/s each peer takes from the mesh; 0: fixed interval
    max_advert_interval: float = cadence.DEFAULT_CEILING_S
    roles: tuple[str, ...] = ("worker",)
    gossip: bool = True  # False for the bootstrap: no gossipsub at all, peer exchange only
    advertise: bool = True  # False for observers (status, clients)
    target_peers: int = 8
    max_mesh_peers: int = 256  # sizes gossip rate limits
    advert_fields: AdvertFields = _no_models
    clock: Callable[[], float] = time.time
    psk: str | None = field(default=None, repr=False)  # private swarm key (64 hex digits)

    def advert_period(self, peers: int) -> float:
        """Seconds between adverts in a mesh of ``peers``."""
        return cadence.advert_period(self.advert_interval, peers, self.advert_budget, self.max_advert_interval)


class MeshNode:
    def __init__(self, config: MeshConfig) -> None:
        self.config = config
        self.peer_id = peer_id_of(config.keypair)
        #: what this peer is and offers now (a gateway drops its role while its store is lost;
        #: a worker's models and free slots change): node state, the config is what it started with
        self.roles: tuple[str, ...] = config.roles
        self.advert_fields: AdvertFields = config.advert_fields
        self.view = MeshView(self.peer_id)
        self.px_table = px.ClockedPxTable(config.clock)
        tuning.apply()  # py-libp2p settings of ours (Yamux window updates in batches)
        tuning.cache_signed_records()  # a neighbour's peer record is checked once, not per RPC
        quiet = ConnectionConfig(min_connections=0, low_watermark=0)
        self.host = new_host(key_pair=config.keypair, connection_config=quiet, psk=config.psk)
        tuning.no_auto_connector(self.host)  # its redials would undo our hang-ups and bans
        release_inbound_slots(self.host)  # py-libp2p 0.8.1 would refuse all inbound after 300
        tuning.cache_addrs(self.host)  # py-libp2p rebuilds them for every pubsub RPC
        self._seq = 0
        self.dialer = Dialer(self)
        #: gossip traffic seen by this node: adverts_in/out, bytes_in/out
        self.gossip_stats: Counter[str] = Counter()
        self.reputation = Reputation()
        self.unheard = liveness.Unheard()
        self.inbound: Counter[str] = Counter()  # open inbound streams per remote peer
        self.refused: Counter[str] = Counter()  # streams refused, by reason
        self.pubsub: Pubsub | None = None
        self.gossipsub: GossipSub | None = None
        self._nursery: trio.Nursery | None = None
        if config.gossip:
            self._make_pubsub()
        self.handle(px.PROTOCOL, self._serve_px)

    # --- public ---------------------------------------------------------------

    def handle(self, protocol: str, handler: Callable[[Stream], Any]) -> None:
        """Register a stream handler behind the containment guard, the
        per-peer stream cap and the ban list; it is handed a ``Stream``."""
        inner = guard.guarded(protocol, handler, self._on_handler_error)

        async def admitted(raw: Any) -> None:
            stream = Stream(raw)
            peer = stream.peer
            reason = self._refusal(peer)
            if reason:
                self.refused[reason] += 1
                await stream.reset()
                return
            self.inbound[peer] += 1
            try:
                await inner(stream)
            finally:
                self.inbound[peer] -= 1
                if not self.inbound[peer]:
                    del self.inbound[peer]

        admitted.hivemesh_guarded = True  # type: ignore[attr-defined]
        self.host.set_stream_handler(TProtocol(protocol), admitted)

    def _on_handler_error(self, stream: Stream, exc: Exception) -> None:
        if blames_sender(exc):  # bad input (a stalled sender is only cut off)
            self.penalize(stream.peer, "malformed")

    def _refusal(self, peer: str) -> str:
        if self.reputation.banned(peer, self.config.clock()):
            return "banned"
        if self.inbound[peer] >= MAX_STREAMS_PER_PEER:
            return "stream_cap"
        return ""

    def penalize(self, peer_id: str, offence: str) -> None:
        """Charge a misbehaving peer; once banned its gossip is dropped and it is hung up on."""
        if not peer_id or peer_id == self.peer_id or peer_id == "?":
            return
        if self.reputation.penalize(peer_id, offence, self.config.clock()):
            self.gossip_stats["bans"] += 1
            log.warning("peer banned peer_id=%s after %s (score %.1f)", peer_id, offence,
                        self.reputation.score(peer_id, self.config.clock()))
            if self.pubsub is not None:
                # not pubsub.add_to_blacklist: its teardown races py-libp2p's own
                # dead-peer cleanup (KeyError in Pubsub._teardown_if_connected ends
                # the host); hanging up tears the peer's pubsub state down the normal way
                self.pubsub.blacklisted_peers.add(ID.from_base58(peer_id))
            self.view.remove(peer_id)
            if self._nursery is not None:
                self._nursery.start_soon(self.hang_up, peer_id)

    def banned(self) -> set[str]:
        return self.reputation.banned_set(self.config.clock())

    async def open_stream(self, peer_id: str, protocol: str, *, lazy: bool = False) -> Stream:
        """Open a stream, dialing the peer from the view's addrs if needed.

        A peer that refuses us or whose connection is gone leaves our view
        until a newer advert of its own brings it back (``unreachable``): a
        dead peer's last advert stays valid for its TTL, and nobody should be
        handed work on it meanwhile. A peer that is only slow to answer (a
        timeout: it may be overloaded, as may we) keeps its place.

        ``lazy``: do not wait for multistream-select (``lazyselect``); the
        protocol goes out with the first write, and a peer that does not speak
        it makes the first read raise ``StreamBroken``. For the hot paths,
        where the opener writes first (stages, job submissions, hand-offs)."""
        pid = ID.from_base58(peer_id)
        if pid not in self.host.get_connected_peers():
            entry = self.view.peers.get(peer_id)
            addrs = entry.advert.addrs if entry else ()
            outcome = await self.dialer.dial_any(peer_id, addrs)
            if outcome:
                if outcome == "refused":
                    self.unreachable(peer_id, "dial refused")
                raise PeerUnreachable(f"peer {peer_id} is not reachable ({outcome})")
        try:
            with trio.fail_after(STREAM_TIMEOUT_S):
                if lazy:
                    raw = await self.host.get_network().new_stream(pid)
                    raw.set_protocol(TProtocol(protocol))
                    return Stream(raw, propose=protocol)
                return Stream(await self.host.new_stream(pid, [TProtocol(protocol)]))
        except Exception as exc:
            if not isinstance(exc, trio.TooSlowError) and not refused_protocol(exc):
                self.unreachable(peer_id, f"no stream: {short_error(exc)}")
            raise PeerUnreachable(f"cannot open {protocol} to {peer_id}: {short_error(exc)}") from None

    def unreachable(self, peer_id: str, reason: str) -> None:
        """Drop ``peer_id`` from the view (a newer advert of its own restores
        it) and hang up on it, its connection may be half-open."""
        if not self.view.remove(peer_id):
            return
        self.gossip_stats["unreachable"] += 1
        log.info("peer unreachable peer_id=%s (%s); out of the view until its next advert", peer_id, reason)
        if self._nursery is not None:
            self._nursery.start_soon(self.hang_up, peer_id)

    def listen_addrs(self) -> list[str]:
        return [str(a) for a in self.host.get_transport_addrs()]

    def full_addrs(self) -> list[str]:
        return [f"{a}/p2p/{self.peer_id}" for a in announce_addrs(self.listen_addrs())]

    def connected_peers(self) -> list[str]:
        return [str(p) for p in self.host.get_connected_peers()]

    async def wait_joined(self) -> None:
        await self.dialer.joined.wait()

    # --- lifecycle ------------------------------------------------------------

    @asynccontextmanager
    async def run(self) -> AsyncIterator[MeshNode]:
        listen = [parse_listen_addr(a) for a in self.config.listen]
        async with self.host.run(listen_addrs=listen):
            try:
                if self.pubsub is None or self.gossipsub is None:
                    async with self._tasks():
                        yield self
                    return
                async with background_trio_service(self.pubsub), background_trio_service(self.gossipsub):
                    await self.pubsub.wait_until_ready()
                    subscription = await self.pubsub.subscribe(adv.TOPIC)
                    async with self._tasks(subscription):
                        yield self
            finally:
                await close_sockets(self.host)  # py-libp2p skips this when cancelled

    @asynccontextmanager
    async def _tasks(self, subscription: Any = None) -> AsyncIterator[None]:
        guard.protect_all(self.host)  # py-libp2p's own handlers too, once they are all registered
        log.info("listening peer_id=%s addrs=%s", self.peer_id, self.full_addrs())
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.dialer.run)
            if subscription is not None:
                nursery.start_soon(self._drain, subscription)
                nursery.start_soon(self._expiry_loop, nursery)
                if self.config.advertise:
                    nursery.start_soon(self._advert_loop)
            try:
                yield
            finally:
                self._nursery = None
                nursery.cancel_scope.cancel()

    # --- gossip ---------------------------------------------------------------

    def _make_pubsub(self) -> None:
        cfg = self.config
        rate = max(10.0, 4.0 * cfg.max_mesh_peers / cfg.advert_interval)
        self.gossipsub = gossip.make_router(rate)
        self.pubsub = Pubsub(self.host, self.gossipsub)
        guard.protect_pubsub(self.host, self.pubsub)
        self.pubsub.set_topic_validator(adv.TOPIC, self._validate, False)

    def _validate(self, forwarder: Any, msg: Any) -> bool:
        """Gossip validator: verify + apply; rejected adverts are not relayed."""
        if str(forwarder) != self.peer_id:  # our own publish passes through here too
            self.gossip_stats["adverts_in"] += 1
            self.gossip_stats["bytes_in"] += len(msg.data)
        try:
            event = self.view.offer(bytes(msg.data), self.config.clock())
        except Exception:  # never let a validator raise into py-libp2p
            log.exception("advert validation failed unexpectedly")
            return False
        if event.kind == "rejected":
            if event.reason in PENALIZED_REJECTIONS:
                self.penalize(str(forwarder), event.reason)
            level = logging.DEBUG if event.reason == "expired" else logging.INFO
            log.log(level, "advert rejected reason=%s peer=%s via=%s",
                    event.reason, event.peer_id or "?", forwarder)
            return False
        if event.kind == "joined":
            log.info("peer seen peer_id=%s", event.peer_id)
        return True

    async def _drain(self, subscription: Any) -> None:
        while True:  # the validator did the work; keep the channel empty
            await subscription.get()

    def advert_period(self) -> float:
        """Seconds between our adverts now, for the mesh we know of."""
        return self.config.advert_period(self.known_peers())

    def known_peers(self) -> int:
        """How large the mesh is, as far as we can tell: peers in our view,
        peers heard from lately whose adverts lapsed (we or they may be too
        busy to keep up), peers that peer exchange told us of. Not the view
        alone: a peer that cannot keep up would see a small mesh, advert
        faster and make it worse."""
        now = self.config.clock()
        heard = self.view.heard_within(now, HEARD_WINDOW_S)
        return max(len(self.view.peers), heard, len(self.px_table.peers()))

    def make_advert(self, period: float | None = None) -> adv.Advert:
        """Our advert, valid for ``TTL_PERIODS`` times the ``period`` until the next one."""
        period = self.advert_period() if period is None else period
        now = self.config.clock()
        self._seq = max(self._seq + 1, int(now * 1000))
        models, capacity = self.advert_fields()
        return adv.Advert(
            peer_id=self.peer_id, seq=self._seq, time=now,
            expires=now + cadence.TTL_PERIODS * period,
            addrs=tuple(announce_addrs(self.listen_addrs())), models=models,
            capacity=capacity, roles=self.roles,
        )

    async def publish_advert(self, period: float | None = None) -> None:
        advert = self.make_advert(period)
        self.view.apply(advert, self.config.clock())
        assert self.pubsub is not None
        signed = adv.sign(advert, self.config.keypair)
        self.gossip_stats["adverts_out"] += 1
        self.gossip_stats["bytes_out"] += len(signed)
        await self.pubsub.publish(adv.TOPIC, signed)

    async def _advert_loop(self) -> None:
        while True:
            period = self.advert_period()  # the advert's TTL is TTL_PERIODS of it
            try:
                await self.publish_advert(period)
            except Exception as exc:
                log.warning("advert publish failed: %s", exc)
            # jitter: peers that started together would otherwise advert (and relay) in bursts
            await trio.sleep(period * random.uniform(1 - ADVERT_JITTER, 1 + ADVERT_JITTER))

    async def _expiry_loop(self, nursery: trio.Nursery) -> None:
        while True:
            now, connected = self.config.clock(), set(self.connected_peers())
            keep_s = liveness.KEEP_PERIODS * self.advert_period()
            for peer_id in self.view.expire(now, connected):
                self.gossip_stats["expired"] += 1
                log.info("peer expired peer_id=%s", peer_id)
                self.px_table.forget(peer_id)
                self.unheard.busy.add(peer_id)  # late, or gone? a peer that answers a ping keeps its connection
                back = partial(self.view.peers.__contains__, peer_id)
                check = liveness.hang_up_unless_alive(self.host, peer_id, self.hang_up, back, keep_s)
                nursery.start_soon(liveness.tracked, self.unheard, self.config.clock, peer_id, check)
            for peer_id in self.unheard.due(connected, self.view.peers, now, keep_s):  # connected, no adverts
                check = liveness.hang_up_unless_answers(self.host, peer_id, self.hang_up)
                nursery.start_soon(liveness.tracked, self.unheard, self.config.clock, peer_id, check)
            # a banned peer is hung up on again whenever it is connected: it may dial
            # back, and a connection py-libp2p upgraded after our hang-up stays open
            for peer_id in self.banned() & connected:
                await self.hang_up(peer_id)
            await trio.sleep(self.config.advert_interval / 4)

    async def hang_up(self, peer_id: str) -> None:
        """Close a silent peer's connections: they may be half-open (crash,
        partition), and py-libp2p's pubsub would keep a dead stream for it and
        ignore the peer when it comes back under the same id."""
        pid = ID.from_base58(peer_id)
        if pid not in self.host.get_connected_peers():
            return
        with trio.move_on_after(DIAL_TIMEOUT_S):
            try:
                await self.host.disconnect(pid)
            except Exception as exc:
                log.debug("disconnect %s failed: %s", peer_id, exc)

    # --- peer exchange (dialing: ``Dialer``) ------------------------------------

    async def _serve_px(self, stream: Stream) -> None:
        with trio.fail_after(STREAM_TIMEOUT_S):
            request = await stream.receive(px.PxRequest)
            self.px_table.record(stream.peer, request.addrs)
            candidates = self.px_table.peers() + [px.PxPeer(e.peer_id, e.advert.addrs) for e in self.view.live()]
            await stream.send(px.answer(candidates, stream.peer))
            await stream.close()

    async def ask_px(self, peer_id: str) -> list[px.PxPeer]:
        stream = await self.open_stream(peer_id, px.PROTOCOL)
        try:
            with trio.fail_after(STREAM_TIMEOUT_S):
                mine = tuple(announce_addrs(self.listen_addrs())) if self.config.advertise else ()
                await stream.send(px.PxRequest(mine[: px.MAX_ADDRS]))
                response = await stream.receive(px.PxResponse)
        finally:
            await stream.close()
        for peer in response.peers:
            self.px_table.record(peer.peer_id, peer.addrs)
        return list(response.peers)

