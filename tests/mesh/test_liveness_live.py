"""A peer whose adverts lapse: late (it answers a ping, and adverts again
soon) keeps its connection and the streams on it; gone (no answer) is hung
up on. Both leave the view until their next advert."""

import trio

from hivemesh.mesh import wire
from tests.meshutil import peer_config, start, start_bootstrap, wait_until

ECHO = "/hivemesh-test/echo/1"


async def echo(stream) -> None:
    while True:
        data = await wire.read_frame(stream, 1024)
        await stream.write(wire.frame(data))


async def round_trip(stream, data: bytes) -> bytes:
    await stream.write(wire.frame(data))
    with trio.fail_after(5):
        return await wire.read_frame(stream, 1024)


def silence(node) -> None:
    async def no_advert(period=None):
        await trio.lowlevel.checkpoint()

    node.publish_advert = no_advert  # its adverts stop; its connections and handlers stay


async def test_a_peer_whose_adverts_are_late_but_answers_keeps_its_streams_and_a_mute_one_is_hung_up_on(nursery):
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    a = (await start(nursery, peer_config(addr))).node
    late = (await start(nursery, peer_config(addr))).node
    mute = (await start(nursery, peer_config(addr))).node
    for node in (late, mute):
        node.handle(ECHO, echo)
    await wait_until(lambda: {late.peer_id, mute.peer_id} <= set(a.view.peers), 15, "both in view")
    to_late = await a.open_stream(late.peer_id, ECHO)  # work in flight on each connection
    to_mute = await a.open_stream(mute.peer_id, ECHO)
    assert await round_trip(to_late, b"before") == b"before" and await round_trip(to_mute, b"before") == b"before"
    silence(late)
    silence(mute)
    mute.host.remove_stream_handler("/ipfs/ping/1.0.0")  # alive to TCP, but it answers nothing: as good as gone
    await wait_until(lambda: late.peer_id not in a.view.peers and mute.peer_id not in a.view.peers, 15,
                     "both adverts to lapse")
    del late.publish_advert  # the late peer's adverts come again
    await wait_until(lambda: late.peer_id in a.view.peers, 15, "the late peer back in view")
    await wait_until(lambda: mute.peer_id not in a.connected_peers(), 15, "the mute peer hung up on")
    # before: the late peer was hung up on as well, and the stream open on its connection broke
    assert await round_trip(to_late, b"after") == b"after"


async def test_a_mute_peer_that_dials_back_after_it_was_hung_up_on_is_hung_up_on_again(nursery):
    # seen in CI: the mute peer was connected again 0.4 s after the hang-up, and it never adverts,
    # so no advert could lapse again; its connection stayed for good
    boot = await start_bootstrap(nursery)
    addr = [boot.node.full_addrs()[0]]
    a = (await start(nursery, peer_config(addr))).node
    mute = (await start(nursery, peer_config(addr))).node
    await wait_until(lambda: mute.peer_id in a.view.peers, 15, "the mute peer in view")
    silence(mute)
    mute.host.remove_stream_handler("/ipfs/ping/1.0.0")
    mute.view.expire = lambda now, connected=(): []  # and it hangs up on nobody itself
    await wait_until(lambda: mute.peer_id not in a.connected_peers(), 15, "the mute peer hung up on")
    assert await mute.dialer.dial_any(a.peer_id, a.full_addrs()) == ""  # it dials back
    await wait_until(lambda: mute.peer_id in a.connected_peers(), 5, "the mute peer connected again")
    took = await wait_until(lambda: mute.peer_id not in a.connected_peers(), 15, "the mute peer hung up on again")
    assert mute.peer_id not in a.view.peers
    assert took >= 1.0  # not at once: a reconnecting peer has KEEP_PERIODS advert periods to advert again
