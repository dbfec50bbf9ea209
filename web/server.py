"""Serving the web app with uvicorn inside the caller's event loop.

``taxireg run`` awaits ``serve`` beside the bots and the scheduler: one process, one loop.
uvicorn's own signal handlers are not installed (the runner owns SIGINT/SIGTERM); the
caller sets ``stop`` to shut down, and in-flight requests finish first.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

log = logging.getLogger("taxireg.web")

# Seconds in-flight requests get to finish after ``stop`` is set.
GRACEFUL_S = 10


class _Server(uvicorn.Server):
    """uvicorn's server without its signal handlers: ``taxireg run`` installs its own."""

    def install_signal_handlers(self) -> None:
        return None


def make_server(app: FastAPI, host: str, port: int) -> uvicorn.Server:
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        # taxireg's logging is configured by app; uvicorn's access log would print every
        # query string, and those carry referral codes.
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_S,
        lifespan="off",
    )
    return _Server(config)


async def serve(
    app: FastAPI,
    host: str,
    port: int,
    stop: asyncio.Event,
    *,
    on_started: Callable[[int], None] | None = None,
) -> None:
    """Serve until ``stop`` is set. ``on_started`` gets the bound port (useful with port 0).

    Raises ``OSError`` when the address cannot be bound, instead of uvicorn's exit.
    """
    server = make_server(app, host, port)
    task = asyncio.create_task(_serve(server, host, port))
    waiter = asyncio.create_task(stop.wait())
    try:
        while not server.started:
            if task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            await task  # raises the OSError of a failed start
            raise OSError(f"web: cannot listen on {host}:{port}")
        bound = _bound_port(server, port)
        log.info("web: serving on %s:%s", host, bound)
        if on_started is not None:
            on_started(bound)
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        waiter.cancel()
        if not task.done():
            await task


async def _serve(server: uvicorn.Server, host: str, port: int) -> None:
    try:
        await server.serve()
    except SystemExit:
        # uvicorn logs a bind error and calls sys.exit(); caught here, inside the coroutine,
        # because a SystemExit escaping a task would stop the whole event loop.
        raise OSError(f"web: cannot listen on {host}:{port}") from None


def _bound_port(server: uvicorn.Server, requested: int) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            return int(sock.getsockname()[1])
    return requested
