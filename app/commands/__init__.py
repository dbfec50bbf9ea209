"""``taxireg`` subcommands: one module each, listed here in the order ``--help`` shows them.

A module defines ``register(subparsers) -> None``; each of its parsers calls
``set_defaults(handler=...)`` with ``async def handler(args, ctx) -> int``. Modules import
only argparse at load time (heavy imports go inside the handlers) so that every command,
``--help`` included, starts fast. Adding a command is one module plus one line below.
"""

MODULES: tuple[str, ...] = (
    "app.commands.demo",
    "app.commands.run",
    "app.commands.migrate",
    "app.commands.backup",
    "app.commands.status",
    "app.commands.parks",
    "app.commands.partner",
    "app.commands.driver",
    "app.commands.code",
    "app.commands.notifications",
    "app.commands.broadcast",
    "app.commands.webhooks",
    "app.commands.orders",
    "app.commands.ledger",
    "app.commands.payouts",
    "app.commands.config",
)
