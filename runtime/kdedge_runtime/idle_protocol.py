"""uvicorn's HTTP protocols, closing a connection that stays idle before its first request too (uvicorn
starts its keep-alive timer only after a first response, so a client that connects and sends nothing
holds the connection forever). httptools' protocol (C parser, what uvicorn picks when httptools is
installed) where it is, h11's otherwise. A module of its own: worker processes import it by name."""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


class IdleClosingH11Protocol(H11Protocol):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is not installed: h11 it is
    IdleClosingHttpToolsProtocol = None
else:
    class IdleClosingHttpToolsProtocol(HttpToolsProtocol):
        def connection_made(self, transport) -> None:
            super().connection_made(transport)
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)


def idle_closing_protocol() -> type:
    """The fastest protocol uvicorn can use here, with the idle timeout from the first byte."""
    return IdleClosingHttpToolsProtocol or IdleClosingH11Protocol
