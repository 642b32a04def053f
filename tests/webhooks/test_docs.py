"""The verification example of docs/webhooks.md works on a real delivery, and refuses a
tampered body, a wrong secret and an old timestamp."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.webhooks.test_webhooks_flow import SECRET, Stack, open_ticket
from tests.webhooks.test_webhooks_flow import stack as stack  # the fixture
from webhooks import signing

DOC = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"


def _documented_verify() -> Any:
    code = re.search(r"```python\n(.*?)```", DOC.read_text("utf-8"), re.S)
    assert code is not None
    space: dict[str, Any] = {}
    exec(compile(code.group(1), str(DOC), "exec"), space)
    return space["verify"]


@pytest.mark.parametrize("any_db_url", ["sqlite"], indirect=True)
async def test_the_documented_check_accepts_a_delivery_and_refuses_forgeries(
    stack: Stack,
) -> None:
    verify = _documented_verify()
    stack.clock.set(datetime.now(UTC))  # the example compares with the real time
    await open_ticket(stack.services, "v_doc")
    await stack.services.webhooks.run_once()
    [request] = stack.receiver.requests
    event = verify(SECRET, request.headers, request.body)
    assert event["type"] == "ticket_opened" and event["ticket"]["channel"] == "web"
    with pytest.raises(ValueError, match="bad signature"):
        verify(SECRET, request.headers, request.body.replace(b'"web"', b'"wab"'))
    with pytest.raises(ValueError, match="bad signature"):
        verify("not-the-secret-at-all", request.headers, request.body)
    old = int(time.time()) - 3600
    replayed = {
        "X-Sanad-Timestamp": str(old),
        "X-Sanad-Signature": signing.signature(SECRET, old, request.body),
    }
    with pytest.raises(ValueError, match="too old"):
        verify(SECRET, replayed, request.body)
