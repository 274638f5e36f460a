"""streaming/server.py: the launcher's defaults differ from daphne's where load needs it."""

from __future__ import annotations

import contextlib
import gc
import socket
from contextlib import closing
from typing import Any

from streaming.server import (
    WEBSOCKET_CONNECT_TIMEOUT_S,
    BoundedCommandLineInterface,
    buffered_bytes,
)


def test_handshakes_get_longer_than_daphnes_5_seconds_to_be_accepted():
    args = BoundedCommandLineInterface().parser.parse_args(["chatweb.asgi:application"])
    assert args.websocket_connect_timeout == WEBSOCKET_CONNECT_TIMEOUT_S == 30


def test_the_connect_timeout_can_still_be_set_on_the_command_line():
    cli = BoundedCommandLineInterface()
    args = cli.parser.parse_args(["--websocket_connect_timeout", "7", "chatweb.asgi:application"])
    assert args.websocket_connect_timeout == 7


def test_a_new_connection_does_not_pretty_print_autobahns_settings(monkeypatch):
    """autobahn formats its settings for a debug line on every connection; the launcher's
    protocol defers that to the line being written (never, with debug logging off)."""
    from autobahn.twisted.websocket import WebSocketServerFactory
    from autobahn.websocket import protocol as autobahn_protocol
    from twisted.internet.testing import StringTransport

    from streaming.server import BoundedWebSocketProtocol

    formatted: list[object] = []

    def counting_pformat(obj: object) -> str:
        formatted.append(obj)
        return repr(obj)

    monkeypatch.setattr(autobahn_protocol, "pformat", counting_pformat)
    protocol = BoundedWebSocketProtocol()
    protocol.factory = WebSocketServerFactory()
    protocol.makeConnection(StringTransport())

    assert formatted == []
    assert protocol.state == protocol.STATE_CONNECTING  # autobahn's set-up did run
    assert vars(autobahn_protocol)["pformat"] is counting_pformat  # the module is as it was


def _connected_protocol() -> tuple[Any, Any, socket.socket]:
    """The launcher's protocol on a real TCP-like socket (a socketpair) through Twisted's
    own TCP transport; the reactor is Twisted's MemoryReactor, which records writers."""
    from autobahn.twisted.websocket import WebSocketServerFactory
    from twisted.internet import address, tcp
    from twisted.internet.testing import MemoryReactor

    from streaming.server import BoundedWebSocketProtocol

    ours, peer = socket.socketpair()
    ours.setblocking(False)
    peer.settimeout(2)  # a frame left in the transport fails the test instead of hanging it
    reactor = MemoryReactor()
    protocol = BoundedWebSocketProtocol()
    protocol.factory = WebSocketServerFactory()

    class Connection(tcp.Connection):
        def getPeer(self) -> address.IPv4Address:  # a socketpair has no IP addresses
            return address.IPv4Address("TCP", "127.0.0.1", 1)

        getHost = getPeer

    transport = Connection(ours, protocol, reactor)  # type: ignore[arg-type]
    transport.connected = 1
    protocol.makeConnection(transport)
    return protocol, reactor, peer


def test_a_frame_goes_to_the_socket_at_once_when_nothing_waits_before_it():
    protocol, reactor, peer = _connected_protocol()
    with closing(peer), closing(protocol.transport.socket):
        protocol.sendData(b"first frame")
        assert peer.recv(100) == b"first frame"
        # Sent, not buffered: the socket was never registered for writability.
        assert protocol.transport not in reactor.getWriters()


def test_what_the_kernel_does_not_take_waits_in_the_transport_in_order():
    protocol, reactor, peer = _connected_protocol()
    with closing(peer), closing(protocol.transport.socket):
        big = bytes(range(256)) * 40_000  # ~10 MB: more than the socket buffers hold
        protocol.sendData(big)
        assert protocol.transport in reactor.getWriters()  # the rest waits its turn
        protocol.sendData(b"after")  # behind the waiting bytes, never ahead of them
        assert buffered_bytes(protocol.transport) > 0
        received = bytearray()
        peer.setblocking(False)
        for _ in range(100_000):
            if len(received) >= len(big) + 5:
                break
            with contextlib.suppress(BlockingIOError):
                received += peer.recv(1 << 20)
            protocol.transport.doWrite()  # what the reactor does when the socket is writable
        assert bytes(received) == big + b"after"


def test_once_listening_the_server_hides_what_it_loaded_from_the_collector() -> None:
    # A full collection walked Django and the app again each time, inside a request: the
    # 500-message conversation's next page had a p95 of 101-142 ms against a p50 of 40.
    from streaming.server import BoundedServer

    server = BoundedServer.__new__(BoundedServer)  # not run: only its listen callback
    server.listening_addresses = []
    gc.unfreeze()
    try:
        server.listen_success(object())
        assert gc.get_freeze_count() > 10_000
    finally:
        gc.unfreeze()
