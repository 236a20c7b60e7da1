"""uvicorn's h11 protocol, closing a connection that stays idle before its first request too (uvicorn starts
its keep-alive timer only after a first response, so a client that connects and sends nothing holds the
connection forever). A module of its own: worker processes import it by name (it needs uvicorn)."""

from __future__ import annotations

from uvicorn.protocols.http.h11_impl import H11Protocol


class IdleClosingH11Protocol(H11Protocol):
    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive, self.timeout_keep_alive_handler)
