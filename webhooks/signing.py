"""Signing a delivery: ``X-Sanad-Signature: sha256=<hex>``, the HMAC-SHA256 with the endpoint's
secret of ``<X-Sanad-Timestamp> + "." + <raw body>``. The timestamp is signed too, so a
receiver that refuses old timestamps (say, over 5 minutes) also refuses a replayed request."""

from __future__ import annotations

import hashlib
import hmac

SIGNATURE = "X-Sanad-Signature"
TIMESTAMP = "X-Sanad-Timestamp"
EVENT_TYPE = "X-Sanad-Event"
EVENT_ID = "X-Sanad-Event-Id"
DELIVERY = "X-Sanad-Delivery"


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The header's value for ``body`` sent at ``timestamp`` (Unix seconds)."""
    material = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), material, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, header: str) -> bool:
    """What a receiver does (docs/webhooks.md has the same in a few lines of Python)."""
    try:
        when = int(timestamp)
    except ValueError:
        return False
    return hmac.compare_digest(signature(secret, when, body), header)


def headers(
    secret: str, timestamp: int, body: bytes, *, type_: str, event_id: str, delivery_id: int
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": "Sanad-Webhooks/1",
        TIMESTAMP: str(timestamp),
        SIGNATURE: signature(secret, timestamp, body),
        EVENT_TYPE: type_,
        EVENT_ID: event_id,
        DELIVERY: str(delivery_id),
    }
