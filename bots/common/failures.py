"""One way for every front end to log a failed update: with the traceback, without the SQL
parameters (names, phones, user ids, code hashes) that database errors carry in their text."""

from __future__ import annotations

import logging
from collections.abc import Mapping


def hide_sql_parameters(exc: BaseException | None) -> None:
    """Make database errors in ``exc``'s chain print without their statement's parameters.

    SQLAlchemy's ``StatementError`` puts the parameters into ``str(exc)`` and so into every
    formatted traceback unless its ``hide_parameters`` flag is set. Duck-typed, because front
    ends import neither storage nor SQLAlchemy.
    """
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if hasattr(exc, "hide_parameters"):
            exc.hide_parameters = True
        exc = exc.__cause__ or exc.__context__


def log_failure(
    logger: logging.Logger,
    message: str,
    *args: object,
    exc: BaseException,
    extra: Mapping[str, object] | None = None,
    level: int = logging.ERROR,
) -> None:
    """Log an unexpected failure with its traceback, SQL parameters hidden."""
    hide_sql_parameters(exc)
    logger.log(
        level,
        message,
        *args,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra=dict(extra or {}),
    )
