"""One park's VK community: an update in, core's answer out as VK messages.

Independent of how updates arrive: Bots Long Poll calls ``handle_update`` today, a Callback
API endpoint can call the same method with the same dicts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

from bots.common.failures import log_failure
from bots.vk.incoming import VkIncoming, to_events
from bots.vk.render import VkMessage, render_message
from bots.vk.sender import SendResult, VkSender, describe, random_id
from core.domain.model import Channel, Identity, Profile
from core.events import Event, Incoming
from core.replies import Answer, Reply
from core.texts import Catalog

if TYPE_CHECKING:
    from core.services.registration import RegistrationService

log = logging.getLogger("taxireg.vk")

MESSAGE_NEW = "message_new"
MESSAGE_EDIT = "message_edit"
_MAX_REMEMBERED = 10_000  # peers whose name we fetched / chats we told to write privately
_NAME_TIMEOUT = 5.0


class PeerLocks:
    """One lock per peer, so a user's messages are handled in the order VK sent them.

    vkbottle runs every update in its own task; without this, a quick second message could
    commit first and make core drop the first one as an old delivery. asyncio.Lock is FIFO
    and is taken without a suspension point when free, so arrival order is kept.
    """

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, peer_id: int) -> AsyncIterator[None]:
        lock, users = self._locks.get(peer_id) or (asyncio.Lock(), 0)
        self._locks[peer_id] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[peer_id]
            if users == 1:
                del self._locks[peer_id]
            else:
                self._locks[peer_id] = (lock, users - 1)


class VkHandler:
    """One park's community; ``handle_update`` takes the raw update dicts of Bots Long Poll
    and of the Callback API alike."""

    def __init__(
        self,
        park: str,
        group_id: int,
        registration: RegistrationService,
        catalog: Catalog,
        sender: VkSender,
        *,
        fetch_names: bool = True,
    ) -> None:
        self.park = park
        self.group_id = group_id
        self.registration = registration
        self.catalog = catalog
        self.sender = sender
        self.fetch_names = fetch_names
        self._locks = PeerLocks()
        self._names: OrderedDict[int, str | None] = OrderedDict()
        self._chats_told: OrderedDict[int, None] = OrderedDict()

    async def handle_update(self, update: Mapping[str, Any]) -> None:
        """Handle one Long Poll / Callback API update: core's answer goes out as messages.

        Returns once the update is committed and answered. Never raises: a failing update
        is logged (without SQL parameters) and must not stop the others.
        """
        kind = update.get("type")
        try:
            if kind == MESSAGE_NEW:
                obj = update.get("object")
                message = VkIncoming.from_update(obj) if isinstance(obj, Mapping) else None
                if message is None:
                    log.warning("vk %s: malformed message_new ignored", self.park)
                    return
                await self.handle_message(message)
                return
            # An edit of a message that was already answered: acting on it again would
            # repeat or contradict the answer, and a hint about it is noise. Ignored, as
            # are the other event types (typing, allow/deny, our own replies).
            log.debug("vk %s: %s ignored", self.park, kind)
        except Exception as error:
            log_failure(
                log,
                "vk %s: update failed",
                self.park,
                exc=error,
                extra=self._extra(outcome="error"),
            )

    async def handle_message(self, message: VkIncoming) -> int:
        if message.from_id <= 0:
            return 0  # another community or a bot writing into a chat
        if message.is_chat:
            return await self._chat(message)
        async with self._locks.hold(message.peer_id):
            return await self._private(message)

    # -- private dialogue -----------------------------------------------------------------

    async def _private(self, message: VkIncoming) -> int:
        who = Identity(Channel.VK, str(message.from_id))
        name = await self._name(message.from_id) if self.fetch_names else None
        profile = Profile(name=name, language=message.language)
        sent = position = 0
        for index, event in enumerate(to_events(message)):
            answer = await self._core(message, who, profile, event, index)
            for reply in answer.replies:
                rendered = self.catalog.render(reply, answer.lang)
                vk = render_message(rendered, link_buttons=message.link_buttons)
                rid = random_id(self.group_id, message.peer_id, message.number, position)
                position += 1
                result = await self.sender.send(message.peer_id, vk, rid)
                if result is SendResult.UNREACHABLE:
                    return sent
                sent += result is SendResult.SENT
        log.debug(
            "vk %s: message handled",
            self.park,
            extra=self._extra(peer=message.peer_id, replies=sent),
        )
        return sent

    async def _core(
        self, message: VkIncoming, who: Identity, profile: Profile, event: Event, index: int
    ) -> Answer:
        # Two events may come from one message (a ref link's Start, then the text): each
        # needs its own increasing number or core would drop the second as a repeat.
        event_id = None if message.number is None else message.number * 2 + index
        incoming = Incoming(self.park, who, event, profile, event_id)
        try:
            return await self.registration.handle(incoming)
        except Exception as error:
            log_failure(
                log,
                "vk %s: registration failed",
                self.park,
                exc=error,
                extra=self._extra(outcome="error"),
            )
            lang = self.catalog.pick(message.language)
            return Answer(lang, (Reply("try-later"),))

    async def _name(self, user_id: int) -> str | None:
        """The first name, fetched once per user and process (core keeps the first one)."""
        if user_id in self._names:
            self._names.move_to_end(user_id)
            return self._names[user_id]
        name = None
        try:
            async with asyncio.timeout(_NAME_TIMEOUT):
                answer = await self.sender.api.request("users.get", {"user_ids": user_id})
            users = answer.get("response") or [{}]
            name = str(users[0].get("first_name") or "").strip() or None
        except Exception as error:  # the name is optional: never fail the message for it
            log.info("vk %s: users.get failed: %s", self.park, describe(error))
        _remember(self._names, user_id, name)
        return name

    # -- group chats ----------------------------------------------------------------------

    async def _chat(self, message: VkIncoming) -> int:
        # Registration is private; say so once per chat instead of answering every line.
        if message.peer_id in self._chats_told:
            return 0
        _remember(self._chats_told, message.peer_id, None)
        lang = self.catalog.pick(message.language)
        text = self.catalog.text(lang, "private-only")
        rid = random_id(self.group_id, message.peer_id, message.number, 0)
        result = await self.sender.send(message.peer_id, VkMessage(text, None), rid)
        log.info("vk %s: chat message answered with private-only", self.park)
        return int(result is SendResult.SENT)

    def _extra(self, **fields: object) -> dict[str, object]:
        return {"park": self.park, "channel": Channel.VK.value, **fields}


def _remember(cache: OrderedDict[int, Any], key: int, value: Any) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > _MAX_REMEMBERED:
        cache.popitem(last=False)
