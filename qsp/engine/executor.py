"""One executor interface for chunked work: serial by default, Dask when asked.

``serial`` runs chunks in this process. ``dask`` starts a LocalCluster sized to the machine,
or connects to an existing scheduler (``scheduler`` or ``DASK_SCHEDULER_ADDRESS``). Work is
sent in chunks, never one task per patient, and results come back in chunk order, so a run
gives the same numbers whatever the backend or the number of workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import types
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from qsp.errors import QSPError


class ExecutorSettings(BaseModel):
    """Where chunked work runs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Literal["serial", "dask"] = "serial"
    scheduler: str | None = None  # address of an existing Dask scheduler (implies dask)
    n_workers: int | None = Field(None, ge=1, le=512)  # LocalCluster workers; default: one per core
    chunk_size: int = Field(100, ge=1, le=100_000)  # patients per task
    connect_timeout_s: float = Field(10.0, gt=0, le=600)


def settings_from(backend: str = "serial", scheduler: str | None = None, **kwargs) -> ExecutorSettings:
    """Settings with DASK_SCHEDULER_ADDRESS honoured when no scheduler is given."""
    scheduler = scheduler or (os.environ.get("DASK_SCHEDULER_ADDRESS") if backend == "dask" else None)
    return ExecutorSettings(backend="dask" if scheduler else backend, scheduler=scheduler, **kwargs)


class ChunkExecutor:
    """An open executor: ``map`` chunks as often as needed on one Dask client (or serially), then ``close``.

    Use it as a context manager when work comes in rounds (population sampling, then a trial), so a
    LocalCluster starts once. ``map`` returns results in chunk order whatever the backend.
    """

    def __init__(self, settings: ExecutorSettings | None = None):
        self.settings = settings or ExecutorSettings()
        self._client = None
        self._cluster = None

    @property
    def parallelism(self) -> int:
        """Chunks that can run at once (1 when serial)."""
        if self.settings.backend == "serial":
            return 1
        client = self._connect()
        return max(1, sum(client.nthreads().values()))

    def _connect(self):
        if self._client is not None:
            return self._client
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError as exc:  # pragma: no cover - dask is in requirements
            raise QSPError("backend: dask is not installed (pip install 'dask[distributed]')") from exc
        settings = self.settings
        try:
            if settings.scheduler:
                self._client = Client(settings.scheduler, timeout=f"{settings.connect_timeout_s}s")
            else:
                workers = settings.n_workers or os.cpu_count() or 1
                with no_main_script():
                    self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")  # any free port: no clash with another cluster
                self._client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise QSPError(
                f"scheduler: cannot reach a Dask scheduler at {settings.scheduler!r} within {settings.connect_timeout_s:g} s ({exc})"
            ) from None
        except RuntimeError as exc:  # distributed: "Nanny failed to start worker process" on a starved machine
            self.close()
            raise QSPError(f"backend: could not start a local Dask cluster ({exc}); try again, or run with the serial backend") from None
        return self._client

    def map(self, fn: Callable, chunks: Sequence, progress=None) -> list:
        """``[fn(chunk) for chunk in chunks]``, in order."""
        if self.settings.backend == "serial":
            out = []
            for k, chunk in enumerate(chunks):
                out.append(fn(chunk))
                if progress:
                    progress((k + 1) / len(chunks))
            return out
        from dask.distributed import as_completed

        client = self._connect()
        futures = client.map(fn, list(chunks), pure=False)
        index = {f.key: k for k, f in enumerate(futures)}
        results: list = [None] * len(futures)
        for done, future in enumerate(as_completed(futures), start=1):
            results[index[future.key]] = future.result()
            if progress:
                progress(done / len(futures))
        return results

    def stream(self, fn: Callable, next_chunk: Callable[[], object | None], consume: Callable[[object], bool],
               in_flight: int | None = None, extras: list | None = None, extra_done: Callable[[int], None] | None = None) -> list:
        """Run ``fn`` on chunks made one at a time until ``consume`` says enough, keeping the workers busy.

        ``next_chunk()`` gives the next chunk (None: no more); ``consume(result)`` receives the results in
        chunk order and returns True to stop. Serially one chunk runs at a time; on Dask ``in_flight``
        chunks (default twice the parallelism) run at once, and chunks still running when ``consume``
        stops are cancelled. Results are consumed in the same order either way, so a caller whose
        decisions depend only on that order gets the same outcome on every backend.

        ``extras``: a list to which ``consume`` may append ``(function, argument)`` tasks that depend on what
        was consumed so far (a trial simulating the patients already accepted); they run beside the stream
        and their results come back in the order they were appended, once all have finished;
        ``extra_done(k)`` is called as the k-th of them finishes.
        """
        extras = extras if extras is not None else []
        if self.settings.backend == "serial":
            return _stream_serial(fn, next_chunk, consume, extras, extra_done)
        client = self._connect()
        return _DaskStream(client, fn, next_chunk, consume, extras, extra_done, in_flight or 2 * self.parallelism).run()

    def close(self) -> None:
        """Close the Dask client and the LocalCluster this executor started (no-op when serial)."""
        with _quiet_shutdown():
            if self._client is not None:
                self._client.close()
                self._client = None
            if self._cluster is not None:
                self._cluster.close()
                self._cluster = None

    def __enter__(self) -> ChunkExecutor:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _stream_serial(fn: Callable, next_chunk: Callable, consume: Callable, extras: list, extra_done: Callable | None) -> list:
    """:meth:`ChunkExecutor.stream` in this process: one chunk at a time, then the extras its result asked for."""
    out: list = []

    def run_extras():
        while len(out) < len(extras):
            task, arg = extras[len(out)]
            out.append(task(arg))
            if extra_done:
                extra_done(len(out))

    while (chunk := next_chunk()) is not None:
        stop = consume(fn(chunk))
        run_extras()
        if stop:
            break
    run_extras()
    return out


class _DaskStream:
    """One :meth:`ChunkExecutor.stream` on a Dask client: ``window`` chunks in flight, consumed in chunk order."""

    def __init__(self, client, fn: Callable, next_chunk: Callable, consume: Callable, extras: list,
                 extra_done: Callable | None, window: int):
        from dask.distributed import as_completed  # lazy: dask is slow to import and only needed here

        self.client, self.fn, self.next_chunk, self.consume, self.window = client, fn, next_chunk, consume, window
        self.extras, self.extra_done = extras, extra_done
        self.pending: dict[int, object] = {}  # chunk number -> future, submitted and not yet consumed
        self.done: dict[int, object] = {}  # chunk number -> result, finished out of order
        self.order: dict = {}  # future key -> chunk number
        self.extra_index: dict = {}  # future key -> position among the extras
        self.extra_futures: list = []
        self.out: list = []  # the extras' results
        self.submitted = self.consumed = self.finished = self.extras_done = 0
        self.stopped = False
        self.running = as_completed()

    def run(self) -> list:
        """Stream until ``consume`` stops or the chunks run out and every extra is back; the extras' results."""
        try:
            self.fill_window()
            for future in self.running:
                over = self.take_extra(future) if future.key in self.extra_index else self.take_chunk(future)
                if over:
                    break
            return self.out
        finally:
            for future in (*self.pending.values(), *self.extra_futures):
                future.cancel()

    def fill_window(self) -> None:
        """Submit chunks until ``window`` are in flight or there are no more."""
        while self.submitted - self.finished < self.window and self.submit_chunk():
            pass

    def submit_chunk(self) -> bool:
        """Submit the next chunk; False when there is none."""
        chunk = self.next_chunk()
        if chunk is None:
            return False
        future = self.client.submit(self.fn, chunk, pure=False)
        self.order[future.key], self.pending[self.submitted] = self.submitted, future
        self.running.add(future)
        self.submitted += 1
        return True

    def submit_extras(self) -> None:
        """Submit the extras ``consume`` appended since the last call."""
        while len(self.extra_futures) < len(self.extras):
            task, arg = self.extras[len(self.extra_futures)]
            future = self.client.submit(task, arg, pure=False)
            self.extra_index[future.key] = len(self.extra_futures)
            self.extra_futures.append(future)
            self.out.append(None)
            self.running.add(future)

    def take_extra(self, future) -> bool:
        """Keep a finished extra's result; True when the stream is over (stopped, every extra back)."""
        self.out[self.extra_index[future.key]] = future.result()
        self.extras_done += 1
        if self.extra_done:
            self.extra_done(self.extras_done)
        return self.stopped and self.extras_done == len(self.extra_futures)

    def take_chunk(self, future) -> bool:
        """Consume the results now in chunk order, then refill the window; True when the stream is over."""
        if self.stopped:
            return False  # a chunk that was cancelled or finished after the stop
        self.finished += 1
        self.done[self.order[future.key]] = future.result()
        while not self.stopped and self.consumed in self.done:
            result = self.done.pop(self.consumed)
            self.pending.pop(self.consumed)
            self.consumed += 1
            self.stopped = self.consume(result)
            self.submit_extras()
        if self.stopped:
            for chunk_future in self.pending.values():
                chunk_future.cancel()
            self.pending.clear()
            return self.extras_done == len(self.extra_futures)
        self.fill_window()
        return False


def settings_of(executor: ExecutorSettings | ChunkExecutor | None) -> ExecutorSettings:
    """The settings of an executor given as settings, as an open executor, or not at all (serial defaults)."""
    if isinstance(executor, ChunkExecutor):
        return executor.settings
    return executor or ExecutorSettings()


def open_executor(executor: ExecutorSettings | ChunkExecutor | None) -> tuple[ChunkExecutor, bool]:
    """An open executor and whether the caller owns it (must close it): pass-through when already open."""
    if isinstance(executor, ChunkExecutor):
        return executor, False
    return ChunkExecutor(executor), True


def map_chunks(fn: Callable, chunks: Sequence, settings: ExecutorSettings | ChunkExecutor | None = None, progress=None) -> list:
    """``[fn(chunk) for chunk in chunks]``, in order, on the chosen backend."""
    ex, owned = open_executor(settings)
    try:
        return ex.map(fn, chunks, progress=progress)
    finally:
        if owned:
            ex.close()


_MAIN_LOCK = threading.Lock()  # one process-starting swap of __main__ at a time (Dask workers, the lab's sandbox)


@contextlib.contextmanager
def no_main_script():
    """While child processes start, hide the ``__main__`` script from multiprocessing.

    Spawned (and forkserver) children first re-run the parent's ``__main__`` file unless the parent has
    none. Under Streamlit ``__main__`` is the page being run: every Dask worker ran the whole page (imported
    Streamlit and Plotly, simulated what the page simulates) before its first task. The real module is
    put back only if nothing else replaced the stand-in meanwhile (Streamlit sets it at each page run).
    Workers that Dask restarts later (after a crash) start outside this window.
    """
    with _MAIN_LOCK:
        main = sys.modules.get("__main__")
        stand_in = types.ModuleType("__main__")  # no __file__, no __spec__: nothing to re-import in the child
        sys.modules["__main__"] = stand_in
        try:
            yield
        finally:
            if sys.modules.get("__main__") is stand_in:
                if main is None:
                    del sys.modules["__main__"]
                else:
                    sys.modules["__main__"] = main


@contextlib.contextmanager
def _quiet_shutdown():
    """Silence distributed's shutdown chatter ("Worker process still alive ... killing"): the workers are ours to stop."""
    loggers = [logging.getLogger(name) for name in _SHUTDOWN_LOGGERS]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


_SHUTDOWN_LOGGERS = ("distributed.nanny", "distributed.process", "distributed.worker", "distributed.core")
