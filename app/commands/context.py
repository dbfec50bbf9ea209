"""What a command handler gets besides its arguments: settings and the app, built on demand.

Nothing is loaded until a handler asks, so ``taxireg --help`` and argument errors cost no
configuration parsing, and only commands that touch the database open it. Commands that
need only the operators' service (``partner list``, ``driver show`` ...) ask for ``admin()``,
which opens the database without wiring the bots' flow, its texts or the ledger.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.bootstrap import Container
    from app.settings import Settings
    from core.services.admin import AdminService
    from storage.database import SqlDatabase


class Context:
    def __init__(self, config_path: str | None = None, *, debug: bool = False) -> None:
        self.config_path = config_path
        self.debug = debug
        self._settings: Settings | None = None
        self._container: Container | None = None
        self._admin: AdminService | None = None
        self._db: SqlDatabase | None = None

    @property
    def settings(self) -> Settings:
        """The configuration (``--config``, else ``$TAXIREG_CONFIG``, else defaults).

        The first access also configures logging from it: every command that loads
        settings logs the way the operator configured.
        """
        if self._settings is None:
            from app.logs import setup_logging
            from app.settings import load_settings

            self._settings = load_settings(self.config_path)
            setup_logging(self._settings.logging)
        return self._settings

    def use_settings(self, settings: Settings) -> None:
        """Commands that make their own settings (``demo``) hand them over here."""
        self._settings = settings

    async def container(self, *, migrate: bool = True) -> Container:
        """The wired application; the database is migrated and parks synced unless told not."""
        if self._container is None:
            # Settings first: a config error is then reported before the slow imports.
            settings = self.settings
            from app.bootstrap import build

            self._container = await build(settings, migrate_db=migrate, sync_parks=migrate)
        return self._container

    async def admin(self) -> AdminService:
        """The operators' service alone, on a migrated database with the parks synced."""
        if self._container is not None:
            return self._container.admin
        if self._admin is None:
            settings = self.settings
            from app.clock import SystemClock
            from app.database import open_database
            from core.services.admin import AdminService

            clock = SystemClock()
            self._db, parks = await open_database(settings, clock)
            self._admin = AdminService(self._db, parks, clock)
        return self._admin

    async def aclose(self) -> None:
        if self._db is not None:
            db, self._db, self._admin = self._db, None, None
            await db.dispose()
        if self._container is not None:
            container, self._container = self._container, None
            await container.aclose()
