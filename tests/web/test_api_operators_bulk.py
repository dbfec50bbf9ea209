"""The admin API's twins of ``taxireg partner import|export`` and ``taxireg driver list``,
through a real HTTP client against the served app, on SQLite and PostgreSQL: the same core
service, the same line-numbered refusals, listings streamed a page at a time."""

from __future__ import annotations

import csv
import io
import json

import httpx
import pytest

from core.domain.operators import DRIVER_COLUMNS, PARTNER_COLUMNS, UNFINISHED_COLUMNS
from core.services import admin as admin_module
from tests.web.api_support import Api
from tests.web.test_api_admin import AUTH, error
from tests.web.test_api_partner import ANNA, register_with

IMPORT = "/api/v1/admin/partners/import"
CSV_TYPE = {**AUTH, "Content-Type": "text/csv"}
JSON = {"Content-Type": "application/json"}
FILE = (
    "name,phone,code,alerts\n"
    "Иван,+7 916 000-00-01,,\n"  # 2: added
    "Пётр,89160000002,abcd2345,digest\n"  # 3: added with its own code
    "bad phone,123,,\n"  # 4: refused
    "Иван дубль,+79160000001,,\n"  # 5: the same phone as line 2
    "=HYPERLINK(1),+79160000006,,\n"  # 6: added; exported as text
)


async def partners(api: Api) -> list[tuple[str, str | None]]:
    found = await api.container.admin.list_partners("mos")
    return sorted((p.phone, p.name) for p in found)


async def test_partner_import_of_a_csv_body_and_of_json_rows(api: Api) -> None:
    first = await api.http.post(IMPORT, params={"park": "mos"}, content=FILE, headers=CSV_TYPE)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["added"], body["existing"]) == (3, 0)
    assert [r["line"] for r in body["refused"]] == [4, 5]
    assert body["refused"][1]["reason"] == "the same phone as line 2"
    stored = await partners(api)

    again = await api.http.post(IMPORT, params={"park": "mos"}, content=FILE, headers=CSV_TYPE)
    assert (again.json()["added"], again.json()["existing"]) == (0, 3)
    assert await partners(api) == stored

    rows = {
        "rows": [
            {"phone": "+79160000007", "name": "Ольга", "alerts": "digest"},
            {"phone": "+79160000002"},  # the park has it
            {"phone": "+79160000008", "code": "abcd2345"},  # Пётр's code
        ]
    }
    answer = await api.http.post(IMPORT, params={"park": "mos"}, json=rows, headers=AUTH)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "added": 1,
        "existing": 1,
        "refused": [{"line": 3, "reason": "the code abcd2345 is taken in park mos"}],
    }
    assert ("+79160000007", "Ольга") in await partners(api)


async def test_partner_import_refusals_change_nothing(api: Api) -> None:
    before = await partners(api)
    mos = {"park": "mos"}
    error(await api.http.post(IMPORT, params=mos, content=FILE), 401, "unauthorized")
    error(
        await api.http.post(IMPORT, params={"park": "nope"}, content=FILE, headers=CSV_TYPE),
        404,
        "unknown_park",
    )
    error(
        await api.http.post(
            IMPORT, params=mos, content=FILE, headers={**AUTH, "Content-Type": "x"}
        ),
        415,
        "unsupported_media_type",
    )
    headerless = await api.http.post(IMPORT, params=mos, content="name\nx\n", headers=CSV_TYPE)
    error(headerless, 422, "file_unreadable")
    assert "lacks phone" in headerless.json()["message"]
    extra_key = {"rows": [{"phone": "+79160000009", "cellphone": "x"}]}
    error(
        await api.http.post(IMPORT, params=mos, json=extra_key, headers=AUTH),
        422,
        "unknown_field",
    )
    error(
        await api.http.post(IMPORT, params=mos, content=b"[1,", headers={**AUTH, **JSON}),
        422,
        "invalid_json",
    )
    assert await partners(api) == before


async def read_stream(api: Api, url: str, **params: str) -> tuple[httpx.Response, str]:
    async with api.http.stream("GET", url, params=params, headers=AUTH) as response:
        text = "".join([chunk async for chunk in response.aiter_text()])
    return response, text


async def test_partner_export_streams_pages_as_csv_or_ndjson(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(admin_module, "PAGE", 2)  # five partners: three pages
    await api.http.post(IMPORT, params={"park": "mos"}, content=FILE, headers=CSV_TYPE)
    await api.container.admin.add_partner("spb", "+79212220002", "Олег")

    response, text = await read_stream(api, "/api/v1/admin/partners/export")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "content-length" not in response.headers  # streamed, not built whole
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == PARTNER_COLUMNS
    # the import's three, then Олег in spb, by id
    assert [r["park"] for r in rows] == ["mos", "mos", "mos", "spb"]
    assert "'=HYPERLINK(1)" in [r["name"] for r in rows]

    response, text = await read_stream(
        api, "/api/v1/admin/partners/export", park="spb", format="ndjson"
    )
    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in text.splitlines()]
    assert [(p["name"], p["phone"]) for p in lines] == [("Олег", "+79212220002")]

    error(
        await api.http.get("/api/v1/admin/partners/export", params={"park": "x"}, headers=AUTH),
        404,
        "unknown_park",
    )
    error(await api.http.get("/api/v1/admin/partners/export"), 401, "unauthorized")


async def test_driver_export_filters_like_the_cli_and_shows_erasure(api: Api) -> None:
    anna = await api.container.admin.add_partner("mos", ANNA, "Анна")
    await register_with(api, anna.code, "+79160000001")
    await register_with(api, anna.code, "+79160000002")
    url = "/api/v1/admin/drivers/export"

    _, text = await read_stream(api, url, park="mos", code=anna.code.upper())
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == DRIVER_COLUMNS
    assert [r["phone"] for r in rows] == ["+79160000001", "+79160000002"]

    _, text = await read_stream(api, url, format="ndjson", channel="vk")
    assert text == ""
    _, text = await read_stream(api, url, since="2999-01-01")
    assert text.splitlines() == [",".join(DRIVER_COLUMNS)]
    _, text = await read_stream(api, url, stage="unfinished")
    assert text.splitlines() == [",".join(UNFINISHED_COLUMNS)]

    bad_date = await api.http.get(url, params={"since": "tomorrow"}, headers=AUTH)
    error(bad_date, 422, "refused")
    assert "not a date" in bad_date.json()["message"]
    error(await api.http.get(url, params={"channel": "fax"}, headers=AUTH), 422, "invalid_request")
    error(await api.http.get(url, params={"code": "no/code"}, headers=AUTH), 422, "code_refused")

    await api.container.admin.forget_driver("mos", "+79160000001", "test")
    _, text = await read_stream(api, url, format="ndjson")
    records = [json.loads(line) for line in text.splitlines()]
    assert [(d["phone"], d["erased"]) for d in records] == [
        (None, True),
        ("+79160000002", False),
    ]
