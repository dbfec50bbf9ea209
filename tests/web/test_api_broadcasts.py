"""The admin API's broadcasts over real HTTP: the twin of ``taxireg broadcast``."""

from __future__ import annotations

from tests.bots.notifications_env import linked_partner, outbox
from tests.web.api_support import Api
from tests.web.test_api_admin import AUTH

URL = "/api/v1/admin/broadcasts"
NEWS = {"park": "mos", "to": "partners", "text": "Новые тарифы с понедельника."}


async def test_dry_run_create_repeat_status_and_cancel(api: Api) -> None:
    app = api.container
    await linked_partner(app, chat_id=8100)
    await linked_partner(app, chat_id=8101)
    await linked_partner(app)  # no Telegram chat

    assert (await api.http.post(URL, json=NEWS)).status_code == 401
    dry = await api.http.post(URL, json={**NEWS, "dry_run": True}, headers=AUTH)
    assert dry.status_code == 200, dry.text
    assert dry.json()["recipients"] == 2
    assert dry.json()["skipped"] == 1
    assert dry.json()["sample"] == NEWS["text"]
    assert dry.json()["existing_id"] is None
    assert await outbox(app) == []  # a dry run queues nothing

    made = await api.http.post(URL, json=NEWS, headers=AUTH)
    assert made.status_code == 200, made.text
    body = made.json()
    assert body["created"] is True
    assert (body["recipients"], body["pending"], body["state"]) == (2, 2, "queued")
    again = await api.http.post(URL, json=NEWS, headers=AUTH)
    assert again.json()["id"] == body["id"]
    assert again.json()["created"] is False
    assert len(await outbox(app)) == 2

    status = await api.http.get(f"{URL}/{body['id']}", headers=AUTH)
    assert status.json()["pending"] == 2
    cancelled = await api.http.post(f"{URL}/{body['id']}/cancel", headers=AUTH)
    assert cancelled.status_code == 200, cancelled.text
    assert (cancelled.json()["cancelled"], cancelled.json()["state"]) == (2, "cancelled")
    assert cancelled.json()["finished"] is True


async def test_refusals(api: Api) -> None:
    missing = await api.http.get(f"{URL}/999", headers=AUTH)
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")
    bad = await api.http.post(URL, json={**NEWS, "filter": ["colour=red"]}, headers=AUTH)
    assert (bad.status_code, bad.json()["code"]) == (422, "refused")
    empty = await api.http.post(URL, json={**NEWS, "text": "  "}, headers=AUTH)
    assert empty.status_code == 422
    partners_by_code = {**NEWS, "filter": ["source=typed"]}
    refused = await api.http.post(URL, json=partners_by_code, headers=AUTH)
    assert refused.status_code == 422
    park = await api.http.post(URL, json={**NEWS, "park": "nope"}, headers=AUTH)
    assert (park.status_code, park.json()["code"]) == (404, "unknown_park")
