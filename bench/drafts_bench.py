"""How long the suggested articles from agents' answers (faq/drafts.py) take on a large history.

Fills a scratch database with ``--messages`` transcript lines (about 8 per ticket: a question,
the bot, "agent please", the agents' opener, a reply, thanks, you're welcome...): a fifth of
the tickets ask one of the planted questions of tests/drafts_history.py (answered with
near-identical replies), the rest ask and are answered one-off texts drawn from a large
vocabulary, so almost every reply is distinct (the grouping's worst case). Then it times
:func:`faq.drafts.suggest_articles` over the period, split into the read and the grouping.

    python -m bench.drafts_bench --messages 100000
    python -m bench.drafts_bench --messages 100000 --database postgresql+asyncpg://...
"""

from __future__ import annotations

import argparse
import asyncio
import random
import string
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from base.periods import Period
from faq.drafts import group_pairs, load_pairs, suggest_articles
from faq.service import FaqService, load_sample_if_empty
from storage.db import Database
from storage.models import Customer, Message, Ticket
from tests.drafts_history import OPENER, PERSON, PLANTED, THANKS, WELCOME

START = datetime(2026, 3, 1, tzinfo=UTC)
LINES_PER_TICKET = 8


def _words(rng: random.Random, vocabulary: list[str], n: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(n))


async def fill(db: Database, messages: int, seed: int = 1) -> int:
    rng = random.Random(seed)
    vocabulary = [
        "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
        for _ in range(5000)
    ]
    tickets = messages // LINES_PER_TICKET
    at = START
    batch = 500
    for first in range(0, tickets, batch):
        async with db.transaction() as session:
            customers = await session.execute(
                insert(Customer).returning(Customer.id),
                [
                    {
                        "channel": "web",
                        "external_id": f"bench-{n}",
                        "name": "",
                        "language": "en",
                        "created_at": at,
                        "last_seen_at": at,
                    }
                    for n in range(first, min(first + batch, tickets))
                ],
            )
            customer_ids = [row[0] for row in customers]
            rows = await session.execute(
                insert(Ticket).returning(Ticket.id, Ticket.customer_id),
                [
                    {
                        "customer_id": c,
                        "channel": "web",
                        "state": "resolved",
                        "language": "en",
                        "created_at": at,
                    }
                    for c in customer_ids
                ],
            )
            lines: list[dict[str, Any]] = []
            for ticket_id, customer_id in rows:
                group = rng.choice(PLANTED) if rng.random() < 0.2 else None
                lang = group.lang if group else "en"
                if group is not None:
                    question = rng.choice(group.questions)
                    answer = rng.choice(group.answers)
                else:
                    question = _words(rng, vocabulary, rng.randint(4, 9)) + "?"
                    answer = _words(rng, vocabulary, rng.randint(8, 20)) + "."
                script = [
                    ("customer", question),
                    ("bot", "..."),
                    ("customer", PERSON[lang]),
                    ("agent", OPENER[lang].format(agent="Sara")),
                    ("agent", answer),
                    ("customer", THANKS[lang]),
                    ("agent", WELCOME[lang]),
                    ("customer", _words(rng, vocabulary, 3)),
                ]
                for sender, text in script:
                    at += timedelta(seconds=7)
                    lines.append(
                        {
                            "ticket_id": ticket_id,
                            "customer_id": customer_id,
                            "sender": sender,
                            "kind": "text",
                            "text": text,
                            "meta": {},
                            "created_at": at,
                        }
                    )
            await session.execute(insert(Message), lines)
    return tickets


async def run(args: argparse.Namespace) -> None:
    url = args.database or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'drafts.db'}"
    db = Database(url)
    await db.upgrade()
    async with db.transaction() as session:
        await load_sample_if_empty(session, START)
    faq = FaqService(db)
    await faq.reload()
    began = time.perf_counter()
    tickets = await fill(db, args.messages)
    print(
        f"filled {tickets} tickets, {tickets * LINES_PER_TICKET} messages "
        f"in {time.perf_counter() - began:.1f} s ({url.split(':')[0]})"
    )
    period = Period(START, START + timedelta(days=400))
    for _ in range(args.repeat):
        # wall time, and this process's CPU time (what the figures cost on a busy machine)
        w0, c0 = time.perf_counter(), time.process_time()
        async with db.transaction() as session:
            pairs = await load_pairs(session, period)
        w1, c1 = time.perf_counter(), time.process_time()
        groups = group_pairs(pairs)
        w2, c2 = time.perf_counter(), time.process_time()
        found = await suggest_articles(db, faq, period)
        w3, c3 = time.perf_counter(), time.process_time()
        print(
            f"read + pairs {w1 - w0:.2f} s (cpu {c1 - c0:.2f} s, {len(pairs)} pairs), "
            f"grouping {w2 - w1:.2f} s (cpu {c2 - c1:.2f} s, {len(groups)} groups), "
            f"suggest_articles end to end {w3 - w2:.2f} s (cpu {c3 - c2:.2f} s, "
            f"{len(found)} suggestions)"
        )
    await faq.close()
    await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--database", default="", help="a database URL (default: a SQLite file)")
    parser.add_argument("--repeat", type=int, default=2)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
