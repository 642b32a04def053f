"""The services one Sanad process shares between its channels (Telegram, web)."""

from __future__ import annotations

from dataclasses import dataclass

from faq.service import FaqService, thresholds_from
from sanad.clock import Clock, SystemClock
from sanad.config import Settings
from storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    faq: FaqService

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None) -> Services:
        db = Database(settings.database_url)
        thresholds = thresholds_from(
            settings.faq_answer_min, settings.faq_answer_margin, settings.faq_suggest_min
        )
        return cls(settings, db, clock or SystemClock(), FaqService(db, thresholds))

    async def start(self) -> None:
        """Migrate the schema, load the sample FAQ on first run, build the match index."""
        from faq.service import load_sample_if_empty

        await self.db.upgrade()
        if self.settings.load_sample_faq:
            async with self.db.transaction() as session:
                await load_sample_if_empty(session, self.clock.now())
        await self.faq.reload()

    async def close(self) -> None:
        await self.db.dispose()
