"""The ACD: queue order, agent eligibility, routing strategies and the offer protocol.

This is Sanad's dispatcher, in memory and free of I/O: every method takes the current time (epoch
seconds from the injected clock) and returns the *effects* it decided (an offer made, an offer
ended, an agent set away...). :mod:`handoff.service` persists each decision with its event rows
and tells people through the port; the simulation benchmark (``bench/acd_sim.py``) drives this
same class on virtual time.

Semantics follow ``shared/acd/SEMANTICS.md`` (FreeSWITCH mod_callcenter, Asterisk app_queue,
Rocket.Chat):

* Queue order is a fixed rank ``rank_at = handoff_requested_at - head_start_s[priority]``; ties
  by ticket id. A chat whose offer failed keeps its rank.
* Dispatch walks the queued chats in rank order and gives each the best eligible agent by the
  strategy; a chat nobody can take does not block the chats behind it.
* An agent is eligible when available, not in wrap-up, holding no pending offer, with a free
  slot, matching the chat's category (skills) and language, and not among the agents who
  declined or missed this chat.
* An offer expires after ``offer_timeout_s``; a decline or an expiry re-queues the chat and
  excludes that agent for it; ``max_no_answer`` consecutive expiries set the agent away. When
  every agent who could take a chat has failed it, the exclusion lapses after
  ``exclusion_lapse_s`` (at once when only one such agent exists), so the chat is neither
  stranded nor re-offered in a tight loop. This is checked on each failure and again whenever an
  agent stops being able to take chats (away, offline, removed, skills changed).

Cost: queued chats are also kept in buckets by (category, language, target agent), so a dispatch
walks only the buckets a free agent serves; timers sit in heaps. Freeing one agent with 10,000
chats queued costs a few tens of microseconds (``python -m bench.acd_sim --measure-dispatch``).
"""

from __future__ import annotations

import bisect
import heapq
import itertools
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum


class Strategy(StrEnum):
    LONGEST_IDLE = "longest_idle"
    LEAST_BUSY = "least_busy"
    ROUND_ROBIN = "round_robin"
    RANDOM = "random"
    AGENT_PRIORITY = "agent_priority"


class AgentStatus(StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    AWAY = "away"
    WRAP_UP = "wrap_up"


PRIORITIES = ("low", "normal", "high", "urgent")
_ABLE = (AgentStatus.AVAILABLE, AgentStatus.WRAP_UP)  # agents counted as able to take chats


@dataclass(frozen=True)
class AcdConfig:
    offer_timeout_s: float = 30.0
    max_no_answer: int = 3
    strategy: Strategy = Strategy.LONGEST_IDLE
    wrap_up_s: float = 0.0
    exclusion_lapse_s: float = 60.0
    seed: int | None = None


@dataclass
class Agent:
    id: int
    capacity: int = 1
    skills: frozenset[str] = frozenset()
    languages: frozenset[str] = frozenset()
    routing_priority: int = 0
    status: AgentStatus = AgentStatus.OFFLINE
    active: int = 0
    pending: str | None = None  # the offer id the agent holds
    idle_since: float = 0.0
    wrap_up_until: float = 0.0
    no_answer_streak: int = 0
    chats_handled: int = 0
    absent: bool = False  # no console open anywhere (handoff/presence.py): never offered

    def serves(self, chat: Chat) -> bool:
        """Skill and language match (an agent with no skills/languages listed takes any)."""
        return self.serves_kind(chat.category, chat.language)

    def serves_kind(self, category: str, language: str) -> bool:
        if self.skills and category and category not in self.skills:
            return False
        return not (self.languages and language and language not in self.languages)


@dataclass
class Offer:
    id: str
    ticket_id: int
    agent_id: int
    made_at: float
    deadline: float


@dataclass
class Chat:
    ticket_id: int
    rank_at: float
    priority: str
    category: str
    language: str
    queued_since: float
    failed: set[int] = field(default_factory=set)
    lapse_at: float | None = None
    offer: Offer | None = None
    target_agent: int | None = None  # a transfer to one named agent

    @property
    def key(self) -> tuple[float, int]:
        return (self.rank_at, self.ticket_id)


# Effects: what the ACD decided, for the service to persist and announce.
@dataclass(frozen=True)
class Offered:
    offer: Offer
    priority: str


@dataclass(frozen=True)
class OfferEnded:
    offer: Offer
    reason: str  # accepted | declined | expired | withdrawn


@dataclass(frozen=True)
class AgentSetAway:
    agent_id: int
    missed: int


@dataclass(frozen=True)
class WrapUpEnded:
    agent_id: int


@dataclass(frozen=True)
class ExclusionLapsed:
    ticket_id: int
    agents: tuple[int, ...]


@dataclass(frozen=True)
class TargetDropped:
    """A chat transferred to one named agent who cannot take it now (they declined or missed
    the offer, or stopped being free): it goes to any eligible agent instead."""

    ticket_id: int
    agent_id: int


Effect = Offered | OfferEnded | AgentSetAway | WrapUpEnded | ExclusionLapsed | TargetDropped


class AcceptError(Exception):
    """An accept that cannot win: the offer was taken, expired, withdrawn or is not yours."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Acd:
    """The queue, the agent pool and the pending offers of one Sanad process."""

    def __init__(self, config: AcdConfig | None = None) -> None:
        self.config = config or AcdConfig()
        self.agents: dict[int, Agent] = {}
        self.chats: dict[int, Chat] = {}  # queued or offered
        self.offers: dict[str, Offer] = {}
        self._queue: list[tuple[float, int]] = []  # queued (not offered) chats, by rank
        # The same chats split by what an agent must match, (category, language, target agent),
        # each bucket in rank order: dispatch only walks the buckets a free agent can serve.
        self._buckets: dict[tuple[str, str, int | None], list[tuple[float, int]]] = {}
        self._free: set[int] = set()  # agents who could take an offer now
        # Timers, lazily invalidated: an entry counts only while it matches the current state.
        self._offer_timers: list[tuple[float, int, str]] = []
        # (wrap_up_until, agent id, status when armed); valid while both are unchanged.
        self._wrap_timers: list[tuple[float, int, str]] = []
        self._wrap_armed: dict[int, tuple[float, str]] = {}  # what _wrap_timers holds per agent
        self._lapse_timers: list[tuple[float, int]] = []
        self._timer_seq = itertools.count()
        # Chats excluding some agents with no lapse planned: re-checked when an agent stops
        # being able to take chats, so the last able agent leaving cannot strand them.
        self._unlapsed: set[int] = set()
        self._last_rr: int = -1
        self._rng = random.Random(self.config.seed)
        self._ids = itertools.count(1)
        self._id_prefix = f"{self._rng.getrandbits(32):08x}"

    # ------------------------------------------------------------------ agents

    def _refresh_free(self, agent: Agent, now: float) -> None:
        # Also called by code that restores an agent's fields directly (handoff.service): arm
        # the timer of a wrap-up here, so it ends however the agent got into it.
        if agent.status == AgentStatus.WRAP_UP or (
            agent.status == AgentStatus.AVAILABLE and agent.wrap_up_until > now
        ):
            self._arm_wrap_up(agent)
        if (
            agent.status == AgentStatus.AVAILABLE
            and not agent.absent
            and agent.pending is None
            and agent.active < agent.capacity
            and now >= agent.wrap_up_until
        ):
            self._free.add(agent.id)
        else:
            self._free.discard(agent.id)

    def upsert_agent(
        self,
        agent_id: int,
        now: float,
        *,
        capacity: int = 1,
        skills: Iterable[str] = (),
        languages: Iterable[str] = (),
        routing_priority: int = 0,
    ) -> list[Effect]:
        agent = self.agents.get(agent_id)
        if agent is None:
            agent = self.agents[agent_id] = Agent(agent_id, idle_since=now)
        agent.capacity = max(1, capacity)
        agent.skills = frozenset(skills)
        agent.languages = frozenset(languages)
        agent.routing_priority = routing_priority
        self._refresh_free(agent, now)
        self._recheck_lapses(now)  # new skills may leave chats with only failed agents
        return self.dispatch(now)

    def remove_agent(self, agent_id: int, now: float) -> list[Effect]:
        effects = self.set_status(agent_id, AgentStatus.OFFLINE, now)
        self.agents.pop(agent_id, None)
        self._free.discard(agent_id)
        return effects

    def set_status(self, agent_id: int, status: AgentStatus, now: float) -> list[Effect]:
        """A status change never cuts a running chat; leaving ``available`` withdraws an offer."""
        agent = self.agents[agent_id]
        effects: list[Effect] = []
        if status == agent.status:
            return effects
        if status != AgentStatus.AVAILABLE and agent.pending is not None:
            effects += self._end_offer(self.offers[agent.pending], "withdrawn", now)
        if status == AgentStatus.AVAILABLE:
            agent.no_answer_streak = 0
            agent.idle_since = max(agent.idle_since, now)
        # Going available during a wrap-up: offers still wait for ``wrap_up_until`` (the timer
        # is armed in _refresh_free) or for end_wrap_up().
        agent.status = status
        self._refresh_free(agent, now)
        if status not in _ABLE:
            self._recheck_lapses(now)
        return effects + self.dispatch(now)

    def set_absent(self, agent_id: int, absent: bool, now: float) -> list[Effect]:
        """The agent closed their last console (``absent``) or opened one again: an absent
        agent keeps their status and chats but is offered nothing (a pending offer is
        withdrawn and goes to the next agent)."""
        agent = self.agents[agent_id]
        effects: list[Effect] = []
        if agent.absent == absent:
            return effects
        agent.absent = absent
        if absent and agent.pending is not None:
            effects += self._end_offer(self.offers[agent.pending], "withdrawn", now)
        self._refresh_free(agent, now)
        if absent:
            self._recheck_lapses(now)
        return effects + self.dispatch(now)

    def restore_agent(
        self,
        agent_id: int,
        now: float,
        *,
        status: AgentStatus,
        idle_since: float,
        no_answer_streak: int = 0,
        wrap_up_until: float = 0.0,
        active: int = 0,
        absent: bool = False,
    ) -> None:
        """Restart: an agent's routing state as stored (after :meth:`upsert_agent`). No
        dispatch: the caller restores the queue first, then advances."""
        agent = self.agents[agent_id]
        agent.status = status
        agent.absent = absent
        agent.idle_since = idle_since
        agent.no_answer_streak = no_answer_streak
        agent.wrap_up_until = wrap_up_until
        agent.active = active
        self._refresh_free(agent, now)

    def restore_agent_load(self, agent_id: int, active: int, chats_handled: int = 0) -> None:
        """Restart: the agent's assigned chats as stored."""
        agent = self.agents[agent_id]
        agent.active = active
        agent.chats_handled = chats_handled
        if agent.active >= agent.capacity:
            self._free.discard(agent_id)  # else a full agent would still get offers

    # ------------------------------------------------------------------- queue

    @staticmethod
    def _bucket_of(chat: Chat) -> tuple[str, str, int | None]:
        return (chat.category, chat.language, chat.target_agent)

    def _push(self, chat: Chat) -> None:
        key = chat.key
        bisect.insort(self._queue, key)
        bucket = self._buckets.setdefault(self._bucket_of(chat), [])
        bisect.insort(bucket, key)

    def _pull(self, chat: Chat) -> None:
        key = chat.key
        i = bisect.bisect_left(self._queue, key)
        if i < len(self._queue) and self._queue[i] == key:
            del self._queue[i]
            name = self._bucket_of(chat)
            bucket = self._buckets[name]
            del bucket[bisect.bisect_left(bucket, key)]
            if not bucket:
                del self._buckets[name]

    def enqueue(
        self,
        ticket_id: int,
        now: float,
        *,
        rank_at: float,
        priority: str = "normal",
        category: str = "",
        language: str = "",
        failed: Iterable[int] = (),
        target_agent: int | None = None,
        dispatch: bool = True,
    ) -> list[Effect]:
        """Put a chat in the queue (a new handoff, a re-queue, a transfer, a restart)."""
        if ticket_id in self.chats:
            raise ValueError(f"ticket {ticket_id} is already queued")
        chat = Chat(
            ticket_id,
            rank_at,
            priority,
            category,
            language,
            queued_since=now,
            failed=set(failed),
            target_agent=target_agent,
        )
        self.chats[ticket_id] = chat
        self._push(chat)
        if chat.failed:
            self._plan_lapse(chat, now)
        return self.dispatch(now) if dispatch else []

    def remove(self, ticket_id: int, now: float) -> list[Effect]:
        """The chat leaves the queue (cancelled, handed back to the bot, closed)."""
        chat = self.chats.get(ticket_id)
        if chat is None:
            return []
        effects: list[Effect] = []
        if chat.offer is not None:
            effects += self._end_offer(chat.offer, "withdrawn", now, requeue=False)
        else:
            self._pull(chat)
        del self.chats[ticket_id]
        return effects + self.dispatch(now)

    def forget(self, ticket_id: int, now: float) -> None:
        """Another process owns this chat (its claim in the database won): drop it, and the
        offer just made for it, with no effects, penalty or dispatch. A resync brings the
        shared state back."""
        chat = self.chats.pop(ticket_id, None)
        if chat is None:
            return
        if chat.offer is None:
            self._pull(chat)
            return
        self.offers.pop(chat.offer.id, None)
        agent = self.agents.get(chat.offer.agent_id)
        chat.offer = None
        if agent is not None:
            agent.pending = None
            self._refresh_free(agent, now)

    def reprioritise(
        self, ticket_id: int, rank_at: float, priority: str, now: float
    ) -> list[Effect]:
        chat = self.chats.get(ticket_id)
        if chat is None:
            return []
        queued = chat.offer is None
        if queued:
            self._pull(chat)
        chat.rank_at, chat.priority = rank_at, priority
        if queued:
            self._push(chat)
        return self.dispatch(now)

    def queued(self) -> Iterator[Chat]:
        """Queued chats (not those on offer), in rank order."""
        for _, ticket_id in self._queue:
            yield self.chats[ticket_id]

    def position(self, ticket_id: int) -> int | None:
        """1 + the number of waiting chats ranked ahead (offered ones included)."""
        chat = self.chats.get(ticket_id)
        if chat is None:
            return None
        key = chat.key
        ahead = bisect.bisect_left(self._queue, key)
        ahead += sum(1 for o in self.offers.values() if self.chats[o.ticket_id].key < key)
        return ahead + 1

    # ---------------------------------------------------------------- dispatch

    def _pick(self, candidates: list[Agent]) -> Agent:
        strategy = self.config.strategy
        if len(candidates) == 1:
            return candidates[0]
        if strategy == Strategy.LONGEST_IDLE:
            return min(candidates, key=lambda a: (a.idle_since, a.id))
        if strategy == Strategy.LEAST_BUSY:
            return min(candidates, key=lambda a: (a.active, a.idle_since, a.id))
        if strategy == Strategy.AGENT_PRIORITY:
            return min(candidates, key=lambda a: (a.routing_priority, a.idle_since, a.id))
        if strategy == Strategy.ROUND_ROBIN:
            after = [a for a in candidates if a.id > self._last_rr]
            return min(after or candidates, key=lambda a: a.id)
        return self._rng.choice(sorted(candidates, key=lambda a: a.id))

    @staticmethod
    def _serves_bucket(agent: Agent, bucket: tuple[str, str, int | None]) -> bool:
        """Eligibility minus the per-chat exclusion (``failed``): the same for a whole bucket.

        Together with ``agent.id not in chat.failed`` and membership of ``_free`` (available, no
        pending offer, a free slot, wrap-up over) this is the eligibility predicate."""
        category, language, target = bucket
        if target is not None and agent.id != target:
            return False
        if agent.skills and category and category not in agent.skills:
            return False
        return not (agent.languages and language and language not in agent.languages)

    def unable_reason(self, agent_id: int, category: str, language: str) -> str | None:
        """Why this agent cannot be offered a chat of this category and language now (None:
        they can): what a transfer to a named agent checks, so no chat waits for an agent
        who will never take it while others are free."""
        agent = self.agents.get(agent_id)
        if agent is None or agent.status == AgentStatus.OFFLINE or agent.absent:
            return "offline"
        if agent.status == AgentStatus.AWAY:
            return "away"
        if not agent.serves_kind(category, ""):
            return "skill"
        if not agent.serves_kind("", language):
            return "language"
        if agent.status == AgentStatus.WRAP_UP or agent.id not in self._free:
            return "busy"
        return None

    def dispatch(self, now: float) -> list[Effect]:
        """Offer queued chats to free agents, best-ranked chat first; then a chat still
        waiting for a named agent who cannot take it loses that target and is offered to
        any eligible agent (no chat waits while an eligible agent is free)."""
        effects = self._walk(now)
        dropped = self._drop_stale_targets(now)
        if dropped:
            effects += dropped + self._walk(now)
        return effects

    def _drop_stale_targets(self, now: float) -> list[Effect]:
        """A transfer names an agent who is free at that moment, and dispatch offers them the
        chat at once; a targeted chat still queued after a walk (its target got busy, left or
        lost the skill) goes back to the general queue, its rank kept."""
        effects: list[Effect] = []
        for name in [n for n in self._buckets if n[2] is not None]:
            for _, ticket_id in list(self._buckets.get(name, ())):
                chat = self.chats[ticket_id]
                target = chat.target_agent
                assert target is not None
                self._pull(chat)
                chat.target_agent = None
                self._push(chat)
                self._plan_lapse(chat, now)  # who may take it changed
                effects.append(TargetDropped(ticket_id, target))
        return effects

    def _walk(self, now: float) -> list[Effect]:
        """Offer queued chats to free agents, best-ranked chat first.

        The same walk as going down the whole queue in rank order and giving each chat the best
        eligible free agent, skipping chats nobody free can take; but it merges only the buckets
        some free agent serves, drops a bucket once no free agent serves it and stops when no
        agent is free, so its cost does not grow with the chats nobody free can take.
        """
        if not self._free or not self._queue:
            return []
        effects: list[Effect] = []
        free = [self.agents[i] for i in self._free]
        names = [name for name in self._buckets if any(self._serves_bucket(a, name) for a in free)]
        lists = [self._buckets[name] for name in names]
        # (chat key, bucket index, position of the chat in its bucket)
        heads = [(bucket[0], b, 0) for b, bucket in enumerate(lists)]
        heapq.heapify(heads)
        while heads:
            (_, ticket_id), b, i = heapq.heappop(heads)
            servers = [a for a in free if self._serves_bucket(a, names[b])]
            if not servers:
                continue  # nobody free left for this bucket: drop it
            chat = self.chats[ticket_id]
            candidates = [a for a in servers if a.id not in chat.failed]
            if candidates:
                agent = self._pick(candidates)
                effects.append(self._make_offer(chat, agent, now))  # takes it out of lists[b]
                free.remove(agent)
                if not free:
                    break
            else:
                i += 1
            bucket = lists[b]
            if i < len(bucket):
                heapq.heappush(heads, (bucket[i], b, i))
        return effects

    def _make_offer(self, chat: Chat, agent: Agent, now: float) -> Offered:
        offer = Offer(
            f"{self._id_prefix}{next(self._ids):x}",
            chat.ticket_id,
            agent.id,
            now,
            now + self.config.offer_timeout_s,
        )
        self._pull(chat)
        chat.offer = offer
        self.offers[offer.id] = offer
        self._arm_offer(offer)
        agent.pending = offer.id
        agent.idle_since = now  # a missed offer sends the agent to the back
        self._last_rr = agent.id
        self._free.discard(agent.id)
        return Offered(offer, chat.priority)

    def restore_offer(self, offer: Offer) -> None:
        """Restart: a pending offer as stored, re-armed with its stored deadline."""
        chat = self.chats[offer.ticket_id]
        agent = self.agents[offer.agent_id]
        self._pull(chat)
        chat.offer = offer
        self.offers[offer.id] = offer
        self._arm_offer(offer)
        agent.pending = offer.id
        self._free.discard(agent.id)

    # ------------------------------------------------------------ offer outcomes

    def _end_offer(
        self, offer: Offer, reason: str, now: float, *, requeue: bool = True
    ) -> list[Effect]:
        self.offers.pop(offer.id, None)
        chat = self.chats[offer.ticket_id]
        chat.offer = None
        agent = self.agents.get(offer.agent_id)
        effects: list[Effect] = [OfferEnded(offer, reason)]
        if agent is not None:
            agent.pending = None
        if reason in ("declined", "expired"):
            chat.failed.add(offer.agent_id)
        if chat.target_agent is not None and reason != "accepted":
            # The named agent did not take it: any eligible agent may now.
            effects.append(TargetDropped(chat.ticket_id, chat.target_agent))
            chat.target_agent = None
        set_away = False
        if reason == "expired" and agent is not None and agent.active == 0:
            # A miss counts toward auto-away only from an agent who could have answered: one
            # busy in another chat is not absent (SEMANTICS 2.5: auto-pause is for absence).
            agent.no_answer_streak += 1
            if agent.no_answer_streak >= self.config.max_no_answer:
                agent.status = AgentStatus.AWAY
                effects.append(AgentSetAway(agent.id, agent.no_answer_streak))
                set_away = True
        if agent is not None:
            self._refresh_free(agent, now)
        if requeue:
            self._push(chat)
            self._plan_lapse(chat, now)
        if set_away:
            self._recheck_lapses(now)
        return effects

    def _plan_lapse(self, chat: Chat, now: float) -> None:
        """When every agent who could take the chat has failed it, plan the exclusion's end."""
        if not chat.failed or chat.lapse_at is not None:
            return
        failed = chat.failed
        able = 0
        for a in self.agents.values():
            if (
                a.status in _ABLE
                and (chat.target_agent is None or a.id == chat.target_agent)
                and a.serves(chat)
            ):
                if a.id not in failed:
                    self._unlapsed.add(chat.ticket_id)  # someone can still take it
                    return
                able += 1
        chat.lapse_at = now if able <= 1 else now + self.config.exclusion_lapse_s
        heapq.heappush(self._lapse_timers, (chat.lapse_at, chat.ticket_id))
        self._unlapsed.discard(chat.ticket_id)

    def _recheck_lapses(self, now: float) -> None:
        """An agent stopped being able to take chats (away, offline, removed, new skills): the
        chats it was the last hope for get their lapse planned, instead of waiting for ever."""
        for ticket_id in list(self._unlapsed):
            chat = self.chats.get(ticket_id)
            if chat is None or not chat.failed or chat.lapse_at is not None:
                self._unlapsed.discard(ticket_id)
            else:
                self._plan_lapse(chat, now)

    def accept(self, offer_id: str, agent_id: int, now: float) -> list[Effect]:
        """The agent takes the chat: it leaves the queue. Raises :class:`AcceptError`."""
        offer = self.offers.get(offer_id)
        if offer is None:
            raise AcceptError("gone")
        if offer.agent_id != agent_id:
            raise AcceptError("not_yours")
        if now >= offer.deadline:
            raise AcceptError("expired")  # the timer fires through advance(); nothing changes here
        self.offers.pop(offer_id)
        chat = self.chats.pop(offer.ticket_id)
        chat.offer = None
        agent = self.agents[agent_id]
        agent.pending = None
        agent.active += 1
        agent.no_answer_streak = 0
        self._refresh_free(agent, now)
        return [OfferEnded(offer, "accepted"), *self.dispatch(now)]

    def take(self, ticket_id: int, agent_id: int, now: float) -> list[Effect]:
        """Somebody takes the chat outside the offers (a supervisor taking it over): it leaves
        the queue, its offer withdrawn, and counts on that agent's load."""
        effects: list[Effect] = []
        chat = self.chats.get(ticket_id)
        if chat is not None:
            if chat.offer is not None:
                effects += self._end_offer(chat.offer, "withdrawn", now, requeue=False)
            else:
                self._pull(chat)
            del self.chats[ticket_id]
        agent = self.agents[agent_id]
        agent.active += 1
        self._refresh_free(agent, now)
        return effects + self.dispatch(now)

    def decline(self, offer_id: str, agent_id: int, now: float) -> list[Effect]:
        offer = self.offers.get(offer_id)
        if offer is None or offer.agent_id != agent_id:
            raise AcceptError("gone" if offer is None else "not_yours")
        return self._end_offer(offer, "declined", now) + self.dispatch(now)

    def release(self, agent_id: int, now: float) -> list[Effect]:
        """One of the agent's chats ended (closed, transferred away): a slot frees up."""
        agent = self.agents.get(agent_id)
        if agent is None:
            return []
        agent.active = max(0, agent.active - 1)
        agent.chats_handled += 1
        agent.idle_since = max(agent.idle_since, now)
        if self.config.wrap_up_s > 0 and agent.status == AgentStatus.AVAILABLE:
            agent.wrap_up_until = now + self.config.wrap_up_s
            agent.status = AgentStatus.WRAP_UP
        self._refresh_free(agent, now)
        return self.dispatch(now)

    def end_wrap_up(self, agent_id: int, now: float) -> list[Effect]:
        """The agent is ready before the wrap-up time is over (also after going ``available``
        during the wrap-up)."""
        agent = self.agents[agent_id]
        if not (
            agent.status == AgentStatus.WRAP_UP
            or (agent.status == AgentStatus.AVAILABLE and agent.wrap_up_until > now)
        ):
            return []
        agent.wrap_up_until = now
        agent.status = AgentStatus.AVAILABLE
        self._refresh_free(agent, now)
        return [WrapUpEnded(agent_id), *self.dispatch(now)]

    # ------------------------------------------------------------------ timers

    # Each timer heap is cleaned lazily: an entry whose object changed or left is dropped when
    # it reaches the top.

    def _arm_offer(self, offer: Offer) -> None:
        heapq.heappush(self._offer_timers, (offer.deadline, next(self._timer_seq), offer.id))

    def _arm_wrap_up(self, agent: Agent) -> None:
        armed = (agent.wrap_up_until, str(agent.status))
        if self._wrap_armed.get(agent.id) != armed:
            self._wrap_armed[agent.id] = armed
            heapq.heappush(self._wrap_timers, (armed[0], agent.id, armed[1]))

    def _pop_wrap_up(self) -> None:
        until, agent_id, status = heapq.heappop(self._wrap_timers)
        if self._wrap_armed.get(agent_id) == (until, status):
            del self._wrap_armed[agent_id]

    def _offer_due(self) -> Offer | None:
        timers = self._offer_timers
        while timers:
            deadline, _, offer_id = timers[0]
            offer = self.offers.get(offer_id)
            if offer is not None and offer.deadline == deadline:
                return offer
            heapq.heappop(timers)
        return None

    def _wrap_up_due(self) -> Agent | None:
        """The next wrap-up to end: an agent in ``wrap_up``, or one set ``available`` directly
        while ``wrap_up_until`` is still ahead (it becomes offerable then)."""
        timers = self._wrap_timers
        while timers:
            until, agent_id, status = timers[0]
            agent = self.agents.get(agent_id)
            if agent is not None and agent.status == status and agent.wrap_up_until == until:
                return agent
            self._pop_wrap_up()
        return None

    def _lapse_due(self) -> Chat | None:
        timers = self._lapse_timers
        while timers:
            lapse_at, ticket_id = timers[0]
            chat = self.chats.get(ticket_id)
            if chat is not None and chat.lapse_at == lapse_at:
                return chat
            heapq.heappop(timers)
        return None

    def next_deadline(self) -> float | None:
        offer, agent, chat = self._offer_due(), self._wrap_up_due(), self._lapse_due()
        times = []
        if offer is not None:
            times.append(offer.deadline)
        if agent is not None:
            times.append(agent.wrap_up_until)
        if chat is not None and chat.lapse_at is not None:
            times.append(chat.lapse_at)
        return min(times) if times else None

    def advance(self, now: float) -> list[Effect]:
        """Fire what is due at ``now``: expired offers (by deadline, then in the order they were
        made), ended wrap-ups, lapsed exclusions (each by time, then by id); then dispatch."""
        effects: list[Effect] = []
        while (offer := self._offer_due()) is not None and offer.deadline <= now:
            heapq.heappop(self._offer_timers)
            effects += self._end_offer(offer, "expired", now)
        while (agent := self._wrap_up_due()) is not None and agent.wrap_up_until <= now:
            self._pop_wrap_up()
            if agent.status == AgentStatus.WRAP_UP:
                agent.status = AgentStatus.AVAILABLE
                effects.append(WrapUpEnded(agent.id))
            self._refresh_free(agent, now)
        while (chat := self._lapse_due()) is not None and chat.lapse_at is not None:
            if chat.lapse_at > now:
                break
            heapq.heappop(self._lapse_timers)
            effects.append(ExclusionLapsed(chat.ticket_id, tuple(sorted(chat.failed))))
            chat.failed.clear()
            chat.lapse_at = None
        return effects + self.dispatch(now)


def rank_at(handoff_requested_at: float, priority: str, head_start_s: dict[str, float]) -> float:
    """The fixed queue rank: earlier is served first; ``inf`` head start = strict priority."""
    head = head_start_s.get(priority, 0.0)
    if math.isinf(head):
        # Strict priority: a whole band per level, far beyond any real wait, FIFO inside it.
        return handoff_requested_at - 1e12 * (PRIORITIES.index(priority) + 1)
    return handoff_requested_at - head
