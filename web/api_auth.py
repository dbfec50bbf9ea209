"""The two ways a JSON API caller proves who it is, shared by the routers that need them.

* The admin API (``web.api_admin``, the payouts of ``web.api_ledger``): ``Authorization:
  Bearer <[web] admin_token>``; none, a wrong one, or no token configured is 401
  ``unauthorized``.
* A park's integrations (the app API, order intake): ``X-Api-Key``, that park's key; a wrong
  key, a park without one or a park the router does not serve is 401 ``api_key_invalid``.

Both compare with ``hmac.compare_digest``, so timing tells nothing about the secret.
"""

# No ``from __future__ import annotations``: FastAPI reads the closure's parameters.

import hmac
from collections.abc import Awaitable, Callable, Container, Mapping
from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from web.api_errors import ApiProblem

_bearer = HTTPBearer(auto_error=False, description="[web] admin_token")


def admin_token_guard(token: str | None) -> Callable[..., Awaitable[None]]:
    """The dependency of every admin route: the request carries ``token`` as its bearer."""

    async def authorized(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        given = (credentials.credentials if credentials else "").encode("utf-8", "replace")
        expected = (token or "").encode()
        if not token or not hmac.compare_digest(given, expected):
            raise ApiProblem(401, "unauthorized", headers={"WWW-Authenticate": "Bearer"})

    return authorized


def check_api_key(
    keys: Mapping[str, str], parks: Container[str], park: str, key: str | None
) -> None:
    """``key`` must be ``park``'s in ``keys``, and ``park`` one of ``parks``."""
    expected = keys.get(park)
    given = (key or "").encode("utf-8", "surrogatepass")
    # Compared even for an unknown park, so timing tells nothing about which parks exist.
    ok = hmac.compare_digest(given, (expected or "\x00" * 32).encode())
    if not ok or expected is None or park not in parks:
        raise ApiProblem(401, "api_key_invalid", "api-api-key")
