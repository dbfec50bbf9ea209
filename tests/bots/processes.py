"""``taxireg run`` as a real child process against the fake servers of this test process."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
STARTUP = 60.0  # the child imports aiogram and vkbottle and migrates: slow on a busy box


def child_env() -> dict[str, str]:
    # The child reads only the config named on its command line.
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAXIREG_")}
    return {**env, "PYTHONPATH": str(ROOT)}


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config(
    path: Path, sections: dict[str, dict[str, object]], parks: Iterable[dict[str, object]]
) -> None:
    lines: list[str] = []
    top = sections.get("", {})
    lines.extend(f"{key} = {toml_value(value)}" for key, value in top.items())
    for name, values in sections.items():
        if name:
            lines.append(f"[{name}]")
            lines.extend(f"{key} = {toml_value(value)}" for key, value in values.items())
    for park in parks:
        lines.append("[[parks]]")
        lines.extend(f"{key} = {toml_value(value)}" for key, value in park.items())
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@dataclass
class Child:
    """One ``taxireg run`` process; its stderr (the log) goes to ``log``."""

    process: asyncio.subprocess.Process
    log: Path

    @classmethod
    async def start(cls, config: Path, log: Path) -> Child:
        with log.open("ab") as stderr:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "app.cli", "--config", str(config), "run",
                cwd=config.parent, stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=stderr, env=child_env(),
            )  # fmt: skip
        return cls(process, log)

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""

    async def wait_log(self, text: str, count: int = 1, timeout: float = STARTUP) -> None:  # noqa: ASYNC109
        """Wait until ``text`` appears ``count`` times in the log (or the child exits)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.output().count(text) < count:
            if self.process.returncode is not None:
                raise AssertionError(f"the child exited waiting for {text!r}:\n{self.output()}")
            if loop.time() > deadline:
                raise AssertionError(f"no {text!r} within {timeout} s:\n{self.output()}")
            await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no clean-up, no confirmation, no lease release; the crash under test."""
        if self.process.returncode is None:
            self.process.kill()

    async def stop(self, timeout: float = 20.0) -> int:  # noqa: ASYNC109
        """SIGTERM and wait; a child that does not stop in time is killed (and fails)."""
        if self.process.returncode is None:
            self.process.terminate()
        try:
            async with asyncio.timeout(timeout):
                return await self.process.wait()
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise AssertionError(f"the child did not stop on SIGTERM:\n{self.output()}") from None
