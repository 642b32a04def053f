"""Building the lexical FAQ index where it does not hold up the chats.

:meth:`faq.matcher.MatchIndex.build` is mostly Python loops: in a thread of the service's process
it holds the GIL, and the event loop then waits for it at every switch (at 10,000 articles the
loop stalled up to 0.36 s; see "FAQ edits and index rebuilds" in docs/BENCHMARKS.md).
:class:`IndexBuilder` therefore builds large FAQs (``process_min`` articles or more) in a child
process, and small ones (the tests, the 30-article sample) in a thread as before: a child costs
a second or so to start and is not worth it for a build of milliseconds.

The child is a fresh interpreter (``python -c``, as the ``spawn`` method would start it, never a
``fork``: the service has threads and an event loop; unlike ``multiprocessing`` it does not
import the service's main module again), started lazily at the first large build and kept for
the next ones; it talks over a socket pair (``multiprocessing.connection``), runs with one BLAS
thread and, from its first build that is not urgent (:meth:`IndexBuilder.build`: a start, when
no index serves yet, is urgent), at a lower CPU priority than the service; it is stopped by
:meth:`IndexBuilder.close`.

The articles go to the child in messages of ``_SEND_CHUNK`` (pickling holds the GIL). The built
index comes back without a copy of its arrays under the GIL: the child pickles it with
protocol 5, writing the arrays' buffers (about 130 MB at 10,000 articles) to a temporary file
and returning only the small rest (word tables, 0.7 MB there, unpickled in 20-30 ms while
holding the GIL: larger vocabularies cost more); the service reads the file in a thread (a
plain ``readinto``, which releases the GIL) and unpickles the rest onto those buffers. The index
is the very object a build in the service would give (same code, same inputs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection

import numpy as np

from faq.matcher import Entry, MatchIndex

PROCESS_MIN_ARTICLES = 2_000  # from this many articles the lexical index is built in a child
_ALIGN = 64  # byte alignment of every array in the buffer file
_SEND_CHUNK = 1_000  # articles per message to the child (pickling holds the GIL)
_NICE = 10  # the child's CPU priority below the service's
_CHILD = "import sys; from faq.index_worker import serve; serve(int(sys.argv[1]))"

# (article id, language, texts): what the child is sent per article (plain tuples pickle faster
# than ``Entry`` objects).
_Row = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class _Built:
    """What the child sends back: the pickle without its buffers, where the buffers are."""

    meta: bytes
    path: str
    spans: tuple[tuple[int, int], ...]  # (offset, size) of each buffer in the file
    peak_mb: float  # the child's peak resident memory so far


def _build_packed(rows: Sequence[_Row]) -> _Built:
    """In the child: build the index and write its arrays' buffers to a temporary file."""
    index = MatchIndex.build(Entry(*row) for row in rows)
    buffers: list[pickle.PickleBuffer] = []
    meta = pickle.dumps(index, protocol=5, buffer_callback=buffers.append)
    fd, path = tempfile.mkstemp(prefix="sanad-faq-index-")
    spans: list[tuple[int, int]] = []
    offset = 0
    with os.fdopen(fd, "wb") as f:
        for buffer in buffers:
            view = buffer.raw()
            pad = -offset % _ALIGN
            f.write(b"\0" * pad)
            offset += pad
            f.write(view)
            spans.append((offset, view.nbytes))
            offset += view.nbytes
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return _Built(meta, path, tuple(spans), peak_mb)


def serve(fd: int) -> None:
    """The child's loop on socket ``fd``: one build per request until ``None`` or the end of
    the connection. The child lowers its priority before its first build that is not urgent
    (an empty list ends the articles; an empty tuple ends them for an urgent build, one that no
    index serves meanwhile: it keeps the priority it has)."""
    conn = Connection(fd)
    rows: list[_Row] = []
    niced = False
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        if message:  # a chunk of the articles; an empty one ends them
            rows.extend(message)
            continue
        if not niced and message != ():
            with contextlib.suppress(OSError):
                os.nice(_NICE)
            niced = True
        try:
            conn.send(("ok", _build_packed(rows)))
        except Exception:
            conn.send(("error", traceback.format_exc()))
        rows = []


def _unpack(built: _Built) -> MatchIndex:
    """In the service (a worker thread): read the buffers, unpickle the index onto them."""
    size = built.spans[-1][0] + built.spans[-1][1] if built.spans else 0
    data = np.empty(size, dtype=np.uint8)
    view = data.data
    try:
        with open(built.path, "rb", buffering=0) as f:
            done = 0
            while done < size:
                n = f.readinto(view[done:])
                if not n:
                    raise EOFError(f"{built.path}: {done} of {size} bytes")
                done += n
    finally:
        os.unlink(built.path)
    index = pickle.loads(built.meta, buffers=[view[o : o + n] for o, n in built.spans])
    if not isinstance(index, MatchIndex):
        raise TypeError(f"the index worker sent a {type(index).__name__}")
    return index


class BuildFailed(RuntimeError):
    """The worker process could not build the index (its traceback is the message)."""


class IndexBuilder:
    """Builds :class:`~faq.matcher.MatchIndex` in a thread (small FAQs) or in a long-lived
    child process (``process_min`` articles or more); one build at a time."""

    def __init__(self, process_min: int = PROCESS_MIN_ARTICLES) -> None:
        self.process_min = process_min
        self.last_peak_mb: float | None = None  # the child's peak memory after the last build
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = asyncio.Lock()
        self._starting = threading.Lock()

    @property
    def worker_pid(self) -> int | None:
        """The child's process id while it runs (tests, diagnostics)."""
        return self._process.pid if self._process is not None else None

    def uses_process(self, n_articles: int) -> bool:
        return n_articles >= self.process_min

    async def warm_up(self, n_articles: int) -> None:
        """Start the child now if a build of ``n_articles`` will need it: it imports while
        the articles are read."""
        if self.uses_process(n_articles) and self._process is None:
            await asyncio.to_thread(self._start)

    async def build(self, entries: Sequence[Entry], urgent: bool = False) -> MatchIndex:
        """The index of ``entries``. ``urgent``: no index serves until this one is built (a
        start), so the child builds it at the service's priority, not below it (a warm start
        at 10,000 articles on a loaded machine otherwise waits for the other processes)."""
        if not self.uses_process(len(entries)):
            return await asyncio.to_thread(MatchIndex.build, entries)
        rows = [(e.article_id, e.lang, e.texts) for e in entries]
        async with self._lock:
            return await asyncio.to_thread(self._build_in_child, rows, urgent)

    def _start(self) -> tuple[subprocess.Popen[bytes], Connection]:
        with self._starting:
            if self._process is None or self._conn is None or self._process.poll() is not None:
                parent, child = socket.socketpair()
                env = dict(os.environ)
                # The service's import path (a checkout run with ``python -m``), one BLAS thread.
                env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
                for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
                    env.setdefault(var, "1")
                with child:
                    process = subprocess.Popen(
                        [sys.executable, "-c", _CHILD, str(child.fileno())],
                        pass_fds=(child.fileno(),),
                        stdin=subprocess.DEVNULL,
                        env=env,
                    )
                self._process, self._conn = process, Connection(parent.detach())
            return self._process, self._conn

    def _build_in_child(self, rows: list[_Row], urgent: bool = False) -> MatchIndex:
        process, conn = self._start()
        try:
            for i in range(0, len(rows), _SEND_CHUNK):
                conn.send(rows[i : i + _SEND_CHUNK])
            conn.send(() if urgent else [])
            status, payload = conn.recv()
        except (EOFError, OSError) as exc:
            self._stop(process, conn)
            raise BuildFailed(f"the index worker process ended: {exc!r}") from exc
        if status != "ok":
            raise BuildFailed(str(payload))
        self.last_peak_mb = payload.peak_mb
        return _unpack(payload)

    def _stop(self, process: subprocess.Popen[bytes], conn: Connection) -> None:
        with self._starting:
            if self._process is process:
                self._process, self._conn = None, None
        conn.close()
        if process.poll() is None:
            process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    async def close(self) -> None:
        """Stop the child (a build in flight fails; the caller's old index stays)."""
        process, conn = self._process, self._conn
        if process is not None and conn is not None:
            await asyncio.to_thread(self._stop, process, conn)
