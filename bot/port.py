"""The Telegram side of the handoff port: what the engine decided (the typed notices of
:mod:`handoff.notices`), said in Telegram.

Customers get their queue position, the agent joining, the rating keyboard...; agents get
offers with Accept / Decline (buttons removed, with the reason, when the offer ends);
supervisors get SLA warnings, auto-away and low ratings. Every text comes from the catalogue
(``texts/``) in the reader's language. A recipient who blocked the bot is handled, never
raised: a customer's ticket is closed as abandoned, an agent is treated as offline.
"""

from __future__ import annotations

import logging
from typing import assert_never

from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, TelegramError

import conversation
import texts
from app.services import Services
from bot.relay import (
    deliver_to_customer,
    record_sent,
    relay_to_agent,
    say_to_agent,
    send_text,
)
from conversation import Keyboard, reads
from handoff import desk, views
from handoff.notices import (
    AgentMessage,
    AgentNotice,
    AgentSetAway,
    Assigned,
    ChatMessage,
    ChatsRequeued,
    CloseOrTransfer,
    CustomerLeft,
    CustomerNotice,
    LowRating,
    LowRatingComment,
    OfferEnded,
    OfferMade,
    SetAway,
    SlaBreached,
    SlaWarning,
    StatusChanged,
    SupervisorNotice,
)
from handoff.views import AgentView

log = logging.getLogger(__name__)

CHANNEL = "telegram"


def agent_language(agent: AgentView) -> str:
    return "ar" if agent.languages[:1] == ("ar",) else "en"


def duration_text(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def rating_keyboard(ticket_id: int, cycle: int) -> InlineKeyboardMarkup | None:
    return markup(conversation.rating_keyboard(ticket_id, cycle))


def markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    """The conversation's buttons as a Telegram inline keyboard."""
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(b.label, callback_data=b.data) for b in row] for row in keyboard]
    )


def offer_keyboard(offer_id: str, lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    texts.text("agent.accept", lang), callback_data=f"acc:{offer_id}"
                ),
                InlineKeyboardButton(
                    texts.text("agent.decline", lang), callback_data=f"dec:{offer_id}"
                ),
            ]
        ]
    )


class TelegramPort:
    def __init__(self, bot: Bot, services: Services) -> None:
        self.bot = bot
        self.services = services
        self._offer_texts: dict[str, str] = {}  # to rewrite an offer message when it ends

    # ------------------------------------------------------------------ customers

    async def notify_customer(self, notice: CustomerNotice) -> None:
        if isinstance(notice, AgentMessage):
            await self._agent_message_to_customer(notice)
            return
        said = conversation.notice_text(notice)
        if said is None:
            return
        text, keyboard = said
        chat_id = int(notice.to.external_id)
        sent = await self.say_to_customer(
            notice.to.ticket_id, chat_id, text, markup(keyboard), notice.kind, keyboard
        )
        if not sent:  # blocked the bot: never asked again (a follow-up) until they write
            await reads.customer_unreachable(self.services, notice.to.customer_id, "blocked")

    async def _agent_message_to_customer(self, notice: AgentMessage) -> None:
        found = await views.delivery(self.services.db, notice.message_id)
        if found is None:
            return
        await deliver_to_customer(self.bot, self.services, found.customer, found.line)

    async def say_to_customer(
        self,
        ticket_id: int,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        kind: str = "text",
        keyboard: Keyboard | None = None,
    ) -> bool:
        """Send a system text to a customer and keep it in the transcript (with the options
        its ``keyboard`` offered, so the transcript shows what the customer was asked)."""
        try:
            sent = await send_text(self.bot, chat_id, text, markup)
        except Forbidden:
            log.info("customer of ticket %s blocked the bot", ticket_id)
            await self.services.handoff.customer_unreachable(ticket_id)
            return False
        meta = conversation.offered(keyboard, {"notice": kind}) if keyboard else {"notice": kind}
        await record_sent(self.services, ticket_id, "system", sent, meta=meta)
        return True

    # ------------------------------------------------------------------ agents

    async def _agent(self, agent_id: int) -> AgentView | None:
        agent = await views.agent(self.services.db, agent_id)
        if agent is None or agent.telegram_id is None:
            return None
        return agent

    async def say_to_agent(
        self, agent: AgentView, text: str, markup: InlineKeyboardMarkup | None = None
    ) -> int | None:
        """Send to an agent's private chat; an agent who blocked the bot goes offline."""
        return await say_to_agent(self.bot, self.services, agent, text, markup)

    async def _offer(self, agent: AgentView, offer: OfferMade, lang: str) -> None:
        lines = "\n".join(f"› {m[:300]}" for m in offer.last_messages) or "›"
        timeout = max(0, round((offer.deadline - self.services.clock.now()).total_seconds()))
        text = texts.text(
            "agent.offer",
            lang,
            ticket=offer.ticket_id,
            priority=offer.priority,
            category=f", {offer.category}" if offer.category else "",
            name=offer.customer_name or "-",
            waiting=duration_text(offer.waiting_s),
            messages=lines,
            timeout=timeout,
        )
        message_id = await self.say_to_agent(agent, text, offer_keyboard(offer.offer_id, lang))
        if message_id is None:
            return
        self._offer_texts[offer.offer_id] = text
        assert agent.telegram_id is not None  # only agents on Telegram are told here
        await desk.remember_offer_message(
            self.services.db, offer.offer_id, agent.telegram_id, message_id
        )

    async def notify_agent(self, notice: AgentNotice) -> None:
        agent = await self._agent(notice.agent_id)
        if agent is None:
            return
        lang = agent_language(agent)
        match notice:
            case OfferMade():
                await self._offer(agent, notice, lang)
                return
            case OfferEnded():
                await self._close_offer_message(notice.offer_id, f"offer_{notice.reason}", lang)
                return
            case Assigned():
                await self._assigned(agent, notice, lang)
                return
            case ChatMessage():
                await self._chat_message(agent, notice, lang)
                return
            case StatusChanged():
                return  # the agent changed it; the answer to their command says so on Telegram
            case SetAway():
                text = texts.text("agent.set_away", lang, missed=notice.missed)
            case CloseOrTransfer() | ChatsRequeued():
                tickets = ", ".join(f"#{i}" for i in notice.ticket_ids)
                text = texts.text(f"agent.{notice.kind}", lang, tickets=tickets)
            case CustomerLeft():
                text = texts.text("agent.customer_left", lang, ticket=notice.ticket_id)
            case _:
                assert_never(notice)
        await self.say_to_agent(agent, text)

    async def _chat_message(self, agent: AgentView, notice: ChatMessage, lang: str) -> None:
        """A line of a chat this agent holds: the customer's, relayed; the agent's own from the
        console, echoed so the Telegram chat stays complete (their Telegram ones are there)."""
        if notice.sender == "agent" and notice.origin == "telegram":
            return
        found = await views.delivery(self.services.db, notice.message_id)
        if found is None:
            return
        message = found.line
        if notice.sender == "customer":
            await relay_to_agent(self.bot, self.services, found.customer, agent, message)
            return
        text = message.text or f"[{message.kind}]"
        await self.say_to_agent(
            agent, texts.text("agent.console_echo", lang, ticket=message.ticket_id, text=text)
        )

    async def _close_offer_message(
        self, offer_id: str, key: str, lang: str, *, ref: str | None = None
    ) -> None:
        """Remove the offer's buttons and say why (expired, taken, withdrawn, accepted);
        ``ref``: where it was shown, when the notice says (else it is looked up)."""
        ref = ref or await views.offer_message_ref(self.services.db, offer_id)
        if not ref:
            return
        chat_id, message_id = (int(p) for p in ref.split(":"))
        original = self._offer_texts.pop(offer_id, None)
        why = texts.text(f"agent.{key}", lang)
        try:
            if original is not None:
                # The new text says why; without reply_markup the buttons go.
                await self.bot.edit_message_text(
                    f"{original}\n\n{why}"[:4096], chat_id=chat_id, message_id=message_id
                )
            else:  # after a restart the text is not at hand: remove buttons, reply with why
                await self.bot.edit_message_reply_markup(chat_id, message_id, reply_markup=None)
                await self.bot.send_message(chat_id, why, reply_to_message_id=message_id)
        except (BadRequest, Forbidden) as exc:
            log.info("could not close offer message %s: %s", offer_id, exc)

    async def _assigned(self, agent: AgentView, notice: Assigned, lang: str) -> None:
        """The accepted offer's buttons go, and the agent sees the start of the chat."""
        ticket_id = notice.ticket_id
        await self._close_offer_message(
            notice.offer_id, "offer_accepted", lang, ref=notice.offer_message
        )
        lines = "\n".join(f"{s}: {text[:300]}" for s, text in notice.recent)
        await self.say_to_agent(
            agent,
            texts.text(
                "agent.assigned",
                lang,
                name=notice.customer_name or "-",
                ticket=ticket_id,
                messages=lines,
            ),
        )

    # ------------------------------------------------------------------ supervisors

    async def notify_supervisors(self, notice: SupervisorNotice) -> None:
        supervisors = await views.supervisors(self.services.db)
        for sup in (s for s in supervisors if s.telegram_id is not None):
            text = supervisor_text(notice, agent_language(sup))
            try:
                await send_text(self.bot, int(sup.telegram_id or 0), text)
            except TelegramError as exc:
                log.info("could not tell supervisor %s: %s", sup.id, exc)


def supervisor_text(notice: SupervisorNotice, lang: str) -> str:
    match notice:
        case SlaWarning() | SlaBreached():
            return texts.text(
                f"agent.{notice.kind}",
                lang,
                ticket=notice.ticket_id,
                priority=notice.priority,
                target=notice.target.replace("_", " "),
                due=notice.due_at.strftime("%H:%M UTC"),
            )
        case AgentSetAway():
            return texts.text(
                "agent.agent_set_away_sup", lang, name=notice.name, missed=notice.missed
            )
        case LowRating():
            return texts.text(
                "agent.low_rating",
                lang,
                ticket=notice.ticket_id,
                stars=notice.stars,
                agent=notice.agent_name or "-",
            )
        case LowRatingComment():
            return texts.text(
                "agent.low_rating_comment",
                lang,
                ticket=notice.ticket_id,
                stars=notice.stars,
                comment=notice.comment,
            )
        case _:
            assert_never(notice)
