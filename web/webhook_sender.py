"""The HTTP client of the outgoing webhooks (:class:`webhooks.service.Sender` on aiohttp): one
``ClientSession`` per process, a total timeout per POST, no redirects followed, at most 64 KiB
of the answer read (it is not used)."""

from __future__ import annotations

from collections.abc import Mapping

import aiohttp

from webhooks.service import SendResult

READ_LIMIT = 64 * 1024


class AiohttpSender:
    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> SendResult:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession()
        try:
            async with self._session.post(
                url,
                data=body,
                headers=dict(headers),
                timeout=aiohttp.ClientTimeout(total=timeout_s),
                allow_redirects=False,
            ) as response:
                await response.content.read(READ_LIMIT)
                return SendResult(response.status)
        except TimeoutError:
            return SendResult(None, f"no answer within {timeout_s:g} s")
        except aiohttp.ClientError as exc:
            return SendResult(None, f"{type(exc).__name__}: {exc}"[:500])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
