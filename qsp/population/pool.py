"""The natural-history pool: untreated virtual patients simulated once per model and kept on disk.

Sampling a trial population used to simulate every candidate's untreated history from amyloid onset
(60 years) each time a trial ran, which was most of a trial's time. A candidate's history depends only
on the model (SBML, parameter overrides, solver settings, observable mapping), the history grid and
the candidate's random stream ``(seed, index)``; so it is simulated once and kept in a columnar file
(Parquet), in blocks of :data:`BLOCK_SIZE` consecutive candidates of a stream:
``<pool root>/<pool key>/seed-<seed>/block-<number>.parquet``.

- The key is a sha256 of everything the history depends on (:func:`pool_key`): a changed model,
  parameter or solver setting never reuses a stale pool, it keys a new one.
- Enrolment (eligibility and the draw of the baseline time point) is then a vectorised pass over the
  stored histories; the patients are exactly those simulating would give, whatever the chunking or
  backend (blocks are simulated whole, each candidate from its own stream).
- Blocks are built lazily, when a trial first needs them, and the pool grows on demand (rare criteria
  simply read further into the stream). A file that cannot be read is rebuilt; a directory that
  cannot be written is skipped (the pool is a cache: results never depend on it).
- Pools are written only for the model's own parameters (no overrides): uncertainty propagation and
  calibration try thousands of parameter sets that would never be reused. They are kept in memory only.

The pool root is ``$QSP_POOL_DIR`` (``off`` disables the disk), else ``~/.ad_qsp/pools``.
"""

from __future__ import annotations

import collections
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from qsp import constants as C
from qsp.engine.simulate import Engine

BLOCK_SIZE = 100  # candidates per stored block
POOL_FORMAT = 2  # bump when the stored layout or the history computation changes
STORED = (C.AMYLOID_CL, C.TAU_SUVR, C.IADRS, C.CDRSB, C.MMSE, C.AMYLOID_LAGGED_CL, C.SEVERITY)  # observables kept
MEMORY_BLOCKS = 24  # blocks kept in memory per process (about 8 MB each)
DEFAULT_ROOT = Path.home() / ".ad_qsp" / "pools"  # when $QSP_POOL_DIR is not set

# (seed, index, engine, years) -> untreated observables (times x len(C.OBSERVABLES)), or None when the solver failed
Simulate = Callable[[int, int, Engine, np.ndarray], "np.ndarray | None"]
_memory: collections.OrderedDict = collections.OrderedDict()
_lock = threading.Lock()


def pool_root() -> Path | None:
    """The directory pools are kept in; None when ``$QSP_POOL_DIR`` is ``off``."""
    value = os.environ.get("QSP_POOL_DIR", "").strip()
    if value.lower() == "off":
        return None
    return Path(value).expanduser() if value else DEFAULT_ROOT


def pool_key(engine: Engine, years: np.ndarray) -> str:
    """sha256 of what a candidate's untreated history depends on (model, overrides, IIV SDs, solver, mapping, grid)."""
    model = engine.model
    spec = {
        "format": POOL_FORMAT,
        "sbml_sha256": model.sha256,
        "overrides": sorted((k, repr(float(v))) for k, v in engine.overrides.items()),
        "eta_sd": sorted((k, repr(float(v))) for k, v in engine.eta_sd.items()),  # parameters.csv, not the SBML
        "solver": model.solver.model_dump(mode="json"),
        "mapping": model.mapping.model_dump(mode="json") if model.mapping else None,
        "years": [repr(float(years[0])), repr(float(years[-1])), len(years)],
        "stored": STORED,
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _block_path(root: Path, key: str, seed: int, block: int) -> Path:
    return root / key[:32] / f"seed-{seed}" / f"block-{block:07d}.parquet"


def _read_block(path: Path, years: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(histories: BLOCK_SIZE x times x STORED, failed flags) from a block file; None if absent or unreadable."""
    if not path.is_file():
        return None
    try:
        table = pq.read_table(path)
        failed = np.array(json.loads(table.schema.metadata[b"failed"]), dtype=bool)
        values = np.stack([table.column(name).to_numpy() for name in STORED], axis=-1)
        histories = values.reshape(BLOCK_SIZE, len(years), len(STORED))
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None  # unreadable or from another layout: rebuilt by the caller
    if failed.shape != (BLOCK_SIZE,):
        return None
    return histories, failed


def _write_block(path: Path, histories: np.ndarray, failed: np.ndarray) -> None:
    """Write a block atomically (temporary file + rename); silently skipped when the disk refuses."""
    columns = {name: histories[:, :, k].reshape(-1) for k, name in enumerate(STORED)}
    table = pa.table(columns).replace_schema_metadata({"failed": json.dumps(failed.tolist())})
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as tmp:
            pq.write_table(table, tmp.name, compression="zstd")
        os.replace(tmp.name, path)
    except OSError:
        return


def _simulate_block(engine: Engine, seed: int, block: int, years: np.ndarray,
                    simulate: Simulate) -> tuple[np.ndarray, np.ndarray]:
    """Untreated histories of the block's candidates, each simulated from its own random stream."""
    histories = np.full((BLOCK_SIZE, len(years), len(STORED)), np.nan)
    failed = np.zeros(BLOCK_SIZE, dtype=bool)
    columns = [C.OBSERVABLES.index(name) for name in STORED]
    for i in range(BLOCK_SIZE):
        values = simulate(seed, block * BLOCK_SIZE + i, engine, years)
        if values is None:
            failed[i] = True
        else:
            histories[i] = values[:, columns]
    return histories, failed


def history_block(engine: Engine, seed: int, block: int, years: np.ndarray,
                  simulate: Simulate) -> tuple[np.ndarray, np.ndarray]:
    """The stored untreated histories of one block: from memory, else disk, else simulated (and kept)."""
    key = pool_key(engine, years)
    with _lock:
        if (key, seed, block) in _memory:
            _memory.move_to_end((key, seed, block))
            return _memory[(key, seed, block)]
    root = pool_root() if not engine.overrides else None
    path = _block_path(root, key, seed, block) if root is not None else None
    found = _read_block(path, years) if path is not None else None
    if found is None:
        found = _simulate_block(engine, seed, block, years, simulate)
        if path is not None:
            _write_block(path, *found)
    with _lock:
        _memory[(key, seed, block)] = found
        while len(_memory) > MEMORY_BLOCKS:
            _memory.popitem(last=False)
    return found


def histories(engine: Engine, seed: int, start: int, stop: int, years: np.ndarray,
              simulate: Simulate) -> dict[int, np.ndarray | None]:
    """Candidate index -> untreated history (times x len(C.OBSERVABLES), NaN where not stored) or None if it failed."""
    out: dict[int, np.ndarray | None] = {}
    columns = [C.OBSERVABLES.index(name) for name in STORED]
    for block in range(start // BLOCK_SIZE, (stop - 1) // BLOCK_SIZE + 1):
        stored, failed = history_block(engine, seed, block, years, simulate)
        for index in range(max(start, block * BLOCK_SIZE), min(stop, (block + 1) * BLOCK_SIZE)):
            i = index - block * BLOCK_SIZE
            if failed[i]:
                out[index] = None
                continue
            full = np.full((len(years), len(C.OBSERVABLES)), np.nan)
            full[:, columns] = stored[i]
            out[index] = full
    return out


def describe_pool(engine: Engine, years: np.ndarray) -> dict:
    """What a result's provenance records about the pool it enrolled from."""
    return {"key": pool_key(engine, years), "format": POOL_FORMAT, "block_size": BLOCK_SIZE,
            "persisted": pool_root() is not None and not engine.overrides}
