"""Inpainting quality and speed: imdiffuse.inpaint against scikit-image and OpenCV.

In one process, on the same images and masks, prints masked PSNR/SSIM
(over the filled pixels only) and the time of every method, with the
peers' rows next to ours:

* ``imd.inpaint(method=...)`` for harmonic, biharmonic, eed, telea;
* scikit-image ``inpaint_biharmonic`` (the reference for "biharmonic");
* OpenCV ``cv2.inpaint`` with ``INPAINT_TELEA`` and ``INPAINT_NS`` (8-bit
  input, as OpenCV requires for one channel; same radius as ours).

Images: scikit-image's camera, moon and coins (512x512, 512x512, 303x384)
and the bundled CT slice (rescaled to 0..255).  Masks, deterministic for a
seed: ``rand50`` (each pixel missing with probability 1/2), ``blobs`` (thick
random discs, ~10 % of the image), ``scribble`` (thin random scratches,
width 1-3 px), ``hole32`` (a 32x32 square in the middle), and ``border``
(a 20-px band on the left edge plus a corner block: border handling).

Then a 3-D run: a 128^3 smooth volume with 20 % of the voxels missing and
every 4th slice missing, with time and peak memory (tracemalloc) of
biharmonic.

Usage::

    python benchmarks/bench_inpaint.py            # everything (~1-2 min)
    python benchmarks/bench_inpaint.py --quick    # camera only, fewer repeats
"""

from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _common import best_time, load_average, print_header, print_table  # noqa: E402


def make_masks(shape, seed=0):
    """The five test masks (True = missing) for an image of ``shape``."""
    from skimage.draw import disk, line_aa

    rng = np.random.default_rng(seed)
    ny, nx = shape
    masks = {"rand50": rng.random(shape) < 0.5}
    blobs = np.zeros(shape, bool)
    while blobs.mean() < 0.10:
        r = rng.uniform(4, 12)
        rr, cc = disk((rng.uniform(0, ny), rng.uniform(0, nx)), r, shape=shape)
        blobs[rr, cc] = True
    masks["blobs"] = blobs
    scribble = np.zeros(shape, bool)
    for _ in range(40):
        y0, x0, y1, x1 = rng.integers(0, ny), rng.integers(0, nx), rng.integers(0, ny), rng.integers(0, nx)
        rr, cc, _v = line_aa(y0, x0, y1, x1)
        ok = (rr < ny) & (cc < nx)
        line = np.zeros(shape, bool)
        line[rr[ok], cc[ok]] = True
        w = int(rng.integers(0, 2))
        if w:
            from scipy import ndimage

            line = ndimage.binary_dilation(line, iterations=w)
        scribble |= line
    masks["scribble"] = scribble
    hole = np.zeros(shape, bool)
    cy, cx = ny // 2, nx // 2
    hole[cy - 16 : cy + 16, cx - 16 : cx + 16] = True
    masks["hole32"] = hole
    border = np.zeros(shape, bool)
    border[:, :20] = True
    border[-24:, -24:] = True
    masks["border"] = border
    return masks


def images(quick):
    from skimage import data

    import imdiffuse

    out = {"camera": data.camera().astype(np.float64)}
    if not quick:
        out["moon"] = data.moon().astype(np.float64)
        out["coins"] = data.coins().astype(np.float64)
        ct = imdiffuse.data.ct_slice().astype(np.float64)
        out["ct"] = (ct - ct.min()) / (ct.max() - ct.min()) * 255.0
    return out


def scores(result, clean, mask):
    from skimage.metrics import structural_similarity

    err = result[mask] - clean[mask]
    psnr = 10 * np.log10(255.0**2 / np.mean(err**2))
    _, smap = structural_similarity(clean, np.clip(result, 0, 255), data_range=255.0, full=True)
    return psnr, float(smap[mask].mean())


def methods(radius):
    import imdiffuse as imd

    names = ["harmonic", "biharmonic", "eed", "telea"]
    try:
        import imdiffuse._telea  # noqa: F401
    except ImportError:
        names.remove("telea")
    ours = {f"imd {m}": (lambda img, mask, m=m: imd.inpaint(img, mask, method=m)) for m in names}
    peers = {}
    try:
        from skimage.restoration import inpaint_biharmonic

        peers["skimage biharmonic"] = lambda img, mask: inpaint_biharmonic(img, mask)
    except ImportError:
        pass
    try:
        import cv2

        def cv(flag):
            def run(img, mask):
                src = np.clip(np.rint(img), 0, 255).astype(np.uint8)
                return cv2.inpaint(src, mask.astype(np.uint8), radius, flag).astype(np.float64)
            return run

        peers["opencv telea"] = cv(cv2.INPAINT_TELEA)
        peers["opencv ns"] = cv(cv2.INPAINT_NS)
    except ImportError:
        print("opencv not installed: its rows are skipped")
    return ours, peers


def bench_2d(quick, repeat):
    ours, peers = methods(5)
    rows = []
    for iname, img in images(quick).items():
        for mname, mask in make_masks(img.shape).items():
            damaged = np.where(mask, 0.0, img)
            for name, fn in {**ours, **peers}.items():
                r = 1 if (name == "skimage biharmonic" and mask.mean() > 0.3) else repeat
                sec, out = best_time(lambda: fn(damaged, mask), repeat=r, warmup=1)
                psnr, ssim = scores(out, img, mask)
                rows.append((iname, mname, name, psnr, ssim, sec))
    by = {}
    for iname, mname, name, psnr, ssim, sec in rows:
        by.setdefault((iname, mname), {})[name] = (psnr, ssim, sec)
    table = []
    for (iname, mname), res in by.items():
        sk = res.get("skimage biharmonic")
        cvt = res.get("opencv telea")
        for name, (psnr, ssim, sec) in res.items():
            ref = sk if "biharmonic" in name else cvt if "telea" in name else None
            ratio = f"{ref[2] / sec:.1f}x" if (ref and name.startswith("imd")) else ""
            table.append([iname, mname, name, f"{psnr:.2f}", f"{ssim:.4f}", f"{1000 * sec:.1f}", ratio])
    print_table(table, ["image", "mask", "method", "PSNR dB", "SSIM", "ms", "speed vs peer"])


def bench_3d():
    import resource

    import imdiffuse as imd

    n = 128
    z, y, x = np.mgrid[:n, :n, :n] / n
    vol = (100 + 60 * np.sin(4 * x) * np.cos(3 * y) + 40 * np.exp(-((z - 0.5) ** 2) * 10)).astype(np.float32)
    rng = np.random.default_rng(1)
    random20 = rng.random(vol.shape) < 0.2
    slices = random20.copy()
    slices[::4] = True
    for mname, mask in (("20 % random", random20), ("20 % random + every 4th slice", slices)):
        for method in ("harmonic", "biharmonic"):
            imd.inpaint(vol[:16, :16, :16], mask[:16, :16, :16], method=method)
            tracemalloc.start()
            t0 = time.perf_counter()
            out = imd.inpaint(vol, mask, method=method)
            sec = time.perf_counter() - t0
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            err = np.abs(out - vol)[mask]
            print(f"3-D {n}^3, {mname} ({100 * mask.mean():.0f} % missing), {method}: {sec:.2f} s, "
                  f"peak NumPy memory {peak / 2**20:.0f} MiB, max error {err.max():.3f}, "
                  f"mean error {err.mean():.4f} (values 0..200)")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"peak resident memory of this whole benchmark process: {rss:.2f} GiB")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="camera only, 1 repeat, no 3-D run")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    print_header("inpaint: imdiffuse vs scikit-image and OpenCV")
    bench_2d(args.quick, 1 if args.quick else args.repeat)
    if not args.quick:
        bench_3d()
    print(f"load average at end: {load_average()}")


if __name__ == "__main__":
    main()
