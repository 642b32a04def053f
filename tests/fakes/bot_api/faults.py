"""Errors the real Bot API gives that Sanad must survive, on demand: 403 "bot was blocked by the
user" for a chat, 429 flood control with ``retry_after`` (what PTB's ``AIORateLimiter`` absorbs)
and any error for the next calls to one method."""

from __future__ import annotations

from tests.fakes.bot_api.model import JSON, ApiError, ChatRef, chat_id_of, safe_int
from tests.fakes.bot_api.state import FakeState, Injection


class FaultsApi(FakeState):
    def block(self, chat: ChatRef) -> None:
        """Sends/edits to ``chat`` fail with 403 "Forbidden: bot was blocked by the user"."""
        self._blocked.add(chat_id_of(chat))

    def unblock(self, chat: ChatRef) -> None:
        self._blocked.discard(chat_id_of(chat))

    def flood(self, n: int = 1, retry_after: int = 1) -> None:
        """The next ``n`` send*/edit*/copyMessage calls fail with 429 (``retry_after`` seconds)."""
        self._flood = Injection(
            code=429,
            description=f"Too Many Requests: retry after {retry_after}",
            parameters={"retry_after": retry_after},
            remaining=n,
        )

    def fail_next(
        self,
        method: str,
        code: int = 400,
        description: str = "Bad Request: injected failure",
        *,
        times: int = 1,
    ) -> None:
        """The next ``times`` calls to ``method`` fail with ``code``/``description``."""
        self._injections.setdefault(method.lower(), []).append(
            Injection(code, description, None, times)
        )

    def _check_faults(self, method: str, params: JSON) -> None:
        """Raise the injected error, flood or block that applies to this call, if any."""
        queue = self._injections.get(method.lower())
        if queue:
            injection = queue[0]
            injection.remaining -= 1
            if injection.remaining <= 0:
                queue.pop(0)
            raise ApiError(injection.code, injection.description, injection.parameters)
        sending = method.startswith(("send", "edit")) or method == "copyMessage"
        if sending and self._flood is not None:
            flood = self._flood
            flood.remaining -= 1
            if flood.remaining <= 0:
                self._flood = None
            raise ApiError(flood.code, flood.description, flood.parameters)
        if sending and safe_int(params.get("chat_id")) in self._blocked:
            raise ApiError(403, "Forbidden: bot was blocked by the user")
