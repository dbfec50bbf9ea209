"""Reading lines and writing answers on a real terminal or a pipe.

A pipe (tests, ``printf ... | taxireg demo``) is read as bytes and decoded leniently, so
invalid UTF-8 or a huge line never ends the chat with a traceback; what was read is echoed
as ``> line`` so a piped transcript shows both sides.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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
