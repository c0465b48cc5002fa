"""Our gossipsub router: py-libp2p's ``GossipSub`` with the settings of
``tuning`` and the mends below applied at our boundary (py-libp2p untouched)."""

from __future__ import annotations

import random
import time
from typing import Any

from libp2p.custom_types import TProtocol
from libp2p.pubsub.gossipsub import GossipSub

from hivemesh.mesh import tuning

GOSSIP_PROTOCOLS = [TProtocol("/meshsub/1.1.0")]
#: seconds by which the two ends of a pruned mesh link may disagree on when its backoff ends:
#: py-libp2p keeps backoffs in whole seconds (one may end up to 1 s early) and each end
#: starts its own when it sends or receives the PRUNE (see ``steady_mesh``)
GRAFT_SLACK_S = 2


def bare_router(rate: float = 10.0) -> GossipSub:
    """py-libp2p's router with our degree, heartbeat and backoff, ``rate`` messages
    per topic per second from one peer, and none of the mends."""
    degree, low, high = tuning.GOSSIP_DEGREE
    return GossipSub(
        protocols=GOSSIP_PROTOCOLS, degree=degree, degree_low=low, degree_high=high,
        heartbeat_interval=tuning.GOSSIP_HEARTBEAT_S, max_messages_per_topic_per_second=rate,
        adaptive_gossip_enabled=False,  # it would rescale the degree and heartbeat set here
        prune_back_off=tuning.GOSSIP_PRUNE_BACKOFF_S,
    )


def make_router(rate: float = 10.0) -> GossipSub:
    """The router a node runs: ``bare_router`` with every mend."""
    made = bare_router(rate)
    tuning.lazy_gossip(made)
    steady_mesh(made)
    reach_past_mesh_holes(made)
    return made


def steady_mesh(router: Any, slack_s: float = GRAFT_SLACK_S) -> None:
    """Stop py-libp2p 0.8.1's gossipsub from tearing its own mesh apart (instance
    attributes on ``GossipSub``; py-libp2p itself is untouched).

    Seen in a mesh of 8 peer processes (issue 13, a tracer on every heartbeat and
    every GRAFT and PRUNE received): a peer's mesh fell to 1 neighbour with the 7
    others in backoff for ~9 s, 51-61 "GRAFT flood" penalties in a 25 s run, and
    in those spans adverts reached peers late, views lost live peers mesh-wide.
    Three things in py-libp2p made it:

    - a heartbeat that prunes a neighbour (mesh above its high bound) does not put
      it in backoff on its own side, as go-libp2p does: it grafts it again at the
      next heartbeat (3 s later), and the neighbour, pruned 3 s before, calls that
      a GRAFT flood, penalises it and prunes it back; now each peer a heartbeat
      prunes is in backoff here too;
    - backoffs are whole seconds, so one may end up to 1 s early, and the flood
      threshold equals the backoff (10 s): a GRAFT sent the moment the sender's
      backoff ended was a "flood" at the receiver all the same; the threshold is now
      ``slack_s`` under the backoff;
    - the receiver of that GRAFT may still hold its own backoff (started when the
      PRUNE arrived, later than the sender's): it refused the GRAFT, pruned back and
      restarted the backoff; a backoff that ends within ``slack_s`` no longer
      refuses it.
    """
    router.graft_flood_threshold = max(1.0, float(router.prune_back_off) - slack_s)
    heartbeat, handle_graft = router.mesh_heartbeat, router.handle_graft

    def mesh_heartbeat() -> Any:
        to_graft, to_prune = heartbeat()
        for peer, topics in to_prune.items():
            for topic in topics:
                router._add_back_off(peer, topic, False)
        return to_graft, to_prune

    async def graft(msg: Any, sender: Any) -> None:
        backoffs = router.back_off.get(msg.topicID, {})
        till = backoffs.get(sender)
        if till is not None and till - time.time() <= slack_s:
            del backoffs[sender]  # its end of the backoff ran out first
        await handle_graft(msg, sender)

    router.mesh_heartbeat, router.handle_graft = mesh_heartbeat, graft


def reach_past_mesh_holes(router: Any) -> None:
    """Send past the holes a gossipsub mesh has while it settles (an instance
    attribute on ``GossipSub``; py-libp2p itself is untouched).

    Heartbeats on both ends of a link prune it independently, so after a join a
    peer's mesh can fall to 0-1 neighbours with every other peer in backoff for the
    backoff's 10 s (seen in a mesh of 8 peer processes, ``steady_mesh``'s tracer):
    py-libp2p then sends its adverts, and relays others', to nobody or to one peer,
    and the rest reach the mesh only through IHAVE at a 3 s heartbeat, after an
    advert's 2.5 periods of life at the 1 s interval. Two rules mend that:

    - our own messages go to every connected peer in the topic (go-libp2p's
      ``floodPublish``, on by default there): an advert leaves its peer once per
      period, so this costs a few copies more per period, ``target_peers`` instead
      of the degree, and a peer's neighbours hear it whatever its mesh looks like;
    - a message we relay while our mesh in the topic is under its low bound also goes
      to random peers in the topic, up to the degree (a copy is not a GRAFT: backoff
      does not apply).
    """
    pick = router._get_peers_to_send

    def peers_to_send(topic_ids: Any, msg_forwarder: Any, origin: Any, msg_id: bytes | None = None) -> Any:
        chosen = set(pick(topic_ids, msg_forwarder=msg_forwarder, origin=origin, msg_id=msg_id))
        pubsub = router.pubsub
        if pubsub is None:
            return chosen
        own = origin == pubsub.my_id
        for topic in topic_ids:
            mesh = router.mesh.get(topic, ())
            if not own and len(mesh) >= router.degree_low:
                continue  # a relay through a full mesh: py-libp2p's choice stands
            speakers = [p for p in pubsub.peer_topics.get(topic, ()) if p in router.peer_protocol
                        and p not in (msg_forwarder, origin)]
            if own:
                extra = speakers
            else:
                others = [p for p in speakers if p not in mesh and p not in chosen]
                extra = random.sample(others, min(len(others), max(0, router.degree - len(mesh))))
            unwanted = router.dont_send_message_ids
            chosen.update(p for p in extra if msg_id is None or msg_id not in unwanted.get(p, ()))
        return chosen

    router._get_peers_to_send = peers_to_send
