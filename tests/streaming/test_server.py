"""streaming/server.py: the launcher's defaults differ from daphne's where load needs it."""

from __future__ import annotations

from streaming.server import WEBSOCKET_CONNECT_TIMEOUT_S, BoundedCommandLineInterface


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
