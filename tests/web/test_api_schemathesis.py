"""Schemathesis against ``/api/openapi.json``: generated requests to every API operation,
sent over real HTTP to the served app, never get a 5xx. Bounded: a few examples each."""

from __future__ import annotations

import warnings

import httpx
import schemathesis
from hypothesis.errors import NonInteractiveExampleWarning

from tests.web.api_support import ADMIN_TOKEN, APP_KEYS, Api

EXAMPLES = 12  # per operation: the whole test stays within seconds


async def test_no_5xx_on_generated_input(api: Api) -> None:
    document = (await api.http.get("/api/openapi.json")).json()
    schema = schemathesis.openapi.from_dict(document)
    # Some requests authenticated, so generation reaches past the 401s too.
    auth = [
        {},
        {"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Api-Key": APP_KEYS["mos"]},
    ]
    seen: set[str] = set()
    sent = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        path = operation.path
        if not path.startswith("/api/"):
            continue
        seen.add(f"{operation.method.upper()} {path}")
        strategy = operation.as_strategy()
        for n in range(EXAMPLES):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", NonInteractiveExampleWarning)
                case = strategy.example()
            headers = {k: str(v) for k, v in (case.headers or {}).items()}
            headers.update(auth[n % 2])
            kwargs: dict[str, object] = {"params": case.query, "headers": headers}
            if case.body is not None and not isinstance(case.body, schemathesis.core.NotSet):
                kwargs["json"] = case.body
            try:
                response = await api.http.request(
                    operation.method.upper(), case.formatted_path, **kwargs
                )
            except httpx.LocalProtocolError:
                continue  # a header the client itself refuses to send (e.g. "Bearer ")
            sent += 1
            assert response.status_code < 500, (operation.method, path, response.text)
            kind = response.headers.get("content-type", "json").partition(";")[0]
            declared = document["paths"][path][operation.method.lower()]["responses"]
            # JSON, or a type the operation declares for its answer (the streamed exports).
            assert (
                "application/json" in kind
                or response.status_code == 204
                or kind in declared.get(str(response.status_code), {}).get("content", {})
            )
    assert sent > len(seen) * EXAMPLES // 2
    assert "POST /api/v1/app/registrations" in seen
    assert "GET /api/v1/partner/stats" in seen
    assert "PUT /api/v1/admin/drivers/entered-code" in seen
