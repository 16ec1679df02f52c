"""Small sample images bundled with imdiffuse (see LICENSE.txt in this folder).

>>> from imdiffuse import data
>>> ct = data.ct_slice()
>>> ct.shape, ct.dtype.name, data.SPACING["ct_slice"]
((128, 128), 'int16', (0.661468, 0.661468))
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["ct_slice", "mr_slice", "mr_brain", "phantom3d", "path", "SPACING"]

_HERE = Path(__file__).parent

#: Pixel spacing (mm) of the bundled images, per axis.
SPACING = {"ct_slice": (0.661468, 0.661468), "mr_slice": (0.3125, 0.3125), "mr_brain": (2.0, 2.0)}


def path(name: str) -> Path:
    """File path of a bundled sample (``"ct_slice"``, ``"mr_slice"`` or ``"mr_brain"``), a NIfTI file."""
    from .._validate import check_option

    check_option(name, "name", tuple(SPACING))
    return _HERE / f"{name}.nii.gz"


def _load(name: str) -> np.ndarray:
    import nibabel as nib

    return np.asarray(nib.load(path(name)).dataobj)


def ct_slice() -> np.ndarray:
    """A 128 x 128 CT slice in Hounsfield units (int16), spacing 0.66 mm.

    From the NEMA WG04 sample data via pydicom's test files (see
    ``LICENSE.txt``).  Values range from about -900 (air) to 1170 (bone).
    """
    return _load("ct_slice")


def mr_slice() -> np.ndarray:
    """A 64 x 64 MR magnitude slice (int16), spacing 0.3125 mm (pydicom test data)."""
    return _load("mr_slice")


def mr_brain() -> np.ndarray:
    """A 128 x 128 axial MR brain slice (uint16 magnitude, 0..4095), spacing 2 mm.

    The b = 0 image of a diffusion MRI scan, with a dark background (air)
    around the head: the magnitude data on which Rician noise statistics
    show.  From DIPY's test data ``S0_10slices.nii.gz`` (BSD licence, see
    ``LICENSE.txt``).

    >>> from imdiffuse import data
    >>> mr = data.mr_brain()
    >>> mr.shape, mr.dtype.name
    ((128, 128), 'uint16')
    """
    return _load("mr_brain")


# Ellipsoids of a 3-D Shepp-Logan-type head phantom (Kak & Slaney 1988,
# intensities rescaled to a 0..255 range): centre (z, y, x), semi-axes
# (z, y, x), rotation about z in degrees, additive intensity.
_ELLIPSOIDS = (
    ((0.0, 0.0, 0.0), (0.90, 0.92, 0.69), 0.0, 200.0),
    ((0.0, -0.0184, 0.0), (0.88, 0.874, 0.6624), 0.0, -150.0),
    ((0.0, 0.0, 0.22), (0.41, 0.31, 0.11), -18.0, -40.0),
    ((0.0, 0.0, -0.22), (0.32, 0.41, 0.16), 18.0, -40.0),
    ((-0.25, 0.35, 0.0), (0.50, 0.25, 0.21), 0.0, 50.0),
    ((0.0, 0.1, 0.0), (0.046, 0.046, 0.046), 0.0, 60.0),
    ((-0.3, -0.1, 0.0), (0.046, 0.046, 0.046), 0.0, 60.0),
    ((0.2, -0.605, -0.08), (0.05, 0.023, 0.046), 0.0, 80.0),
    ((0.2, -0.605, 0.06), (0.05, 0.023, 0.023), 90.0, 80.0),
    ((0.1, -0.1, 0.3), (0.2, 0.1, 0.1), 30.0, 30.0),
)


def phantom3d(shape=(64, 64, 64), *, noise: float = 0.0, seed=None) -> np.ndarray:
    """A piecewise-constant 3-D head phantom (float32, values in 0..255).

    A Shepp-Logan-type arrangement of ellipsoids (Kak & Slaney, *Principles
    of Computerized Tomographic Imaging*, 1988) sampled on ``shape`` (Z, Y,
    X), with optional additive Gaussian noise of standard deviation
    ``noise`` (seeded by ``seed``).

    >>> from imdiffuse.data import phantom3d
    >>> v = phantom3d((32, 32, 32))
    >>> v.shape, v.dtype.name, float(v.min()), float(v.max()) <= 255
    ((32, 32, 32), 'float32', 0.0, True)
    """
    from .._validate import check_int, check_positive

    shape = tuple(check_int(n, "shape", minimum=1) for n in shape)
    if len(shape) != 3:
        raise ValueError(f"shape must have 3 entries (Z, Y, X), got {shape}")
    noise = check_positive(noise, "noise", allow_zero=True)
    z, y, x = np.meshgrid(*[np.linspace(-1, 1, n, dtype=np.float64) for n in shape], indexing="ij")
    vol = np.zeros(shape, dtype=np.float64)
    for (cz, cy, cx), (az, ay, ax), angle, value in _ELLIPSOIDS:
        th = np.deg2rad(angle)
        dx, dy = x - cx, y - cy
        xr = dx * np.cos(th) + dy * np.sin(th)
        yr = -dx * np.sin(th) + dy * np.cos(th)
        inside = (xr / ax) ** 2 + (yr / ay) ** 2 + ((z - cz) / az) ** 2 <= 1.0
        vol[inside] += value
    if noise > 0:
        vol += np.random.default_rng(seed).normal(0.0, noise, size=shape)
    return vol.astype(np.float32)
