"""What the web front end needs from the configuration, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field

# Bodies of every API request are small JSON documents; anything bigger is refused before
# it is read into memory.
DEFAULT_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class WebOptions:
    host: str = "127.0.0.1"
    port: int = 8080
    # Where visitors reach this server (behind a proxy: the proxy's URL). Links and QR codes
    # of the landing page are built from it.
    public_url: str = "http://127.0.0.1:8080"
    # Bearer token of the admin API; None switches the admin API off. Never printed.
    admin_token: str | None = field(default=None, repr=False)
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY
