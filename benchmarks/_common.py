"""Small helpers shared by the benchmark scripts (timing, threads, tables).

Kept deliberately generic: nothing here knows about a particular imdiffuse
function, so every ``bench_*.py`` script can reuse it.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from typing import Callable, Sequence

__all__ = [
    "best_time",
    "set_threads",
    "max_threads",
    "run_python",
    "format_value",
    "print_table",
    "print_header",
    "load_average",
]


def best_time(fn: Callable[[], object], repeat: int = 5, warmup: int = 1):
    """Best wall time of ``fn()`` over ``repeat`` calls after ``warmup`` untimed calls.

    Uses :func:`time.perf_counter`.  Returns ``(seconds, result)`` with the
    result of the last call, so a caller can check what was timed.
    """
    result = None
    for _ in range(warmup):
        result = fn()
    best = float("inf")
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def max_threads() -> int:
    """The largest thread count Numba accepts (its ``NUMBA_NUM_THREADS``)."""
    import numba

    return int(numba.config.NUMBA_NUM_THREADS)


def set_threads(n: int) -> int:
    """Use ``n`` threads in Numba's parallel loops and (if installed) SimpleITK.

    ``n`` is clipped to :func:`max_threads`; returns the count actually set.
    SciPy's ``ndimage`` filters are single-threaded whatever this says.
    """
    import numba

    n = max(1, min(int(n), max_threads()))
    numba.set_num_threads(n)
    try:
        import SimpleITK as sitk
    except ImportError:
        pass
    else:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(n)
    return n


def run_python(code: str, env: dict | None = None, args: Sequence[str] = ()):
    """Run ``code`` in a fresh interpreter (this one's executable).

    ``env`` entries are added to (not substituted for) the current
    environment.  Returns ``(wall_seconds, CompletedProcess)``; stdout and
    stderr are captured as text.
    """
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    cmd = [sys.executable, *args, "-c", code]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=full_env, capture_output=True, text=True)
    return time.perf_counter() - t0, proc


def format_value(value, spec: str | None = None) -> str:
    """Text for one table cell: floats get ``spec`` (default 4 significant digits)."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if spec is not None:
            return format(value, spec)
        if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
            return f"{value:.2e}"
        return f"{value:.4g}"
    return str(value)


def print_table(rows: Sequence[Sequence], headers: Sequence[str], specs: dict | None = None, file=None) -> None:
    """Print ``rows`` under ``headers`` as an aligned plain-text table.

    ``specs`` maps a header to a format spec for that column's floats, e.g.
    ``{"time (s)": ".4f"}``.  Text columns are left-aligned, numbers right.
    """
    specs = specs or {}
    cells = [[format_value(v, specs.get(h)) for v, h in zip(row, headers)] for row in rows]
    numeric = [
        all(isinstance(row[i], (int, float)) or row[i] is None for row in rows) if rows else False
        for i in range(len(headers))
    ]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(items):
        parts = [s.rjust(w) if num else s.ljust(w) for s, w, num in zip(items, widths, numeric)]
        return "  ".join(parts).rstrip()

    out = file or sys.stdout
    print(line(headers), file=out)
    print("  ".join("-" * w for w in widths), file=out)
    for r in cells:
        print(line(r), file=out)
    out.flush()


def load_average() -> str:
    """The 1/5/15-minute load averages as text (other work on the machine skews timings)."""
    if not hasattr(os, "getloadavg"):
        return "unavailable"
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def print_header(title: str, versions: dict | None = None) -> None:
    """Print a title and the machine / library versions, for reproducible logs."""
    print(title)
    print("=" * len(title))
    print(f"python {platform.python_version()} on {platform.platform()}, {os.cpu_count()} logical CPUs")
    print("load average at start: " + load_average())
    if versions:
        print(", ".join(f"{k} {v}" for k, v in versions.items()))
    print()
