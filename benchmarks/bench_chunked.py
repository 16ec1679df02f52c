"""Benchmark ``imdiffuse.chunked``: equality, halo, throughput and peak memory.

Sections (``--section`` picks one; all by default):

A. Equality.  Every filter on a 2-D image (256 x 240, spacing (1, 0.6),
   chunks 64) and a 3-D volume (64 x 96 x 96, spacing (1.6, 1, 0.8), chunks
   32): smooth structure + sharp edges + noise, float32.  Max relative error
   ``max |chunked - in-memory| / max |in-memory|`` with the default halo
   (goal <= 1e-5).  Tensor filters' FED: the default ``fed_limit="global"``
   and the one-pass ``"universal"`` (compared with an in-memory FED run
   with the universal limit and with the public in-memory call).
B. Halo scan.  The same error with the halo's ``HALO_FACTOR`` set to 2..6
   diffusion lengths (exact bound cap off), which justifies the defaults
   (5; 6 for AOS).
C. Throughput.  ``denoise`` (blind, Perona-Malik) and ``heat`` on a
   ``--size``**3 float32 phantom + noise (fits in memory): in-memory voxels/s
   vs chunked (threaded scheduler, ``--chunks``), same process, ratio
   (goal >= 0.7).
D. Peak memory.  A ``--mem-shape`` float32 zarr volume (default 1024 x 1024
   x 512, 2 GiB) is generated chunk by chunk, then denoised zarr -> zarr
   with ``chunked.denoise`` in a fresh process whose RSS is sampled every
   0.1 s with psutil (and read from ``ru_maxrss``); goal < 1.5 GiB.

Usage::

    python benchmarks/bench_chunked.py                 # everything (D takes a while)
    python benchmarks/bench_chunked.py --quick         # smoke run, small sizes
    python benchmarks/bench_chunked.py --section D --mem-shape 512,512,256
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _common import print_header, print_table  # noqa: E402


def _image(shape, seed=0):
    from scipy import ndimage

    rng = np.random.default_rng(seed)
    x = ndimage.gaussian_filter(rng.random(shape), 3.0) * 400.0
    x += (np.indices(shape).sum(0) % 40 > 20) * 60.0
    return (x + rng.normal(0, 10, shape)).astype(np.float32)


def _filters():
    import imdiffuse as imd
    from imdiffuse import chunked

    return [
        ("heat exact t=8", lambda a, **k: imd.heat(a, 8.0, **k), lambda d, **k: chunked.heat(d, 8.0, **k)),
        ("heat fed t=8", lambda a, **k: imd.heat(a, 8.0, scheme="fed", **k),
         lambda d, **k: chunked.heat(d, 8.0, scheme="fed", **k)),
        ("heat aos t=8", lambda a, **k: imd.heat(a, 8.0, scheme="aos", **k),
         lambda d, **k: chunked.heat(d, 8.0, scheme="aos", **k)),
        ("perona_malik t=8", lambda a, **k: imd.perona_malik(a, 8.0, kappa=15.0, **k),
         lambda d, **k: chunked.perona_malik(d, 8.0, kappa=15.0, **k)),
        ("perona_malik sigma=1 (fed) t=8", lambda a, **k: imd.perona_malik(a, 8.0, kappa=15.0, sigma=1.0, **k),
         lambda d, **k: chunked.perona_malik(d, 8.0, kappa=15.0, sigma=1.0, **k)),
        ("perona_malik kappa=auto t=8", lambda a, **k: imd.perona_malik(a, 8.0, **k),
         lambda d, **k: chunked.perona_malik(d, 8.0, **k)),
        ("tv_flow eps=2 t=20", lambda a, **k: imd.tv_flow(a, 20.0, epsilon=2.0, **k),
         lambda d, **k: chunked.tv_flow(d, 20.0, epsilon=2.0, **k)),
        ("edge_enhancing explicit t=6", lambda a, **k: imd.edge_enhancing(a, 6.0, kappa=10.0, scheme="explicit", **k),
         lambda d, **k: chunked.edge_enhancing(d, 6.0, kappa=10.0, scheme="explicit", **k)),
        ("coherence_enhancing explicit t=4",
         lambda a, **k: imd.coherence_enhancing(a, 4.0, rho=2.0, scheme="explicit", **k),
         lambda d, **k: chunked.coherence_enhancing(d, 4.0, rho=2.0, scheme="explicit", **k)),
    ]


def _fixed_tensor(x, spacing, t, mode, **kw):
    from imdiffuse._grid import prepare
    from imdiffuse.schemes import integrate
    from imdiffuse.tensor import TensorDiffusion

    array, grid = prepare(x, spacing)
    op = TensorDiffusion(grid, mode, fixed_limit=True, **kw)
    return grid.from_canonical(integrate(op, grid.to_canonical(array), t, "fed"))


def _cases(quick):
    if quick:
        return [("2-D", _image((128, 120)), (1.0, 0.6), 48), ("3-D", _image((40, 56, 56), 1), (1.6, 1.0, 0.8), 24)]
    return [("2-D", _image((256, 240)), (1.0, 0.6), 64), ("3-D", _image((64, 96, 96), 1), (1.6, 1.0, 0.8), 32)]


def rel(u, ref):
    return float(np.abs(np.asarray(u, np.float64) - ref).max() / np.abs(ref).max())


def section_a(quick):
    import dask.array as da

    import imdiffuse as imd
    from imdiffuse import chunked

    print("A. Equality with the in-memory call (max |chunked - in-memory| / max |in-memory|, goal <= 1e-5)")
    rows = []
    for dim, x, spacing, c in _cases(quick):
        d = da.from_array(x, chunks=c)
        for name, mem, chk in _filters():
            graph = chk(d, spacing=spacing)
            u = graph.compute()
            err = rel(u, mem(x, spacing=spacing))
            rows.append((dim, name, _blocks(graph), err, "yes" if err <= 1e-5 else "NO"))
        for name, mem, chk, mode, kw in [
            ("edge_enhancing fed t=6", imd.edge_enhancing, chunked.edge_enhancing, 0,
             dict(kappa=10.0)),
            ("coherence_enhancing fed t=4", imd.coherence_enhancing, chunked.coherence_enhancing, 1,
             dict(rho=2.0)),
        ]:
            t = 6.0 if mode == 0 else 4.0
            ref = mem(x, t, spacing=spacing, **kw)
            u = chk(d, t, spacing=spacing, **kw).compute()
            rows.append((dim, name + ", fed_limit=global (default)", _blocks(d), rel(u, ref),
                         "yes" if rel(u, ref) <= 1e-5 else "NO"))
            u = chk(d, t, spacing=spacing, fed_limit="universal", **kw).compute()
            fixed = _fixed_tensor(x, spacing, t, mode, **({"sigma": 1.0, "rho": 0.0, "kind": 4, "lam": 100.0}
                                                         if mode == 0 else {"sigma": 0.5, "rho": 2.0}))
            rows.append((dim, name + ", universal vs same-limit FED", _blocks(d), rel(u, fixed),
                         "yes" if rel(u, fixed) <= 1e-5 else "NO"))
            rows.append((dim, name + ", universal vs in-memory", _blocks(d), rel(u, ref),
                         "yes" if rel(u, ref) <= 1e-5 else "NO"))
        for method in ("perona_malik", "eed"):
            params = chunked.denoise_parameters(d, spacing=spacing, method=method)
            u = chunked.denoise(d, spacing=spacing, **params).compute()
            err = rel(u, imd.denoise(x, spacing=spacing, **params))
            rows.append((dim, f"denoise {method} (t={params['t']:.3g} from the sample run)", _blocks(d), err,
                         "yes" if err <= 1e-5 else "NO"))
    print_table(rows, ["data", "filter", "blocks", "max rel. error", "<= 1e-5"],
                specs={"max rel. error": ".1e"})
    print()


def section_b(quick):
    import dask.array as da

    from imdiffuse import chunked

    print("B. Halo scan: max relative error vs HALO_FACTOR (diffusion lengths sqrt(2 t gmax); exact cap off)")
    factors = [2.0, 3.0, 4.0, 5.0, 6.0]
    rows = []
    saved = chunked.HALO_FACTOR, chunked.AOS_HALO_FACTOR, chunked._step_bound
    chunked._step_bound = lambda *a, **k: None  # measure the rule alone
    try:
        for dim, x, spacing, c in _cases(quick):
            d = da.from_array(x, chunks=c)
            for name, mem, chk in _filters():
                if name.startswith("heat exact"):
                    continue
                ref = mem(x, spacing=spacing)
                errs = []
                for f in factors:
                    chunked.HALO_FACTOR = chunked.AOS_HALO_FACTOR = f
                    errs.append(rel(chk(d, spacing=spacing).compute(), ref))
                rows.append((dim, name, *errs))
    finally:
        chunked.HALO_FACTOR, chunked.AOS_HALO_FACTOR, chunked._step_bound = saved
    print_table(rows, ["data", "filter"] + [f"x{f:g}" for f in factors],
                specs={f"x{f:g}": ".1e" for f in factors})
    print()


def section_c(size, chunk_list, quick):
    import dask
    import dask.array as da

    import imdiffuse as imd
    from imdiffuse import chunked

    print(f"C. Throughput on a {size}^3 float32 volume that fits in memory (threaded scheduler, "
          f"{dask.system.CPU_COUNT} workers; goal chunked/in-memory >= 0.7)")
    clean = imd.data.phantom3d((size, size, size)).astype(np.float32)
    noisy = clean + np.random.default_rng(0).normal(0, 20, clean.shape).astype(np.float32)
    params = chunked.denoise_parameters(noisy)
    imd.denoise(noisy[:32, :32, :32], **params)  # compile
    jobs = [("denoise (perona_malik)", lambda a: imd.denoise(a, **params),
             lambda d: chunked.denoise(d, **params)),
            ("heat exact t=4", lambda a: imd.heat(a, 4.0), lambda d: chunked.heat(d, 4.0))]
    rows = []
    for name, mem, chk in jobs:
        t0 = time.perf_counter()
        ref = mem(noisy)
        t_mem = time.perf_counter() - t0
        rows.append((name, "in memory", "-", t_mem, noisy.size / t_mem / 1e6, 1.0, 0.0))
        for c in chunk_list:
            graph = chk(da.from_array(noisy, chunks=c))
            t0 = time.perf_counter()
            u = graph.compute()
            t_chk = time.perf_counter() - t0
            rows.append((name, f"chunks {c}", _blocks(graph), t_chk, noisy.size / t_chk / 1e6, t_mem / t_chk,
                         rel(u, ref)))
    print(f"denoise parameters: {params}")
    print_table(rows, ["filter", "run", "blocks", "time (s)", "Mvoxel/s", "ratio", "max rel. error"],
                specs={"time (s)": ".2f", "Mvoxel/s": ".2f", "ratio": ".2f", "max rel. error": ".1e"})
    print()


def _blocks(graph):
    return "x".join(str(n) for n in graph.numblocks)


_GENERATE = r"""
import sys, numpy as np, dask.array as da
import imdiffuse as imd
shape = tuple(int(v) for v in sys.argv[1].split(","))
chunk = int(sys.argv[3])

def block(b, block_info=None):
    (z0, z1), (y0, y1), (x0, x1) = block_info[None]["array-location"]
    z, y, x = np.meshgrid(np.arange(z0, z1), np.arange(y0, y1), np.arange(x0, x1), indexing="ij", sparse=True)
    c = np.array(shape, dtype=np.float64) / 2
    r = np.sqrt(((z - c[0]) / c[0]) ** 2 + ((y - c[1]) / c[1]) ** 2 + ((x - c[2]) / c[2]) ** 2)
    img = np.where(r < 0.8, 100.0, 0.0) + np.where(r < 0.4, 100.0, 0.0) + 50.0 * ((x // 64 + y // 64) % 2)
    seed = block_info[None]["chunk-location"]
    rng = np.random.default_rng(seed)
    return (img + rng.normal(0, 20, img.shape)).astype(np.float32)

d = da.zeros(shape, dtype=np.float32, chunks=chunk).map_blocks(block, dtype=np.float32)
imd.io.write(sys.argv[2], d, spacing=(1.0, 1.0, 1.0))
"""

_DENOISE = r"""
import os, resource, sys, threading, time
import psutil
proc = psutil.Process()
peak = [0]
stop = threading.Event()

def sample():
    while not stop.is_set():
        peak[0] = max(peak[0], proc.memory_info().rss)
        time.sleep(0.1)

threading.Thread(target=sample, daemon=True).start()
import dask
import imdiffuse as imd
from imdiffuse import chunked
src, out, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
img = imd.io.read(src)
params = chunked.denoise_parameters(img.data, spacing=img.spacing)
t1 = time.perf_counter()
res = chunked.denoise(img.data, spacing=img.spacing, chunks=chunk, **params)
imd.io.write(out, res, spacing=img.spacing)
t2 = time.perf_counter()
stop.set()
peak[0] = max(peak[0], proc.memory_info().rss)
print("params", params)
print("times", t1 - t0, t2 - t1)
print("peak_rss", peak[0], "ru_maxrss", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def section_d(shape, chunk, keep):
    print(f"D. Peak memory: denoise a {'x'.join(map(str, shape))} float32 zarr volume "
          f"({np.prod(shape) * 4 / 2**30:.2f} GiB) zarr -> zarr, chunks {chunk} (goal peak RSS < 1.5 GiB)")
    where = tempfile.mkdtemp(prefix="bench_chunked_", dir=os.environ.get("BENCH_TMP"))
    src = os.path.join(where, "in.zarr")
    out = os.path.join(where, "out.zarr")
    import subprocess

    t0 = time.perf_counter()

    gen = subprocess.run([sys.executable, "-c", _GENERATE, ",".join(map(str, shape)), src, str(chunk)],
                         capture_output=True, text=True)
    t_gen = time.perf_counter() - t0
    if gen.returncode:
        print(gen.stderr)
        return
    t0 = time.perf_counter()
    run = subprocess.run([sys.executable, "-c", _DENOISE, src, out, str(chunk)], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if run.returncode:
        print(run.stderr)
        return
    info = {line.split()[0]: line.split()[1:] for line in run.stdout.splitlines() if line.strip()}
    peak, maxrss = int(info["peak_rss"][0]), int(info["peak_rss"][2])
    t_par, t_run = (float(v) for v in info["times"])
    n = int(np.prod(shape))
    print(f"input generated and written in {t_gen:.0f} s; {' '.join(info['params'])}")
    print_table([("chunked.denoise zarr -> zarr", wall, t_par, t_run, n / t_run / 1e6, peak / 2**30,
                  maxrss / 2**30, "yes" if max(peak, maxrss) < 1.5 * 2**30 else "NO")],
                ["run", "process wall (s)", "parameters (s)", "denoise+write (s)", "Mvoxel/s",
                 "peak RSS sampled (GiB)", "ru_maxrss (GiB)", "< 1.5 GiB"],
                specs={"process wall (s)": ".0f", "parameters (s)": ".1f", "denoise+write (s)": ".0f",
                       "Mvoxel/s": ".2f", "peak RSS sampled (GiB)": ".3f", "ru_maxrss (GiB)": ".3f"})
    if not keep:
        import shutil

        shutil.rmtree(where, ignore_errors=True)
    print()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: small arrays everywhere")
    parser.add_argument("--section", choices=list("ABCD"), action="append", help="run only these sections")
    parser.add_argument("--size", type=int, default=None, help="side of the throughput volume (default 256)")
    parser.add_argument("--chunks", default=None, help="chunk sides for C, comma separated (default 96,128)")
    parser.add_argument("--mem-shape", default=None, help="volume of D (default 1024,1024,512)")
    parser.add_argument("--mem-chunks", type=int, default=128, help="chunk side for D (default 128)")
    parser.add_argument("--keep", action="store_true", help="keep the zarr files of D")
    args = parser.parse_args(argv)
    import dask
    import zarr

    import imdiffuse as imd

    print_header("imdiffuse.chunked benchmark", {"imdiffuse": imd.__version__, "dask": dask.__version__,
                                                 "zarr": zarr.__version__, "numpy": np.__version__})
    sections = args.section or list("ABCD")
    size = args.size or (64 if args.quick else 256)
    chunk_list = [int(c) for c in (args.chunks or ("32" if args.quick else "96,128")).split(",")]
    mem_shape = tuple(int(v) for v in (args.mem_shape or ("128,128,64" if args.quick else "1024,1024,512")).split(","))
    if "A" in sections:
        section_a(args.quick)
    if "B" in sections:
        section_b(args.quick)
    if "C" in sections:
        section_c(size, chunk_list, args.quick)
    if "D" in sections:
        section_d(mem_shape, 32 if args.quick and args.mem_chunks == 128 else args.mem_chunks, args.keep)


if __name__ == "__main__":
    main()
