"""A 100,000-line partner file through ``taxireg partner import`` (the real command, one
process), then the same file again (idempotent: nothing added).

    python -m bench.partner_import [--lines 100000] [--database-url URL]

Without ``--database-url`` a temporary SQLite database is used; a given PostgreSQL one is
used as is (run it on an empty database). Prints wall time and lines per second.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.cli import REPO, write_config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--database-url")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "taxireg.toml"
        write_config(config, options.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}")
        file = Path(tmp) / "partners.csv"
        with file.open("w", encoding="utf-8") as out:
            out.write("name,phone,alerts\n")
            for n in range(options.lines):
                out.write(f"Партнёр {n},+7926{n:07d},{'digest' if n % 10 == 0 else ''}\n")
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("TAXIREG_")}
        env["TAXIREG_CONFIG"] = str(config)
        command = [sys.executable, "-m", "app.cli", "partner", "import", str(file)]
        command += ["--park", "mos", "--json"]
        for label in ("first import", "re-import"):
            start = time.perf_counter()
            done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(done.stderr or done.stdout[:500])
            print(
                f"{label}: {options.lines} lines in {elapsed:.1f} s "
                f"({options.lines / elapsed:,.0f} lines/s) -> {done.stdout.split(chr(10))[1:3]}"
            )


if __name__ == "__main__":
    main()
