"""The bot itself: getMe (what ``Bot.initialize()`` calls), logOut/close, and the command menu
Sanad sets at start-up (setMyCommands, per scope and language; getMyCommands, deleteMyCommands)."""

from __future__ import annotations

import contextlib
import copy
import json
import re
from collections.abc import Mapping
from typing import Any

from tests.fakes.bot_api.model import JSON, UploadedFile, bad_request
from tests.fakes.bot_api.state import FakeState

_COMMAND_NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class CommandsApi(FakeState):
    def commands(
        self, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSON]:
        """Commands set with setMyCommands for ``scope`` (default scope) and language."""
        return copy.deepcopy(self._commands.get(self._commands_key(scope, language_code), []))

    def _api_getMe(self, params: JSON, files: dict[str, UploadedFile]) -> JSON:
        return {
            **self.bot_user.to_dict(),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _api_logOut(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        return True

    def _api_close(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        return True

    def _api_setMyCommands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("too many commands specified")
        clean: list[JSON] = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand")
            name = str(command.get("command", "")).removeprefix("/")
            description = str(command.get("description", ""))
            if not _COMMAND_NAME_RE.match(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            clean.append({"command": name, "description": description})
        self._commands[self._params_key(params)] = clean
        return True

    def _api_deleteMyCommands(self, params: JSON, files: dict[str, UploadedFile]) -> bool:
        self._commands.pop(self._params_key(params), None)
        return True

    def _api_getMyCommands(self, params: JSON, files: dict[str, UploadedFile]) -> list[JSON]:
        return copy.deepcopy(self._commands.get(self._params_key(params), []))

    def _params_key(self, params: JSON) -> tuple[str, str]:
        return self._commands_key(params.get("scope"), params.get("language_code") or "")

    @staticmethod
    def _commands_key(scope: Any, language_code: str) -> tuple[str, str]:
        """Commands are kept per (scope, language); no scope is the default scope."""
        if isinstance(scope, str):
            with contextlib.suppress(ValueError):
                scope = json.loads(scope)
        if not scope or scope == {"type": "default"}:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True), language_code
