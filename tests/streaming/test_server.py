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
