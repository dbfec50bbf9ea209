"""``taxireg``: the operator's command line.

The parser is assembled from the modules in ``app.commands.MODULES``; see that package for
how to add a command. Errors end as one line on stderr and an exit status: 2 for
configuration (and usage) errors, 1 for refused requests and failures, 130 for Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from app.commands import MODULES
from app.commands.context import Context

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2
EXIT_INTERRUPTED = 130
_MAX_ERROR = 500  # characters of an unexpected error worth a terminal line
_SERVING = ("run", "demo")  # long-running commands: their start-up time does not matter


class TaxiregParser(argparse.ArgumentParser):
    """Every parser, nested subcommands included, accepts the global options.

    So ``taxireg --config x partner list`` and ``taxireg partner list --config x`` both
    work. SUPPRESS keeps a subcommand from resetting a value given before it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument(
            "--config",
            metavar="PATH",
            default=argparse.SUPPRESS,
            help="TOML config file (default: $TAXIREG_CONFIG, else built-in defaults)",
        )
        self.add_argument(
            "--debug",
            action="store_true",
            default=argparse.SUPPRESS,
            help="show the traceback of an unexpected error",
        )


class _VersionAction(argparse.Action):
    """``--version``: the installed package's version, looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("taxireg")
        except PackageNotFoundError:  # run from a source tree that was never installed
            found = "unknown (not installed)"
        print(f"taxireg {found}")
        parser.exit()


def build_parser(command: str | None = None) -> TaxiregParser:
    """The parser; given a command name, only that command's module is loaded and built.

    Building every subcommand's parser costs tens of milliseconds that ``taxireg partner
    list`` should not pay; an unknown or missing name builds them all, so ``--help`` and
    argparse's "invalid choice" message still list every command.
    """
    parser = TaxiregParser(
        prog="taxireg",
        description="Driver registration bots with a referral program for taxi parks.",
    )
    parser.add_argument(
        "--version",
        action=_VersionAction,
        nargs=0,
        default=argparse.SUPPRESS,
        help="show the version and exit",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    wanted = [name for name in MODULES if name.rpartition(".")[2] == command]
    for name in wanted or MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def command_name(argv: Sequence[str]) -> str | None:
    """The first word that is not an option (nor ``--config``'s value): the command."""
    words = iter(argv)
    for word in words:
        if word == "--config":
            next(words, None)
        elif word == "--":
            return next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = command_name(argv)
    if command not in _SERVING:
        # pydantic looks for plugins in every installed distribution's entry points the
        # first time a model is built (tens of ms); no operator command uses one. An
        # explicit setting wins, and `run` keeps any plugin an operator installed.
        os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    parser = build_parser(command)
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        # `taxireg` or `taxireg partner` alone: show what can follow.
        (getattr(args, "help_parser", None) or parser).print_help(sys.stderr)
        return EXIT_CONFIG
    ctx = Context(getattr(args, "config", None), debug=getattr(args, "debug", False))
    try:
        return asyncio.run(_run(handler, args, ctx))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # `taxireg partner list | head`: the reader left; say nothing more to it.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        return _report(exc, ctx.debug)


async def _run(handler: Any, args: argparse.Namespace, ctx: Context) -> int:
    try:
        return int(await handler(args, ctx))
    finally:
        await ctx.aclose()


def _report(exc: Exception, debug: bool) -> int:
    from app.logs import redact
    from app.settings import ConfigError
    from core.domain.errors import DomainError

    if isinstance(exc, ConfigError):
        # Already one line and free of secrets; a traceback would add nothing.
        print(exc.message, file=sys.stderr)
        return EXIT_CONFIG
    if isinstance(exc, DomainError):
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    message = " ".join(str(exc).split())[:_MAX_ERROR]
    hint = "" if debug else " (run with --debug for the traceback)"
    print(redact(f"error: {type(exc).__name__}: {message}{hint}"), file=sys.stderr)
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
