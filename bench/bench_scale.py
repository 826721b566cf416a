"""Trial time and peak memory against population size, and Dask (2 workers) against serial.

Each size runs in its own subprocess (fresh interpreter, model compiled and a 5-patient trial run
before timing), on one untreated arm so that the run is cheap: the time is population sampling
(each candidate's 60-year natural history) plus the trial simulation. Memory is the peak resident
set size above the one after warm-up (``resource.getrusage``) with ``--rss``, or by default the peak
of the Python heap (tracemalloc: the arrays, records and patient rows that grow with n; the RSS after
warm-up is dominated by the compiled model and hides them at small n). Slopes are least-squares fits of log
time and log memory against log n (target close to 1: linear growth).

Prints ``RESULT name=value target=... ok=true|false`` lines. Default sizes 10^2, 10^3, 10^4
(a few minutes on 2 cores); ``--full`` adds 10^5 (optional, about half an hour serially).
Dask vs serial at ``--n-dask`` patients (default 10^4), both warmed up, LocalCluster start-up
excluded and printed apart; ``--repeat`` interleaved runs of each (default 3), best of each, because this
kind of machine drifts by 10-20% from one minute to the next; then the machine's ceiling (two
independent serial processes at once against one alone). Run: ``python bench/bench_scale.py [--sizes 100,1000] [--n-dask 1000]``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLOPE_TOLERANCE = 0.15  # |slope - 1| accepted as "close to 1"
DASK_TARGET = 1.7
CEILING_N = 2000  # patients per process when measuring what 2 independent processes get from this machine


def scenario(n: int) -> dict:
    """One untreated arm of ``n`` patients with CLARITY-like inclusion criteria."""
    return {
        "name": "scale",
        "seed": 3,
        "n_per_arm": n,
        "duration_weeks": 76,
        "assess_weeks": [24, 52, 76],
        "population": {"amyloid_cl": [37, None], "mmse": [20, 28]},
        "arms": [{"name": "placebo"}],
    }


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(n: int, backend: str, trace: bool) -> dict:
    """One measurement in this (fresh) process: seconds and peak memory of a trial of ``n`` patients."""
    from qsp.engine.executor import ChunkExecutor, ExecutorSettings
    from qsp.trial.run import run_trial

    settings = ExecutorSettings(backend=backend, n_workers=2 if backend == "dask" else None)
    with ChunkExecutor(settings) as ex:
        start = time.perf_counter()
        ex.parallelism  # noqa: B018 - starts the LocalCluster
        startup = time.perf_counter() - start
        run_trial(scenario(5), executor=ex)  # warm-up: compile the model here and on the workers
        base_rss = _rss_mb()
        if trace:
            import tracemalloc

            tracemalloc.start()
        start = time.perf_counter()
        result = run_trial(scenario(n), executor=ex)
        seconds = time.perf_counter() - start
        heap = tracemalloc.get_traced_memory()[1] / 2**20 if trace else None
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    return {
        "n": n, "backend": backend, "seconds": seconds, "startup_s": startup,
        "memory_mb": heap if trace else max(peak_rss - base_rss, 0.0), "peak_rss_mb": peak_rss,
        "failed": int(result.patients["failed"].sum()),
    }


def measure(n: int, backend: str = "serial", trace: bool = False) -> dict:
    cmd = [sys.executable, __file__, "--child", str(n), "--backend", backend] + ([] if trace else ["--rss"])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return json.loads(out.strip().splitlines()[-1])


def slope(xs, ys) -> float:
    """Least-squares slope of log y against log x."""
    lx, ly = [math.log(x) for x in xs], [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly)) / sum((a - mx) ** 2 for a in lx)


def ok(flag: bool) -> str:
    return "true" if flag else "false"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="comma-separated patient counts (default 100,1000,10000)")
    parser.add_argument("--full", action="store_true", help="also 100000 patients (optional; long)")
    parser.add_argument("--n-dask", type=int, default=10_000, help="patients for Dask vs serial (default 10000; 0 skips)")
    parser.add_argument("--repeat", type=int, default=3, help="interleaved serial/Dask runs, best of each (default 3)")
    parser.add_argument("--rss", action="store_true", help="memory as peak RSS above warm-up instead of the Python-heap peak")
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--backend", default="serial", help=argparse.SUPPRESS)
    parser.add_argument("--tracemalloc", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.tracemalloc = not args.rss
    if args.child:
        print(json.dumps(child(args.child, args.backend, args.tracemalloc)))
        return
    sizes = sorted({int(s) for s in args.sizes.split(",")} | ({100_000} if args.full else set()))
    print(f"# {os.cpu_count()} cores, Python {sys.version.split()[0]}, memory = "
          f"{'Python heap peak (tracemalloc)' if args.tracemalloc else 'peak RSS above warm-up'}")
    runs = {}
    for n in sizes:
        r = runs[n] = measure(n, trace=args.tracemalloc)
        print(f"# n={n}: {r['seconds']:.2f} s ({1e3 * r['seconds'] / n:.2f} ms/patient), memory {r['memory_mb']:.1f} MiB "
              f"(peak RSS {r['peak_rss_mb']:.0f} MiB), {r['failed']} failed")
        print(f"RESULT time_s_n{n}={r['seconds']:.2f} target=info ok=true")
        print(f"RESULT memory_mib_n{n}={r['memory_mb']:.1f} target=info ok=true")
    if len(sizes) >= 2:
        t_slope = slope(sizes, [runs[n]["seconds"] for n in sizes])
        print(f"RESULT time_slope={t_slope:.2f} target=1±{SLOPE_TOLERANCE} ok={ok(abs(t_slope - 1) <= SLOPE_TOLERANCE)}")
        mem = [(n, runs[n]["memory_mb"]) for n in sizes if runs[n]["memory_mb"] > 0]
        if len(mem) >= 2:
            m_slope = slope([n for n, _ in mem], [m for _, m in mem])
            print(f"RESULT memory_slope={m_slope:.2f} target=1±{SLOPE_TOLERANCE} ok={ok(abs(m_slope - 1) <= SLOPE_TOLERANCE)}")
        else:
            print("RESULT memory_slope=nan target=1 ok=false  # memory above warm-up not measurable at these sizes")
    if args.n_dask:
        # interleaved runs, best of each: the machine's speed drifts by 10-20% between minutes
        serial_s, dask_s, startup = [], [], []
        for _ in range(args.repeat):
            serial_s.append(measure(args.n_dask)["seconds"])
            d = measure(args.n_dask, backend="dask")
            dask_s.append(d["seconds"])
            startup.append(d["startup_s"])
        speedup = min(serial_s) / min(dask_s)
        print(f"# n={args.n_dask}: serial {', '.join(f'{x:.2f}' for x in serial_s)} s, Dask 2 workers "
              f"{', '.join(f'{x:.2f}' for x in dask_s)} s (best of {args.repeat} each, interleaved; "
              f"+{max(startup):.1f} s LocalCluster start-up, not counted)")
        print(f"RESULT dask2_speedup_n{args.n_dask}={speedup:.2f} target>={DASK_TARGET} ok={ok(speedup >= DASK_TARGET)}")
        # the machine's own ceiling: two independent serial processes at once against one alone
        alone = measure(CEILING_N)["seconds"]
        pair = [subprocess.Popen([sys.executable, __file__, "--child", str(CEILING_N), "--rss"], stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, cwd=ROOT) for _ in range(2)]
        together = max(json.loads(p.communicate()[0].strip().splitlines()[-1])["seconds"] for p in pair)
        print(f"# ceiling: one serial process {alone:.2f} s at n={CEILING_N}; two at once {together:.2f} s")
        ceiling = 2 * alone / together
        print(f"RESULT two_process_ceiling={ceiling:.2f} target=info ok=true")
        print(f"RESULT dask2_share_of_ceiling={speedup / ceiling:.2f} target=info ok=true")


if __name__ == "__main__":
    main()
