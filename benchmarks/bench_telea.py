"""Telea inpainting: ``imd.inpaint(method="telea")`` against OpenCV's ``INPAINT_TELEA``.

In one process, on the same images and masks (``make_masks`` of
``bench_inpaint.py``: rand50, blobs, scribble, hole32 and border, seed 0),
with the same radius (5 pixels), it prints for ours and for OpenCV the
masked PSNR and SSIM over the filled pixels only (SSIM: the full SSIM map
of scikit-image, averaged over the mask) and the best time of N calls after
one warm-up call, and the time ratio OpenCV / ours (> 1: we are faster).

Rows:

* grey 8-bit: camera (and, without ``--quick``, moon and coins), OpenCV
  given the uint8 image, ours the same values as float;
* 16-bit: camera * 257 as uint16 (OpenCV's 16UC1 path, PSNR on 0..65535);
* colour: astronaut (8UC3 for OpenCV; ours fills the three channels with
  the same weights).

"ms ours" is the public call (validation, dtype conversion, layout
included); "ms engine" the Telea engine alone (``imdiffuse._telea.telea``
on a prepared float32 (C, H, W) array; its result is checked to equal the
public one).

Usage::

    python benchmarks/bench_telea.py            # ~1 min on 2 busy cores
    python benchmarks/bench_telea.py --quick    # camera only, 1 repeat
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import best_time, load_average, print_header, print_table  # noqa: E402
from bench_inpaint import make_masks  # noqa: E402

RADIUS = 5


def masked_scores(result, clean, mask, peak):
    """PSNR and mean SSIM over the filled pixels (SSIM map of the whole image, channels last)."""
    from skimage.metrics import structural_similarity

    result = np.asarray(result, np.float64)
    clean = np.asarray(clean, np.float64)
    err = result[mask] - clean[mask]
    psnr = 10 * np.log10(peak**2 / np.mean(err**2))
    ch = -1 if clean.ndim == 3 else None
    _, smap = structural_similarity(clean, np.clip(result, 0, peak), data_range=peak, full=True, channel_axis=ch)
    if ch is not None:
        smap = smap.mean(axis=-1)
    return psnr, float(smap[mask].mean())


def cases(quick):
    """(image name, clean image (channels last), peak, OpenCV dtype)."""
    from skimage import data

    out = [("camera", data.camera(), 255.0, np.uint8)]
    if not quick:
        out += [("moon", data.moon(), 255.0, np.uint8), ("coins", data.coins(), 255.0, np.uint8)]
    out.append(("camera 16-bit", data.camera().astype(np.uint16) * 257, 65535.0, np.uint16))
    if not quick:
        out.append(("astronaut RGB", data.astronaut(), 255.0, np.uint8))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="camera (8- and 16-bit) only, 1 repeat")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args(argv)
    repeat = 1 if args.quick else args.repeat

    import cv2

    import imdiffuse as imd
    from imdiffuse._telea import telea

    print_header("Telea inpainting: imdiffuse vs OpenCV INPAINT_TELEA",
                 {"imdiffuse": imd.__version__, "opencv": cv2.__version__, "numpy": np.__version__})
    print(f"radius {RADIUS} pixels for both; best of {repeat} calls after one warm-up; "
          "PSNR/SSIM over the filled pixels only\n")
    rows = []
    for iname, clean, peak, cv_dtype in cases(args.quick):
        colour = clean.ndim == 3
        for mname, mask in make_masks(clean.shape[:2]).items():
            m3 = mask[..., None] if colour else mask
            damaged = np.where(m3, 0, clean).astype(cv_dtype)
            cv_mask = mask.astype(np.uint8)

            def ours(damaged=damaged, mask=mask):
                return imd.inpaint(damaged, mask, method="telea", radius=RADIUS, channel_axis=-1 if colour else None)

            chw = np.ascontiguousarray(np.moveaxis(damaged, -1, 0) if colour else damaged[None], dtype=np.float32)

            def engine(chw=chw, mask=mask):
                return telea(chw, mask, (1.0, 1.0), float(RADIUS))

            def theirs(damaged=damaged, cv_mask=cv_mask):
                return cv2.inpaint(damaged, cv_mask, RADIUS, cv2.INPAINT_TELEA)

            t_ours, r_ours = best_time(ours, repeat=repeat)
            t_eng, r_eng = best_time(engine, repeat=repeat)
            t_cv, r_cv = best_time(theirs, repeat=repeat)
            assert np.array_equal(np.moveaxis(r_eng, 0, -1) if colour else r_eng[0], r_ours)
            p_o, s_o = masked_scores(r_ours, clean, mask, peak)
            p_c, s_c = masked_scores(r_cv, clean, mask, peak)
            rows.append([iname, mname, f"{100 * mask.mean():.1f}", p_o, p_c, p_o - p_c, s_o, s_c,
                         1000 * t_ours, 1000 * t_eng, 1000 * t_cv, t_cv / t_ours, t_cv / t_eng])
    headers = ["image", "mask", "% masked", "PSNR ours", "PSNR cv", "dPSNR", "SSIM ours", "SSIM cv",
               "ms ours", "ms engine", "ms cv", "cv/ours", "cv/engine"]
    print_table(rows, headers, {"PSNR ours": ".2f", "PSNR cv": ".2f", "dPSNR": "+.2f", "SSIM ours": ".4f",
                                "SSIM cv": ".4f", "ms ours": ".1f", "ms engine": ".1f", "ms cv": ".1f",
                                "cv/ours": ".2f", "cv/engine": ".2f"})
    print(f"\nload average at end: {load_average()}")


if __name__ == "__main__":
    main()
