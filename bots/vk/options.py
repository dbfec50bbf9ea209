"""What the VK front end is given: its parks' communities and tuning, nothing of ``app``."""

from __future__ import annotations

from dataclasses import dataclass, field

from bots.common.leadership import LeaseTiming

DEFAULT_API_URL = "https://api.vk.ru/method/"
DEFAULT_API_VERSION = "5.199"


@dataclass(frozen=True)
class VkPark:
    slug: str
    group_id: int
    token: str = field(repr=False)


@dataclass(frozen=True)
class VkOptions:
    parks: tuple[VkPark, ...] = ()
    api_url: str = DEFAULT_API_URL
    api_version: str = DEFAULT_API_VERSION
    retry_delay: float = 1.0
    """Pause before the one retry of a failed ``messages.send``."""
    restart_delay: float = 1.0
    """First pause before polling again after it failed; doubles up to the next."""
    max_restart_delay: float = 60.0
    check_timeout: float = 10.0
    """How long start-up waits for each token's ``groups.getById``."""
    stop_grace: float = 5.0
    """How long stopping waits for the updates in hand."""
    poll_wait: int = 25
    """Bots Long Poll ``wait``, seconds."""
    lease: LeaseTiming = field(default_factory=LeaseTiming)
    lease_prefix: str = "vk"
    """Lease and long-poll cursor names are ``<prefix>:<park slug>``."""
    fetch_names: bool = True
    """Ask ``users.get`` for a new user's first name."""
    callback: bool = False
    """Callback API mode: VK POSTs events to the web front end, which hands them to
    ``VkFrontEnd.handle_callback``; nothing is long-polled and no lease is taken."""
