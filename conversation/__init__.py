"""The customer conversation, the same on every channel: FAQ answers, suggestions, "Did this
help?", handoff to a person, the live chat with an agent, the rating.

A channel adapter (Telegram in ``bot/handlers.py``, the web chat in ``web/chat.py``) turns its
input into one call here (:func:`customer_wrote`, :func:`customer_command`,
:func:`customer_pressed`), which does all its reads and writes in one transaction and returns
typed outputs (:mod:`conversation.outputs`), a handoff action the input led to included (run
through the handoff engine's unit of work in the same transaction); the adapter sends the
outputs after the commit, nothing more. What an adapter shows
besides comes from the named reads of :mod:`conversation.reads`. This package never imports
``telegram``, ``aiohttp``, ``bot`` or ``web``.

- :mod:`conversation.keyboards`: the buttons (the same data strings on every channel).
- :mod:`conversation.notices`: the handoff engine's notices in words.
- :mod:`conversation.inputs`: the entries for a message and a command;
  :mod:`conversation.pressed` for a button, :mod:`conversation.followup` for the follow-up's
  buttons; :mod:`conversation.turn`: one input being handled, and what the entries share.
- :mod:`conversation.hints`: what the process last saw of a customer, to decide before BEGIN
  whether to prepare a question and whether to enter the handoff unit.
- :mod:`conversation.reads`: what the adapters show, and the writes a channel itself makes.
"""

from conversation.inputs import COMMAND_WORDS, COMMANDS, customer_command, customer_wrote
from conversation.keyboards import (
    PRESS_RE,
    Button,
    Keyboard,
    feedback_keyboard,
    keyboard_rows,
    offered,
    rating_keyboard,
    suggestions_keyboard,
)
from conversation.notices import notice_text
from conversation.outputs import (
    TELEGRAM,
    WEB,
    Channel,
    Identity,
    Line,
    Pressed,
    Reply,
    Say,
    StoredLine,
    TicketView,
    Visitor,
)
from conversation.pressed import customer_pressed
from conversation.turn import refusal

__all__ = [
    "COMMANDS",
    "COMMAND_WORDS",
    "PRESS_RE",
    "TELEGRAM",
    "WEB",
    "Button",
    "Channel",
    "Identity",
    "Keyboard",
    "Line",
    "Pressed",
    "Reply",
    "Say",
    "StoredLine",
    "TicketView",
    "Visitor",
    "customer_command",
    "customer_pressed",
    "customer_wrote",
    "feedback_keyboard",
    "keyboard_rows",
    "notice_text",
    "offered",
    "rating_keyboard",
    "refusal",
    "suggestions_keyboard",
]
