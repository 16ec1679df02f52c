"""Noise models and noise-level estimation: Gaussian images and Rician MR magnitude data.

Two noise models cover the images imdiffuse is used on:

``"gaussian"``
    additive, white, signal-independent noise of standard deviation sigma
    (photographs, CT in Hounsfield units).  sigma is estimated by Donoho's
    wavelet rule (median absolute deviation of the finest diagonal wavelet
    coefficients / 0.6745, as :func:`skimage.restoration.estimate_sigma`)
    over the coefficients where the next coarser scale shows no structure,
    away from the border and from clipped voxels (:func:`_screened_sigma`).
``"rician"``
    the magnitude ``M = |A + n_r + i n_i|`` of complex data with Gaussian
    noise of standard deviation sigma in both channels (single-coil MR
    magnitude images).  Where the true signal A is 0 (air around the
    object), M is Rayleigh distributed, so sigma is estimated from that
    background; where ``A >> sigma`` M is nearly Gaussian with standard
    deviation sigma, but its mean is biased upwards: ``E[M] = sigma
    sqrt(pi/2) L_{1/2}(-A**2 / (2 sigma**2))`` (Rice 1944; Gudbjartsson &
    Patz 1995).  :func:`rician_bias_correct` inverts that relation.

References
----------
.. [1] D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by wavelet
   shrinkage", Biometrika 81(3):425-455, 1994. :doi:`10.1093/biomet/81.3.425`
.. [2] H. Gudbjartsson, S. Patz, "The Rician distribution of noisy MRI
   data", Magnetic Resonance in Medicine 34(6):910-914, 1995.
   :doi:`10.1002/mrm.1910340618`
.. [3] C. G. Koay, P. J. Basser, "Analytically exact correction scheme for
   signal extraction from noisy magnitude MR signals", J. Magnetic Resonance
   179(2):317-322, 2006. :doi:`10.1016/j.jmr.2006.01.016` (the moments
   behind :func:`_koay_sigma`)
"""

from __future__ import annotations

import itertools
import logging
import math

import numpy as np

from ._grid import prepare
from ._validate import check_bool, check_option

__all__ = ["estimate_noise", "background_mask", "detect_noise", "rician_bias_correct", "NOISE_MODELS"]

log = logging.getLogger("imdiffuse")

NOISE_MODELS = ("auto", "gaussian", "rician")

#: Rayleigh distribution (Rician with A = 0): mean / sigma, and std / mean.
RAYLEIGH_MEAN = math.sqrt(math.pi / 2.0)
RAYLEIGH_CV = math.sqrt(4.0 / math.pi - 1.0)  # 0.5227
RAYLEIGH_VAR = 2.0 - math.pi / 2.0  # variance / sigma**2, 0.4292

#: noise="auto" calls data Rician when the dark background holds at least
#: this fraction of the voxels and its coefficient of variation and skewness
#: are within these ranges around a Rayleigh distribution's 0.52 and 0.63.
#: Measured: Rician backgrounds (also uint8/uint16-quantised) have skewness
#: 0.57-0.64; Gaussian noise clipped at 0 about 0.15; dark photo regions
#: (camera's coat) -0.5; a volume without air (nibabel's anatomical.nii) 0.29.
MIN_BACKGROUND_FRACTION = 0.05
RAYLEIGH_CV_RANGE = (0.40, 0.66)
RAYLEIGH_SKEW_RANGE = (0.35, 1.0)


def _magnitude_mean(array: np.ndarray, channel_axis) -> np.ndarray:
    """The channels' mean (float32), or the image itself: what background detection looks at."""
    a = array if channel_axis is None else array.mean(axis=channel_axis, dtype=np.float64)
    return np.asarray(a, dtype=np.float32)


def _subsample(a: np.ndarray, budget: float = 2e6) -> np.ndarray:
    step = max(1, int(math.ceil((a.size / budget) ** (1.0 / a.ndim))))
    return a[(slice(None, None, step),) * a.ndim] if step > 1 else a


def _rayleigh_sigma(values: np.ndarray) -> float:
    """sigma of the Rayleigh component at the low end of ``values`` (robust to brighter voxels).

    Start at the histogram mode (the mode of a Rayleigh distribution is
    sigma), then iterate the truncated second moment: for voxels below
    ``2 sigma`` a Rayleigh variable has ``E[M**2 | M < 2 sigma] = 2 sigma**2
    (1 - 3 e**-2) / (1 - e**-2)``, which ignores the tissue above.
    """
    v = values[np.isfinite(values)]
    v = v[v > 0]
    if v.size < 16:
        return 0.0
    hi = float(np.percentile(v, 99.0))
    if not hi > 0:
        return 0.0
    hist, edges = np.histogram(v, bins=128, range=(0.0, hi))
    kernel = np.array([1.0, 2.0, 3.0, 2.0, 1.0])
    smooth = np.convolve(hist.astype(np.float64), kernel / kernel.sum(), mode="same")
    k = int(np.argmax(smooth))
    sigma = 0.5 * (edges[k] + edges[k + 1])
    ratio = 2.0 * (1.0 - 3.0 * math.exp(-2.0)) / (1.0 - math.exp(-2.0))  # E[M^2 | M < 2s] / s^2
    v2 = v.astype(np.float64) ** 2
    for _ in range(30):
        below = v2[v < 2.0 * sigma]
        if below.size < 16:
            break
        new = math.sqrt(float(below.mean()) / ratio)
        if abs(new - sigma) <= 1e-4 * sigma:
            sigma = new
            break
        sigma = new
    return float(sigma)


def _background_stats(array, channel_axis, mask=None):
    """(background mask of the spatial shape, sigma, coefficient of variation, skewness, fraction)."""
    from skimage.filters import threshold_otsu

    from ._kernels import gaussian_filter

    mag = _magnitude_mean(array, channel_axis)
    if mask is not None:
        candidate = ~mask
    else:
        smooth = gaussian_filter(mag, [1.0] * mag.ndim)
        sample = _subsample(smooth)
        if float(sample.max()) <= float(sample.min()):
            return np.zeros(mag.shape, bool), 0.0, 0.0, 0.0, 0.0
        candidate = smooth < threshold_otsu(sample.ravel())  # flat: a (M, N, 3) volume is no RGB image
    if not candidate.any():
        return candidate, 0.0, 0.0, 0.0, 0.0
    # sigma of the Rayleigh background, per channel where there are channels
    if channel_axis is None:
        sigma = _rayleigh_sigma(_subsample(array[candidate], 4e6))
    else:
        moved = np.moveaxis(array, channel_axis, -1)
        sigmas = [_rayleigh_sigma(_subsample(moved[..., c][candidate], 4e6)) for c in range(moved.shape[-1])]
        sigma = float(np.mean(sigmas))
    if not sigma > 0:
        return np.zeros(mag.shape, bool), 0.0, 0.0, 0.0, 0.0
    if mask is None:
        # the background proper: where the local mean is what pure noise gives
        # (Rayleigh mean 1.25 sigma; the average over channels is tighter still)
        background = candidate & (smooth < 2.0 * sigma)
    else:
        background = candidate
    values = array[background] if channel_axis is None else np.moveaxis(array, channel_axis, -1)[background]
    values = _subsample(values.ravel(), 4e6).astype(np.float64)
    mean = float(values.mean()) if values.size else 0.0
    std = float(values.std()) if values.size else 0.0
    cv = std / mean if mean > 0 else 0.0
    skew = float(np.mean((values - mean) ** 3)) / std**3 if std > 0 else 0.0
    return background, sigma, cv, skew, float(background.mean())


def _rayleigh_like(cv, skew, fraction) -> bool:
    """Does the background look like pure Rician (Rayleigh) noise?"""
    return (fraction >= MIN_BACKGROUND_FRACTION and RAYLEIGH_CV_RANGE[0] <= cv <= RAYLEIGH_CV_RANGE[1]
            and RAYLEIGH_SKEW_RANGE[0] <= skew <= RAYLEIGH_SKEW_RANGE[1])


def background_mask(image, *, channel_axis=None):
    """Boolean mask of the dark background of a magnitude image (True = background).

    The image (the mean over channels) is smoothed by a Gaussian of one
    voxel and split by Otsu's threshold; below it, voxels whose smoothed
    value is below twice the Rayleigh sigma of the dark class are pure noise:
    the background.  ``~background_mask(img)`` is a rough object mask (it is
    what ``mask="auto"`` in :func:`imdiffuse.denoise` uses).

    Parameters
    ----------
    image : (M, N[, P][, C]) array_like
        2-D or 3-D image, channels along ``channel_axis``.
    channel_axis : int, optional
        Axis holding channels (e.g. the volumes of a 4-D series).

    Returns
    -------
    mask : ndarray of bool
        The spatial shape of ``image``.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse.noise import background_mask
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((64, 64)); img[16:48, 16:48] = 100.0
    >>> mag = np.hypot(img + rng.normal(0, 5, img.shape), rng.normal(0, 5, img.shape))
    >>> bg = background_mask(mag)
    >>> bool(bg[:8].all()), bool(bg[20:44, 20:44].any())
    (True, False)
    """
    array, grid = prepare(image, None, channel_axis)
    return _background_stats(array, grid.channel_axis)[0]


def detect_noise(image, *, mask=None, channel_axis=None) -> str:
    """``"rician"`` for magnitude data with a dark Rayleigh background (or dark tissue), else ``"gaussian"``.

    The rule of ``noise="auto"``: Rician when the data are non-negative, the
    dark background (outside ``mask`` when given, else found by
    :func:`background_mask`) holds at least 5 % of the voxels, and its
    coefficient of variation (0.40..0.66) and skewness (0.35..1.0) are
    those of a Rayleigh distribution (0.52 and 0.63).  Gaussian noise around
    a positive level, noise clipped at 0, dark textured regions of photos
    and noise-free zeros all fail that test.  Without such a background
    (and without ``mask``), non-negative data are also Rician when at least
    1 % of the voxels are darker than 2 sigma (smoothed, sigma from the
    wavelet estimate) and at most 0.5 % of those are exactly 0: Gaussian
    noise would have taken some of them negative, or to 0 if clipped.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse.noise import detect_noise
    >>> rng = np.random.default_rng(0)
    >>> img = np.zeros((64, 64)); img[16:48, 16:48] = 100.0
    >>> detect_noise(img + rng.normal(0, 5, img.shape))
    'gaussian'
    >>> detect_noise(np.hypot(img + rng.normal(0, 5, img.shape), rng.normal(0, 5, img.shape)))
    'rician'
    """
    array, grid = prepare(image, None, channel_axis)
    mask = _check_mask(mask, grid, allow_auto=False)
    return _detect(array, grid, mask)[0]


#: noise="auto" without a Rayleigh background: non-negative data whose
#: darkest voxels -- the image smoothed by a Gaussian of one voxel below
#: DARK_LEVEL sigma, at least DARK_MIN_FRACTION of them -- are Rician too:
#: Gaussian noise there would have gone negative (at a level of 2 sigma a
#: sample does so with probability 2.3 %, at 1 sigma 16 %), or been clipped
#: to exact zeros, which more than DARK_MAX_ZEROS of those voxels then hold.
#: This finds MR magnitude data cropped to the object, whose dark tissue has
#: an SNR below ~2 (nibabel's anatomical.nii at 10 % noise).
DARK_LEVEL = 2.0
DARK_MIN_FRACTION = 0.01
DARK_MAX_ZEROS = 0.005


def _dark_magnitude(array, grid, sigma) -> bool:
    """Do non-negative data hold dark voxels that only magnitude (Rician) noise leaves >= 0 and non-zero?"""
    if not sigma > 0:
        return False
    from ._kernels import gaussian_filter

    mag = _magnitude_mean(array, grid.channel_axis)
    dark = gaussian_filter(mag, [1.0] * mag.ndim) < DARK_LEVEL * sigma
    n = int(np.count_nonzero(dark))
    if n < max(MIN_COEFFICIENTS, DARK_MIN_FRACTION * dark.size):
        return False
    return int(np.count_nonzero(mag[dark] <= 0)) <= DARK_MAX_ZEROS * n


def _detect(array, grid, mask, sigma=None):
    """(model, sigma, background fraction, background) for noise='auto'.

    Rician with a Rayleigh background: its sigma, fraction and mask (which
    :func:`_rician_sigma` cross-checks).  Rician without one
    (:func:`_dark_magnitude`, only when no ``mask`` declares a background):
    the Gaussian estimate (or the ``sigma`` given), fraction 0 and None.
    Gaussian: the Gaussian estimate when it was needed, else None; and None.
    """
    if float(array.min()) < 0:
        return "gaussian", None, 0.0, None
    background, bg_sigma, cv, skew, fraction = _background_stats(array, grid.channel_axis, mask)
    if bg_sigma > 0 and _rayleigh_like(cv, skew, fraction):
        return "rician", bg_sigma, fraction, background
    if mask is not None:
        return "gaussian", None, fraction, None
    if sigma is None:
        sigma = _gaussian_sigma(array, grid)
    if _dark_magnitude(array, grid, sigma):
        return "rician", sigma, 0.0, None
    return "gaussian", sigma, fraction, None


def _check_mask(mask, grid, *, allow_auto=True, name="mask"):
    """None, "auto" (when allowed) or a boolean array of the image's spatial shape."""
    if mask is None:
        return None
    if isinstance(mask, str):
        if allow_auto and mask == "auto":
            return "auto"
        allowed = 'None, "auto" or a boolean array' if allow_auto else "None or a boolean array"
        raise ValueError(f"{name} must be {allowed} of the image's spatial shape {grid.spatial_shape}, got {mask!r}")
    m = np.asarray(mask)
    if m.dtype != bool:
        raise TypeError(f"{name} must be a boolean array (True = object), got dtype {m.dtype}")
    if m.shape != grid.spatial_shape:
        raise ValueError(f"{name} must have the image's spatial shape {grid.spatial_shape}, got {m.shape}")
    return m


def estimate_noise(image, *, noise="auto", mask=None, channel_axis=None, return_model=False):
    """Standard deviation of the noise, in the image's units.

    Parameters
    ----------
    image : (M, N[, P][, C]) array_like
        2-D or 3-D image; channels (colour, or the volumes of a 4-D series)
        along ``channel_axis``.
    noise : {"auto", "gaussian", "rician"}, optional
        Noise model.  ``"gaussian"``: Donoho's wavelet estimator (median
        absolute deviation of the finest diagonal wavelet coefficients /
        0.6745, as :func:`skimage.restoration.estimate_sigma`), over the
        coefficients whose neighbourhood at the next coarser scale shows no
        edge or texture, away from the border and from clipped voxels;
        channels averaged.  ``"rician"``: sigma of the Gaussian noise in the real and
        imaginary channels of MR magnitude data, from the Rayleigh statistics
        of the background (the voxels outside ``mask``, or those found by
        :func:`background_mask`): the histogram mode, refined by the
        truncated second moment of the voxels below 2 sigma; without a
        background, from the wavelet estimate when dark tissue shows the
        data are magnitudes (see :func:`detect_noise`).  ``"auto"``
        decides with :func:`detect_noise` and logs the decision (logger
        ``"imdiffuse"``, level INFO).
    mask : (M, N[, P]) bool array, optional
        True on the object.  For Rician noise, sigma is estimated from the
        voxels outside it; the Gaussian estimator uses the whole image.
    channel_axis : int, optional
        Axis holding channels.
    return_model : bool, optional
        Also return the noise model used (useful with ``noise="auto"``).

    Returns
    -------
    sigma : float
        Noise standard deviation (0.0 for a noise-free image).
    model : str
        ``"gaussian"`` or ``"rician"``, only with ``return_model=True``.

    Raises
    ------
    TypeError, ValueError
        Bad image (see :func:`imdiffuse.heat`), unknown ``noise``, ``mask``
        not a boolean array of the spatial shape, negative values with
        ``noise="rician"``, or no background to estimate Rician noise from.

    References
    ----------
    .. [1] D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by
       wavelet shrinkage", Biometrika 81(3):425-455, 1994.
       :doi:`10.1093/biomet/81.3.425`
    .. [2] H. Gudbjartsson, S. Patz, "The Rician distribution of noisy MRI
       data", Magnetic Resonance in Medicine 34(6):910-914, 1995.
       :doi:`10.1002/mrm.1910340618`

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import estimate_noise
    >>> rng = np.random.default_rng(0)
    >>> img = np.full((256, 256), 100.0) + rng.normal(0, 7, (256, 256))
    >>> round(estimate_noise(img))
    7
    >>> obj = np.zeros((128, 128)); obj[32:96, 32:96] = 200.0
    >>> mag = np.hypot(obj + rng.normal(0, 10, obj.shape), rng.normal(0, 10, obj.shape))
    >>> estimate_noise(mag, return_model=True)[1]
    'rician'
    >>> round(estimate_noise(mag, noise="rician"))
    10
    """
    array, grid = prepare(image, None, channel_axis)
    noise = check_option(noise, "noise", NOISE_MODELS)
    mask = _check_mask(mask, grid, allow_auto=False)
    return_model = check_bool(return_model, "return_model")
    sigma, model, _ = _estimate(array, grid, noise, mask)
    return (sigma, model) if return_model else sigma


def _estimate(array, grid, noise, mask, *, trust_mask=True):
    """(sigma, model, background fraction) for a validated image; the one implementation behind the calls.

    The fraction (of voxels in the Rayleigh background) is 0.0 for the Gaussian model.
    ``trust_mask=False``: ``mask`` was found automatically (``mask="auto"``),
    so its outside is cross-checked like a found background.
    """
    if noise == "auto":
        model, sigma, fraction, background = _detect(array, grid, mask)
        if model == "rician" and fraction > 0:
            sigma = _rician_sigma(array, grid, sigma, trust_mask and mask is not None, background)
            log.info("noise model: rician (dark background %.0f%% of the voxels, sigma %.4g)", 100 * fraction, sigma)
            return sigma, model, fraction
        if model == "rician":
            log.info("noise model: rician (no background, but non-negative data without clipping whose darkest "
                     "voxels are below %g sigma, where Gaussian noise would go negative; sigma %.4g from the "
                     "wavelet estimate)", DARK_LEVEL, sigma)
            return sigma, model, 0.0
        log.info("noise model: gaussian (no Rayleigh-distributed dark background found)")
        return (_gaussian_sigma(array, grid) if sigma is None else sigma), "gaussian", 0.0
    if noise == "rician":
        if float(array.min()) < 0:
            raise ValueError(
                f"noise='rician' needs magnitude data (values >= 0), got a minimum of {float(array.min()):g}"
            )
        background, sigma, cv, skew, fraction = _background_stats(array, grid.channel_axis, mask)
        # a given mask declares the outside background; a found one must look like noise
        if not sigma > 0 or fraction == 0 or (mask is None and not _rayleigh_like(cv, skew, fraction)):
            if mask is None:  # no background, but maybe dark tissue only magnitude noise explains
                gaussian = _gaussian_sigma(array, grid)
                if _dark_magnitude(array, grid, gaussian):
                    return gaussian, "rician", 0.0
            raise ValueError(
                "noise='rician': found no dark background of Rayleigh-distributed noise to estimate sigma "
                "from; give sigma=, or a mask= of the object whose outside is background"
            )
        return _rician_sigma(array, grid, sigma, trust_mask and mask is not None, background), "rician", fraction
    return _gaussian_sigma(array, grid), "gaussian", 0.0


#: Phi^-1(3/4): the median of |N(0, 1)|.
_MAD_NORMAL = 0.6744897501960817


def _finest_diagonal(x):
    """The finest "all details" subband of x's db2 wavelet transform (PyWavelets' ``dwtn``).

    What scikit-image's ``estimate_sigma`` takes from a whole ``dwtn`` (every
    subband): computed alone, in one compiled pass per axis.
    """
    import pywt

    from ._kernels import dwt_detail

    return dwt_detail(x, pywt.Wavelet("db2").dec_hi)


def _coarse_diagonal(x):
    """The "all details" subband of the second level: :func:`_finest_diagonal` of the all-lowpass band."""
    import pywt

    from ._kernels import dwt_detail

    return _finest_diagonal(dwt_detail(x, pywt.Wavelet("db2").dec_lo))


def _interior(coefficients, shape):
    """The coefficients of :func:`_finest_diagonal` whose filter taps all lie inside the image.

    Coefficient k of an axis of length n combines samples 2k - 2 .. 2k + 1,
    so k = 1 .. (n - 2) // 2 are interior.  The others mix samples with
    their mirror images (symmetric extension): for white noise of variance
    sigma**2 the first one has variance 0.75 sigma**2, and in 3-D the border
    shells hold a large share of a small volume's coefficients (45 % on
    33 x 41 x 25, which biased scikit-image's estimate 15-20 % low there).
    :func:`_screened_sigma` and :func:`_tissue_sigma` take the interior only.
    """
    return coefficients[tuple(slice(1, (n - 2) // 2 + 1) for n in shape)]


#: The least number of coefficients a median estimate of sigma is taken
#: from (the screened Gaussian estimate, the bright-voxel Rician check).
MIN_COEFFICIENTS = 100


def _mad_sigma(coefficients) -> float:
    """median(|d|) / 0.6745 over the nonzero coefficients; NaN if there are none."""
    d = np.abs(coefficients).ravel()
    d = d[d != 0]
    return float(np.median(d)) / _MAD_NORMAL if d.size else np.nan


def _channels(array, grid):
    return [array] if grid.channel_axis is None else list(np.moveaxis(array, grid.channel_axis, 0))


#: Screening of the finest coefficients by the second level (see
#: :func:`_screened_sigma`): window (per axis) of the local energy of the
#: coarse diagonal band, and the quantile of its pure-noise distribution
#: below which a neighbourhood counts as free of structure.
SCREEN_WINDOW = 3
SCREEN_QUANTILE = 0.9
SCREEN_ROUNDS = 3


def _screened_sigma(c, finest, clipped=None):
    """Donoho's estimate over the finest coefficients where the coarser scale shows no structure; NaN if too few.

    Edges and texture put energy into the finest diagonal subband as well as
    into the next coarser one, while white noise puts sigma**2 into every
    coefficient of both, independently (orthonormal wavelet).  So the local
    energy of the second-level diagonal band (mean of d2**2 over a 3**ndim
    window) screens the finest coefficients: kept where it is below the 90 %
    quantile of its pure-noise law (sigma**2 chi2(3**ndim) / 3**ndim).
    Under pure noise the screen is independent of the coefficients it keeps,
    so the median stays unbiased; on images it drops the coefficients of
    edges and texture.  Iterated 3 times from the plain estimate.  Only
    interior coefficients count (:func:`_interior`), and none whose support
    holds a ``clipped`` voxel.  ``finest`` is ``_finest_diagonal(c)``.
    """
    from scipy.ndimage import uniform_filter
    from scipy.special import gammaincinv  # chi2.ppf(q, k) = 2 gammaincinv(k / 2, q); scipy.stats imports in ~0.9 s

    fine = np.abs(_interior(finest, c.shape))
    coarse = _coarse_diagonal(c)
    energy = uniform_filter(coarse * coarse, size=SCREEN_WINDOW, mode="reflect")
    # interior fine coefficient k (1-based, see _interior) sits under coarse coefficient (k + 1) // 2
    index = tuple(np.minimum((np.arange(1, (n - 2) // 2 + 1) + 1) // 2, m - 1)
                  for n, m in zip(c.shape, coarse.shape))
    energy = energy[np.ix_(*index)]
    usable = None if clipped is None else ~_support_any(clipped)
    pool = fine if usable is None else fine[usable]
    if pool.size < MIN_COEFFICIENTS:
        return np.nan
    sigma = _mad_sigma(pool)
    window = SCREEN_WINDOW**c.ndim
    level = 2.0 * gammaincinv(window / 2.0, SCREEN_QUANTILE) / window
    for _ in range(SCREEN_ROUNDS):
        if not sigma > 0:
            break
        keep = energy < level * sigma * sigma
        if usable is not None:
            keep &= usable
        if np.count_nonzero(keep) < MIN_COEFFICIENTS:
            break
        sigma = _mad_sigma(fine[keep])
    return sigma


#: A value held by more than this fraction of the voxels at the image's
#: minimum or maximum marks clipping (saturation, uint8 black/white) or
#: padding: those voxels carry no noise.
CLIP_FRACTION = 1e-3


def _clipped(c):
    """Boolean mask of the voxels at a clipped extreme of ``c`` (see CLIP_FRACTION), or None."""
    flags = None
    lo, hi = c.min(), c.max()
    if not hi > lo:
        return None
    for v in (lo, hi):
        m = c == v
        if np.count_nonzero(m) > CLIP_FRACTION * c.size:
            flags = m if flags is None else flags | m
    return flags


def _support_any(flags):
    """For each interior coefficient (:func:`_interior`), whether ``flags`` holds anywhere in its support."""
    for ax in range(flags.ndim):
        k = np.arange(1, (flags.shape[ax] - 2) // 2 + 1)
        out = np.take(flags, 2 * k - 2, axis=ax)
        for j in range(1, 4):
            out |= np.take(flags, 2 * k - 2 + j, axis=ax)
        flags = out
    return flags


def _gaussian_sigma(array, grid) -> float:
    """Noise sigma of additive white Gaussian noise, channels averaged; 0 for a noise-free image.

    Donoho's rule, median(|finest diagonal db2 coefficients|) / 0.6745 (as
    scikit-image's ``estimate_sigma``), taken over the coefficients that
    :func:`_screened_sigma` keeps: those whose neighbourhood at the next
    coarser scale shows no structure, none at the image border, and none
    touching clipped voxels.  Where more than 0.1 % of the voxels sit
    exactly at the image's minimum or maximum (uint8 black air or
    saturated highlights, constant padding) those voxels carry no noise and
    would pull the median down.  Images with an axis shorter than 8, or
    with fewer than 100 usable coefficients, get scikit-image's estimate.
    """
    spatial = [n for a, n in enumerate(array.shape) if a != grid.channel_axis]
    channels = _channels(array, grid)
    finest = [_finest_diagonal(c) for c in channels] if min(spatial) >= 4 else []
    sigmas = []
    if min(spatial) >= 8:
        sigmas = [_screened_sigma(c, d, _clipped(c)) for c, d in zip(channels, finest)]
    if not sigmas or not np.all(np.isfinite(sigmas)):
        if min(spatial) < 4:
            import warnings

            from skimage.restoration import estimate_sigma

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                warnings.filterwarnings("ignore", message=".*channel_axis is None", category=UserWarning)
                sigma = float(estimate_sigma(array, channel_axis=grid.channel_axis, average_sigmas=True))
            return sigma if np.isfinite(sigma) else 0.0
        sigmas = [_mad_sigma(d) for d in finest]
    sigma = float(np.mean(sigmas))
    return sigma if np.isfinite(sigma) else 0.0


#: The Rician cross-check of a background estimate: Donoho's estimate over
#: the voxels whose local mean exceeds TISSUE_SNR sigma (where Rician noise
#: is nearly Gaussian) replaces the background's sigma when it is below
#: TISSUE_RATIO times that sigma and more than TISSUE_SE standard errors of
#: the MAD estimate (1.166 sigma / sqrt(n) for n coefficients) below it,
#: i.e. when the "background" holds signal as well as noise.  The bright
#: voxels' estimate itself runs up to ~16 % low next to dark regions
#: (measured on a block phantom), hence the wide margin.
TISSUE_SNR = 3.0
TISSUE_RATIO = 0.75
TISSUE_SE = 3.0
_MAD_SE = 1.166


def _shifted_details(array, grid):
    """``[(channel, k, shift, |d|)]``: the interior finest coefficients of each channel's k-th :func:`_shifts` crop.

    Computed once for both of :func:`_rician_sigma`'s cross-checks; None for
    images with a spatial axis shorter than 8 (neither applies there).
    """
    if min(n for a, n in enumerate(array.shape) if a != grid.channel_axis) < 8:
        return None
    out = []
    for ci, channel in enumerate(_channels(array, grid)):
        for k, shift in enumerate(_shifts(channel.shape)):
            c = channel[shift]
            out.append((ci, k, shift, np.abs(_interior(_finest_diagonal(c), c.shape))))
    return out


def _tissue_sigma(array, grid, details=None):
    """(sigma, n) from the n bright (high-SNR) coefficients of magnitude data; sigma NaN where too few are bright.

    Donoho's estimate restricted to the interior coefficients whose support
    is bright: the image smoothed by a Gaussian of one voxel exceeds
    ``TISSUE_SNR`` sigma at all 2**ndim central samples of the coefficient's
    4-sample support (a support that reaches into a dark region mixes in its
    weaker Rayleigh noise, and planar edges leave no trace in the diagonal
    subband to show it), iterated from the estimate over all coefficients
    (4 rounds).  Low-SNR voxels are left out because Rician noise is weaker
    there (a Rayleigh variable has a standard deviation of 0.66 sigma).
    Channels are averaged, and on small images the one-voxel shifts of the
    wavelet grid too (:data:`SHIFT_MAX`); n counts one grid's coefficients.
    ``details``: :func:`_shifted_details`, when already computed.
    """
    if details is None:
        details = _shifted_details(array, grid)
    if details is None:
        return np.nan, 0
    from ._kernels import gaussian_filter

    channels = _channels(array, grid)
    sigmas = []
    used = 0
    for ci, k, shift, d in details:
        c = channels[ci][shift]
        smooth = gaussian_filter(np.asarray(c, dtype=np.float32), [1.0] * c.ndim)
        local = _support_minimum(smooth)
        sigma = _mad_sigma(d)
        need = max(MIN_COEFFICIENTS, 0.05 * d.size)  # and 5 % of them
        for _ in range(4):
            if not sigma > 0:
                break
            bright = local > TISSUE_SNR * sigma
            if np.count_nonzero(bright) < need:
                sigma = np.nan
                break
            sigma = _mad_sigma(d[bright])
        else:
            if k == 0:  # the shifts' coefficients are correlated: one grid's count for the standard error
                used += int(np.count_nonzero(bright))
        sigmas.append(sigma)
    return float(np.mean(sigmas)), used


#: Small images (up to this many voxels per channel) average the bright-voxel
#: and the moment estimates of sigma over the 2**ndim one-voxel shifts of the
#: wavelet grid: every voxel then starts a coefficient, not one in 2**ndim
#: (the shifted coefficients overlap, so they are correlated, but the spread
#: falls: on pydicom's 64 x 64 MR slice at 10 % Rician noise, over 30 noise
#: draws, from 6.7 % to 3.4 % for the estimate used there).  Beyond it the
#: estimates' spread is below a percent anyway.
SHIFT_MAX = 1 << 18


def _shifts(shape):
    """Index tuples of the 2**ndim one-voxel shifted crops (small images), or of the image alone."""
    if math.prod(shape) > SHIFT_MAX:
        return [(slice(None),) * len(shape)]
    return [tuple(slice(o, None) for o in offsets) for offsets in itertools.product((0, 1), repeat=len(shape))]


def _support_minimum(smooth):
    """For each interior coefficient (:func:`_interior`), the minimum of ``smooth`` at its support's centre.

    Interior coefficient k of an axis spans samples 2k - 2 .. 2k + 1,
    k = 1 .. (n - 2) // 2; its central samples are 2k - 1 and 2k, so the
    minimum is taken over 2**ndim points (the smoothing reaches the rest).
    """
    low = tuple(slice(1, 2 * ((n - 2) // 2), 2) for n in smooth.shape)
    high = tuple(slice(2, 2 * ((n - 2) // 2) + 1, 2) for n in smooth.shape)
    out = None
    for corner in range(1 << smooth.ndim):
        index = tuple(high[a] if corner >> a & 1 else low[a] for a in range(smooth.ndim))
        out = smooth[index].copy() if out is None else np.minimum(out, smooth[index], out=out)
    return out


def _rician_sigma(array, grid, sigma_bg, given_mask, background) -> float:
    """The background's Rayleigh sigma, cross-checked against two estimates that allow for signal in it.

    A background found automatically may hold faint signal (a scan cropped
    to the head, or noise added to data whose own background was already
    noisy): its second moment then overstates sigma.  Two estimates do not
    assume A = 0 there: the bright voxels' (:func:`_tissue_sigma`) and the
    background's Rician moments (:func:`_koay_sigma`).  When either is
    clearly below the background's sigma (below TISSUE_RATIO resp.
    MOMENTS_RATIO times it, and TISSUE_SE standard errors), their mean is
    used: their errors are partly independent and of opposite sign where
    measured (texture raises the bright voxels' estimate, partial-volume
    voxels at the object's rim lower the moments'); on pydicom's MR slice at
    10 % noise, over 30 noise draws: bright voxels +3.6 % +- 6.0 %, moments
    -3.0 % +- 4.6 %, their mean +0.3 % +- 3.4 % (all 30 within 10 %).  A
    background the user declared with ``mask=`` is trusted as it is.
    ``background``: the mask ``sigma_bg`` was measured on
    (:func:`_background_stats`).
    """
    if given_mask:
        return sigma_bg
    details = _shifted_details(array, grid)
    tissue, n = _tissue_sigma(array, grid, details)
    moments, m = _koay_sigma(array, grid, background, details)

    def clearly_below(estimate, count, ratio):
        limit = min(ratio, 1.0 - TISSUE_SE * _MAD_SE / math.sqrt(max(count, 1))) * sigma_bg
        return bool(np.isfinite(estimate) and 0 < estimate < limit)

    if clearly_below(tissue, n, TISSUE_RATIO) or clearly_below(moments, m, MOMENTS_RATIO):
        sigma = float(np.mean([e for e in (tissue, moments) if np.isfinite(e) and e > 0]))
        log.info("noise: the background's sigma %.4g exceeds the bright voxels' %.4g or its Rician moments' "
                 "%.4g: the background holds signal; using their mean %.4g", sigma_bg, tissue, moments, sigma)
        return sigma
    return sigma_bg


#: The moments' cross-check (see :func:`_rician_sigma`) flags a background
#: whose Rayleigh sigma exceeds its Rician-moment sigma by more than 1.4x.
#: Measured over 5 noise draws of the bench_rician volumes: true air
#: backgrounds 1.00-1.29 (the moments run 3-16 % low there: partial-volume
#: voxels at the object's rim raise the mean), pydicom's MR_small at 10 %
#: (faint signal, no air) 1.47-1.68.
MOMENTS_RATIO = 1.0 / 1.4


#: Rayleigh (A = 0) ratio of the mean of M to its standard deviation:
#: sqrt(pi / (4 - pi)); a region with a smaller ratio is pure noise.
_RAYLEIGH_SNR = math.sqrt(math.pi / (4.0 - math.pi))


def _koay_xi(theta):
    """Koay and Basser's correction factor: var(M) / sigma**2 of a Rician variable of SNR theta = A / sigma."""
    from scipy.special import i0e, i1e

    t2 = theta * theta
    return 2.0 + t2 - math.pi / 8.0 * ((2.0 + t2) * i0e(t2 / 4.0) + t2 * i1e(t2 / 4.0)) ** 2


def _koay_sigma(array, grid, background, details=None):
    """(sigma, n): a region of faint, unknown signal's sigma from its Rician moments (Koay & Basser 2006).

    sigma is NaN where fewer than MIN_COEFFICIENTS coefficients lie inside.

    The mean m of M over the region and its noise standard deviation s
    (Donoho's estimate over the interior coefficients whose support lies in
    the region: local differences, blind to the signal's slow variation)
    fix the SNR theta by ``theta = sqrt(xi(theta) (1 + m**2 / s**2) - 2)``
    (solved by Brent's method) and then ``sigma = s / sqrt(xi(theta))``; a
    region whose m / s is at or below the Rayleigh ratio 1.913 is pure
    noise (theta = 0, ``sigma = s / 0.655``).  Channels are averaged, and
    on small images the shifts of :func:`_shifted_details` (``details``,
    when already computed).
    """
    from scipy.optimize import brentq

    if not background.any():
        return np.nan, 0
    if details is None:
        details = _shifted_details(array, grid)
    if details is None:
        return np.nan, 0
    count = int(np.count_nonzero(_support_minimum(background.astype(np.float32)) > 0.5))
    if count < MIN_COEFFICIENTS:
        return np.nan, count
    means = [float(np.mean(channel[background], dtype=np.float64)) for channel in _channels(array, grid)]
    sigmas = []
    for ci, _, shift, d in details:
        m = means[ci]
        inside = _support_minimum(background[shift].astype(np.float32)) > 0.5
        s = _mad_sigma(d[inside]) if inside.any() else np.nan
        if not s > 0:
            return np.nan, count
        r = m / s
        theta = 0.0
        # g(t) = sqrt(xi(t) (1 + r^2) - 2) - t: g(0) > 0 above the Rayleigh
        # ratio, g(r) < 0 (xi < 1 for t > 0): the root lies in (0, r)
        if r > _RAYLEIGH_SNR:
            theta = brentq(lambda t: math.sqrt(max(_koay_xi(t) * (1.0 + r * r) - 2.0, 0.0)) - t, 0.0, r)
        sigmas.append(s / math.sqrt(_koay_xi(theta)))
    return float(np.mean(sigmas)), count


def rician_mean(nu):
    """E[M] / sigma of a Rician variable with ``nu = A / sigma`` (vectorised, stable for large nu).

    ``sqrt(pi/2) L_{1/2}(-nu**2/2)`` with the Laguerre function written with
    exponentially scaled Bessel functions:
    ``L = (1 + nu**2/2) i0e(nu**2/4) + nu**2/2 i1e(nu**2/4)``.

    >>> from imdiffuse.noise import rician_mean
    >>> round(float(rician_mean(0.0)), 4), round(float(rician_mean(50.0)), 3)
    (1.2533, 50.01)
    """
    from scipy.special import i0e, i1e

    h = 0.5 * np.square(np.asarray(nu, dtype=np.float64))
    return RAYLEIGH_MEAN * ((1.0 + h) * i0e(0.5 * h) + h * i1e(0.5 * h))


_TABLE = None


def _inverse_table():
    global _TABLE
    if _TABLE is None:
        nu = np.concatenate([np.linspace(0.0, 4.0, 2001), np.linspace(4.0, 30.0, 2601)[1:]])
        _TABLE = (rician_mean(nu), nu)
    return _TABLE


def rician_bias_correct(mean, sigma, out=None):
    """The Rician signal A whose magnitude has expectation ``mean``: E[M] = mean -> A.

    Inverts :func:`rician_mean` (monotone in A) by interpolation in a table
    for ``mean / sigma <= 30`` and ``A = sqrt(mean**2 - sigma**2)`` above,
    where the two agree to 1e-5 relative.  Means at or below the Rayleigh
    mean ``1.2533 sigma`` (pure noise) map to 0.  This is the first-moment
    correction: apply it to a local mean of the magnitude (a denoised image),
    not to single noisy voxels.

    Parameters
    ----------
    mean : array_like
        Local means of the magnitude, >= 0.
    sigma : float
        Noise standard deviation (finite, > 0).
    out : ndarray, optional
        Where to write the result (may be ``mean`` itself).

    Returns
    -------
    A : ndarray
        Same shape and float dtype as ``mean``.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse.noise import rician_bias_correct, rician_mean
    >>> A = np.array([0.0, 1.0, 3.0, 100.0])
    >>> np.round(rician_bias_correct(rician_mean(A / 2.0) * 2.0, sigma=2.0), 3)
    array([  0.,   1.,   3., 100.])
    """
    from ._validate import check_positive

    sigma = check_positive(sigma, "sigma")
    m = np.asarray(mean)
    x = np.asarray(m, dtype=np.float64) / sigma
    means, nus = _inverse_table()
    res = np.atleast_1d(np.interp(x, means, nus, left=0.0))
    big = np.atleast_1d(x > means[-1])
    if big.any():
        res[big] = np.sqrt(np.atleast_1d(x)[big] ** 2 - 1.0)
    res = res.reshape(x.shape) * sigma
    if out is None:
        return res.astype(m.dtype if m.dtype.kind == "f" else np.float64, copy=False)
    out[...] = res
    return out
