"""Advert verification and the mesh view: pure, no sockets."""

import msgpack
import pytest

from hivemesh.errors import AdvertRejected
from hivemesh.mesh import advert as adv
from hivemesh.mesh import wire
from hivemesh.mesh.identity import generate, peer_id_of
from hivemesh.mesh.view import MeshView

NOW = 1_800_000_000.0
KEY = generate()
PEER = peer_id_of(KEY)


def make(seq=1, time=NOW, ttl=5.0, peer_id=PEER, models=(), addrs=("/ip4/127.0.0.1/tcp/1",), roles=("worker",)):
    return adv.Advert(
        peer_id=peer_id, seq=seq, time=time, expires=time + ttl, addrs=addrs,
        models=models, capacity=adv.Capacity(2, 1, 0), roles=roles,
    )


def model(*caps):
    return adv.ModelAd(name="m", capabilities=caps, context_size=2048, tokens_per_second=30.0)


def test_valid_advert_verifies():
    a = make(models=(model("summarize"),))
    assert adv.verify(adv.sign(a, KEY), NOW) == a


def rejected(raw, now=NOW, last_seq=None):
    with pytest.raises(AdvertRejected) as info:
        adv.verify(raw, now, last_seq)
    return info.value.reason


def test_forged_signature_rejected():
    raw = adv.sign(make(), generate())  # signed by someone else's key
    assert rejected(raw) == "bad_signature"


def test_tampered_body_rejected():
    signed = wire.decode(adv.SignedAdvert, adv.sign(make(), KEY))
    body = wire.encode(make(roles=("worker", "gateway")))
    assert rejected(wire.encode(adv.SignedAdvert(body, signed.sig))) == "bad_signature"


def test_unverifiable_peer_id_rejected():
    assert rejected(adv.sign(make(peer_id="not-a-peer-id"), KEY)) == "bad_peer_id"


def test_replay_expired_future_oversize_garbage():
    assert rejected(adv.sign(make(seq=5), KEY), last_seq=5) == "replay"
    assert rejected(adv.sign(make(time=NOW - 100), KEY)) == "expired"
    assert rejected(adv.sign(make(time=NOW + 3600), KEY)) == "future"
    assert rejected(adv.sign(make(ttl=10_000), KEY)) == "future"
    assert rejected(b"\x00" * (adv.SignedAdvert.MAX_BYTES + 1)) == "oversize"
    assert rejected(b"\x93\x01\x02") == "malformed"
    assert rejected(b"\xc1garbage") == "malformed"


def test_view_counts_each_rejection_and_keeps_serving():
    view = MeshView("me")
    for raw in (b"junk", adv.sign(make(), generate()), adv.sign(make(time=NOW - 100), KEY)):
        assert view.offer(raw, NOW).kind == "rejected"
    assert dict(view.rejected) == {"malformed": 1, "bad_signature": 1, "expired": 1}
    assert view.offer(adv.sign(make(seq=2), KEY), NOW).kind == "joined"
    assert view.offer(adv.sign(make(seq=2), KEY), NOW).kind == "duplicate"
    assert view.offer(adv.sign(make(seq=1), KEY), NOW).kind == "rejected"
    assert view.rejected["replay"] == 1
    assert view.offer(adv.sign(make(seq=3), KEY), NOW + 1).kind == "updated"


def test_dead_peer_leaves_within_three_intervals():
    interval = 2.0
    view = MeshView("me")
    view.offer(adv.sign(make(ttl=2.5 * interval), KEY), NOW)
    assert view.expire(NOW + 2 * interval) == []
    assert view.expire(NOW + 2.6 * interval) == [PEER]
    assert PEER not in view.peers


def test_a_late_peer_still_connected_keeps_its_place_one_more_period():
    interval = 2.0
    view = MeshView("me")
    view.offer(adv.sign(make(ttl=2.5 * interval), KEY), NOW)
    assert view.expire(NOW + 2.6 * interval, connected={PEER}) == []  # late, its connection open
    assert view.expire(NOW + 3.4 * interval, connected={PEER}) == []
    assert view.expire(NOW + 3.6 * interval, connected={PEER}) == [PEER]  # late by more than a period


def test_a_lapsed_peer_not_connected_leaves_on_time():
    view = MeshView("me")
    view.offer(adv.sign(make(ttl=5.0), KEY), NOW)
    assert view.expire(NOW + 5.2, connected={"someone else"}) == [PEER]


def test_expired_peer_cannot_be_resurrected_by_an_old_advert():
    view = MeshView("me")
    view.offer(adv.sign(make(seq=7), KEY), NOW)
    view.expire(NOW + 100)
    assert view.offer(adv.sign(make(seq=6, time=NOW + 99), KEY), NOW + 100).reason == "replay"


def test_restart_is_not_a_replay_because_seq_is_time_based():
    view = MeshView("me")
    view.offer(adv.sign(make(seq=int(NOW * 1000)), KEY), NOW)
    restarted = make(seq=int((NOW + 1) * 1000), time=NOW + 1)
    assert view.offer(adv.sign(restarted, KEY), NOW + 1).kind == "updated"


def test_capability_index_and_gateways():
    view = MeshView("me")
    k2 = generate()
    view.apply(make(models=(model("summarize", "general"),)), NOW)
    view.apply(make(peer_id=peer_id_of(k2), models=(model("code"),), roles=("worker", "gateway")), NOW)
    index = view.capability_index()
    assert index["summarize"] == [PEER] and index["code"] == [peer_id_of(k2)]
    assert [e.peer_id for e in view.with_capability("general")] == [PEER]
    assert [e.peer_id for e in view.gateway_eligible()] == [peer_id_of(k2)]


def test_own_adverts_are_not_counted():
    view = MeshView(PEER)
    assert view.offer(adv.sign(make(), KEY), NOW).kind == "own"
    assert not view.rejected


def test_an_origin_flooding_new_adverts_is_rate_limited():
    view = MeshView("me")
    assert view.offer(adv.sign(make(seq=1, ttl=5.0), KEY), NOW).kind == "joined"
    floods = [view.offer(adv.sign(make(seq=2 + i, ttl=5.0), KEY), NOW + 0.01 * i).kind for i in range(20)]
    assert floods.count("rejected") == 20 and view.rejected["rate"] == 20
    assert view.offer(adv.sign(make(seq=99, time=NOW + 2, ttl=5.0), KEY), NOW + 2).kind == "updated"


def test_a_peer_whose_period_grows_stays_in_the_view():
    """A peer that joins a large mesh adverts at a short period, then at a much
    longer one as its view fills (``cadence``): each advert comes one old period
    after the last, and none is refused, so the view never lets it lapse."""
    view = MeshView("me")
    t, kinds = NOW, []
    for seq, period in enumerate((2.0, 10.0, 60.0, 101.0, 101.0), start=1):
        kinds.append(view.offer(adv.sign(make(seq=seq, time=t, ttl=2.5 * period), KEY), t).kind)
        t += period * 0.9  # the earliest the jitter allows
        assert view.expire(t) == [] and PEER in view.peers
    assert kinds == ["joined"] + ["updated"] * 4 and not view.rejected


def test_a_flood_of_long_lived_adverts_is_still_rate_limited_by_the_held_one():
    view = MeshView("me")
    assert view.offer(adv.sign(make(seq=1, ttl=20.0), KEY), NOW).kind == "joined"
    assert view.offer(adv.sign(make(seq=2, ttl=250.0), KEY), NOW + 1.0).kind == "rejected"  # 1 s < 2 s
    assert view.offer(adv.sign(make(seq=3, time=NOW + 2.5, ttl=250.0), KEY), NOW + 2.5).kind == "updated"
    assert view.offer(adv.sign(make(seq=4, time=NOW + 3.0, ttl=250.0), KEY), NOW + 3.0).kind == "rejected"
    assert view.rejected["rate"] == 2


def test_a_late_copy_then_the_next_advert_on_time_are_both_taken():
    """A neighbour replays an advert sent 14 s ago to a peer that just joined; the
    sender's next advert (16 s period) comes 2 s later: not a flood."""
    view = MeshView("me")
    assert view.offer(adv.sign(make(seq=1, time=NOW - 14, ttl=41.0), KEY), NOW).kind == "joined"
    assert view.offer(adv.sign(make(seq=2, time=NOW + 2, ttl=41.0), KEY), NOW + 2).kind == "updated"
    assert view.peers[PEER].deadline == NOW + 2 + 41.0 and not view.rejected


def test_a_capability_whose_peers_just_left_is_still_recent():
    view = MeshView("me")
    view.offer(adv.sign(make(models=(model("summarize"),)), KEY), NOW)
    assert view.recent_capabilities(NOW) == {"summarize"}
    view.expire(NOW + 6)  # its only peer's advert lapsed
    assert view.capabilities() == set()
    assert view.recent_capabilities(NOW + 6, within=60) == {"summarize"}  # a replacement may be joining
    assert view.recent_capabilities(NOW + 61, within=60) == set()  # long gone: not the mesh's any more


def test_an_unreachable_peer_is_back_only_with_a_newer_advert():
    view = MeshView("me")
    first = adv.sign(make(seq=1), KEY)
    view.offer(first, NOW)
    assert view.remove(PEER)  # we could not reach it
    assert view.offer(first, NOW + 1).kind == "duplicate" and PEER not in view.peers  # a late gossip copy
    assert view.offer(adv.sign(make(seq=2, time=NOW + 2), KEY), NOW + 2).kind == "joined"


def test_peers_heard_from_lately_count_after_their_adverts_lapse():
    """A peer too busy to keep up loses adverts, not its idea of the mesh's size."""
    view = MeshView("me")
    view.offer(adv.sign(make(seq=1), KEY), NOW)
    view.expire(NOW + 6)
    assert not view.peers and view.heard_within(NOW + 6, within=300) == 1
    assert view.heard_within(NOW + 301, within=300) == 0


def test_adverts_carry_pinned_model_hashes_and_older_adverts_still_verify():
    pinned = adv.ModelAd(name="m", capabilities=("general",), context_size=2048, tokens_per_second=30.0,
                         sha256="a" * 64, quant="Q4_K_M")
    got = adv.verify(adv.sign(make(models=(pinned,)), KEY), NOW)
    assert got.models[0].sha256 == "a" * 64 and got.serves("general", "a" * 64)
    assert got.model_hash_for("general") == "a" * 64 and got.model_hash_for("code") == ""
    # an advert from a peer without the fields (before pinning) verifies, and serves no pinned stage
    body = make(models=(model("general"),)).to_wire()
    for m in body["models"]:
        del m["sha256"], m["quant"]
    packed = msgpack.packb(body)
    raw = wire.encode(adv.SignedAdvert(body=packed, sig=KEY.private_key.sign(packed)))
    old = adv.verify(raw, NOW)
    assert old.models[0].sha256 == "" and not old.serves("general", "a" * 64)


def test_an_advert_with_a_malformed_model_hash_is_rejected():
    body = make(models=(model("general"),)).to_wire()
    body["models"][0]["sha256"] = "not-a-hash"
    packed = msgpack.packb(body)
    with pytest.raises(AdvertRejected) as info:
        adv.verify(wire.encode(adv.SignedAdvert(body=packed, sig=KEY.private_key.sign(packed))), NOW)
    assert info.value.reason == "malformed"
