"""A terminal chat over RegistrationService: the bots' flow without any messenger.

Used by ``taxireg demo`` and handy for trying flow changes. The phone is confirmed by an
SMS code like in VK; with the log SMS sender the code is printed to the terminal.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable

from bots.common.failures import log_failure
from bots.terminal.parse import Local, parse
from bots.terminal.render import Keyboard, render
from core.domain.model import Channel, Identity
from core.events import Command, Event, Incoming, Start
from core.services.registration import RegistrationService
from core.texts.catalog import Catalog

log = logging.getLogger("taxireg.terminal")

HELP = """\
Type a line and press Enter; a number presses the button shown with it, e.g. 1 for [1].
  /start [CODE]  open the bot again (with CODE: as if from a partner's referral link)
  /code          my referral code
  /new           start over as a new driver (a new terminal user)
  /park SLUG     switch to another park's bot ({parks})
  /orders        import the demo's sample orders as this driver's (the referrers earn)
  /help          this help
  /quit          leave (Ctrl-D too)"""


def new_user_id() -> str:
    # Random, not a counter: a kept --data-dir must not hand a new driver an old chat.
    return "t" + secrets.token_hex(4)


class TerminalChat:
    def __init__(
        self,
        registration: RegistrationService,
        catalog: Catalog,
        park: str,
        write: Callable[[str], None],
        orders: Callable[[str, str], Awaitable[list[str]]] | None = None,
    ) -> None:
        self.registration = registration
        # ``/orders``: given the park and this terminal user, imports sample orders and
        # says what the ledger did (the demo wires it; without it the command says so).
        self.orders = orders
        self.catalog = catalog
        self.park = registration.park(park).slug
        self.write = write
        self.user_id = new_user_id()
        self.keyboard: Keyboard = ()

    async def open(self) -> None:
        """Announce who we are and open the bot, as tapping «Start» would."""
        park = self.registration.park(self.park)
        self.write(f"--- park {park.slug} «{park.name}», terminal user {self.user_id} ---")
        self.keyboard = ()
        await self.send(Start())

    async def feed(self, line: str) -> bool:
        """Handle one typed line; False when the user asked to leave."""
        parsed = parse(line, self.keyboard)
        if parsed is None:
            return True
        if isinstance(parsed, Local):
            return await self.local(parsed)
        await self.send(parsed)
        return True

    async def run(self, read_line: Callable[[], Awaitable[str | None]]) -> None:
        await self.open()
        while (line := await read_line()) is not None:
            if not await self.feed(line):
                break

    async def local(self, command: Local) -> bool:
        match command.name:
            case "quit":
                return False
            case "new":
                self.user_id = new_user_id()
                await self.open()
            case "park":
                await self.switch_park(command.arg)
            case "help":
                self.write(HELP.format(parks=", ".join(self.registration.parks)))
                await self.send(Command("help"))
            case "orders":
                await self.import_orders()
        return True

    async def import_orders(self) -> None:
        if self.orders is None:
            self.write("(no sample orders to import here)")
            return
        try:
            lines = await self.orders(self.park, self.user_id)
        except Exception as exc:
            log_failure(log, "terminal /orders failed", exc=exc, level=logging.DEBUG)
            self.write(f"(internal error: {type(exc).__name__}; nothing was changed)")
            return
        self.write("\n".join(lines) + "\n")

    async def switch_park(self, slug: str | None) -> None:
        parks = ", ".join(self.registration.parks)
        if not slug:
            self.write(f"usage: /park SLUG (parks: {parks})")
        elif slug not in self.registration.parks:
            self.write(f"no park {slug[:40]!r}; parks: {parks}")
        else:
            # Each park is a separate bot: the same person starts a new chat there.
            self.park = slug
            await self.open()

    async def send(self, event: Event) -> None:
        incoming = Incoming(self.park, Identity(Channel.TERMINAL, self.user_id), event)
        try:
            answer = await self.registration.handle(incoming)
        except Exception as exc:
            # One line for the person at the keyboard; details at DEBUG for a developer.
            log_failure(log, "terminal update failed", exc=exc, level=logging.DEBUG)
            self.write(f"(internal error: {type(exc).__name__}; nothing was changed)")
            return
        lines, self.keyboard = render(answer, self.catalog, self.keyboard)
        self.write("\n".join(lines) + "\n")
