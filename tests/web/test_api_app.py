"""The app registration API over real HTTP (httpx against uvicorn on 127.0.0.1) and a real
database: every outcome of the referral step, the SMS limits shared with the bots, one
driver for a concurrent double submit and for a phone already registered in Telegram."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import func, select

from core.domain.model import Channel, OwnerKind
from core.replies import Action
from storage import tables
from tests.integration.flow import Person
from tests.web.api_support import APP_KEYS, Api

PHONE = "+79161234567"


async def drivers(api: Api) -> int:
    return await api.container.db.run_on_connection(
        lambda conn: conn.execute(select(func.count()).select_from(tables.drivers)).scalar_one()
    )


async def ask_sms(api: Api, phone: str = PHONE, park: str = "mos") -> httpx.Response:
    return await api.http.post(
        "/api/v1/app/sms", json={"park": park, "phone": phone}, headers=api.key(park)
    )


async def register(api: Api, phone: str = PHONE, **body: object) -> httpx.Response:
    payload = {"park": "mos", "phone": phone, **body}
    if "sms_code" not in payload:
        payload["sms_code"] = api.sms.last_code(phone)
    return await api.http.post(
        "/api/v1/app/registrations", json=payload, headers=api.key(str(payload["park"]))
    )


def error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


async def test_registration_without_a_code(api: Api) -> None:
    sent = await ask_sms(api, "8 (916) 123-45-67")
    assert sent.status_code == 200, sent.text
    assert sent.json()["status"] == "sms_sent"
    assert api.sms.sent[-1][0] == PHONE
    answer = await register(api, name="Пётр")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["status"] == "registered"
    assert body["role"] == "driver"
    code = body["code"]
    assert body["links"]["page"] == f"{api.base}/ref?code={code}"
    assert body["links"]["telegram"] == f"https://t.me/mos_gortaxi_bot?start={code}"
    driver = await api.container.db.read(lambda uow: uow.drivers.by_phone("mos", PHONE))
    assert driver is not None
    assert (driver.own_code, driver.channel, driver.name) == (code, Channel.APP, "Пётр")
    assert driver.entered_code is None
    # A repeat of the same submit (the app retried) is the same driver, not a new one.
    again = error(await register(api), 409, "already_registered")
    assert again["driver_code"] == code
    assert await drivers(api) == 1


async def test_every_outcome_of_the_referral_step(api: Api) -> None:
    admin = api.container.admin
    mos = (await admin.add_partner("mos", "+7 916 111-22-33", "Анна")).code
    spb = (await admin.add_partner("spb", "+7 921 444-55-66", "Борис")).code
    off = (await admin.add_partner("mos", "+7 916 777-88-99", None)).code
    assert await admin.set_code_active(off, False)
    await ask_sms(api)

    error(await register(api, promo_code="zz99zz99"), 422, "code_unknown")
    error(await register(api, promo_code=off), 422, "code_inactive")
    other = error(await register(api, promo_code=spb), 422, "code_other_park")
    assert other["bot"] == "spb_taxi_bot"
    assert other["bot_link"] == "https://t.me/spb_taxi_bot"
    assert "@spb_taxi_bot" in str(other["message"])
    assert await drivers(api) == 0  # nothing half-written by the refusals
    # The same SMS code still works with a corrected promo code.
    done = await register(api, promo_code=mos.upper())
    assert done.status_code == 201, done.text
    driver = await api.container.db.read(lambda uow: uow.drivers.by_phone("mos", PHONE))
    assert driver is not None
    assert driver.entered_code == mos
    assert driver.referrer_kind is OwnerKind.PARTNER
    # The partner's alert was queued in the same transaction.
    rows = await api.container.db.read(lambda uow: uow.outbox.list())
    assert [r.kind for r in rows] == ["driver_registered"]


async def test_wrong_codes_start_the_cooldown(api: Api) -> None:
    await ask_sms(api)
    limits = api.container.registration.limits
    for _ in range(limits.code_max_failures - 1):
        error(await register(api, promo_code="zz99zz99"), 422, "code_unknown")
    cooled = await register(api, promo_code="yy88yy88")
    body = error(cooled, 429, "code_cooldown")
    assert int(cooled.headers["Retry-After"]) == body["retry_after"] > 0
    api.clock.advance(seconds=limits.code_cooldown.total_seconds() + 1)
    await ask_sms(api)  # the first code expired meanwhile
    assert (await register(api)).status_code == 201


async def test_sms_code_outcomes(api: Api) -> None:
    error(await register(api, sms_code="123456"), 400, "sms_expired")  # never requested
    await ask_sms(api)
    right = api.sms.last_code(PHONE)
    wrong = "000000" if right != "000000" else "111111"
    body = error(await register(api, sms_code=wrong), 400, "sms_wrong")
    assert body["attempts_left"] == 4
    api.clock.advance(minutes=6)
    error(await register(api, sms_code=right), 400, "sms_expired")
    api.clock.advance(minutes=1)
    await ask_sms(api)
    right = api.sms.last_code(PHONE)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(4):
        error(await register(api, sms_code=wrong), 400, "sms_wrong")
    error(await register(api, sms_code=wrong), 429, "rate_limited")
    error(await register(api, sms_code=right), 429, "rate_limited")  # locked, even if right
    assert await drivers(api) == 0


async def test_sms_limits_are_the_bots_limits(api: Api) -> None:
    assert (await ask_sms(api)).status_code == 200
    paused = await ask_sms(api)
    body = error(paused, 429, "rate_limited")
    assert body["retry_after"] == 60
    assert paused.headers["Retry-After"] == "60"
    api.clock.advance(seconds=61)
    assert (await ask_sms(api)).status_code == 200
    api.clock.advance(seconds=61)
    assert (await ask_sms(api)).status_code == 200
    api.clock.advance(seconds=61)
    # Three codes to one number in 10 minutes: the fourth waits for the first to age out.
    limited = error(await ask_sms(api), 429, "rate_limited")
    assert 0 < int(limited["retry_after"]) <= 10 * 60 - 3 * 61
    assert len(api.sms.sent) == 3
    # The number's quota counts every channel: a VK chat asking for the same number is refused.
    vk = Person(api.container, "mos", Channel.VK)
    await vk.start()
    texts = await vk.say(PHONE)
    assert len(api.sms.sent) == 3, texts


async def test_gateway_failure_is_reported(api: Api) -> None:
    api.sms.failures = 2  # the send and its one retry
    error(await ask_sms(api), 502, "sms_failed")
    error(await register(api, sms_code="123456"), 400, "sms_expired")  # taken back
    api.clock.advance(seconds=61)  # the bots' pause holds after a failed send too
    assert (await ask_sms(api)).status_code == 200


async def test_concurrent_double_submit_gives_one_driver(api: Api) -> None:
    await ask_sms(api)
    code = api.sms.last_code(PHONE)
    answers = await asyncio.gather(*(register(api, sms_code=code) for _ in range(4)))
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409], [a.text for a in answers]
    codes = {a.json()["driver_code" if a.status_code == 409 else "code"] for a in answers}
    assert len(codes) == 1
    assert await drivers(api) == 1


async def test_phone_registered_in_telegram_is_the_same_driver(api: Api) -> None:
    person = Person(api.container, "mos")
    await person.start()
    await person.share_contact(PHONE)
    await person.press(Action.NO_CODE)
    telegram = await api.container.db.read(lambda uow: uow.drivers.by_phone("mos", PHONE))
    assert telegram is not None
    assert telegram.channel is Channel.TELEGRAM
    await ask_sms(api)
    body = error(await register(api, promo_code="zz99zz99"), 409, "already_registered")
    assert body["driver_code"] == telegram.own_code
    assert await drivers(api) == 1


async def test_partner_phone_gets_the_partner_code(api: Api) -> None:
    partner = await api.container.admin.add_partner("mos", PHONE, "Анна")
    await ask_sms(api)
    body = error(await register(api), 409, "already_registered")
    assert body["driver_code"] == partner.code
    assert await drivers(api) == 0


async def test_the_key_must_be_the_parks_own(api: Api) -> None:
    body = {"park": "mos", "phone": PHONE}
    error(await api.http.post("/api/v1/app/sms", json=body), 401, "api_key_invalid")
    spb_key = {"X-Api-Key": APP_KEYS["spb"]}
    answer = await api.http.post("/api/v1/app/sms", json=body, headers=spb_key)
    error(answer, 401, "api_key_invalid")
    nowhere = {"park": "nope", "phone": PHONE}
    answer = await api.http.post("/api/v1/app/sms", json=nowhere, headers=api.key())
    error(answer, 401, "api_key_invalid")
    error(await ask_sms(api, "not a phone"), 422, "phone_invalid")
    extra = {**body, "admin": True}
    answer = await api.http.post("/api/v1/app/sms", json=extra, headers=api.key())
    error(answer, 422, "unknown_field")
    assert api.sms.sent == []
