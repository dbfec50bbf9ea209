"""SMS senders: ``log`` (the default: the message goes to the log / terminal) and ``http``."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import quote

from core.domain.phones import mask_phone
from core.ports import SmsError

log = logging.getLogger("taxireg.sms")


class LogSms:
    """Writes the message where an operator can read it; for demos and development."""

    def __init__(self, echo: Callable[[str], None] | None = None) -> None:
        self._echo = echo

    async def send(self, phone: str, text: str) -> None:
        # The log sender exists to show the code, so it logs the text; the phone stays masked.
        log.info("SMS to %s: %s", mask_phone(phone), text)
        if self._echo is not None:
            self._echo(f"[SMS to {phone}] {text}")


class HttpSms:
    """A GET to a gateway URL template with ``{phone}`` (E.164 digits) and ``{text}``."""

    def __init__(self, url_template: str, timeout: float = 10.0) -> None:
        self._template = url_template
        self._timeout = timeout

    def url(self, phone: str, text: str) -> str:
        digits = phone.lstrip("+")
        return self._template.replace("{phone}", quote(digits, safe="")).replace(
            "{text}", quote(text, safe="")
        )

    async def send(self, phone: str, text: str) -> None:
        import aiohttp  # only the http sender needs it; keeps CLI start-up light

        timeout = aiohttp.ClientTimeout(total=self._timeout)
        try:
            async with (
                aiohttp.ClientSession(timeout=timeout) as session,
                session.get(self.url(phone, text)) as response,
            ):
                if response.status >= 400:
                    raise SmsError(f"gateway answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            # The URL may carry the gateway's credentials: report the kind of failure only.
            raise SmsError(type(exc).__name__) from None
