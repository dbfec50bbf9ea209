"""Reading lines and writing answers on a real terminal or a pipe.

A pipe (tests, ``printf ... | taxireg demo``) is read as bytes and decoded leniently, so
invalid UTF-8 or a huge line never ends the chat with a traceback; what was read is echoed
as ``> line`` so a piped transcript shows both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Awaitable, Callable
from typing import BinaryIO, TextIO

MAX_READ = 64 * 1024  # bytes of one line kept; the rest of a longer line is skipped


def writer(stream: TextIO | None = None) -> Callable[[str], None]:
    out = stream or sys.stdout

    def write(text: str) -> None:
        out.write(text + "\n")
        # Flushed per message: a script reading our pipe waits for the SMS code line.
        out.flush()

    return write


def pipe_reader(stream: BinaryIO, echo: Callable[[str], None] | None) -> Callable[[], str | None]:
    def read() -> str | None:
        chunk = stream.readline(MAX_READ)
        if not chunk:
            return None
        if not chunk.endswith(b"\n"):
            while (rest := stream.readline(MAX_READ)) and not rest.endswith(b"\n"):
                pass
        line = chunk.decode("utf-8", errors="replace").rstrip("\r\n")
        if echo is not None:
            echo(f"> {line[:200]}" + ("…" if len(line) > 200 else ""))
        return line

    return read


def tty_reader(prompt: str = "> ") -> Callable[[], str | None]:
    def read() -> str | None:
        try:
            return input(prompt)
        except EOFError:
            return None

    return read


def stdin_reader(echo: Callable[[str], None] | None = None) -> Callable[[], str | None]:
    if sys.stdin is None:
        return lambda: None
    if sys.stdin.isatty():
        return tty_reader()
    return pipe_reader(sys.stdin.buffer, echo)


def in_thread(read: Callable[[], str | None]) -> Callable[[], Awaitable[str | None]]:
    """Each blocking read in its own daemon thread, awaited by the event loop.

    Reading in the loop's thread would make Ctrl-C wait for Enter: asyncio.run answers the
    first SIGINT by cancelling the main task, which only happens once the task yields. A
    thread per line (not a read-ahead pump) keeps the echo of piped input in order.
    """

    async def next_line() -> str | None:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str | None] = loop.create_future()

        def deliver(line: str | None) -> None:
            if not future.done():
                future.set_result(line)

        def work() -> None:
            try:
                line = read()
            except Exception:
                line = None  # an unreadable stdin ends the chat like EOF
            # RuntimeError: the loop is closed, nobody is waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, line)

        threading.Thread(target=work, name="terminal-stdin", daemon=True).start()
        return await future

    return next_line
