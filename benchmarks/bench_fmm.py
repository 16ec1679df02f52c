"""Benchmark ``imdiffuse.fmm`` against scikit-fmm and SimpleITK: compatibility, accuracy, speed.

Sections (``--section`` picks some; all by default):

A. Compatibility.  Random smooth phi (Gaussian-filtered noise) in 1-D, 2-D,
   3-D with per-axis dx, with/without a mask, a narrow band, periodic axes;
   distance, travel_time (variable speed) and extension_velocities, order 1
   and 2: the largest |ours - scikit-fmm| over all cases (and whether the
   masks agree).
B. Accuracy.  phi = |x|^2 - r^2, r = 0.5, nodes x_i = -1 + 2 i / (N - 1):
   circle N = 128, 256, 512, 1024 and sphere N = 32, 64, 128, 160.  L1 / L2 /
   Linf error of the signed distance, the observed orders between
   successive N, for scikit-fmm order 2, ours order 2 with init="linear"
   (= scikit-fmm), ours order 2 with init="high_order", and SimpleITK's
   FastMarchingImageFilter (unsigned distance, trial points = the nodes next
   to the front with scikit-fmm's initial values; compared with |exact|).
C. Speed, one thread.  Circle 1024^2 and sphere 160^3, order 1 and 2: best
   of N calls of scikit-fmm, ours (linear and high_order init) and SimpleITK
   (trial points given, conversions included); ratio scikit-fmm / ours.
D. Point sources.  ``arrival_time`` with speed 1 from one seed (on and off
   the grid) in 2-D (256^2) and 3-D (64^3): max relative error at >= 10
   cells, and the time of the call.
E. First call.  A fresh process: cold Numba cache (empty NUMBA_CACHE_DIR)
   and warm cache, ``fmm.distance`` on 64^2.
F. Fast sweeping vs fast marching, order 1, 1 thread: ``method="fsm"``
   against ``method="fmm"`` and scikit-fmm on workloads of three kinds:
   distance to two circles (2-D 1024^2, 2048^2) and a sphere (3-D 160^3),
   travel time with a smoothly varying speed (2-D 1024^2), and distance
   through a maze of walls (2-D 512^2, masked obstacles: winding paths).
   Max |fsm - fmm| and times; ratio = scikit-fmm time / this time.

Run: ``python benchmarks/bench_fmm.py`` (~3 min on 2 cores) or ``--quick``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, load_average, print_header, print_table, run_python, set_threads  # noqa: E402

from imdiffuse import fmm  # noqa: E402

try:
    import skfmm
except ImportError:  # pragma: no cover
    skfmm = None
try:
    import SimpleITK as sitk
except ImportError:  # pragma: no cover
    sitk = None


def ball(n, ndim, r=0.5):
    x = np.linspace(-1, 1, n)
    grids = np.meshgrid(*([x] * ndim), indexing="ij")
    r2 = sum(g * g for g in grids)
    return r2 - r * r, np.sqrt(r2) - r, float(x[1] - x[0])


def smooth(shape, seed):
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(np.random.default_rng(seed).normal(size=shape), 3, mode="wrap")


def sitk_distance(phi, h):
    """SimpleITK FastMarchingImageFilter from scikit-fmm's initial front (unsigned)."""
    front = fmm.distance(phi, dx=h, order=1, narrow=1e-300)  # only the initial front is unmasked
    idx = np.argwhere(~np.ma.getmaskarray(front))
    vals = np.abs(np.ma.getdata(front)[tuple(idx.T)])

    def run():
        img = sitk.GetImageFromArray(np.ones(phi.shape, np.float64))
        img.SetSpacing([h] * phi.ndim)
        f = sitk.FastMarchingImageFilter()
        f.SetTrialPoints([[int(v) for v in p[::-1]] for p in idx])
        f.SetInitialTrialValues([float(v) for v in vals])
        f.SetStoppingValue(1e30)
        return sitk.GetArrayFromImage(f.Execute(img))

    return run


def norms(d, exact):
    e = np.abs(np.asarray(d, dtype=np.float64) - exact)
    return e.mean(), np.sqrt((e * e).mean()), e.max()


def section_a(quick):
    print("A. Compatibility with scikit-fmm (max |difference|, masks compared)\n")
    if skfmm is None:
        print("skipped: scikit-fmm not installed\n")
        return
    rows = []
    for shape in ([(40,), (50, 60), (20, 24, 28)] if not quick else [(50, 60)]):
        phi = smooth(shape, 0)
        speed = 1 + 0.5 * np.tanh(5 * smooth(shape, 1))
        dx = [0.5 + 0.3 * i for i in range(len(shape))]
        mask = np.zeros(shape, bool)
        mask[tuple(slice(s // 3, s // 3 + 3) for s in shape)] = True
        for order in (1, 2):
            worst, same_mask, n = 0.0, True, 0
            for kw in ({}, {"narrow": 1.5}, {"periodic": True}, {"periodic": [True] + [False] * (len(shape) - 1)}):
                for p in (phi, np.ma.MaskedArray(phi, mask)):
                    if "periodic" in kw and isinstance(p, np.ma.MaskedArray):
                        continue
                    pairs = [(fmm.distance(p, dx=dx, order=order, **kw), skfmm.distance(p, dx=dx, order=order, **kw)),
                             (fmm.travel_time(p, speed, dx=dx, order=order, **kw),
                              skfmm.travel_time(p, speed, dx=dx, order=order, **kw))]
                    pairs += list(zip(fmm.extension_velocities(p, speed, dx=dx, order=order, **kw),
                                      skfmm.extension_velocities(p, speed, dx=dx, order=order, **kw)))
                    for a, b in pairs:
                        am, bm = np.ma.getmaskarray(a), np.ma.getmaskarray(b)
                        same_mask &= bool((am == bm).all())
                        if (~am).any():
                            worst = max(worst, float(np.abs(np.ma.getdata(a)[~am] - np.ma.getdata(b)[~am]).max()))
                        n += 1
            rows.append((f"{len(shape)}-D {shape}", order, n, worst, "yes" if same_mask else "NO"))
    print_table(rows, ["case", "order", "results", "max |diff|", "same mask"], {"max |diff|": ".2e"})
    print()


def section_b(quick):
    print("B. Accuracy: distance to a circle / sphere of radius 0.5 (order 2)\n")
    cases = [(2, [128, 256, 512, 1024] if not quick else [128, 256]), (3, [32, 64, 128, 160] if not quick else [32, 64])]
    rows = []
    for ndim, sizes in cases:
        prev = {}
        for n in sizes:
            phi, exact, h = ball(n, ndim)
            methods = {"ours high_order": lambda: fmm.distance(phi, dx=h, init="high_order"),
                       "ours linear": lambda: fmm.distance(phi, dx=h)}
            if skfmm is not None:
                methods["scikit-fmm"] = lambda: skfmm.distance(phi, dx=h)
            if sitk is not None:
                methods["SimpleITK"] = sitk_distance(phi, h)
            for name, fn in methods.items():
                d = fn()
                ref = np.abs(exact) if name == "SimpleITK" else exact
                l1, l2, li = norms(d, ref)
                o1 = o2 = None
                if name in prev:
                    (p1, p2, pn) = prev[name]
                    o1 = np.log(p1 / l1) / np.log((n - 1) / (pn - 1))
                    o2 = np.log(p2 / l2) / np.log((n - 1) / (pn - 1))
                prev[name] = (l1, l2, n)
                rows.append((f"{'circle' if ndim == 2 else 'sphere'} N={n}", name, l1, l2, li, o1, o2))
    print_table(rows, ["case", "method", "L1", "L2", "Linf", "order L1", "order L2"],
                {"L1": ".3e", "L2": ".3e", "Linf": ".3e", "order L1": ".2f", "order L2": ".2f"})
    print()


def section_c(quick):
    print("C. Speed, 1 thread (best of N calls; ratio = scikit-fmm time / this time)\n")
    set_threads(1)
    rows = []
    for ndim, n, repeat in ((2, 1024 if not quick else 512, 5), (3, 160 if not quick else 96, 3)):
        phi, exact, h = ball(n, ndim)
        for order in (1, 2):
            times = {}
            if skfmm is not None:
                times["scikit-fmm"] = best_time(lambda: skfmm.distance(phi, dx=h, order=order), repeat)[0]
            times["ours linear"] = best_time(lambda: fmm.distance(phi, dx=h, order=order), repeat)[0]
            times["ours high_order"] = best_time(lambda: fmm.distance(phi, dx=h, order=order, init="high_order"),
                                                 repeat)[0]
            if sitk is not None and order == 1:
                times["SimpleITK (order 1)"] = best_time(sitk_distance(phi, h), max(1, repeat - 2))[0]
            ref = times.get("scikit-fmm")
            for name, t in times.items():
                rows.append((f"{n}^{ndim}", order, name, t, None if ref is None else ref / t))
    print_table(rows, ["grid", "order", "method", "time (s)", "ratio"], {"time (s)": ".3f", "ratio": ".2f"})
    print()


def section_d(quick):
    print("D. Point sources: arrival_time, speed 1, max relative error at >= 10 cells\n")
    rows = []
    for shape in ((256, 256), (64, 64, 64)):
        c = np.array(shape) / 2
        for seed in (c, c + 0.37):
            for order in (1, 2):
                t, T = best_time(lambda: fmm.arrival_time(np.ones(shape), [seed], order=order), 2)
                r = np.sqrt(sum((g - s) ** 2 for g, s in zip(np.indices(shape), seed)))
                far = r >= 10
                rel = np.abs(T - r)[far] / r[far]
                rows.append((f"{len(shape)}-D {shape[0]}", "grid" if seed is c else "off-grid", order, rel.max(),
                             rel[r[far] >= 50].max(), t))
    print_table(rows, ["grid", "seed", "order", "max rel err r>=10", "r>=50", "time (s)"],
                {"max rel err r>=10": ".2e", "r>=50": ".2e", "time (s)": ".3f"})
    print()


def section_e(quick):
    print("E. First call in a fresh process (fmm.distance on 64^2, includes import)\n")
    code = ("import time; t = time.perf_counter(); import numpy as np; from imdiffuse import fmm; "
            "x = np.linspace(-1, 1, 64); X, Y = np.meshgrid(x, x); fmm.distance(X**2 + Y**2 - .25); "
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        rows = []
        for label in ("cold cache", "warm cache"):
            wall, proc = run_python(code, env={"NUMBA_CACHE_DIR": cache})
            rows.append((label, float(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else None, wall))
    print_table(rows, ["case", "in-process (s)", "wall incl. start (s)"], {"in-process (s)": ".2f",
                                                                           "wall incl. start (s)": ".2f"})
    print()


def _maze(n):
    walls = np.zeros((n, n), bool)
    for k, row in enumerate(range(n // 8, n, n // 8)):
        if k % 2:
            walls[row, n // 16:] = True
        else:
            walls[row, : n - n // 16] = True
    phi = np.ones((n, n))
    phi[2, 2] = -1.0
    return np.ma.MaskedArray(phi, walls)


def section_f(quick):
    print("F. Fast sweeping (method='fsm') vs fast marching, order 1, 1 thread (ratio = scikit-fmm / this)\n")
    set_threads(1)
    rows = []
    cases = []
    for n in ((512,) if quick else (1024, 2048)):
        x = np.linspace(-1, 1, n)
        X, Y = np.meshgrid(x, x, indexing="ij")
        phi = np.minimum((X - 0.1) ** 2 + Y**2 - 0.25, (X + 0.5) ** 2 + (Y - 0.6) ** 2 - 0.01)
        cases.append((f"distance, 2 circles {n}^2", phi, None, float(x[1] - x[0])))
    phi3, _, h3 = ball(64 if quick else 160, 3)
    cases.append((f"distance, sphere {phi3.shape[0]}^3", phi3, None, h3))
    n = 512 if quick else 1024
    x = np.linspace(-1, 1, n)
    X, Y = np.meshgrid(x, x, indexing="ij")
    cases.append((f"travel time, varying speed {n}^2", X**2 + Y**2 - 0.04, 1 + 0.5 * np.sin(5 * X) * np.cos(3 * Y),
                  float(x[1] - x[0])))
    cases.append(("distance, maze 512^2", _maze(512), None, 1.0))
    for name, phi, speed, h in cases:
        if speed is None:
            run = {"scikit-fmm": lambda: skfmm.distance(phi, dx=h, order=1),
                   "fmm": lambda: fmm.distance(phi, dx=h, order=1),
                   "fsm": lambda: fmm.distance(phi, dx=h, order=1, method="fsm")}
        else:
            run = {"scikit-fmm": lambda: skfmm.travel_time(phi, speed, dx=h, order=1),
                   "fmm": lambda: fmm.travel_time(phi, speed, dx=h, order=1),
                   "fsm": lambda: fmm.travel_time(phi, speed, dx=h, order=1, method="fsm")}
        if skfmm is None:
            del run["scikit-fmm"]
        times, results = {}, {}
        for label, fn in run.items():
            times[label], results[label] = best_time(fn, 2 if quick else 3)
        diff = float(np.ma.filled(np.abs(results["fsm"] - results["fmm"]), 0.0).max())
        ref = times.get("scikit-fmm")
        for label, t in times.items():
            rows.append((name, label, t, None if ref is None else ref / t, diff if label == "fsm" else None))
    print_table(rows, ["workload", "method", "time (s)", "ratio", "max |fsm - fmm|"],
                {"time (s)": ".3f", "ratio": ".2f", "max |fsm - fmm|": ".1e"})
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--section", action="append", choices=list("ABCDEF"), help="run only these sections")
    args = parser.parse_args(argv)
    versions = {"numpy": np.__version__}
    if skfmm is not None:
        versions["scikit-fmm"] = getattr(skfmm, "__version__", "?")
    if sitk is not None:
        versions["SimpleITK"] = sitk.Version_VersionString()
    print_header("imdiffuse.fmm benchmark", versions)
    fmm.distance(np.array([[1.0, -1.0]]))  # compile outside the timings
    fmm.distance(np.array([[1.0, -1.0]]), init="high_order")
    fmm.distance(np.ones((2, 2, 2)) - 2 * np.eye(2)[None])
    fmm.distance(np.array([[1.0, -1.0]]), order=1, method="fsm")
    for name in args.section or "ABCDEF":
        {"A": section_a, "B": section_b, "C": section_c, "D": section_d, "E": section_e,
         "F": section_f}[name](args.quick)
    print("load average at end: " + load_average())


if __name__ == "__main__":
    main()
