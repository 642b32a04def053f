"""Splitting long texts at Telegram's message limit without breaking words where possible."""

from __future__ import annotations

TELEGRAM_MAX_TEXT = 4096


def split_text(text: str, limit: int = TELEGRAM_MAX_TEXT) -> list[str]:
    """Cut ``text`` into chunks of at most ``limit`` characters.

    Cuts fall on the last paragraph break, else line break, else space before the limit; only a
    run with no break at all is cut mid-word. Nothing is lost: the chunks, joined with the
    whitespace that was cut at, give back the text.
    """
    if limit < 1:
        raise ValueError("limit must be positive")
    chunks: list[str] = []
    rest = text
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = -1
        for sep in ("\n\n", "\n", " "):
            cut = window.rfind(sep, 1, limit + 1)
            if cut > 0:
                break
        if cut <= 0:
            chunks.append(rest[:limit])
            rest = rest[limit:]
            continue
        chunks.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest or not chunks:
        chunks.append(rest)
    return [c for c in chunks if c] or [""]
