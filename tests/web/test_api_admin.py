"""The admin API over real HTTP: the bearer token, partners, the driver card with its audit
trail, the entered code under the CLI's park check, and the funnel of every park."""

from __future__ import annotations

import httpx

from core.replies import Action
from tests.integration.flow import Person
from tests.web.api_support import ADMIN_TOKEN, Api

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def error(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.json()["code"] == code


async def test_no_token_or_a_wrong_one_is_401(api: Api) -> None:
    error(await api.http.get("/api/v1/admin/parks"), 401, "unauthorized")
    wrong = {"Authorization": f"Bearer {ADMIN_TOKEN}x"}
    error(await api.http.get("/api/v1/admin/parks", headers=wrong), 401, "unauthorized")
    body = {"park": "mos", "phone": "+79161112233"}
    error(await api.http.post("/api/v1/admin/partners", json=body), 401, "unauthorized")
    assert await api.container.admin.list_partners() == []
    parks = await api.http.get("/api/v1/admin/parks", headers=AUTH)
    assert [p["slug"] for p in parks.json()] == ["mos", "spb"]
    assert parks.json()[0]["telegram"] == "https://t.me/mos_gortaxi_bot"


async def test_partners_drivers_and_the_entered_code(api: Api) -> None:
    made = await api.http.post(
        "/api/v1/admin/partners",
        json={"park": "mos", "phone": "8 916 111-22-33", "name": "Анна"},
        headers=AUTH,
    )
    assert made.status_code == 201, made.text
    anna = made.json()
    assert anna["phone"] == "+79161112233"
    again = await api.http.post(
        "/api/v1/admin/partners", json={"park": "mos", "phone": "+79161112233"}, headers=AUTH
    )
    error(again, 409, "partner_exists")
    spb = await api.http.post(
        "/api/v1/admin/partners", json={"park": "spb", "phone": "+79214445566"}, headers=AUTH
    )
    listed = await api.http.get("/api/v1/admin/partners?park=mos", headers=AUTH)
    assert [p["code"] for p in listed.json()] == [anna["code"]]
    error(
        await api.http.get("/api/v1/admin/partners?park=nope", headers=AUTH), 404, "unknown_park"
    )

    person = Person(api.container, "mos")
    await person.start()
    await person.share_contact("+79160000001")
    await person.press(Action.NO_CODE)
    card = await api.http.get(
        "/api/v1/admin/drivers", params={"park": "mos", "phone": "89160000001"}, headers=AUTH
    )
    assert card.status_code == 200, card.text
    assert card.json()["entered_code"] is None
    assert card.json()["identities"] == [f"telegram:{person.user_id}"]

    put = "/api/v1/admin/drivers/entered-code"
    other_park = {"park": "mos", "phone": "+79160000001", "code": spb.json()["code"]}
    refused = await api.http.put(put, json=other_park, headers=AUTH)
    error(refused, 422, "code_refused")
    assert "spb" in refused.json()["message"]
    ok = await api.http.put(
        put, json={"park": "mos", "phone": "+79160000001", "code": anna["code"]}, headers=AUTH
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["entered_code"] == anna["code"]
    assert ok.json()["referrer_name"] == "Анна"
    [entry] = ok.json()["audit"]
    assert (entry["old"], entry["new"], entry["actor"]) == (None, anna["code"], "admin-api")
    cleared = await api.http.put(
        put, json={"park": "mos", "phone": "+79160000001", "code": None}, headers=AUTH
    )
    assert cleared.json()["entered_code"] is None
    assert len(cleared.json()["audit"]) == 2
    missing = await api.http.get(
        "/api/v1/admin/drivers", params={"park": "mos", "phone": "+79169999999"}, headers=AUTH
    )
    error(missing, 404, "driver_not_found")

    renewed = await api.http.post(f"/api/v1/admin/partners/{anna['code']}/reissue", headers=AUTH)
    assert renewed.status_code == 200, renewed.text
    fresh = renewed.json()["code"]
    assert fresh != anna["code"]
    assert renewed.json()["id"] == anna["id"]
    assert (await api.http.get("/ref", params={"code": anna["code"]})).status_code == 404
    assert (await api.http.get("/ref", params={"code": fresh})).status_code == 200
    card = await api.http.get(
        "/api/v1/admin/drivers", params={"park": "mos", "phone": "+79160000001"}, headers=AUTH
    )
    assert card.json()["entered_code"] is None  # cleared above; history stays in the audit
    again = await api.http.post(f"/api/v1/admin/partners/{anna['code']}/reissue", headers=AUTH)
    error(again, 422, "code_refused")
    anna = renewed.json()
    gone = await api.http.post(f"/api/v1/admin/partners/{anna['code']}/deactivate", headers=AUTH)
    assert gone.status_code == 204
    assert (await api.http.get("/ref", params={"code": anna["code"]})).status_code == 404
    nope = await api.http.post("/api/v1/admin/partners/zz99zz99/deactivate", headers=AUTH)
    error(nope, 404, "not_found")


async def test_funnel_of_every_park(api: Api) -> None:
    admin = api.container.admin
    mos = await admin.add_partner("mos", "+79161112233", "Анна")
    spb = await admin.add_partner("spb", "+79214445566", "Борис")
    for code in (mos.code, mos.code, spb.code):
        await api.http.get("/ref", params={"code": code})
    day = api.clock.now().date().isoformat()
    answer = await api.http.get(
        "/api/v1/admin/funnel", params={"from": day, "to": day, "by": "channel"}, headers=AUTH
    )
    assert answer.status_code == 200, answer.text
    totals = {p["park"]: p["stats"]["total"]["visits"] for p in answer.json()}
    assert totals == {"mos": 2, "spb": 1}
