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
from handoff.presence import Presence, PresenceConfig
from handoff.service import HandoffConfig, HandoffService
from storage.db import Database, PoolSettings, one_at_a_time, refused_value
from storage.pubsub import PgBus
from webhooks.service import RetryPolicy, WebhookService

log = logging.getLogger(__name__)

__all__ = ["Services", "flood_limits", "handoff_config", "refused_value", "webhook_policy"]


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
        presence_grace_s=settings.presence_grace_s,
        idle_away_s=settings.idle_away_s,
        presence_expire_s=settings.presence_heartbeat_s * 3,
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
        login_failures_per_user=settings.login_failures_per_user,
    )


def webhook_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(
        first_s=settings.webhooks_retry_first_s,
        cap_s=settings.webhooks_retry_cap_s,
        max_attempts=settings.webhooks_max_attempts,
        timeout_s=settings.webhooks_timeout_s,
        keep_days=settings.webhooks_keep_days,
        poll_s=settings.webhooks_poll_s,
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
    presence: Presence
    # Outgoing webhooks; its HTTP client (``webhooks.sender``) is set by the web adapter
    # (sanad/runner.py), and the worker runs only once one is set.
    webhooks: WebhookService

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
        faq = FaqService(
            db,
            thresholds,
            embedder=embedder,
            fused_thresholds=fused,
            now=clock.now,
            query_tokens=settings.faq_query_tokens,
        )
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
        presence = Presence(
            db,
            clock,
            handoff,
            PresenceConfig(heartbeat_s=settings.presence_heartbeat_s, track_visitors=bus.shared),
        )
        # Installs the outbox listener: from here on, this process's transactions that write
        # a relevant event or message also write its webhook outbox row.
        webhooks = WebhookService(db, clock, policy=webhook_policy(settings))
        return cls(settings, db, clock, faq, ports, handoff, flood, bus, presence, webhooks)

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
        if run_timers:
            self.presence.start()
        await self.webhooks.start(run_worker=run_timers)

    async def close(self) -> None:
        await self.webhooks.stop()
        await self.faq.close()
        await self.presence.stop()
        await self.handoff.stop()
        if isinstance(self.bus, PgBus):
            await self.bus.close()
        await self.db.dispose()
