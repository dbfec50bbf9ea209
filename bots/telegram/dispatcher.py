"""The one Dispatcher of the process: middlewares, routers, the error handler."""

from __future__ import annotations

from collections.abc import Mapping

from aiogram import Dispatcher

from bots.telegram.middlewares import ParkMiddleware, PerUserOrder
from bots.telegram.responder import Responder
from bots.telegram.routers import callbacks, errors, groups, private


def build_dispatcher(responder: Responder, parks_by_bot: Mapping[int, str]) -> Dispatcher:
    # No FSM: core keeps each conversation's state in the database, restart-safe.
    dp = Dispatcher(disable_fsm=True, responder=responder)
    # Outer middlewares run inside aiogram's own (errors, user context), in this order:
    # the park is known before the per-user lock is taken.
    dp.update.outer_middleware(ParkMiddleware(parks_by_bot))
    dp.update.outer_middleware(PerUserOrder())
    dp.include_routers(private.make_router(), groups.make_router(), callbacks.make_router())
    dp.errors.register(errors.on_error)
    return dp
