"""Benchmark reaction-diffusion texture synthesis (Gray-Scott): speed against NumPy, pattern classes.

Sections (``--section`` picks some; all by default):

A. Speed.  ``reaction_diffusion`` on a 512^2 grid (periodic, preset
   "mitosis", random start, seed 0) for 10,000 explicit steps, float32
   (the default) and float64, with all threads and with one; against the
   same scheme written in vectorised NumPy (``np.roll`` for the periodic
   Laplacian, ``imdiffuse.texture._numpy_steps``) in the same dtype.  The
   ratio is NumPy time / imdiffuse time per step, each the best of three
   windows of 100 steps (20 in 3-D) from the same start, run alternately so
   that a busy machine slows both alike; NumPy's total is extrapolated.  Also a 96^3 volume
   (500 steps) and the anisotropic (tensor) path on 256^2 (1,000 steps).
   Before timing, 20 float64 steps of both are compared (max |difference|).

B. Pattern classes.  Every preset on 256^2 from the random start (seed 3,
   default t = 10000): the number of connected blobs of v above the
   midpoint of its range, the fraction of the plane they cover, their
   median eccentricity, the Euler number, the dominant wavelength of the
   radial power spectrum and the motion over 400 more time units, with the
   class these imply (a rough heuristic).

Usage::

    python benchmarks/bench_texture.py            # full run, ~2-3 min on 2 cores
    python benchmarks/bench_texture.py --quick    # smoke test (128^2, 500 steps)
    python benchmarks/bench_texture.py --section A
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, max_threads, print_header, print_table, set_threads  # noqa: E402

import imdiffuse as imd  # noqa: E402
from imdiffuse import texture as tx  # noqa: E402


def numpy_run(u0, v0, n, preset, dtype, periodic=True):
    F, k, Du, Dv, _ = tx.PRESETS[preset]
    ndim = u0.ndim
    dt = tx._preset_step(preset, ndim)
    c = np.dtype(dtype).type
    return tx._numpy_steps(u0.astype(dtype), v0.astype(dtype), n, c(dt), (1.0,) * ndim, (periodic,) * ndim,
                           c(F), c(k), c(Du), c(Dv))


def section_a(quick):
    preset = "mitosis"
    size = 128 if quick else 512
    steps = 500 if quick else 10000
    np_steps = 20 if quick else 100
    shape = (size, size)
    u0, v0 = imd.reaction_diffusion(shape, preset=preset, t=1e-9, seed=0, field="both", dtype=np.float64)

    # agreement first (float64, 20 steps)
    ui, vi = imd.reaction_diffusion(shape, preset=preset, init=(u0, v0), n_steps=20, dtype=np.float64, field="both")
    ur, vr = numpy_run(u0, v0, 20, preset, np.float64)
    print(f"agreement after 20 float64 steps on {size}^2: max |u - u_numpy| = {np.abs(ui - ur).max():.2e}, "
          f"max |v - v_numpy| = {np.abs(vi - vr).max():.2e}\n")

    rows = []
    nthreads = max_threads()

    def run_case(label, shp, n, n_np, dtype, u0, v0, tensor=None):
        """The full n-step run per thread count, and the per-step ratio to NumPy on equal windows.

        The ratio compares the best of 3 windows of n_np steps of each, from the
        same start, taken alternately (a busy machine slows both alike).
        """
        threads_list = (nthreads, 1) if nthreads > 1 else (1,)
        for th in threads_list:
            set_threads(th)
            t_full, _ = best_time(lambda: imd.reaction_diffusion(shp, preset=preset, init=(u0, v0), n_steps=n,
                                                                dtype=dtype, tensor=tensor), repeat=1, warmup=0)
            best_ours = best_np = np.inf
            for _ in range(3):
                t0 = time.perf_counter()
                imd.reaction_diffusion(shp, preset=preset, init=(u0, v0), n_steps=n_np, dtype=dtype, tensor=tensor)
                best_ours = min(best_ours, time.perf_counter() - t0)
                t0 = time.perf_counter()
                numpy_run(u0, v0, n_np, preset, dtype)
                best_np = min(best_np, time.perf_counter() - t0)
            per, per_np = best_ours / n_np, best_np / n_np
            rows.append((label, np.dtype(dtype).name, th, n, t_full, t_full / n * 1e3, per_np * n, per_np * 1e3,
                         per_np / per, t_full / n / np.prod(shp) * 1e9))
        set_threads(nthreads)

    # warm-up: compile / load every kernel variant outside the timings
    for dtype in (np.float32, np.float64):
        imd.reaction_diffusion((16, 16), preset=preset, n_steps=2, dtype=dtype)
        imd.reaction_diffusion((4, 4, 4), preset=preset, n_steps=2, dtype=dtype)
        imd.reaction_diffusion((16, 16), preset=preset, n_steps=2, dtype=dtype,
                               tensor=np.broadcast_to(np.eye(2), (16, 16, 2, 2)))

    for dtype in (np.float32, np.float64):
        run_case(f"{size}^2", shape, steps, np_steps, dtype, u0, v0)
    n3 = 32 if quick else 96
    u3, v3 = imd.reaction_diffusion((n3,) * 3, preset=preset, t=1e-9, seed=0, field="both", dtype=np.float64)
    run_case(f"{n3}^3", (n3,) * 3, 100 if quick else 500, 10 if quick else 20, np.float32, u3, v3)
    nt = 64 if quick else 256
    ut, vt = imd.reaction_diffusion((nt, nt), preset=preset, t=1e-9, seed=0, field="both", dtype=np.float64)
    theta = np.linspace(0.0, np.pi, nt)[None, :] * np.ones((nt, nt))
    n = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    D = 0.25 * np.eye(2) + 0.75 * n[..., :, None] * n[..., None, :]
    run_case(f"{nt}^2 tensor", (nt, nt), 100 if quick else 1000, 10 if quick else 50, np.float32, ut, vt, tensor=D)
    print("Section A: speed.  'imdiffuse (s)': the full run; NumPy = the same scheme with np.roll (isotropic "
          "Laplacian even for the tensor row), 'total' extrapolated from its per-step time; 'NumPy / ours': "
          f"per-step ratio, best of 3 alternating windows of {np_steps} (2-D) steps from the same start")
    print_table(rows, ["grid", "dtype", "threads", "steps", "imdiffuse (s)", "ms/step", "NumPy total (s)",
                       "NumPy ms/step", "NumPy / ours", "ns/point/step"],
                specs={"imdiffuse (s)": ".3f", "ms/step": ".3f", "NumPy total (s)": ".1f", "NumPy ms/step": ".2f",
                       "NumPy / ours": ".1f", "ns/point/step": ".2f"})
    print()


def dominant_wavelength(v):
    n = v.shape[0]
    power = np.abs(np.fft.fft2(v - v.mean())) ** 2
    fy, fx = np.meshgrid(np.fft.fftfreq(v.shape[0]), np.fft.fftfreq(v.shape[1]), indexing="ij")
    ring = np.bincount(np.rint(np.hypot(fy, fx) * n).astype(int).ravel(), power.ravel())[: n // 2]
    ring[0] = 0.0
    return n / max(int(np.argmax(ring)), 1)


def section_b(quick):
    from skimage import measure

    size = 128 if quick else 256
    rows = []
    for name in tx.PRESETS:
        t0 = time.perf_counter()
        u, v = imd.reaction_diffusion((size, size), preset=name, seed=3, field="both")
        seconds = time.perf_counter() - t0
        later = imd.reaction_diffusion((size, size), preset=name, init=(u, v), t=400)
        motion = float(np.abs(later - v).mean() / v.std())
        mask = v > 0.5 * (float(v.min()) + float(v.max()))
        labels = measure.label(mask, connectivity=2)
        props = measure.regionprops(labels)
        ecc = float(np.median([p.eccentricity for p in props])) if props else float("nan")
        euler = int(measure.euler_number(mask, connectivity=2))
        n = int(labels.max())
        frac = float(mask.mean())
        if n == 0:
            kind = "none"
        elif motion > 0.5:
            kind = "moving (waves / chaos)"
        elif frac > 0.6 and euler < -n:
            kind = "holes"
        elif n >= 0.0015 * size * size and ecc < 0.6:
            kind = "spots"
        elif n >= 0.0008 * size * size and ecc >= 0.8:
            kind = "worms"
        elif n < 0.0008 * size * size and frac > 0.3:
            kind = "stripes / labyrinth"
        else:
            kind = "mixed"
        F, k = tx.PRESETS[name][:2]
        rows.append((name, F, k, n, frac, ecc, euler, dominant_wavelength(v), motion, kind, seconds))
    print(f"Section B: pattern classes, {size}^2, seed 3, t = {tx.DEFAULT_T:g}; motion = mean |v(t + 400) - v(t)| "
          "/ std(v)")
    print_table(rows, ["preset", "F", "k", "blobs", "cover", "median ecc.", "Euler", "wavelength", "motion",
                       "class (heuristic)", "time (s)"],
                specs={"F": ".4f", "k": ".4f", "cover": ".2f", "median ecc.": ".2f", "wavelength": ".1f",
                       "motion": ".3f", "time (s)": ".2f"})
    print()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small smoke run")
    parser.add_argument("--section", default="AB", help="sections to run, e.g. A or AB (default AB)")
    args = parser.parse_args()
    import numba

    print_header("imdiffuse reaction-diffusion benchmark" + (" (quick)" if args.quick else ""),
                 {"imdiffuse": imd.__version__, "numpy": np.__version__, "numba": numba.__version__})
    if "A" in args.section.upper():
        section_a(args.quick)
    if "B" in args.section.upper():
        section_b(args.quick)


if __name__ == "__main__":
    main()
