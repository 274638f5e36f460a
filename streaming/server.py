"""The daphne launcher: daphne's command line, with a bounded outgoing buffer per socket.

    python -m streaming.server -b 127.0.0.1 -p 8000 chatweb.asgi:application

takes exactly daphne's arguments. Daphne writes every frame the application sends
straight into the connection's transport, and the application never learns whether the
client reads: a client that stops reading (or reads slowly on purpose) makes the server
hold everything sent to it. Here each WebSocket connection checks, after every frame,
how many bytes its transport still holds. A socket still holding earlier frames past
WS_MAX_BUFFERED_BYTES is dropped; so are the sockets holding the most, once all of the
process's together hold more than WS_MAX_BUFFERED_BYTES_TOTAL (streaming/sockets_budget.py).
The application sees them disconnect with CLOSE_SLOW_READER (4008), their buffers are
freed, and the allocator is asked to give the memory back. Since the caps bound what is
held, the server's own frames are not held to daphne's 1 MiB limit on incoming messages
(which autobahn also applies to outgoing ones).
"""

from __future__ import annotations

import asyncio
import gc
import logging
from pprint import pformat
from typing import Any

from autobahn.websocket import protocol as autobahn_protocol
from daphne.cli import CommandLineInterface
from daphne.server import Server
from daphne.ws_protocol import WebSocketProtocol

from realtime import events
from streaming import sockets_budget

log = logging.getLogger(__name__)

# Released socket buffers worth giving back to the system at once, and how soon after
# (sockets dropped together are trimmed for together).
TRIM_AFTER_BYTES = 4 * 1024 * 1024
TRIM_DELAY_S = 0.5


def buffered_bytes(transport: Any) -> int:
    """Bytes a Twisted TCP transport has accepted but not yet handed to the kernel."""
    pending = getattr(transport, "dataBuffer", b"")
    offset = getattr(transport, "offset", 0)
    return max(0, len(pending) - offset) + int(getattr(transport, "_tempDataLen", 0))


def _release_buffers(transport: Any) -> None:
    """Drop what a closed transport still holds (it is never sent now)."""
    if hasattr(transport, "dataBuffer"):
        transport.dataBuffer = b""
        transport.offset = 0
    if hasattr(transport, "_tempDataBuffer"):
        transport._tempDataBuffer = []
        transport._tempDataLen = 0


class _Trimmer:
    """Calls sockets_budget.trim() once after a burst of released buffers."""

    released = 0
    scheduled = False

    def add(self, size: int) -> None:
        self.released += size
        if self.released >= TRIM_AFTER_BYTES and not self.scheduled:
            from twisted.internet import reactor

            self.scheduled = True
            clock: Any = reactor  # zope's interfaces type its methods without self
            clock.callLater(TRIM_DELAY_S, self.run)

    def run(self) -> None:
        released, self.released, self.scheduled = self.released, 0, False
        if sockets_budget.trim():
            log.info("Gave freed memory back to the system after %d bytes of buffers.", released)


_trimmer = _Trimmer()


def _writes_directly(transport: Any) -> bool:
    """Whether bytes can go to this transport's socket now, ahead of nothing: a connected
    plain-TCP Twisted transport with an empty buffer (TLS has its own layer)."""
    return (
        hasattr(transport, "writeSomeData")
        and not getattr(transport, "TLS", True)
        and transport.connected
        and not transport.disconnecting
        and not getattr(transport, "_writeDisconnected", True)
        and not transport._tempDataBuffer
        and len(transport.dataBuffer) == transport.offset
    )


class _LazyPformat:
    """pprint.pformat(obj), computed only if the log line holding it is written."""

    __slots__ = ("obj",)

    def __init__(self, obj: object) -> None:
        self.obj = obj

    def __str__(self) -> str:
        return pformat(self.obj)


class BoundedWebSocketProtocol(WebSocketProtocol):  # type: ignore[misc]
    overflowed = False

    def connectionMade(self) -> None:
        """autobahn's, without pretty-printing its settings for a debug line nobody reads.

        On every new connection autobahn formats its ~30 settings with pprint.pformat for
        a debug log call, whether or not debug logging is on (0.5-0.9 ms a connection:
        a tenth of the issue's budget for a whole chat's fixed cost). The formatting is
        deferred to the moment the line is written, if ever.
        """
        module = vars(autobahn_protocol)  # its pformat is imported from pprint
        eager = module["pformat"]
        module["pformat"] = _LazyPformat
        try:
            super().connectionMade()
        finally:
            module["pformat"] = eager

    def sendMessage(self, payload: bytes, isBinary: bool = False, **kwargs: Any) -> None:
        """Send a frame of any size: the buffer cap bounds what the server holds.

        daphne's --websocket-max-message-size (1 MiB) is meant for incoming messages, but
        autobahn applies it to outgoing ones too: a `done` or `snapshot` frame of a long
        answer (its text and its HTML) could not be sent, and the socket died, then again
        on every reconnect.
        """
        limit: int = getattr(self, "maxMessagePayloadSize", 0)
        self.maxMessagePayloadSize = 0
        try:
            super().sendMessage(payload, isBinary, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit

    def sendData(self, data: bytes, sync: bool = False, chopsize: int | None = None) -> None:
        """Hand a frame to the kernel at once when nothing is waiting before it.

        Twisted's TCP transport never writes in write(): it buffers the bytes and registers
        the socket for writability (an epoll_ctl), then writes on the next loop turn and
        unregisters it (another). That was two system calls and a loop turn per delta
        frame. When the transport holds nothing, the frame is sent here; only what the
        kernel does not take is left to the transport, which then goes its usual way
        (and WS_MAX_BUFFERED_BYTES still bounds it, serverSend below).
        """
        transport = self.transport
        if (
            not sync
            and not chopsize
            and not self.send_queue
            and not self.logOctets
            and _writes_directly(transport)
        ):
            sent = transport.writeSomeData(data)
            if isinstance(sent, int) and sent > 0:
                if self.state == self.STATE_OPEN:
                    self.trafficStats.outgoingOctetsWireLevel += sent
                if sent == len(data):
                    return
                data = data[sent:]
        super().sendData(data, sync, chopsize)

    def serverSend(self, content: str | bytes, binary: bool = False) -> None:
        if self.overflowed:
            return
        from django.conf import settings

        before = buffered_bytes(self.transport)
        super().serverSend(content, binary)
        held = buffered_bytes(self.transport)
        # One frame of any size may wait for a client that reads; more than the cap on
        # top of frames it has not read yet, and it is not reading.
        if held > settings.WS_MAX_BUFFERED_BYTES and before > 0:
            self.drop_slow_reader(held, "WS_MAX_BUFFERED_BYTES", settings.WS_MAX_BUFFERED_BYTES)
            return
        _unread.note(self, held)
        budget: int = settings.WS_MAX_BUFFERED_BYTES_TOTAL
        for victim in _unread.over_budget(budget):
            victim.drop_slow_reader(  # type: ignore[attr-defined]
                buffered_bytes(victim.transport),  # type: ignore[attr-defined]
                "WS_MAX_BUFFERED_BYTES_TOTAL, the process's sockets together",
                budget,
            )

    def drop_slow_reader(self, held: int, setting: str, limit: int) -> None:
        self.overflowed = True
        _unread.forget(self)
        log.warning(
            "Closing a WebSocket (%s) with %d: its client left %d bytes unread (%s is %d).",
            self.path, events.CLOSE_SLOW_READER, held, setting, limit,
        )  # fmt: skip
        # A close frame would wait behind the unread bytes: drop the connection now,
        # and free what it held.
        self.dropConnection(abort=True)

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        if self.overflowed:
            code = events.CLOSE_SLOW_READER
        super().onClose(wasClean, code, reason)

    def connectionLost(self, reason: Any) -> None:
        _unread.forget(self)
        held = buffered_bytes(self.transport)
        super().connectionLost(reason)
        _release_buffers(self.transport)
        if held:
            _trimmer.add(held)


# Every socket of this process that holds unread bytes (only the reactor's thread uses it).
_unread = sockets_budget.UnreadBytes(lambda sock: buffered_bytes(sock.transport))  # type: ignore[attr-defined]


class BoundedServer(Server):  # type: ignore[misc]
    """daphne's Server whose WebSocket connections use BoundedWebSocketProtocol.

    Once it listens it prints the address to open (`make run` is otherwise quiet).
    """

    def listen_success(self, port: Any) -> None:
        super().listen_success(port)
        # Everything loaded so far (Django, the app, daphne) lives as long as the process:
        # out of the collector's sight, a full collection does not walk it again each
        # time (it did, inside requests: see docs/architecture.md, "Pages").
        gc.freeze()
        # This process's heartbeat, and the sweep of dead instances' answers: started from
        # inside the reactor's loop (a TCP listen succeeds before daphne makes that loop
        # the current one, so asyncio.get_event_loop() here would be another).
        from twisted.internet import reactor

        from streaming import heartbeat

        reactor.callLater(0, lambda: heartbeat.start(asyncio.get_running_loop()))  # type: ignore[arg-type]
        host = getattr(port, "getHost", lambda: None)()
        if host is not None and hasattr(host, "port"):
            print(ready_message(str(host.host), int(host.port)), flush=True)

    @property
    def ws_factory(self) -> Any:
        return self._ws_factory

    @ws_factory.setter
    def ws_factory(self, factory: Any) -> None:
        # Server.run() builds the factory and starts serving in the same call; this is
        # the one point between the two.
        factory.protocol = BoundedWebSocketProtocol
        self._ws_factory = factory


def ready_message(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    if ":" in shown:
        shown = f"[{shown}]"
    return f"Chatweb is ready: open http://{shown}:{port}/  (Ctrl-C stops it)"


# daphne drops a WebSocket handshake the application has not accepted within this many
# seconds (daphne's own default is 5). A thousand sockets opened at once on one core
# queue longer than that for their session, user and ownership lookups: 838 of 1000 were
# dropped ("did not receive a valid HTTP response"). --websocket_connect_timeout still
# overrides it.
WEBSOCKET_CONNECT_TIMEOUT_S = 30


class BoundedCommandLineInterface(CommandLineInterface):  # type: ignore[misc]
    server_class = BoundedServer

    def __init__(self) -> None:
        super().__init__()
        self.parser.set_defaults(websocket_connect_timeout=WEBSOCKET_CONNECT_TIMEOUT_S)


def main() -> None:
    BoundedCommandLineInterface.entrypoint()


if __name__ == "__main__":
    main()
