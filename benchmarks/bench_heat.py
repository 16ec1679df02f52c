"""Benchmark ``imdiffuse.heat`` against SciPy and SimpleITK Gaussian smoothing.

Everything runs in one process on the same data:

* 512x512 2-D (skimage ``camera`` + Gaussian noise) and 256^3 3-D (seeded
  ellipsoid phantom + Gaussian noise), float32;
* t = 2 and 8 (sigma = sqrt(2 t) = 2 and 4);
* ``imd.heat`` with scheme exact / explicit / fed / aos,
  ``scipy.ndimage.gaussian_filter(mode="reflect")`` (default truncate 4) and
  SimpleITK ``SmoothingRecursiveGaussian`` (numpy<->SimpleITK conversions
  inside the timed region);
* Numba (and SimpleITK) threads = 1 and 2.

For each row: best-of-N wall time after one warm-up call, scipy time / time
(> 1: faster than scipy), and the max abs difference, divided by the input's
dynamic range, to (a) ``heat(scheme="exact")`` (the continuous Gaussian) and
(b) the semi-discrete heat equation solved spectrally with a DCT-II.

Then, in fresh subprocesses: first-call latency of ``heat(scheme="fed")``
with a cold and a warm Numba cache, ``import imdiffuse`` time and
``imdiffuse --help`` wall time.

Usage::

    python benchmarks/bench_heat.py            # full (a few minutes)
    python benchmarks/bench_heat.py --quick    # 2-D + 128^3, 1 repeat
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy
import scipy.fft
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, load_average, max_threads, print_header, print_table, run_python, set_threads  # noqa: E402

import numba  # noqa: E402

import imdiffuse as imd  # noqa: E402

try:
    import SimpleITK as sitk
except ImportError:  # optional peer
    sitk = None

SCHEMES = ("exact", "explicit", "fed", "aos")
PDE_SCHEMES = ("explicit", "fed", "aos")
NOISE = 0.05


# --------------------------------------------------------------------------- data


def image_2d(n: int = 512, seed: int = 0) -> np.ndarray:
    """skimage's camera (scaled to [0, 1]) cropped/padded to n x n, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    try:
        from skimage import data

        cam = data.camera().astype(np.float32) / 255.0
    except Exception:  # no scikit-image: a smooth synthetic stand-in
        y, x = np.mgrid[0:n, 0:n] / n
        cam = (0.5 + 0.3 * np.sin(6 * x) * np.cos(4 * y) + 0.2 * ((x - 0.5) ** 2 + (y - 0.4) ** 2 < 0.05)).astype(
            np.float32
        )
    img = np.zeros((n, n), dtype=np.float32)
    m0, m1 = min(n, cam.shape[0]), min(n, cam.shape[1])
    img[:m0, :m1] = cam[:m0, :m1]
    img += rng.normal(0.0, NOISE, img.shape).astype(np.float32)
    return img


def image_3d(n: int, seed: int = 0, n_ellipsoids: int = 12) -> np.ndarray:
    """Piecewise-constant phantom of random ellipsoids in a body, plus Gaussian noise."""
    rng = np.random.default_rng(seed)
    c = np.linspace(-1.0, 1.0, n, dtype=np.float32)
    z, y, x = c[:, None, None], c[None, :, None], c[None, None, :]
    vol = np.zeros((n, n, n), dtype=np.float32)
    vol[(z / 0.9) ** 2 + (y / 0.8) ** 2 + (x / 0.85) ** 2 <= 1.0] = 0.3  # "body"
    for _ in range(n_ellipsoids):
        cz, cy, cx = rng.uniform(-0.5, 0.5, 3)
        az, ay, ax = rng.uniform(0.08, 0.35, 3)
        value = rng.uniform(-0.2, 0.7)
        mask = ((z - cz) / az) ** 2 + ((y - cy) / ay) ** 2 + ((x - cx) / ax) ** 2 <= 1.0
        vol[mask] += np.float32(value)
    vol += rng.normal(0.0, NOISE, vol.shape).astype(np.float32)
    return vol


# ---------------------------------------------------------------- reference solution


def semi_discrete_heat(u: np.ndarray, t: float) -> np.ndarray:
    """Exact solution of u' = L u (2d+1 point Laplacian, h = 1, reflecting ends), float64.

    The DCT-II diagonalises L; axis eigenvalues are -4 sin^2(pi k / (2 N)).
    """
    coef = scipy.fft.dctn(u.astype(np.float64), type=2, norm="ortho")
    decay = np.zeros(u.shape, dtype=np.float64)
    for axis, n in enumerate(u.shape):
        lam = -4.0 * np.sin(np.pi * np.arange(n) / (2.0 * n)) ** 2
        shape = [1] * u.ndim
        shape[axis] = n
        decay = decay + lam.reshape(shape)
    coef *= np.exp(t * decay)
    return scipy.fft.idctn(coef, type=2, norm="ortho")


def rel_maxdiff(a: np.ndarray, ref: np.ndarray, scale: float) -> float:
    return float(np.max(np.abs(a.astype(np.float64) - ref)) / scale)


# ---------------------------------------------------------------------- methods


def methods(img: np.ndarray, t: float):
    """(name, zero-argument callable) pairs, all smoothing ``img`` to time t."""
    sigma = math.sqrt(2.0 * t)
    out = [(f"imd.heat {s}", (lambda s=s: imd.heat(img, t, scheme=s))) for s in SCHEMES]
    out.append(("scipy gaussian_filter", lambda: ndimage.gaussian_filter(img, sigma, mode="reflect")))
    if sitk is not None:

        def sitk_smooth():
            im = sitk.GetImageFromArray(img)
            im.SetSpacing([1.0] * img.ndim)
            return sitk.GetArrayFromImage(sitk.SmoothingRecursiveGaussian(im, sigma))

        out.append(("sitk SmoothingRecursiveGaussian*", sitk_smooth))
    return out


def bench_arrays(cases, ts, threads):
    headers = ["method", "size", "t", "threads", "time (s)", "scipy/time", "err vs exact", "err vs semi-discrete"]
    rows = []
    for label, img, repeat in cases:
        scale = float(img.max() - img.min())
        for t in ts:
            exact = imd.heat(img, t, scheme="exact")
            semi = semi_discrete_heat(img, t)
            for n in threads:
                n_set = set_threads(n)
                timings = []
                for name, fn in methods(img, t):
                    seconds, result = best_time(fn, repeat=repeat, warmup=1)
                    assert result.dtype == np.float32, (name, result.dtype)
                    err_exact = 0.0 if name.endswith(" exact") else rel_maxdiff(result, exact, scale)
                    timings.append([name, label, t, n_set, seconds, None, err_exact, rel_maxdiff(result, semi, scale)])
                    del result
                ref = next(row[4] for row in timings if row[0].startswith("scipy"))
                for row in timings:
                    row[5] = ref / row[4]
                rows.extend(timings)
                print(f"  done: {label} t={t:g} threads={n_set}", flush=True)
            del exact, semi
    print()
    print_table(
        rows,
        headers,
        specs={"time (s)": ".4f", "scipy/time": ".2f", "err vs exact": ".2e", "err vs semi-discrete": ".2e", "t": "g"},
    )
    print()
    print("time: best of N calls after one warm-up call (N = %s)." % ", ".join(f"{c[0]}: {c[2]}" for c in cases))
    print("scipy/time: the scipy gaussian_filter time of the same size/t/threads divided by this row's (>1: faster).")
    print("err: max |u - ref| / (max(img) - min(img)); 'exact' = imd.heat(scheme='exact') (Gaussian, truncate 5);")
    print("     'semi-discrete' = DCT-II spectral solution of the 2d+1 point Laplacian heat equation (float64).")
    print("scipy gaussian_filter is single-threaded; the threads column sets Numba and SimpleITK threads only.")
    if sitk is not None:
        print("* SimpleITK time includes GetImageFromArray/GetArrayFromImage (numpy <-> ITK copies).")
    else:
        print("SimpleITK: skipped (not installed).")


# ------------------------------------------------------------------ subprocesses

FIRST_CALL_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import imdiffuse as imd
t1 = time.perf_counter()
img = np.random.default_rng(0).random((512, 512), dtype=np.float32)
t2 = time.perf_counter()
imd.heat(img, 2.0, scheme="fed")
t3 = time.perf_counter()
later = []
for _ in range(3):
    t4 = time.perf_counter()
    imd.heat(img, 2.0, scheme="fed")
    later.append(time.perf_counter() - t4)
print(json.dumps({"import": t1 - t0, "first": t3 - t2, "later": min(later)}))
"""

IMPORT_CODE = r"""
import json, sys, time
t0 = time.perf_counter()
import imdiffuse
t1 = time.perf_counter()
heavy = [m for m in ("numpy", "scipy", "numba", "skimage") if m in sys.modules]
print(json.dumps({"import": t1 - t0, "heavy": heavy}))
"""


def _json_or_error(proc):
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["(no stderr)"])[-1]
        return None, f"failed (rc={proc.returncode}): {tail}"
    return json.loads(proc.stdout.strip().splitlines()[-1]), None


def bench_startup(repeat: int):
    print()
    print("Startup (fresh subprocesses, default Numba threads = %d)" % max_threads())
    print("-" * 60)
    rows = []
    with tempfile.TemporaryDirectory(prefix="imd-numba-cache-") as cache:
        env = {"NUMBA_CACHE_DIR": cache}
        for label in ("cold (empty NUMBA_CACHE_DIR)", "warm (same cache dir, 2nd process)"):
            wall, proc = run_python(FIRST_CALL_CODE, env=env)
            res, err = _json_or_error(proc)
            if err:
                rows.append([label, None, None, None, wall, err])
            else:
                n_files = sum(len(f) for _, _, f in os.walk(cache))
                rows.append([label, res["import"], res["first"], res["later"], wall, f"{n_files} cache files"])
    print_table(
        rows,
        ["heat(512^2, t=2, scheme='fed')", "import np+imd (s)", "1st call (s)", "later calls (s)", "process wall (s)", "note"],
        specs={"import np+imd (s)": ".3f", "1st call (s)": ".3f", "later calls (s)": ".4f", "process wall (s)": ".2f"},
    )
    print("1st call includes lazy imports of imdiffuse submodules and Numba compilation (cold) or cache loading (warm);")
    print("'later calls' = best of 3 further calls in the same process.")

    print()
    rows = []
    walls, imports, heavy, err = [], [], [], None
    for _ in range(repeat):
        wall, proc = run_python(IMPORT_CODE)
        res, err = _json_or_error(proc)
        if err:
            break
        walls.append(wall)
        imports.append(res["import"])
        heavy = res["heavy"]
    if err:
        rows.append(["import imdiffuse", None, None, err])
    else:
        rows.append(
            ["import imdiffuse", min(imports), min(walls), "heavy modules loaded: " + (", ".join(heavy) or "none")]
        )
    base = min(run_python("pass")[0] for _ in range(repeat))
    rows.append(["python -c pass (baseline)", None, base, ""])

    script = shutil.which("imdiffuse", path=str(Path(sys.executable).parent)) or shutil.which("imdiffuse")
    if script is None:
        rows.append(["imdiffuse --help", None, None, "skipped: no 'imdiffuse' console script"])
    elif importlib.util.find_spec("imdiffuse.cli") is None:
        rows.append(["imdiffuse --help", None, None, f"skipped: {script} exists but imdiffuse.cli does not"])
    else:
        best, rc = math.inf, 0
        for _ in range(repeat):
            t0 = time.perf_counter()
            proc = subprocess.run([script, "--help"], capture_output=True, text=True)
            best = min(best, time.perf_counter() - t0)
            rc = proc.returncode
        rows.append(["imdiffuse --help", None, best, f"rc={rc}" + ("" if rc == 0 else " (FAILED)")])
    print_table(
        rows,
        ["command", "import (s)", "process wall (s)", "note"],
        specs={"import (s)": ".3f", "process wall (s)": ".3f"},
    )
    print(f"best of {repeat} fresh processes; 'import' is perf_counter around the import statement.")


# -------------------------------------------------------------------------- main


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2-D and 128^3 only, 1 repeat (smoke test)")
    parser.add_argument("--repeat", type=int, default=None, help="repeats for 2-D (3-D uses fewer); default 5")
    parser.add_argument("--times", type=float, nargs="+", default=[2.0, 8.0], help="stopping times t (default 2 8)")
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default 1 2)")
    args = parser.parse_args(argv)

    if args.quick:
        rep2, rep3, n3 = 1, 1, 128
    else:
        rep2 = args.repeat or 5
        rep3, n3 = max(1, min(rep2, 2)), 256
    versions = {
        "imdiffuse": imd.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "numba": numba.__version__,
        "SimpleITK": sitk.Version_VersionString() if sitk is not None else "not installed (skipped)",
    }
    print_header("imdiffuse.heat benchmark" + (" (--quick)" if args.quick else ""), versions)

    cases = [("512^2", image_2d(512), rep2), (f"{n3}^3", image_3d(n3), rep3)]
    bench_arrays(cases, args.times, args.threads)
    print(f"Numba threading layer: {numba.threading_layer()}, NUMBA_NUM_THREADS = {max_threads()}")
    bench_startup(1 if args.quick else 3)
    print()
    print(f"load average at end: {load_average()} (a load near or above the CPU count means the timings are skewed)")


if __name__ == "__main__":
    main()
