"""``imdiffuse demo``: the library at work on the bundled samples.

Writes before/after PNGs into one folder and prints where they are: a noisy
CT slice smoothed by the heat equation and denoised blindly (Perona-Malik,
parameters from the estimated noise), and the same for a 3-D phantom with
anisotropic voxels, an MR slice with Rician noise denoised with and
without the Rician bias correction, and scratches removed from the CT slice
by inpainting.  Each capability adds its panel here as
it lands.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["run_demo"]

#: CT display window (HU): soft tissue and bone
_CT_WINDOW = (-400.0, 600.0)


def _to_uint8(image, window):
    lo, hi = window
    return np.clip(np.rint((np.asarray(image, dtype=np.float64) - lo) / (hi - lo) * 255.0), 0, 255).astype(np.uint8)


def _montage(*panels, gap=4, zoom=2):
    """Panels side by side with a white gap, enlarged ``zoom`` times (nearest neighbour)."""
    panels = [np.repeat(np.repeat(p, zoom, axis=0), zoom, axis=1) for p in panels]
    h = max(p.shape[0] for p in panels)
    cols = []
    for k, p in enumerate(panels):
        if k:
            cols.append(np.full((h, gap), 255, np.uint8))
        pad = np.zeros((h, p.shape[1]), np.uint8)
        pad[: p.shape[0]] = p
        cols.append(pad)
    return np.concatenate(cols, axis=1)


def _edges8(image, spacing):
    """Edge map of :func:`imdiffuse.edges` as uint8 0/255."""
    from .edges import edges

    return np.where(edges(image, spacing=spacing), 255, 0).astype(np.uint8)


def _texture8(preset):
    """A 128 x 128 reaction-diffusion texture as uint8 (about 0.3 s)."""
    from .texture import reaction_diffusion

    v = reaction_diffusion((128, 128), preset=preset, t=4000, seed=1)
    return _to_uint8(v, (float(v.min()), float(v.max())))


def _segment8(ct, spacing):
    """CT slice with the boundaries (white) of the aorta, vertebral body and spinal canal, one click each."""
    from scipy import ndimage

    from .segment import segment_fmm

    out = _to_uint8(ct, _CT_WINDOW) // 2 + 32  # dimmed, so that the white outlines stand out
    for seed in ((8, 92), (25, 57), (51, 57)):
        mask = segment_fmm(ct, [seed], spacing=spacing)
        out[mask & ~ndimage.binary_erosion(mask)] = 255
        out[seed] = 0
    return out


def _steps():
    """(file name, description, function returning a uint8 image) of each panel."""
    from . import data
    from .denoise import denoise
    from .linear import heat

    rng = np.random.default_rng(2026)
    ct = data.ct_slice().astype(np.float32)
    ct_sp = data.SPACING["ct_slice"]
    noisy = ct + rng.normal(0.0, 60.0, ct.shape).astype(np.float32)
    smooth_ct = heat(noisy, 0.5, spacing=ct_sp)
    clean_ct = denoise(noisy, spacing=ct_sp)

    vol = data.phantom3d((48, 64, 64), noise=25.0, seed=7)
    vol_sp = (2.0, 1.0, 1.0)  # thick slices: diffusion time is in physical units
    smooth_vol = heat(vol, 2.0, spacing=vol_sp)
    clean_vol = denoise(vol, spacing=vol_sp)
    mid = vol.shape[0] // 2
    win = (0, 255)

    # MR magnitude with Rician noise (8 % of the bright tissue's level): the
    # bias lifts the dark background; the Gaussian path keeps it, the Rician
    # path removes it
    mr = data.mr_brain().astype(np.float32)
    s_mr = 0.08 * float(np.percentile(mr, 99.5))
    # float32 like the other panels: a float64 image would compile every kernel a second time on the first run
    mag = np.hypot(mr + rng.normal(0.0, s_mr, mr.shape), rng.normal(0.0, s_mr, mr.shape)).astype(np.float32)
    mr_gauss = denoise(mag, noise="gaussian")
    mr_rice = denoise(mag)  # noise="auto" finds the Rayleigh background
    mr_win = (0.0, float(np.percentile(mr, 99.5)))

    def ct8(a):
        return _to_uint8(a, _CT_WINDOW)

    # scratches across the CT slice, filled by EED inpainting
    from .inpaint import inpaint

    scratch = np.zeros(ct.shape, bool)
    yy, xx = np.mgrid[: ct.shape[0], : ct.shape[1]]
    for a, b, w in ((0.35, 10.0, 1.2), (-0.8, 110.0, 1.0), (2.5, -60.0, 0.8)):
        scratch |= np.abs(yy - (a * xx + b)) / np.hypot(a, 1.0) < w
    scratched = np.where(scratch, _CT_WINDOW[1], ct)
    restored = inpaint(scratched, scratch)

    return [
        ("ct_noisy.png", "CT slice (HU) with added noise, sigma 60 HU", lambda: ct8(noisy)),
        ("ct_heat.png", "heat equation, t = 0.5 mm^2 (Gaussian, sigma = 1 mm)", lambda: ct8(smooth_ct)),
        ("ct_denoised.png", "blind denoise(): noise estimated, Perona-Malik parameters chosen", lambda: ct8(clean_ct)),
        ("ct_before_after.png", "noisy | heat | denoise", lambda: _montage(ct8(noisy), ct8(smooth_ct), ct8(clean_ct))),
        ("phantom3d_before_after.png", "3-D phantom (spacing 2 x 1 x 1), middle slice: noisy | heat t = 2 | denoise",
         lambda: _montage(_to_uint8(vol[mid], win), _to_uint8(smooth_vol[mid], win), _to_uint8(clean_vol[mid], win),
                          zoom=3)),
        ("mr_rician_before_after.png",
         "MR slice with Rician noise: noisy | denoise(noise='gaussian') (background stays grey) | "
         "denoise() (Rician detected, bias removed: background black again) | clean",
         lambda: _montage(*(_to_uint8(a, mr_win) for a in (mag, mr_gauss, mr_rice, mr)), zoom=2)),
        ("ct_inpaint_before_after.png",
         "scratched CT slice | inpaint() (edge-enhancing diffusion fills the scratches) | original",
         lambda: _montage(ct8(scratched), ct8(restored), ct8(ct))),
        ("ct_edges.png", "noisy CT slice | edges() (edge-enhancing pre-smoothing, thresholds from the noise)",
         lambda: _montage(ct8(noisy), _edges8(noisy, ct_sp))),
        ("texture_spots_mazes.png", "Gray-Scott reaction-diffusion textures, 128 x 128: presets 'spots' | 'mazes'",
         lambda: _montage(*(_texture8(p) for p in ("spots", "mazes")))),
        ("ct_segment.png", "CT slice | segment_fmm() from one click each: aorta, vertebral body, spinal canal "
         "(outlines)", lambda: _montage(ct8(ct), _segment8(ct, ct_sp))),
    ]


def run_demo(outdir: Path, session) -> list[Path]:
    """Compute every demo panel and write it as a PNG in ``outdir``."""
    from . import io

    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    steps = _steps()
    if not session.overwrite:
        existing = [str(outdir / name) for name, _, _ in steps if (outdir / name).exists()]
        if existing:
            raise FileExistsError(f"demo output exists: {', '.join(existing)}; pass --overwrite or choose -o DIR")
    written = []
    for name, description, make in steps:
        path = io.write(outdir / name, make(), overwrite=session.overwrite)
        session.say(f"{path}: {description}")
        written.append(path)
    session.say(f"imdiffuse demo: {len(written)} images in {outdir.resolve()}")
    return written
