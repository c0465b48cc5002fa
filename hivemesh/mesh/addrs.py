"""Multiaddr parsing with clear errors."""

from __future__ import annotations

import multiaddr
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr

from hivemesh.errors import ConfigError


def parse_peer_addr(text: str) -> PeerInfo:
    """``/ip4/1.2.3.4/tcp/4001/p2p/<peer id>`` -> PeerInfo, or ConfigError."""
    try:
        addr = multiaddr.Multiaddr(text.strip())
    except Exception as exc:  # multiaddr raises several unrelated types
        raise ConfigError(f"not a multiaddr: {text!r} ({exc})") from None
    try:
        return info_from_p2p_addr(addr)
    except Exception:
        raise ConfigError(
            f"bootstrap address {text!r} lacks its peer id: expected .../tcp/PORT/p2p/<peer id>"
        ) from None


def parse_listen_addr(text: str) -> multiaddr.Multiaddr:
    try:
        addr = multiaddr.Multiaddr(text.strip())
    except Exception as exc:
        raise ConfigError(f"not a listen multiaddr: {text!r} ({exc})") from None
    if "/tcp/" not in str(addr):
        raise ConfigError(f"listen address {text!r} must be TCP, e.g. /ip4/127.0.0.1/tcp/0")
    return addr


def dial_addr(transport_addr: str, peer_id: str) -> PeerInfo:
    return info_from_p2p_addr(multiaddr.Multiaddr(f"{transport_addr}/p2p/{peer_id}"))


class Backoff:
    """Exponential backoff for redialing an unreachable bootstrap."""

    def __init__(self, first: float = 1.0, cap: float = 30.0) -> None:
        self.first, self.cap = first, cap
        self.delay, self.next_at, self.failures = first, 0.0, 0

    def due(self, now: float) -> bool:
        return now >= self.next_at

    def failed(self, now: float) -> float:
        self.failures += 1
        wait = self.delay
        self.next_at = now + wait
        self.delay = min(self.delay * 2, self.cap)
        return wait

    def succeeded(self) -> None:
        self.delay, self.next_at, self.failures = self.first, 0.0, 0


def announce_addrs(listen: list[str]) -> list[str]:
    """Listen addrs as others can dial them: 0.0.0.0 becomes each IPv4 interface."""
    out: list[str] = []
    for addr in listen:
        if "/ip4/0.0.0.0/" not in addr:
            out.append(addr)
            continue
        for ip in _local_ipv4():
            out.append(addr.replace("/ip4/0.0.0.0/", f"/ip4/{ip}/"))
    return out


def _local_ipv4() -> list[str]:
    try:
        import ifaddr

        ips = [ip.ip for a in ifaddr.get_adapters() for ip in a.ips if isinstance(ip.ip, str)]
    except Exception:
        ips = []
    return sorted(set(ips) | {"127.0.0.1"}, key=lambda ip: (ip.startswith("127."), ip))
