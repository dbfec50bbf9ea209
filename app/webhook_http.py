"""``core.services.webhooks.WebhookPoster`` over httpx: one shared client, a short timeout,
no redirects (a signed event goes to the configured URL or not at all)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

from core.services.webhooks import WebhookError


class HttpWebhookPoster:
    def __init__(self, timeout: float = 10.0) -> None:
        self._client = httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> int:
        try:
            response = await self._client.post(url, content=body, headers=dict(headers))
        except httpx.HTTPError as exc:
            # The type only: an exception's text may carry the URL's query (a token).
            raise WebhookError(type(exc).__name__) from None
        return response.status_code

    async def aclose(self) -> None:
        await self._client.aclose()
