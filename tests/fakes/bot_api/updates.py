"""How updates reach the bot: ``getUpdates`` long polling and webhooks.

Polling as on Telegram: an update is re-delivered until confirmed by a later ``offset``,
``allowed_updates`` is sticky (omitted = keep the last value), a newer getUpdates ends a pending
one with 409, and getUpdates fails with 409 while a webhook is set.  Webhooks: setWebhook (https,
or http on loopback for tests; ``secret_token``), deleteWebhook, getWebhookInfo; tests push the
queue to the webhook with ``deliver_to_webhook()`` or post any update with ``post_update_to()``."""

from __future__ import annotations

import asyncio
import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
from aiohttp import web

from tests.fakes.bot_api.model import JSON, ApiError, PollRecord, UploadedFile, bad_request
from tests.fakes.bot_api.state import FakeState

# Update types Telegram delivers when allowed_updates is unset or [].
_DEFAULT_EXCLUDED_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})


class UpdatesApi(FakeState):
    @property
    def pending_update_count(self) -> int:
        """Updates queued and not yet confirmed through a getUpdates ``offset``."""
        return len(self._updates)

    @property
    def delivered_update_ids(self) -> list[int]:
        """Every update id returned by getUpdates, in order (duplicates = re-deliveries)."""
        return [uid for poll in self.polls for uid in poll.update_ids]

    # ---------------------------------------------------------------- polling

    async def _handle_get_updates(self, params: JSON) -> web.Response:
        try:
            result = await self._get_updates(params)
        except ApiError as exc:
            self.polls.append(PollRecord(params, [], exc.code))
            return web.json_response(exc.body(), status=exc.code)
        self.polls.append(PollRecord(params, [u["update_id"] for u in result], 200))
        return web.json_response({"ok": True, "result": result})

    async def _get_updates(self, params: JSON) -> list[JSON]:
        if self.webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify_updates()  # an older pending getUpdates is now superseded

        offset = self._int(params, "offset", default=0)
        limit = min(max(self._int(params, "limit", default=100), 1), 100)
        try:
            timeout = max(float(params.get("timeout") or 0), 0.0)
        except (TypeError, ValueError):
            raise bad_request("invalid timeout specified") from None
        if "allowed_updates" in params:
            allowed = params["allowed_updates"]
            self._allowed_updates = frozenset(allowed) if allowed else None
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]

        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; make sure that only "
                    "one bot instance is running",
                )
            batch: list[JSON] = []
            for update in list(self._updates):
                if not self._wanted(update, self._allowed_updates):
                    self._updates.remove(update)
                    self.dropped_updates.append(update)
                    continue
                batch.append(update)
                if len(batch) >= limit:
                    break
            remaining = deadline - loop.time()
            if batch or self._closing or remaining <= 0:
                return copy.deepcopy(batch)
            assert self._updates_signal is not None
            await self._updates_signal.wait(remaining)

    @staticmethod
    def _wanted(update: JSON, allowed: frozenset[str] | None) -> bool:
        kinds = set(update) - {"update_id"}
        if allowed is None:
            return not kinds <= _DEFAULT_EXCLUDED_UPDATES
        return bool(kinds & allowed)

    # ---------------------------------------------------------------- webhooks

    def _api_setWebhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        url = params.get("url")
        if not isinstance(url, str):
            raise bad_request("url is empty") if url is None else bad_request("invalid url")
        loopback = re.match(r"^http://(127\.0\.0\.1|localhost|\[::1\])[:/]", url)
        if url and not url.startswith("https://") and not loopback:  # http only for local tests
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if self._truthy(params.get("drop_pending_updates")):
            self._updates.clear()
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise bad_request("secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        self.webhook = (
            {"url": url, "secret_token": secret, "allowed_updates": allowed} if url else {}
        )
        return True

    def _api_deleteWebhook(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        if self._truthy(params.get("drop_pending_updates")):
            self._updates.clear()
        self.webhook = {}
        return True

    def _api_getWebhookInfo(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        info: JSON = {
            "url": self.webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook.get("url"):
            info["max_connections"] = 40
            if self.webhook.get("allowed_updates"):
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def post_update_to(
        self, url: str, update: Mapping[str, Any], secret_token: str | None = None
    ) -> int:
        """POST an update to a webhook URL like Telegram does; returns the HTTP status."""
        headers = {"Content-Type": "application/json"}
        if secret_token is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret_token
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
            session.post(url, data=json.dumps(dict(update)), headers=headers) as response,
        ):
            await response.read()
            return response.status

    async def deliver_to_webhook(self) -> list[int]:
        """POST queued updates to the ``setWebhook`` URL (with its secret) in order.

        Updates answered with 2xx are confirmed; stops at the first failure.  Returns statuses.
        """
        url = self.webhook.get("url")
        if not url:
            raise AssertionError("no webhook set (setWebhook was not called)")
        allowed = self.webhook.get("allowed_updates")
        statuses: list[int] = []
        while self._updates:
            update = self._updates[0]
            if not self._wanted(update, frozenset(allowed) if allowed else None):
                self.dropped_updates.append(self._updates.pop(0))
                continue
            status = await self.post_update_to(url, update, self.webhook.get("secret_token"))
            statuses.append(status)
            if not 200 <= status < 300:
                break
            self._updates.pop(0)
        return statuses
