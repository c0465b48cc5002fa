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
