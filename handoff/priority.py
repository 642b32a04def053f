"""Priority rules: which level a chat gets when it asks for a person.

Levels are ``low < normal < high < urgent``. Rules, each configurable in the TOML ``[priority]``
table:

* ``vip``: the level a VIP customer gets at least (default ``high``);
* ``repeat_contact_days`` (7): another ticket from the same customer within that many days
  raises the level by one step (a repeat contact means the first answer did not stick);
* ``categories``: a minimum level per category (``{ payment = "high" }``);
* ``keywords``: a minimum level when a word or phrase appears in what the customer wrote
  (``{ fraud = "urgent", "احتيال" = "urgent" }``), matched on normalised text.

The highest level any rule gives wins; every rule that applied is returned as a reason, so the
event log explains each priority.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from base.normalize import normalize

PRIORITIES = ("low", "normal", "high", "urgent")
DEFAULT_HEAD_START_S: dict[str, float] = {
    "low": -600.0,
    "normal": 0.0,
    "high": 600.0,
    "urgent": math.inf,
}


class PriorityError(ValueError):
    """A bad ``[priority]`` configuration; the message names the key."""


def level(priority: str) -> int:
    return PRIORITIES.index(priority)


def _check_level(value: object, key: str) -> str:
    if not isinstance(value, str) or value.lower() not in PRIORITIES:
        raise PriorityError(f"{key}: expected one of {', '.join(PRIORITIES)}, got {value!r}")
    return value.lower()


@dataclass(frozen=True)
class PriorityRules:
    default: str = "normal"
    vip: str = "high"
    repeat_contact_days: float = 7.0
    categories: Mapping[str, str] = field(default_factory=dict)
    keywords: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, table: Mapping[str, object]) -> PriorityRules:
        known = {"default", "vip", "repeat_contact_days", "categories", "keywords", "head_start_s"}
        for key in table:
            if key not in known:
                raise PriorityError(f"priority.{key}: unknown setting")
        default = _check_level(table.get("default", "normal"), "priority.default")
        vip = _check_level(table.get("vip", "high"), "priority.vip")
        days = table.get("repeat_contact_days", 7)
        if not isinstance(days, int | float) or isinstance(days, bool) or days < 0:
            raise PriorityError(f"priority.repeat_contact_days: expected days >= 0, got {days!r}")
        maps: dict[str, dict[str, str]] = {}
        for name in ("categories", "keywords"):
            raw = table.get(name, {})
            if not isinstance(raw, Mapping):
                raise PriorityError(f"priority.{name}: expected a table of name = level")
            maps[name] = {
                str(k).lower(): _check_level(v, f"priority.{name}.{k}") for k, v in raw.items()
            }
        keywords = {normalize(k): v for k, v in maps["keywords"].items() if normalize(k)}
        return cls(default, vip, float(days), maps["categories"], keywords)

    def decide(
        self,
        *,
        tier: str,
        repeat_contact: bool,
        category: str,
        text: str,
    ) -> tuple[str, list[str]]:
        """The level for a new handoff and the reasons for it."""
        best, reasons = self.default, [f"default:{self.default}"]

        def raise_to(candidate: str, reason: str) -> None:
            nonlocal best
            reasons.append(reason)
            if level(candidate) > level(best):
                best = candidate

        if tier == "vip":
            raise_to(self.vip, f"vip:{self.vip}")
        if category and category in self.categories:
            raise_to(self.categories[category], f"category:{category}")
        if text and self.keywords:
            padded = f" {normalize(text)} "
            for keyword, kw_level in self.keywords.items():
                if f" {keyword} " in padded:
                    raise_to(kw_level, f"keyword:{keyword}")
        if repeat_contact:
            stepped = PRIORITIES[min(level(best) + 1, len(PRIORITIES) - 1)]
            raise_to(stepped, "repeat_contact")
        return best, reasons


def parse_head_starts(table: Mapping[str, object]) -> dict[str, float]:
    """``[priority.head_start_s]``: seconds per level; ``"inf"`` gives strict priority."""
    result = dict(DEFAULT_HEAD_START_S)
    for key, value in table.items():
        name = _check_level(key, f"priority.head_start_s.{key}")
        try:
            number = float(value) if isinstance(value, int | float | str) else math.nan
        except ValueError:
            number = math.nan
        if math.isnan(number) or isinstance(value, bool):
            raise PriorityError(
                f'priority.head_start_s.{key}: expected seconds or "inf", got {value!r}'
            )
        result[name] = number
    return result
