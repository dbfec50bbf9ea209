"""The partner cabinet API over real HTTP and a real database: sign-in by SMS, token expiry
on the fake clock, sign-out, each partner's data only their own, cursor pages, and funnel
counts that match a scripted set of visits and registrations."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import httpx

from app.bootstrap import Container
from core.domain.model import Channel
from core.events import Start
from tests.fakes.clock import FakeClock
from tests.fakes.sms import RecordingSms
from tests.integration.flow import Person
from tests.web.api_support import Api, serve_api

ANNA, BORIS = "+79161112233", "+79165556677"


async def sign_in(api: Api, phone: str) -> dict[str, str]:
    sent = await api.http.post("/api/v1/partner/sms", json={"park": "mos", "phone": phone})
    assert sent.status_code == 200, sent.text
    body = {"park": "mos", "phone": phone, "sms_code": api.sms.last_code()}
    answer = await api.http.post("/api/v1/partner/sessions", json=body)
    assert answer.status_code == 201, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def register_with(api: Api, code: str, phone: str, tag: str | None = None) -> None:
    """A driver registers in Telegram through the partner's deep link."""
    person = Person(api.container, "mos")
    await person.start(f"{code}-{tag}" if tag else code)
    await person.share_contact(phone)
    driver = await api.container.db.read(lambda uow: uow.drivers.by_phone("mos", phone))
    assert driver is not None
    assert driver.entered_code == code


async def test_sign_in_me_expiry_and_sign_out(api: Api) -> None:
    anna = await api.container.admin.add_partner("mos", ANNA, "Анна")
    headers = await sign_in(api, "8 916 111-22-33")
    me = await api.http.get("/api/v1/partner/me", headers=headers)
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["code"] == anna.code
    assert body["links"]["page"] == f"{api.base}/ref?code={anna.code}"
    assert body["links"]["telegram"] == f"https://t.me/mos_gortaxi_bot?start={anna.code}"
    assert body["qr_url"] == f"{api.base}/ref/{anna.code}/qr.svg"
    assert (await api.http.get(body["qr_url"])).status_code == 200
    # The token is stored only as a digest.
    token = headers["Authorization"].removeprefix("Bearer ")
    dump = await api.container.db.run_on_connection(
        lambda conn: [tuple(r) for r in conn.exec_driver_sql("SELECT * FROM partner_sessions")]
    )
    assert token not in repr(dump)

    api.clock.advance(hours=23, minutes=59)
    assert (await api.http.get("/api/v1/partner/me", headers=headers)).status_code == 200
    api.clock.advance(minutes=1)
    expired = await api.http.get("/api/v1/partner/me", headers=headers)
    error(expired, 401, "token_expired")
    assert expired.headers["WWW-Authenticate"] == "Bearer"

    fresh = await sign_in(api, ANNA)
    out = await api.http.delete("/api/v1/partner/sessions/current", headers=fresh)
    assert out.status_code == 204
    error(await api.http.get("/api/v1/partner/me", headers=fresh), 401, "unauthorized")
    error(await api.http.get("/api/v1/partner/me"), 401, "unauthorized")
    bogus = {"Authorization": "Bearer not-a-token"}
    error(await api.http.get("/api/v1/partner/referrals", headers=bogus), 401, "unauthorized")


async def test_a_stranger_gets_no_sms_and_no_session(api: Api) -> None:
    answer = await api.http.post("/api/v1/partner/sms", json={"park": "mos", "phone": ANNA})
    assert answer.status_code == 200  # the same answer as a partner's: nobody is enumerated
    assert api.sms.sent == []
    body = {"park": "mos", "phone": ANNA, "sms_code": "123456"}
    error(await api.http.post("/api/v1/partner/sessions", json=body), 400, "sms_expired")


async def test_wrong_sign_in_code(api: Api) -> None:
    await api.container.admin.add_partner("mos", ANNA, "Анна")
    await api.http.post("/api/v1/partner/sms", json={"park": "mos", "phone": ANNA})
    right = api.sms.last_code(ANNA)
    body = {"park": "mos", "phone": ANNA, "sms_code": "000000" if right != "000000" else "1"}
    error(await api.http.post("/api/v1/partner/sessions", json=body), 400, "sms_wrong")


async def test_partner_a_never_sees_partner_b(api: Api) -> None:
    admin = api.container.admin
    anna = await admin.add_partner("mos", ANNA, "Анна Иванова")
    boris = await admin.add_partner("mos", BORIS, "Борис")
    for n in range(3):
        await register_with(api, anna.code, f"+7916000000{n}")
    await register_with(api, boris.code, "+79160009999")
    await api.http.get("/ref", params={"code": boris.code})
    as_anna = await sign_in(api, ANNA)

    first = await api.http.get("/api/v1/partner/referrals?limit=2", headers=as_anna)
    assert first.status_code == 200, first.text
    page = first.json()
    assert [r["phone"] for r in page["items"]] == ["+7 *** ***-00-02", "+7 *** ***-00-01"]
    assert page["items"][0]["first_name"] == "Пётр"
    assert page["items"][0]["channel"] == "telegram"
    assert page["items"][0]["source"] == "deep_link"
    second = await api.http.get(
        "/api/v1/partner/referrals",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=as_anna,
    )
    assert [r["phone"] for r in second.json()["items"]] == ["+7 *** ***-00-00"]
    assert second.json()["next_cursor"] is None
    bad = await api.http.get("/api/v1/partner/referrals?cursor=abc", headers=as_anna)
    error(bad, 422, "cursor_invalid")

    day = api.clock.now().date().isoformat()
    stats = await api.http.get(
        "/api/v1/partner/stats", params={"from": day, "to": day}, headers=as_anna
    )
    assert stats.json()["total"]["registered"] == 3
    assert stats.json()["total"]["visits"] == 0  # Boris's visit is not Anna's
    # There is no way to name another partner: the token decides.
    as_boris = await sign_in(api, BORIS)
    mine = await api.http.get("/api/v1/partner/referrals", headers=as_boris)
    assert [r["phone"] for r in mine.json()["items"]] == ["+7 *** ***-99-99"]
    me = await api.http.get("/api/v1/partner/me", headers=as_boris)
    assert me.json()["code"] == boris.code
    # A re-issued code keeps the partner's referrals: they are the partner's, not the code's.
    await admin.reissue_code(anna.code)
    after = await api.http.get("/api/v1/partner/referrals", headers=as_anna)
    assert len(after.json()["items"]) == 3


async def test_funnel_counts_match_a_script(api: Api) -> None:
    anna = await api.container.admin.add_partner("mos", ANNA, "Анна")
    code = anna.code
    day1 = api.clock.now().date()
    # Day 1: four visits (three from a flyer), two Telegram openings, one registration.
    for src in ("flyer", "flyer", "flyer", None):
        params = {"code": code, **({"src": src} if src else {})}
        assert (await api.http.get("/ref", params=params)).status_code == 200
    idle = Person(api.container, "mos")
    await idle.start(f"{code}-flyer")  # opened, never shared a phone
    await register_with(api, code, "+79160000001", tag="flyer")
    # Day 2: a VK visitor opens with the code and confirms the phone by SMS (registered at
    # once, the code came with the link) and an app driver types the code.
    api.clock.advance(days=1)
    day2 = api.clock.now().date()
    assert (await api.http.get("/ref", params={"code": code, "src": "vk"})).status_code == 200
    vk = Person(api.container, "mos", Channel.VK)
    await vk.send(Start(code, "vk"))
    await vk.say("+79160000002")
    await vk.say(api.sms.last_code("+79160000002"))
    sms = await api.http.post(
        "/api/v1/app/sms", json={"park": "mos", "phone": "+79160000003"}, headers=api.key()
    )
    assert sms.status_code == 200
    app_body = {
        "park": "mos",
        "phone": "+79160000003",
        "sms_code": api.sms.last_code("+79160000003"),
        "promo_code": code,
    }
    registered = await api.http.post("/api/v1/app/registrations", json=app_body, headers=api.key())
    assert registered.status_code == 201, registered.text
    # Outside the period: a day later.
    api.clock.advance(days=1)
    await api.http.get("/ref", params={"code": code})

    headers = await sign_in(api, ANNA)

    async def stats(by: str) -> dict[str, object]:
        params = {"from": day1.isoformat(), "to": day2.isoformat(), "by": by}
        answer = await api.http.get("/api/v1/partner/stats", params=params, headers=headers)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def rows(body: dict[str, object]) -> dict[str, tuple[int, int, int, int]]:
        return {
            r["key"]: (r["visits"], r["opened"], r["phone_confirmed"], r["registered"])
            for r in body["rows"]  # type: ignore[union-attr]
        }

    by_day = await stats("day")
    assert by_day["from"] == day1.isoformat()
    assert rows(by_day) == {
        day1.isoformat(): (4, 2, 1, 1),
        day2.isoformat(): (1, 2, 2, 2),
    }
    assert by_day["total"]["registered"] == 3  # type: ignore[index]
    assert rows(await stats("source")) == {
        "": (1, 1, 1, 1),  # the visit without a tag, the app driver
        "flyer": (3, 2, 1, 1),
        "vk": (1, 1, 1, 1),
    }
    assert rows(await stats("channel")) == {
        "web": (5, 0, 0, 0),
        "telegram": (0, 2, 1, 1),
        "vk": (0, 1, 1, 1),
        "app": (0, 1, 1, 1),
    }
    reversed_period = {"from": day2.isoformat(), "to": day1.isoformat()}
    bad = await api.http.get("/api/v1/partner/stats", params=reversed_period, headers=headers)
    error(bad, 422, "dates_invalid")
    too_long = {"from": day1.isoformat(), "to": (day1 + timedelta(days=400)).isoformat()}
    bad = await api.http.get("/api/v1/partner/stats", params=too_long, headers=headers)
    error(bad, 422, "dates_invalid")


async def test_balance_accruals_and_payouts(
    database_url: str, tmp_path: Path, clock: FakeClock, sms: RecordingSms
) -> None:
    from core.domain.bonus_records import OrderInput
    from core.services.ledger import LedgerService
    from tests.integration.ledger_env import program

    def with_ledger(container: Container) -> None:
        container.ledger = LedgerService(container.db, {"mos": program()}, clock)

    async with serve_api(database_url, tmp_path, clock, sms, prepare=with_ledger) as api:
        admin = api.container.admin
        anna = await admin.add_partner("mos", ANNA, "Анна")
        boris = await admin.add_partner("mos", BORIS, "Борис")
        await register_with(api, anna.code, "+79160000001")
        await register_with(api, boris.code, "+79160000002")
        ids = {}
        for phone in ("+79160000001", "+79160000002"):
            driver = await api.container.db.read(
                lambda uow, p=phone: uow.drivers.by_phone("mos", p)
            )
            assert driver is not None
            ids[phone] = driver.id
        ledger = api.container.ledger
        assert isinstance(ledger, LedgerService)
        at = clock.now() + timedelta(hours=1)
        orders = [
            OrderInput("o1", at, 150_000, "completed", driver_id=ids["+79160000001"]),
            OrderInput("o2", at, 100_000, "completed", driver_id=ids["+79160000001"]),
            OrderInput("o3", at, 900_000, "completed", driver_id=ids["+79160000002"]),
        ]
        await ledger.import_orders("mos", orders)
        headers = await sign_in(api, ANNA)
        balance = (await api.http.get("/api/v1/partner/balance", headers=headers)).json()
        assert balance == {"accrued": 25_000, "reserved": 0, "paid": 0, "available": 25_000}
        first = await api.http.get("/api/v1/partner/accruals?limit=1", headers=headers)
        page = first.json()
        assert [r["order"] for r in page["items"]] == ["o2"]
        rest = await api.http.get(
            "/api/v1/partner/accruals", params={"cursor": page["next_cursor"]}, headers=headers
        )
        assert [r["order"] for r in rest.json()["items"]] == ["o1"]  # never Boris's o3
        too_much = await api.http.post(
            "/api/v1/partner/payouts", json={"amount_kopecks": 30_000}, headers=headers
        )
        error(too_much, 422, "payout_refused")
        made = await api.http.post(
            "/api/v1/partner/payouts", json={"amount_kopecks": 20_000}, headers=headers
        )
        assert made.status_code == 201, made.text
        listed = (await api.http.get("/api/v1/partner/payouts", headers=headers)).json()
        assert [(p["amount_kopecks"], p["status"]) for p in listed] == [(20_000, "pending")]
        after = (await api.http.get("/api/v1/partner/balance", headers=headers)).json()
        assert after["available"] == 5_000
