"""A submitted map, and how it is cut into chunks.

The scheduler keeps a :class:`Map` per ``map``/``imap``/... call and hands
its workers :class:`Chunk` s of it.  Chunk sizes are guided (a quarter of
what is left per worker, so the last chunks are small and the workers
finish together) and bounded by the measured time per task: at least
``CHUNK_MIN_S`` of work so a chunk is worth its round trip, at most
``CHUNK_MAX_S`` so progress and load balance stay live.  Until a task time
is known, the first chunks measure it: a chunk of cheap-to-send items goes
at its guided size with a time box (the worker stops after
``PROBE_BUDGET_S`` and the rest comes back to be cut again), so no worker
idles while the first results travel; costly items go ``PROBE`` at a time.
A lazy input (a generator) first goes one item per chunk to each worker's
slots: a few long tasks are spread over every worker.  A streamed map
(imap, uimap) reads its input only as far ahead of its consumer as the
workers need.
"""
from __future__ import annotations

import collections
import contextvars
import enum
import itertools
import math
from typing import Any, Callable, Iterable, Iterator, Optional

from .. import inherit, serialize
from ..transports.base import WorkerHandle

PROBE = 16               # first chunks of costly items, before any task time is known
PROBE_BUDGET_S = 0.002   # a first chunk of cheap items stops after this long
PROBE_MAX_BYTES = 256 * 1024   # "cheap": the whole chunk pickles to at most this
CHUNK_MIN_S = 0.0005     # a chunk at least this long amortises its overhead
CHUNK_MAX_S = 0.2        # and at most this long keeps progress and balance live
LOOKAHEAD_MIN = 64       # a streamed map may read this many items ahead of its consumer


class MapState(str, enum.Enum):
    """Where a map is in its life; a str, so ``m.state == "done"`` reads well."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


class Chunk:
    __slots__ = ("id", "map", "start", "items", "attempts", "budget", "started",
                 "_blob")

    def __init__(self, cid: int, m: "Map", start: int, items: Any,
                 attempts: int = 0) -> None:
        self.id, self.map, self.start, self.items = cid, m, start, items
        self.attempts = attempts
        self.budget: Optional[float] = None    # seconds; the worker stops after it
        # when its worker began it (a map with a timeout only; deadlines.py)
        self.started: Optional[float] = None
        self._blob: Optional[bytes] = None

    def payload(self, worker: WorkerHandle) -> Any:
        if worker.in_process:
            return self.items
        if self._blob is None:
            self._blob = serialize.dumps_data(self.items)
        return self._blob


class Map:
    """One submitted map and what has come back of it."""

    def __init__(self, mid: int, func: Callable, kind: int, items: Any,
                 ordered: bool, chunksize: Optional[int], kindname: str) -> None:
        self.id, self.func, self.kind = mid, func, kind
        self.kindname = kindname
        self.profile = False           # run under cProfile on the workers
        self.ordered = ordered
        self.chunksize = chunksize
        self.timeout: Optional[float] = None    # seconds per task (deadlines.py)
        if isinstance(items, (list, tuple, range)):
            self.seq: Optional[Any] = items
            self.source: Optional[Iterable] = None
            self.total: Optional[int] = len(items)
        else:
            self.seq, self.source, self.total = None, iter(items), None
        self.next_index = 0
        self.exhausted = self.total == 0
        self.retry: collections.deque[Chunk] = collections.deque()
        # serialize.dumps_code's payloads: None for workers that get every
        # value, else by the globals a forked worker said it has not got
        self.codes: dict[Any, tuple] = {}
        # per worker label: the globals it said it holds another value of;
        # this map ships them to it, and it keeps them for the next maps
        self.stale: dict[str, frozenset] = {}
        self.t_task: Optional[float] = None
        self.item_bytes: Optional[float] = None   # pickled size of an item, sampled
        self.done = 0
        self.inflight = 0
        self.results: dict[int, list] = {}                       # ordered
        # A map whose whole list is wanted (not imap's stream) fills it as
        # chunks land, as multiprocessing does: no 100k-item copy at the end.
        self.in_place = ordered and self.total is not None and kindname != "imap"
        self.out: Optional[list] = None
        self.arrivals: collections.deque[list] = collections.deque()  # unordered
        self.state = MapState.RUNNING
        # imap/uimap: a consumer takes results one by one, so the input is
        # read only as far ahead of it as the workers need (see wants_input)
        self.streaming = kindname in ("imap", "uimap")
        self.consumed = 0            # results the consumer has taken
        self.throttled = False       # the input waits for the consumer
        self.error: Optional[BaseException] = None
        self.error_index: Optional[int] = None
        # the starter's context (in a kernel: its cell), for worker output
        self.context = contextvars.copy_context()

    # ------------------------------------------------------------ state
    # The scheduler calls these under its lock; nothing else writes the state.

    @property
    def running(self) -> bool:
        return self.state is MapState.RUNNING

    @property
    def ended(self) -> bool:
        return self.state is not MapState.RUNNING

    def wants_input(self, workers: int, window: int) -> bool:
        """Whether more of the input may be read now.  A streamed map holds
        at most ``lookahead`` items read but not yet taken by its consumer:
        enough to keep every worker's window full twice over.  (A map whose
        whole list is wanted reads on: the caller asked for all of it.)"""
        if not self.streaming:
            return True
        size = self.chunksize or auto_size(self, workers, window)
        lookahead = max(LOOKAHEAD_MIN, 2 * window * max(1, workers) * size)
        return self.next_index - self.consumed < lookahead

    def take(self, n: int) -> None:
        """The consumer took ``n`` more results."""
        self.consumed += n

    def finished_feeding(self) -> bool:
        return self.exhausted and not self.retry and self.inflight == 0

    def finish(self) -> None:
        """Every task came back."""
        self.state = MapState.DONE

    def fail(self, exc: BaseException, state: MapState = MapState.FAILED) -> bool:
        """End the map with ``exc`` (failed or cancelled); False if it had
        already ended.  Nothing queued is handed out any more."""
        if not self.running:
            return False
        self.state, self.error = state, exc
        self.retry.clear()
        self.exhausted = True
        return True

    def record(self, chunk: "Chunk", results: list, elapsed: float) -> None:
        """Results of the first ``len(results)`` tasks of ``chunk`` landed."""
        n = len(results)
        self.done += n
        if self.in_place:
            if self.out is None:
                self.out = [None] * self.total
            self.out[chunk.start:chunk.start + n] = results
        elif self.ordered:
            self.results[chunk.start] = results
        else:
            self.arrivals.append(results)
        t = elapsed / n
        self.t_task = t if self.t_task is None else 0.5 * (self.t_task + t)

    def result_list(self) -> list:
        """Every result, in input order (after the map is done)."""
        if self.out is not None:
            return self.out
        keys = sorted(self.results)
        if len(keys) == 1:
            return list(self.results[keys[0]])
        out: list = []
        for k in keys:
            out.extend(self.results[k])
        return out

    def code_for(self, worker: Optional[WorkerHandle]) -> tuple:
        """The function as ``worker`` takes it: a forked worker gets big
        notebook globals by name (it holds them already), save those it
        said were stale (those go with their value, which it keeps).
        Pickled once per kind of worker."""
        key = (self.stale.get(worker.label, frozenset())
               if worker is not None and worker.forked else None)
        if key not in self.codes:
            namer = None if key is None else inherit.Namer(key)
            self.codes[key] = serialize.dumps_code(self.func, namer)
        return self.codes[key]


def cut(m: Map, size: int, chunk_id: int) -> tuple[Optional[Chunk], bool]:
    """The next ``size`` items of ``m`` as a chunk (None if there are none),
    and whether this cut found the end of a lazy input (its total is known)."""
    start = m.next_index
    total_found = False
    if m.seq is not None:
        items = m.seq[start:start + size]
    else:
        items = list(itertools.islice(m.source, size))
        if len(items) < size:
            m.total = start + len(items)
            total_found = True
    m.next_index = start + len(items)
    if m.total is not None and m.next_index >= m.total:
        m.exhausted = True
    if not len(items):
        return None, total_found
    return Chunk(chunk_id, m, start, items), total_found


def auto_size(m: Map, workers: int, window: int = 2) -> int:
    """How many items the next chunk of ``m`` gets (see the module doc)."""
    remaining = None if m.total is None else m.total - m.next_index
    guided = PROBE if remaining is None else math.ceil(remaining / (4 * max(1, workers)))
    if m.t_task is None:                       # probe the task time first
        if remaining is None and m.next_index < window * max(1, workers):
            return 1      # a lazy input: one item to each worker's slots first
        return max(1, min(guided, _probe_limit(m)))
    hi = max(1, int(CHUNK_MAX_S / m.t_task))
    lo = max(1, int(CHUNK_MIN_S / m.t_task))
    return max(1, min(hi, max(guided, lo)))


def _probe_limit(m: Map) -> int:
    """How many items a chunk may have before the task time is known: as
    many as pickle to PROBE_MAX_BYTES (a range: any number), else PROBE."""
    if m.seq is None:                  # a lazy input is read as it is needed
        return PROBE
    if isinstance(m.seq, range):
        return len(m.seq)
    if m.item_bytes is None:
        sample = m.seq[m.next_index:m.next_index + PROBE]
        try:
            m.item_bytes = len(serialize.dumps_data(sample)) / max(1, len(sample))
        except Exception:              # noqa: BLE001 - the map reports it later
            m.item_bytes = float(PROBE_MAX_BYTES)
    return max(PROBE, int(PROBE_MAX_BYTES / max(m.item_bytes, 1.0)))


def is_probe(m: Map, chunk: Chunk) -> bool:
    """Whether ``chunk`` goes with a time box: cut before the task time was
    known, bigger than a plain probe (a lazy input's probes too: its items
    cannot be sampled, so a slow one must not hold the rest back)."""
    if m.t_task is not None or m.chunksize is not None:
        return False
    return len(chunk.items) > (1 if m.seq is None else PROBE)


def rest_of(m: Map, chunk: Chunk, done: int, ids: Iterator[int],
            workers: int) -> list[Chunk]:
    """The items of a time-boxed ``chunk`` past the ``done`` first, cut
    again now that the task time is known."""
    rest = chunk.items[done:]
    size = max(1, auto_size(m, workers))
    return [Chunk(next(ids), m, chunk.start + done + i, rest[i:i + size],
                  chunk.attempts) for i in range(0, len(rest), size)]
