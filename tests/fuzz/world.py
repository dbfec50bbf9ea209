"""A world for fuzzing the registration flow: users, steps, and the invariants to check.

A ``Step`` is one update from one user (or one operator action). Steps come either from
hypothesis (``tests/fuzz/strategies.py``, in CI) or from a seeded ``random.Random``
(``random_step``, for ``bench/fuzz.py``'s long runs); ``World.apply`` runs them through
``RegistrationService.handle`` on a real store and ``World.violations`` reads the database
to check the invariants:

- never an exception, never the generic "try later" reply;
- every driver's phone was proved in that park (an own Telegram contact or the right SMS
  code), and the driver is linked to a conversation with that phone;
- one driver per phone per park;
- a driver's entered code exists, belongs to the driver's park and is not their own;
- every stored text fits its column and holds no NUL or surrogate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, select

from core.domain.codes import ALPHABET
from core.domain.model import Channel, Identity, Profile
from core.domain.phones import InvalidPhone, normalize_phone
from core.events import Command, ContactShared, Event, Incoming, Pressed, Start, Text, Unsupported
from core.replies import Action
from core.services.registration import STALE_BUTTON
from storage import tables as t
from tests.hostile import HOSTILE

PARKS = ("mos", "spb")
CHANNELS = (Channel.TELEGRAM, Channel.VK, Channel.TERMINAL)
# Few phones, so that users collide on them across chats, channels and parks.
PHONES = ("+79161234567", "+79160000001", "+79160000002", "+79031112233")
PHONE_SPELLINGS = ("{p}", "8{r}", "{r}", "8 ({a}) {b}-{c}-{d}", "+7 {a} {b} {c}{d}")
KINDS = (
    "start",
    "start_code",
    "contact",
    "text",
    "phone",
    "otp",
    "code",
    "press",
    "label",
    "command",
    "unsupported",
    "stale",
    "partner",
    "toggle",
    "admin_code",
)
LABELS = (
    "У меня нет реферального кода",
    "Мой реферальный код",
    "Отправить код ещё раз",
    "Изменить номер",
    "I have no referral code",
    "/start",
    "/code",
    "/settings",
    "/help",
    "/",
    "/start@mos_gortaxi_bot",
)
URLISH = (
    "https://mos-gortaxi.ru/ref?code={c}",
    "https://t.me/spb_taxi_bot?start={c}-tag",
    "http://[::1/?code={c}",
    "https://[bad]/?ref={c}#x",
    "?start=?code=={c}",
    "{c}-" + "x" * 300,
    "«{c}»",
    "{C}",
)
TRY_LATER = "try-later"


@dataclass(frozen=True)
class Step:
    kind: str
    user: int  # index into World.users
    text: str = ""  # hostile text, when the step carries one
    pick: int = 0  # chooses among phones, codes, actions, spellings
    flag: bool = False  # own contact / activate
    event: str = "next"  # next | repeat | jump | none


@dataclass
class User:
    park: str
    channel: Channel
    user_id: str
    name: str | None
    event_id: int = 0


@dataclass
class World:
    app: Any  # app.bootstrap.Container (registration, admin, catalog, db, sms)
    users: list[User] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)
    proved: set[tuple[str, str]] = field(default_factory=set)  # (park, phone)
    steps: int = 0
    failures: list[str] = field(default_factory=list)

    @classmethod
    def make(cls, app: Any, seed: int = 0, users_per_identity: int = 2) -> World:
        rng = random.Random(seed)
        users = [
            User(park, channel, str(10_000 + len(PARKS) * 10 * i + j), rng.choice(NAMES))
            for i, (park, channel) in enumerate((p, c) for p in PARKS for c in CHANNELS)
            for j in range(users_per_identity)
        ]
        return cls(app, users)

    # -- running steps --------------------------------------------------------------------

    async def apply(self, step: Step) -> None:
        """Run one step; record (not raise) what went wrong."""
        self.steps += 1
        user = self.users[step.user % len(self.users)]
        try:
            if step.kind == "partner":
                await self._add_partner(user, step)
                return
            if step.kind == "toggle":
                if self.codes:
                    code = self.codes[step.pick % len(self.codes)]
                    await self.app.admin.set_code_active(code, step.flag)
                return
            if step.kind == "admin_code":
                await self._set_entered_code(user, step)
                return
            event = await self._event(user, step)
            if step.event == "repeat" and user.event_id > 0:
                event_id: int | None = user.event_id - step.pick % 3
            elif step.event == "jump":
                user.event_id += 1 + step.pick % 50
                event_id = user.event_id
            elif step.event == "none":
                event_id = None
            else:
                user.event_id += 1
                event_id = user.event_id
            profile = Profile(step.text[:300] if step.pick % 7 == 0 else user.name, "ru")
            who = Identity(user.channel, user.user_id)
            answer = await self.app.registration.handle(
                Incoming(user.park, who, event, profile, event_id)
            )
            keys = [reply.key for reply in answer.replies]
            if TRY_LATER in keys:
                self.failures.append(f"try-later reply to {step!r}")
            for reply in answer.replies:  # every reply renders in its language
                self.app.catalog.render(reply, answer.lang)
        except Exception as exc:
            self.failures.append(f"{type(exc).__name__}: {exc!s:.300} after {step!r}")

    async def burst(self, steps: list[Step]) -> None:
        """Steps at the same time (one update each from several chats, or one chat's updates
        overtaking each other): races on a conversation, a phone or a code."""
        await asyncio.gather(*(self.apply(step) for step in steps))

    async def _set_entered_code(self, user: User, step: Step) -> None:
        """An operator sets (or clears) a driver's entered code: refusals are expected."""
        from core.domain.errors import CodeRefused, DriverNotFound, InvalidPhoneError

        phone = self._phone(step) if step.pick % 4 else step.text
        code = None if step.pick % 9 == 0 else (self._code(step) if step.flag else step.text)
        try:
            await self.app.admin.set_entered_code(user.park, phone, code, "fuzz")
        except (CodeRefused, DriverNotFound, InvalidPhoneError):
            return

    async def _add_partner(self, user: User, step: Step) -> None:
        from core.domain.errors import DuplicatePartner

        phone = PHONES[step.pick % len(PHONES)]
        try:
            partner = await self.app.admin.add_partner(user.park, phone, step.text[:300])
        except DuplicatePartner:
            return
        self.codes.append(partner.code)

    async def _event(self, user: User, step: Step) -> Event:
        code = self._code(step)
        match step.kind:
            case "start":
                return Start(step.text or None, step.text[::-1] or None)
            case "start_code":
                payload = URLISH[step.pick % len(URLISH)].format(c=code, C=code.upper())
                return Start(payload if step.flag else f"{code}-{step.text}", None)
            case "contact":
                phone = self._phone(step) if step.pick % 3 else step.text
                if step.flag and user.channel is Channel.TELEGRAM:
                    self._prove(user.park, phone)
                return ContactShared(phone, step.flag)
            case "phone":
                return Text(self._phone(step))
            case "otp":
                return Text(await self._otp(user, step))
            case "code":
                template = URLISH[step.pick % len(URLISH)] if step.flag else "{c}"
                return Text(template.format(c=code, C=code.upper()))
            case "press":
                return Pressed(list(Action)[step.pick % len(Action)])
            case "label":
                return Text(LABELS[step.pick % len(LABELS)])
            case "command":
                return Command(step.text)
            case "unsupported":
                return Unsupported(step.text or "sticker")
            case "stale":
                return Unsupported(STALE_BUTTON)
        return Text(step.text)

    def _code(self, step: Step) -> str:
        if self.codes and step.pick % 5:
            return self.codes[step.pick % len(self.codes)]
        return "".join(ALPHABET[(step.pick + i * 7) % len(ALPHABET)] for i in range(4))

    def _phone(self, step: Step) -> str:
        phone = PHONES[step.pick % len(PHONES)]
        r = phone[2:]
        spelling = PHONE_SPELLINGS[(step.pick // 4) % len(PHONE_SPELLINGS)]
        return spelling.format(p=phone, r=r, a=r[:3], b=r[3:6], c=r[6:8], d=r[8:])

    async def _otp(self, user: User, step: Step) -> str:
        """The code last sent to the number this user is confirming (or a wrong one)."""
        conv = await self.app.db.read(
            lambda uow: uow.conversations.get(user.park, user.channel, user.user_id)
        )
        if conv is None or conv.phone is None:
            return step.text
        try:
            code = self.app.sms.last_code(conv.phone)
        except LookupError:
            return step.text
        if step.flag:
            self._prove(user.park, conv.phone)
            return code
        return f"{(int(code) + 1 + step.pick) % 1_000_000:06d}"

    def _prove(self, park: str, raw: str) -> None:
        with contextlib.suppress(InvalidPhone):
            self.proved.add((park, normalize_phone(raw, "RU")))

    # -- invariants -----------------------------------------------------------------------

    async def refresh_codes(self) -> None:
        """Every code in the database, so later steps type real codes of both parks."""
        self.codes = await self.app.db.run_on_connection(
            lambda conn: list(
                conn.execute(select(t.codes.c.code).order_by(t.codes.c.code)).scalars()
            )
        )

    async def violations(self) -> list[str]:
        tables = await self.app.db.run_on_connection(_read_tables)
        return self.failures + check(tables, self.proved)


def _read_tables(conn: Any) -> dict[str, list[dict[str, Any]]]:
    return {
        table.name: [dict(row._mapping) for row in conn.execute(select(table))]
        for table in (t.drivers, t.codes, t.conversations, t.partners, t.audit_log, t.sms_sends)
    }


def check(tables: dict[str, list[dict[str, Any]]], proved: set[tuple[str, str]]) -> list[str]:
    """The invariants over a snapshot of the tables; one message per violation."""
    out: list[str] = []
    codes = {row["code"]: row for row in tables["codes"]}
    convs = tables["conversations"]
    seen: set[tuple[str, str]] = set()
    for d in tables["drivers"]:
        key = (d["park_slug"], d["phone"])
        if key in seen:
            out.append(f"two drivers with phone {d['phone']} in park {d['park_slug']}")
        seen.add(key)
        if key not in proved:
            out.append(f"driver {d['id']}: phone {d['phone']} never proved in {d['park_slug']}")
        linked = [c for c in convs if c["driver_id"] == d["id"]]
        if not linked or any(c["phone"] != d["phone"] for c in linked):
            out.append(f"driver {d['id']}: no conversation that confirmed {d['phone']}")
        entered = d["entered_code"]
        if entered is not None:
            if entered not in codes:
                out.append(f"driver {d['id']}: entered code {entered} does not exist")
            elif codes[entered]["park_slug"] != d["park_slug"]:
                out.append(f"driver {d['id']}: entered code {entered} of another park")
            if entered == d["own_code"]:
                out.append(f"driver {d['id']}: entered their own code")
        if codes.get(d["own_code"], {}).get("park_slug") != d["park_slug"]:
            out.append(f"driver {d['id']}: own code {d['own_code']} missing or of another park")
    for name, rows in tables.items():
        table = t.metadata.tables[name]
        for row in rows:
            for column in table.c:
                value = row.get(column.name)
                if not isinstance(value, str):
                    continue
                length = column.type.length if isinstance(column.type, String) else None
                if length is not None and len(value) > length:
                    out.append(f"{name}.{column.name}: {len(value)} > {length} characters")
                if "\x00" in value or any("\ud800" <= ch <= "\udfff" for ch in value):
                    out.append(f"{name}.{column.name}: NUL or surrogate stored")
    return out


NAMES = ("Пётр", None, "Анна-Мария", "x" * 300, "\u202eevil", "a\x00b", "😀")


def random_text(rng: random.Random, max_size: int = 60) -> str:
    """Hostile text without hypothesis: the same alphabet as tests/hostile.py, plus any
    code point (surrogates included) and now and then a huge paste."""
    roll = rng.random()
    if roll < 0.02:
        return rng.choice("x😀\x00[") * rng.randint(513, 20_000)
    size = rng.randint(0, max_size)
    out = []
    for _ in range(size):
        r = rng.random()
        if r < 0.3:
            out.append(rng.choice(HOSTILE))
        elif r < 0.6:
            out.append(chr(rng.randint(0, 0x10FFFF)))
        else:
            out.append(rng.choice(ALPHABET + "0123456789 -+()/?=&#[]:.@"))
    return "".join(out)


def random_step(rng: random.Random, users: int) -> Step:
    kind = rng.choices(KINDS, weights=(3, 4, 6, 6, 6, 6, 8, 4, 4, 2, 1, 1, 1, 1, 1))[0]
    event = rng.choices(("next", "repeat", "jump", "none"), weights=(20, 2, 1, 1))[0]
    return Step(
        kind,
        rng.randrange(users),
        random_text(rng),
        rng.randrange(1000),
        rng.random() < 0.7,
        event,
    )
