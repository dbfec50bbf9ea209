"""Handlers by concern. Each module has ``make_router()``: an aiogram router can belong to
one dispatcher only, and tests build several front ends in one process."""
