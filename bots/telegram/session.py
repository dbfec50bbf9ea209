"""The HTTP session every park's bot shares (as aiogram's multibot example does)."""

from __future__ import annotations

from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer


class SharedSession(AiohttpSession):
    """aiogram's AiohttpSession; ``close()`` skips the 250 ms wait over plain HTTP.

    aiogram sleeps there to let SSL connections shut down. A self-hosted Bot API server
    on ``http://`` (and the tests' fake) has none, so stopping need not wait.
    """

    async def close(self) -> None:
        if self.api.base.startswith("https://"):
            await super().close()
        elif self._session is not None and not self._session.closed:
            await self._session.close()


def make_session(api_server: str | None) -> SharedSession:
    """``api_server`` is ``[telegram] api_server``: a self-hosted Bot API base URL or None."""
    if api_server is None:
        return SharedSession()
    return SharedSession(api=TelegramAPIServer.from_base(api_server))
