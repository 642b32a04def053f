"""The resend check against a customer's history: ``python -m bench.resend_check``.

Every message a customer sends on the web chat carries a client id; before it is handled, the
core's one read of the customer, their open ticket and "is a line with this id already kept?"
(:data:`handoff.tickets.ARRIVAL`) runs. Here that read is timed (CPU of this process, the
event loop and the SQLite driver's thread, per read; median of ``--repeats``) for one customer
with more and more lines of their own (``--sizes``), on a fresh SQLite file with the sample FAQ.
Before migration 0015 the check read the JSON of every line the customer had sent; now it is
an index lookup (``ix_messages_client``), so the figure should not grow with the history.
Prints one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from sqlalchemy import select

from app.config import FLOOD_CONTROL_OFF, load_settings
from app.services import Services
from conversation import customer_wrote
from conversation.outputs import WEB, Identity
from handoff.tickets import ARRIVAL, line_row, open_ticket_for, record_lines
from storage.models import Customer


async def run(sizes: list[int], reads: int, repeats: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "SANAD_DATABASE_URL": f"sqlite+aiosqlite:///{Path(tmp) / 'resend.db'}",
            "SANAD_FAQ_SEMANTIC": "off",
            **FLOOD_CONTROL_OFF,
        }
        services = Services.create(load_settings(env=env))
        await services.start(run_timers=False)
        try:
            who = Identity("resend-bench", name="Visitor", language_code="en")
            await customer_wrote(services, WEB, who, "hello", client_id=uuid.uuid4().hex)
            params = {"channel": "web", "external_id": who.external_id, "client_id": "absent"}
            results: list[dict[str, float]] = []
            stored = 0
            for size in sorted(sizes):
                async with services.db.transaction() as session:
                    customer = (
                        await session.execute(
                            select(Customer).where(Customer.external_id == who.external_id)
                        )
                    ).scalar_one()
                    ticket = await open_ticket_for(session, customer)
                    assert ticket is not None
                    now = services.clock.now()
                    rows = [
                        line_row(
                            ticket,
                            sender="customer",
                            text="a question",
                            at=now,
                            meta={"client_id": f"c{stored + i}"},
                        )
                        for i in range(size - stored)
                    ]
                    for start in range(0, len(rows), 500):
                        await record_lines(session, rows[start : start + 500])
                stored = max(stored, size)
                samples = []
                async with services.db.transaction() as session:
                    for _ in range(20):  # warm: statement cache, pages
                        (await session.execute(ARRIVAL, params)).one_or_none()
                    for _ in range(repeats):
                        started = time.process_time()
                        for _ in range(reads):
                            (await session.execute(ARRIVAL, params)).one_or_none()
                        samples.append((time.process_time() - started) * 1e6 / reads)
                results.append({"lines": size, "us_per_read": round(statistics.median(samples))})
        finally:
            await services.close()
    return {"backend": "sqlite", "reads": reads, "repeats": repeats, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,200,2000,20000", help="lines of the customer's")
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    print(json.dumps(asyncio.run(run(sizes, args.reads, args.repeats))))


if __name__ == "__main__":
    main()
