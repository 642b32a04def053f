"""The services one Sanad process shares between its channels (Telegram, web)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from app.config import Settings
from base.bus import Bus, LocalBus
from base.clock import Clock, SystemClock
from faq.fusion import FUSED_THRESHOLDS, with_overrides
from faq.semantic import load_embedder
from faq.service import FaqService, load_sample_if_empty, thresholds_from
from handoff.acd import AcdConfig, Strategy
from handoff.flood import FloodLimits, FloodPolicy
from handoff.port import PortRouter
from handoff.service import HandoffConfig, HandoffService
from storage.db import Database, PoolSettings, one_at_a_time, refused_value
from storage.pubsub import PgBus

log = logging.getLogger(__name__)

__all__ = ["Services", "flood_limits", "handoff_config", "refused_value"]


def handoff_config(settings: Settings) -> HandoffConfig:
    """The handoff engine's knobs, from the settings."""
    return HandoffConfig(
        acd=AcdConfig(
            offer_timeout_s=settings.offer_timeout_s,
            max_no_answer=settings.max_no_answer,
            strategy=Strategy(settings.routing_strategy),
            wrap_up_s=settings.wrap_up_s,
            exclusion_lapse_s=settings.exclusion_lapse_s,
        ),
        head_start_s=settings.head_start_s,
        rules=settings.priority_rules,
        hours=settings.business_hours,
        sla=settings.sla,
        followup=settings.followup,
        reopen_window_s=settings.reopen_window_h * 3600.0,
        bot_idle_close_s=settings.bot_idle_close_h * 3600.0,
        offline_grace_s=settings.offline_grace_s,
        position_update_s=settings.position_update_s,
        waiting_reminder_s=settings.waiting_reminder_s,
    )


def flood_limits(settings: Settings) -> FloodLimits:
    return FloodLimits(
        message_burst=settings.flood_message_burst,
        message_per_min=settings.flood_message_per_min,
        new_visitors_per_ip=settings.flood_new_visitors_per_ip,
        handoffs_per_ip=settings.flood_handoffs_per_ip,
        window_s=settings.flood_window_min * 60.0,
        login_failures_per_ip=settings.login_failures_per_ip,
    )


def share_handoff_changes(handoff: HandoffService, bus: Bus) -> None:
    """Processes sharing a database tell each other of every committed handoff change, so each
    one's dispatcher looks at the shared state at once instead of at its next poll (an offer
    made by another process is known before its agent presses Accept)."""

    async def publish() -> None:
        await bus.publish("handoff", 0, {})

    async def look(_key: int, _frame: dict[str, Any]) -> None:
        handoff.resync_soon()

    handoff.engine.changed = publish
    bus.subscribe("handoff", look)


@dataclass
class Services:
    settings: Settings
    db: Database
    clock: Clock
    faq: FaqService
    ports: PortRouter
    handoff: HandoffService
    flood: FloodPolicy
    bus: Bus

    @classmethod
    def create(cls, settings: Settings, clock: Clock | None = None) -> Services:
        db = Database(
            settings.database_url,
            PoolSettings(
                settings.db_pool_size, settings.db_pool_overflow, settings.db_pool_recycle_s
            ),
        )
        clock = clock or SystemClock()
        thresholds = thresholds_from(
            settings.faq_answer_min, settings.faq_answer_margin, settings.faq_suggest_min
        )
        ports = PortRouter()
        handoff = HandoffService(db, clock, ports, handoff_config(settings))
        embedder = load_embedder(settings.faq_semantic, threads=settings.faq_semantic_threads)
        fused = with_overrides(
            FUSED_THRESHOLDS,
            settings.faq_answer_min,
            settings.faq_answer_margin,
            settings.faq_suggest_min,
        )
        faq = FaqService(db, thresholds, embedder=embedder, fused_thresholds=fused, now=clock.now)
        log.info(
            "FAQ matching: %s",
            f"fused (lexical + {embedder.model})" if embedder else "lexical only",
        )
        flood = FloodPolicy(flood_limits(settings), lambda: clock.now().timestamp())
        bus: Bus = (
            PgBus(settings.bus_url or settings.database_url)
            if db.backend == "postgresql" and settings.bus == "auto"
            else LocalBus()
        )
        if bus.shared:
            share_handoff_changes(handoff, bus)
        return cls(settings, db, clock, faq, ports, handoff, flood, bus)

    async def start(self, run_timers: bool = True) -> None:
        """Migrate the schema, load the sample FAQ on first run, build the match index,
        restore the queue and pending offers."""
        await self.db.upgrade()
        if self.settings.load_sample_faq:
            async with self.db.transaction() as session:
                await one_at_a_time(session)
                await load_sample_if_empty(session, self.clock.now())
        await self.faq.reload()
        if isinstance(self.bus, PgBus):
            await self.bus.start()
        await self.handoff.start(run_timers=run_timers)

    async def close(self) -> None:
        await self.faq.close()
        await self.handoff.stop()
        if isinstance(self.bus, PgBus):
            await self.bus.close()
        await self.db.dispose()
