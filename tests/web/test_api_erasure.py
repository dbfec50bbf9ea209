"""The admin API's twin of ``taxireg driver forget`` and the consents on its driver card, and
what the partner sees afterwards: «удалён», the count unchanged."""

from __future__ import annotations

from core.services.erasure import FORGOTTEN
from tests.web.api_support import Api
from tests.web.test_api_admin import AUTH, error
from tests.web.test_api_partner import ANNA, register_with, sign_in

DRIVER = "+79160000001"


async def test_card_consents_then_erasure_and_the_partners_view(api: Api) -> None:
    anna = await api.container.admin.add_partner("mos", ANNA, "Анна")
    await register_with(api, anna.code, DRIVER)
    await register_with(api, anna.code, "+79160000002")
    card = await api.http.get(
        "/api/v1/admin/drivers", params={"park": "mos", "phone": DRIVER}, headers=AUTH
    )
    assert card.status_code == 200, card.text
    body = card.json()
    assert body["consent"]["channel"] == "telegram"
    assert body["consent"]["at"]
    assert body["mailing"] is None
    driver_id = body["id"]

    error(await api.http.delete(f"/api/v1/admin/drivers/{driver_id}"), 401, "unauthorized")
    gone = await api.http.delete(f"/api/v1/admin/drivers/{driver_id}", headers=AUTH)
    assert gone.status_code == 200, gone.text
    assert gone.json()["driver_id"] == driver_id
    error(
        await api.http.delete(f"/api/v1/admin/drivers/{driver_id}", headers=AUTH),
        409,
        "already_forgotten",
    )
    error(
        await api.http.delete("/api/v1/admin/drivers/999999", headers=AUTH),
        404,
        "driver_not_found",
    )
    error(await api.http.delete("/api/v1/admin/drivers/abc", headers=AUTH), 422, "invalid_request")
    missing = await api.http.get(
        "/api/v1/admin/drivers", params={"park": "mos", "phone": DRIVER}, headers=AUTH
    )
    error(missing, 404, "driver_not_found")
    audit = await api.container.db.read(lambda uow: uow.audit.for_driver(driver_id))
    assert [(a.field, a.actor, a.old, a.new) for a in audit] == [
        (FORGOTTEN, "admin-api", None, None)
    ]

    as_anna = await sign_in(api, ANNA)
    referrals = (await api.http.get("/api/v1/partner/referrals", headers=as_anna)).json()
    items = referrals["items"]
    assert len(items) == 2  # the count is unchanged
    assert [i["erased"] for i in items] == [False, True]
    assert (items[1]["first_name"], items[1]["phone"]) == ("удалён", "удалён")
    english = await api.http.get(
        "/api/v1/partner/referrals", headers={**as_anna, "Accept-Language": "en"}
    )
    assert english.json()["items"][1]["phone"] == "erased"
