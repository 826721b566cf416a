"""One executor interface for chunked work: serial by default, Dask when asked.

``serial`` runs chunks in this process. ``dask`` starts a LocalCluster sized to the machine,
or connects to an existing scheduler (``scheduler`` or ``DASK_SCHEDULER_ADDRESS``). Work is
sent in chunks, never one task per patient, and results come back in chunk order, so a run
gives the same numbers whatever the backend or the number of workers.
"""

from __future__ import annotations

import os
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
                self._cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
                self._client = Client(self._cluster)
        except (OSError, TimeoutError) as exc:
            self.close()
            raise QSPError(
                f"scheduler: cannot reach a Dask scheduler at {settings.scheduler!r} within {settings.connect_timeout_s:g} s ({exc})"
            ) from None
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
        from dask.distributed import as_completed

        client = self._connect()
        window = in_flight or 2 * self.parallelism
        pending: dict[int, object] = {}  # chunk number -> future, submitted and not yet consumed
        done: dict[int, object] = {}  # chunk number -> result, finished out of order
        order: dict = {}  # future key -> chunk number
        extra_index: dict = {}  # future key -> position among the extras
        extra_futures: list = []
        out: list = []  # the extras' results
        submitted = consumed = finished = extras_done = 0
        stopped = False
        running = as_completed()

        def submit() -> bool:
            nonlocal submitted
            chunk = next_chunk()
            if chunk is None:
                return False
            future = client.submit(fn, chunk, pure=False)
            order[future.key], pending[submitted] = submitted, future
            running.add(future)
            submitted += 1
            return True

        def submit_extras() -> None:
            while len(extra_futures) < len(extras):
                task, arg = extras[len(extra_futures)]
                future = client.submit(task, arg, pure=False)
                extra_index[future.key] = len(extra_futures)
                extra_futures.append(future)
                out.append(None)
                running.add(future)

        try:
            while submitted - finished < window and submit():
                pass
            for future in running:
                if future.key in extra_index:
                    out[extra_index[future.key]] = future.result()
                    extras_done += 1
                    if extra_done:
                        extra_done(extras_done)
                    if stopped and extras_done == len(extra_futures):
                        break
                    continue
                if stopped:
                    continue  # a chunk that was cancelled or finished after the stop
                finished += 1
                done[order[future.key]] = future.result()
                while not stopped and consumed in done:
                    result = done.pop(consumed)
                    pending.pop(consumed)
                    consumed += 1
                    stopped = consume(result)
                    submit_extras()
                if stopped:
                    for chunk_future in pending.values():
                        chunk_future.cancel()
                    pending.clear()
                    if extras_done == len(extra_futures):
                        break
                    continue
                while submitted - finished < window and submit():
                    pass
            return out
        finally:
            for future in (*pending.values(), *extra_futures):
                future.cancel()

    def close(self) -> None:
        """Close the Dask client and the LocalCluster this executor started (no-op when serial)."""
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
