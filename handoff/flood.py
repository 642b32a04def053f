"""Flood control: how fast a customer may write, how many new chats and handoff requests one
network may open, how many wrong logins one address may try. One policy for every channel.

- **Messages** (texts, presses, files) go through a token bucket per customer (a web visitor,
  a Telegram user) and, on the web, per IP address: a burst of ``message_burst`` at once,
  then ``message_per_min`` a minute. A refused message is not stored, not answered and not
  logged as an FAQ query; the customer is told kindly to slow down (once per streak).
- **New web visitors** and **handoff requests** are counted per IP address (per customer on
  Telegram) in a fixed window of ``window_s``; past the cap the visitor is asked to come back
  later, and the human queue stays for real customers.
- **Wrong logins** are counted per IP address and, for passwords, per username (whichever
  address tries it); past either cap, logins from there or for that username wait for the
  window to end (right passwords and tokens too: guessing stops, even spread over addresses).

The buckets live in memory, per process, with a bounded number of keys (the least recently
seen go first); several processes each apply the limits. Time comes from the injected clock
(a function returning seconds), so tests drive it on virtual time.

Why not ``limits`` or ``aiolimiter``: ``limits``' in-memory storage reads ``time.time()``
itself and has no token bucket; ``aiolimiter`` makes callers *wait* on the event loop's clock
instead of refusing. Both would keep the policy from running on the injected clock, and the
two structures below are some sixty lines.
"""

from __future__ import annotations

import contextvars
import math
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

Now = Callable[[], float]
MAX_KEYS = 100_000

# The network a customer's input came from (the web chat sets the client's IP address for
# the duration of a socket or a request); None on channels without one (Telegram).
client_address: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sanad_client_address", default=None
)


class TokenBuckets:
    """One token bucket per key: ``burst`` tokens, refilled at ``rate`` a second."""

    def __init__(self, rate: float, burst: float, now: Now, max_keys: int = MAX_KEYS) -> None:
        self.rate = rate
        self.burst = burst
        self.now = now
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # tokens, at

    def take(self, key: str) -> float:
        """Take a token: 0.0 when there was one, else the seconds until there will be."""
        if self.burst <= 0:
            return 0.0  # turned off
        at = self.now()
        tokens, then = self._buckets.pop(key, (self.burst, at))
        tokens = min(self.burst, tokens + max(0.0, at - then) * self.rate)
        if tokens >= 1.0:
            self._keep(key, (tokens - 1.0, at))
            return 0.0
        self._keep(key, (tokens, at))
        return math.inf if self.rate <= 0 else (1.0 - tokens) / self.rate

    def _keep(self, key: str, value: tuple[float, float]) -> None:
        self._buckets[key] = value
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)


class WindowCounter:
    """At most ``limit`` events per key in each window of ``window_s`` seconds."""

    def __init__(self, limit: int, window_s: float, now: Now, max_keys: int = MAX_KEYS) -> None:
        self.limit = limit
        self.window_s = window_s
        self.now = now
        self.max_keys = max_keys
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()  # count, window start

    def _current(self, key: str) -> tuple[int, float]:
        at = self.now()
        count, start = self._counts.get(key, (0, at))
        if at - start >= self.window_s:
            return 0, at
        return count, start

    def wait(self, key: str) -> float:
        """0.0 when one more event is allowed, else the seconds until the window ends."""
        if self.limit <= 0:
            return 0.0  # turned off
        count, start = self._current(key)
        if count < self.limit:
            return 0.0
        return max(0.0, start + self.window_s - self.now())

    def add(self, key: str) -> None:
        if self.limit <= 0:
            return
        count, start = self._current(key)
        self._counts.pop(key, None)
        self._counts[key] = (count + 1, start)
        while len(self._counts) > self.max_keys:
            self._counts.popitem(last=False)

    def hit(self, key: str) -> float:
        """Count an event if allowed: 0.0, else the seconds to wait (nothing counted)."""
        wait = self.wait(key)
        if wait == 0.0:
            self.add(key)
        return wait


@dataclass(frozen=True)
class FloodLimits:
    message_burst: int = 10
    message_per_min: float = 30.0
    ip_factor: int = 10  # one address may carry many customers (an office, a phone carrier)
    new_visitors_per_ip: int = 30
    handoffs_per_ip: int = 5
    window_s: float = 600.0
    login_failures_per_ip: int = 10
    login_failures_per_user: int = 10
    login_window_s: float = 900.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after_s: float = 0.0
    tell: bool = False  # the first refusal of a streak: say "slow down" (once)


class FloodPolicy:
    """The limits, applied per key (``customer:12``, ``ip:203.0.113.9``)."""

    def __init__(self, limits: FloodLimits, now: Now) -> None:
        self.limits = limits
        per_s = limits.message_per_min / 60.0
        self.messages = TokenBuckets(per_s, limits.message_burst, now)
        self.ip_messages = TokenBuckets(
            per_s * limits.ip_factor, limits.message_burst * limits.ip_factor, now
        )
        self.new_visitors = WindowCounter(limits.new_visitors_per_ip, limits.window_s, now)
        self.handoffs = WindowCounter(limits.handoffs_per_ip, limits.window_s, now)
        self.login_failures = WindowCounter(
            limits.login_failures_per_ip, limits.login_window_s, now
        )
        self.user_login_failures = WindowCounter(
            limits.login_failures_per_user, limits.login_window_s, now
        )
        self._told: OrderedDict[str, None] = OrderedDict()

    def message(self, customer_key: str, address: str | None = None) -> Verdict:
        """May this customer's message (text, press, file) be handled now?"""
        wait = self.messages.take(customer_key)
        if wait == 0.0 and address is not None:
            wait = self.ip_messages.take(f"ip:{address}")
        if wait == 0.0:
            self._told.pop(customer_key, None)
            return Verdict(True)
        tell = customer_key not in self._told
        self._told[customer_key] = None
        while len(self._told) > MAX_KEYS:
            self._told.popitem(last=False)
        return Verdict(False, wait, tell)

    def new_visitor(self, address: str | None) -> Verdict:
        """May this address start one more web chat now?"""
        if address is None:
            return Verdict(True)
        wait = self.new_visitors.hit(f"ip:{address}")
        return Verdict(wait == 0.0, wait, True)

    def handoff(self, customer_key: str, address: str | None = None) -> Verdict:
        """May this customer (from this address) join the human queue now?"""
        wait = self.handoffs.hit(f"ip:{address}" if address is not None else customer_key)
        return Verdict(wait == 0.0, wait, True)

    def login_wait(self, address: str, username: str | None = None) -> float:
        """Seconds before this address (and, given, this username, from any address) may try
        to log in again (0.0: now)."""
        wait = self.login_failures.wait(f"ip:{address}")
        if username:
            wait = max(wait, self.user_login_failures.wait(f"user:{username.casefold()}"))
        return wait

    def login_failed(self, address: str, username: str | None = None) -> None:
        self.login_failures.add(f"ip:{address}")
        if username:
            self.user_login_failures.add(f"user:{username.casefold()}")
