"""What goes into the conversation and what comes out of it: plain frozen values.

An input names its channel (:class:`Channel`) and who wrote (:class:`Identity`); what the core
decided comes back as a :class:`Reply` (or a :class:`Pressed` for a button): the customer's
input as kept and the lines to :class:`Say` in order (a handoff action the input led to ran in
its transaction: what the handoff engine tells others goes out through its port). Adapters send
them; they never read the database themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from conversation.keyboards import Keyboard
from handoff.flood import Verdict
from handoff.tickets import ShownLine


@dataclass(frozen=True)
class Channel:
    """A channel as the conversation needs to know it.

    ``keeps_lines``: the core stores the bot's lines in the input's own transaction, with their
    buttons, and the adapter pushes them after the commit (the web chat). Otherwise the adapter
    stores each line after sending it, with the ids its platform gave the parts it was split
    into (Telegram, whose transcript keeps those ids for replies and edits).
    ``commands_in_text``: ``/words`` come in as text and the core tells commands apart (the
    web chat); Telegram routes its commands to :func:`conversation.customer_command` itself.
    """

    name: str
    keeps_lines: bool
    commands_in_text: bool


WEB = Channel("web", keeps_lines=True, commands_in_text=True)
TELEGRAM = Channel("telegram", keeps_lines=False, commands_in_text=False)


@dataclass(frozen=True)
class Identity:
    """Who writes, as the channel knows them."""

    external_id: str
    name: str = ""
    username: str | None = None
    language_code: str | None = None


class StoredLine(ShownLine, Protocol):
    """A transcript line as the adapters read it (a :class:`Line`, or a stored row that the
    agent side hands over): what showing it needs (sender, kind, text), and which it is."""

    @property
    def id(self) -> int: ...
    @property
    def customer_id(self) -> int: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def meta(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class Line:
    """A transcript line as stored, detached from the database."""

    id: int
    customer_id: int
    sender: str
    kind: str
    text: str
    created_at: datetime
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketView:
    """The customer's latest ticket as their chat controls need it: ``state`` is ``bot``
    (also after the bot solved it: the customer simply goes on asking), ``queued``,
    ``offered``, ``assigned``, ``pending`` or ``resolved`` (closed by an agent, or closed)."""

    id: int
    state: str


@dataclass(frozen=True)
class Say:
    """A line for the customer: text, buttons, and the meta kept with it in the transcript.
    ``line`` is the line as stored, on a channel whose lines the core keeps."""

    text: str
    keyboard: Keyboard = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)
    line: Line | None = None


@dataclass(frozen=True)
class Reply:
    """What a customer's message or command did. ``refused``: flood control turned it away
    (nothing kept or answered: the adapter says so the channel's way). ``new`` False: a resend
    of ``message``, handled the first time (nothing else to do)."""

    customer_id: int = 0
    ticket_id: int = 0
    language: str = ""
    refused: Verdict | None = None
    message: Line | None = None
    new: bool = True
    says: tuple[Say, ...] = ()
    ticket: TicketView | None = None


@dataclass(frozen=True)
class Pressed:
    """What a button press did, in the order the channel shows it: ``alert`` (a stale or
    forged button), else ``choice`` (the press kept as the customer's line) and the pressed
    line's change (``drop_buttons``, or ``replace``: a new text and buttons; ``updated``: the
    pressed line as now stored, on a channel whose lines the core keeps), then the ``says``
    (the handoff action a press led to ran in its transaction)."""

    customer_id: int = 0
    ticket_id: int = 0
    language: str = ""
    refused: Verdict | None = None
    alert: str | None = None
    drop_buttons: bool = False
    replace: tuple[str, Keyboard] | None = None
    choice: Line | None = None
    updated: Line | None = None
    says: tuple[Say, ...] = ()
    ticket: TicketView | None = None


@dataclass(frozen=True)
class Visitor:
    """A web visitor's customer row, as the chat adapter needs it."""

    id: int
    external_id: str
    name: str
    language: str
