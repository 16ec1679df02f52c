"""Blind denoising: noise level -> model -> parameters -> diffusion."""

from __future__ import annotations

import math

import numpy as np

from ._grid import prepare
from ._validate import check_option, check_positive
from .noise import (NOISE_MODELS, RAYLEIGH_VAR, _background_stats, _check_mask, _detect, _estimate, log,
                    estimate_noise, rician_bias_correct)

__all__ = ["denoise", "estimate_noise", "robust_contrast"]

DENOISE_METHODS = ("auto", "perona_malik", "tv", "heat", "eed", "ced")
#: How blind Perona-Malik denoising of Gaussian noise sets its parameters:
#: per image by SURE (:func:`_sure_perona_malik`), or by the calibrated rule alone.
TUNINGS = ("sure", "rule")

# Parameter rules tuned by scripts/calibrate_denoise.py, separately for 2-D
# images and 3-D volumes (noise averages over more neighbours in 3-D, so less
# diffusion time is needed).  eed and ced were tuned with --quick (fewer
# images and noise levels); 3-D ced's b and p by a short scan of b.  Training sets, disjoint from the benchmark
# images: 2-D, scikit-image's chelsea, coffee, rocket, clock, moon, page,
# grass, gravel, cell, immunohistochemistry and the bundled CT slice; 3-D,
# synthetic volumes of random ellipsoids, shells and tubes.  Gaussian noise
# sigma 5, 10, 20, 35, 50 on 0..255.  rel = sigma / robust_contrast.  Times
# are in voxel units and converted to physical units with the geometric-mean
# spacing h:
#   heat:          t = b * rel**p * h**2
#   perona_malik:  kappa = a * sigma / h, t = b * rel**p * h**2, Catte sigma = c * h
#   tv:            t = b * rel**p * contrast * h
#   eed:           kappa = a * sigma / h, t = b * rel**p * h**2, Catte sigma = c * h
#   ced:           noise scale = s * h, integration scale rho = r * h,
#                  C = k * (sigma / h)**4, t = b * rel**p * h**2
RULES = {
    2: {
        "heat": {"b": 22.16, "p": 1.49},
        "perona_malik": {"diffusivity": "tukey", "a": 0.3985, "c": 1.0, "b": 69.51, "p": 1.3},
        "tv": {"b": 1.79, "p": 1.5},
        "eed": {"diffusivity": "weickert", "a": 0.3, "c": 1.0, "b": 13.7, "p": 1.19},
        "ced": {"s": 0.5, "r": 2.0, "k": 1e-05, "b": 143.9, "p": 0.9},
    },
    3: {
        "heat": {"b": 4.0, "p": 1.3},
        "perona_malik": {"diffusivity": "tukey", "a": 0.1585, "c": 1.0, "b": 51.89, "p": 0.9},
        "tv": {"b": 1.05, "p": 1.5},
        "eed": {"diffusivity": "tukey", "a": 0.2514, "c": 0.75, "b": 7.455, "p": 1.2},
        "ced": {"s": 0.5, "r": 3.0, "k": 1e-05, "b": 12.0, "p": 0.9},
    },
}


#: Discrepancy principle (Morozov): diffusion stops once the variance of
#: the removed part, mean((u - f)**2), reaches DISCREPANCY * sigma**2, if
#: that comes before the calibrated time.  On the 2-D training set (33
#: cases) the cap raised the mean PSNR by 0.19 / 0.19 / 0.57 dB at sigma
#: 10 / 25 / 50, most on textures (grass, gravel, page) that the rule
#: over-smooths.
DISCREPANCY = 1.0


#: Perona-Malik candidates for the blind Gaussian-noise path of method
#: "auto"/"perona_malik", scored by Monte-Carlo SURE (:func:`_sure_perona_malik`):
#: (diffusivity, kappa / sigma, Catte sigma / h, longest time / rel in
#: voxel units).  None in the first field is the calibrated rule of
#: :data:`RULES` run up to SURE_RULE_SPAN times its time.  The rule (Catte-
#: regularised, robust Tukey diffusivity) suits textured photographs; the
#: unregularised rational families with small kappa converge to piecewise-
#: constant images and keep one-voxel structures (a skull, vessels) that
#: Gaussian pre-smoothing would dissolve.  Chosen on the benchmark families
#: of images (photographs, text, textures, phantoms): SURE picked, per
#: image, a family within 0.1 dB of the best of the four in 18 of 18 cases.
SURE_FAMILIES = (
    (None, 0.0, 0.0, 0.0),
    ("rational", 0.2, 0.0, 1000.0),
    ("rational", 0.5, 0.0, 400.0),
    ("rational", 1.0, 0.0, 100.0),
)
SURE_RULE_SPAN = 3.0
#: Checkpoints per candidate (at least; FED cycles are at most
#: NONLINEAR_CYCLE_LIMITS explicit limits long, which may add more).
SURE_CHECKPOINTS = 16
#: Perturbation of the Monte-Carlo divergence, in units of sigma.
SURE_EPS = 0.01
#: Images with more values are scored on a centred crop of about this many.
SURE_SAMPLE = 1 << 21
#: Rician data: SURE, which assumes Gaussian noise, scores only the voxels
#: whose smoothed magnitude exceeds this many sigma, where the Rician
#: distribution is close to a Gaussian of variance sigma**2 (Gudbjartsson &
#: Patz 1995: from an SNR of about 3).
SURE_RICIAN_SNR = 3.0


def _high_snr(array, grid, sigma):
    """Voxels whose local mean magnitude (Gaussian, 2 voxels; channels averaged) exceeds SURE_RICIAN_SNR sigma."""
    from ._kernels import gaussian_filter

    a = np.asarray(array, dtype=np.float32)
    if grid.channel_axis is not None:
        a = a.mean(axis=grid.channel_axis)
    return gaussian_filter(a, [2.0] * a.ndim) > SURE_RICIAN_SNR * sigma


def sure_family(ndim, index, sigma, rel, h):
    """(diffusivity, kappa, Catte sigma, longest time) of :data:`SURE_FAMILIES` entry ``index``, physical units."""
    diffusivity, kmul, catte, span = SURE_FAMILIES[index]
    if diffusivity is None:
        rule = RULES[ndim]["perona_malik"]
        diffusivity, kmul, catte = rule["diffusivity"], rule["a"], rule["c"]
        t_max = SURE_RULE_SPAN * rule["b"] * rel ** rule["p"] * h * h
    else:
        t_max = span * rel * h * h
    return diffusivity, kmul * sigma / h, catte * h, t_max


def _family_operator(grid, index, sigma, rel, h):
    """(operator, longest time, cycles, description) of :data:`SURE_FAMILIES` entry ``index``."""
    from .diffusivity import DIFFUSIVITIES
    from .nonlinear import FaceDiffusion

    diffusivity, kappa, catte, t_max = sure_family(grid.ndim, index, sigma, rel, h)
    op = FaceDiffusion(grid, DIFFUSIVITIES[diffusivity], kappa * kappa, catte)
    cycles = max(SURE_CHECKPOINTS, math.ceil(t_max / op.max_cycle_time))
    return op, t_max, cycles, f"perona_malik diffusivity={diffusivity!r} kappa={kappa:.4g} sigma={catte:.3g}"


def _sure_select(array, grid, sigma, rel, h, callback=None, region=None):
    """Score every candidate of :data:`SURE_FAMILIES` by SURE; see :func:`_sure_perona_malik`.

    ``region``: bool array of the spatial shape, the voxels whose error is
    estimated (None: all).  Returns ``(best, choice)``: the best result in
    canonical layout and ``(family index, checkpoint index, time, risk)``
    (family None: the noisy image itself).
    """
    from . import _kernels
    from .schemes import fed_trajectory

    y = grid.to_canonical(array)
    flat_y = y.reshape(-1)
    if region is None:
        flat_r = np.zeros(0, dtype=np.bool_)
    else:  # the same voxels in every channel
        # tiled, not a broadcast view: a read-only array is another type to Numba (one more compilation)
        flat_r = np.tile(np.asarray(region, dtype=np.bool_).ravel(), y.shape[0])
    probe = np.random.default_rng(0).integers(0, 2, size=y.shape, dtype=np.int8)
    probe *= 2
    probe -= 1
    flat_b = probe.reshape(-1)
    eps = SURE_EPS * sigma
    var = sigma * sigma
    best = y.copy()
    choice = (None, -1, 0.0, var)  # the identity's risk is sigma**2
    for f in range(len(SURE_FAMILIES)):
        runs = []
        for start in (y.copy(), y + _kernels.typed(eps, y.dtype) * probe):
            op, t_max, cycles, _ = _family_operator(grid, f, sigma, rel, h)
            runs.append(fed_trajectory(op, start, t_max, cycles))
        fam_risk = math.inf
        fam_t = 0.0
        fam_k = 0
        for k, ((u, done), (v, _)) in enumerate(zip(*runs)):
            res, div, n = _kernels.sure_sums(flat_y, u.reshape(-1), v.reshape(-1), flat_b, flat_r)
            if n == 0:
                break
            risk = res / n - var + 2.0 * var * div / (eps * n)
            if callback is not None:
                callback(done)
            if risk < fam_risk:
                fam_risk, fam_t, fam_k = risk, done, k
                if risk < choice[3]:
                    choice = (f, k, done, risk)
                    np.copyto(best, u)
            elif k >= fam_k + 3 and done >= 1.5 * fam_t:
                break
    return best, choice


def _sure_perona_malik(array, grid, sigma, rel, h, callback=None, region=None):
    """Blind Perona-Malik: the candidate and stopping time of least estimated risk.

    Stein's unbiased risk estimate of the mean squared error, for Gaussian
    noise of known sigma and any (weakly differentiable) denoiser f,

        SURE = |f(y) - y|**2 / N - sigma**2 + 2 sigma**2 div f(y) / N,

    with the divergence estimated by one random probe b (+-1 entries):
    div f(y) ~ b . (f(y + eps b) - f(y)) / eps (Ramani, Blu & Unser 2008).
    Each candidate of :data:`SURE_FAMILIES` runs twice in lock-step (on y and
    on y + eps b) with FED, and SURE is evaluated after every cycle: a whole
    curve of risk against diffusion time for two runs.  A candidate stops
    once its risk has not improved for 3 checkpoints and half its best time.
    The noisy image itself (risk sigma**2) is a candidate too.  Images of
    more than :data:`SURE_SAMPLE` values are scored on a centred crop of
    about that size, and the winner then runs once on the whole image to
    the chosen checkpoint.  ``region`` (bool, spatial shape): estimate the
    error of these voxels only.  Returns the result (user layout) and a
    description of the choice for the log.
    """
    from ._grid import Grid
    from .schemes import fed_trajectory

    spatial = [i for i in range(len(grid.shape)) if i != grid.channel_axis]
    big = math.prod(grid.shape) > SURE_SAMPLE
    if big:
        scale = (SURE_SAMPLE / math.prod(grid.shape)) ** (1.0 / len(spatial))
        crop = [slice(None)] * len(grid.shape)
        for i in spatial:
            n = grid.shape[i]
            m = min(n, max(32, int(n * scale)))
            crop[i] = slice((n - m) // 2, (n - m) // 2 + m)
        sample = array[tuple(crop)]
        sgrid = Grid(shape=sample.shape, channel_axis=grid.channel_axis, spacing=grid.spacing, dtype=grid.dtype)
        if region is not None:
            region = region[tuple(crop[i] for i in spatial)]
        best, (f, k, done, risk) = _sure_select(sample, sgrid, sigma, rel, h, callback, region)
    else:
        best, (f, k, done, risk) = _sure_select(array, grid, sigma, rel, h, callback, region)
    var = sigma * sigma
    if f is None:
        return np.array(array, dtype=grid.dtype, copy=True), (
            f"the noisy image (no candidate lowered the estimated MSE below the noise variance {var:.4g})")
    op, t_max, cycles, what = _family_operator(grid, f, sigma, rel, h)
    if big:  # the winner on the whole image, the same cycles up to the chosen one
        for j, (u, _) in enumerate(fed_trajectory(op, grid.to_canonical(array), t_max, cycles)):
            if j == k:
                best = u
                break
    where = " (scored on a centred crop)" if big else ""
    return grid.from_canonical(best), f"{what} t={done:.4g}{where}; estimated MSE {risk:.4g}, noise variance {var:.4g}"


def _discrepancy_stop(array, grid, sigma, factor=None):
    """A ``stop_when`` for the models: True once mean((u - array)**2) >= factor sigma**2.

    ``factor`` defaults to :data:`DISCREPANCY`, read at call time.
    """
    work = np.empty(array.shape, dtype=grid.dtype)
    limit = (DISCREPANCY if factor is None else factor) * sigma * sigma * array.size

    def stop_when(u, t_done):
        np.subtract(grid.from_canonical(u), array, out=work)
        return float(np.square(work, out=work).sum(dtype=np.float64)) >= limit

    return stop_when


def robust_contrast(image, sigma: float = 0.0) -> float:
    """Intensity range of the image's content, insensitive to noise and outliers.

    The 0.5 and 99.5 percentiles of the image after a light Gaussian blur
    (sigma 2 voxels), which removes most of the noise; at least ``4 sigma``
    so that a nearly flat noisy image is not mistaken for a high-contrast one.
    """
    from ._kernels import gaussian_filter

    a = np.asarray(image, dtype=np.float32)
    step = max(1, int(math.ceil((a.size / 4e6) ** (1 / a.ndim))))
    a = a[(slice(None, None, step),) * a.ndim] if step > 1 else a
    blurred = gaussian_filter(a, [2.0] * a.ndim)
    lo, hi = np.percentile(blurred, [0.5, 99.5])
    return float(max(hi - lo, 4.0 * sigma, np.finfo(np.float32).tiny))


def check_options(method, noise, sigma, t, kappa, diffusivity=None, regularization=None):
    """Validate denoise's options; returns them with ``method="auto"`` resolved."""
    method = check_option(method, "method", DENOISE_METHODS)
    noise = check_option(noise, "noise", NOISE_MODELS)
    if sigma is not None:
        sigma = check_positive(sigma, "sigma")
    if t is not None:
        t = check_positive(t, "t", allow_zero=True)
    if kappa is not None:
        kappa = check_positive(kappa, "kappa")
    if method == "auto":
        method = "perona_malik"
    if kappa is not None and method not in ("perona_malik", "eed"):
        raise ValueError(f"kappa applies to method='perona_malik' or 'eed' only, got method={method!r}")
    for name, value in (("diffusivity", diffusivity), ("regularization", regularization)):
        if value is not None and method not in ("perona_malik", "eed"):
            raise ValueError(f"{name} applies to method='perona_malik' or 'eed' only, got method={method!r}")
    if diffusivity is not None:
        from .diffusivity import DIFFUSIVITIES

        check_option(diffusivity, "diffusivity", tuple(DIFFUSIVITIES))
    if regularization is not None:
        check_positive(regularization, "regularization", allow_zero=True)
    return method, noise, sigma, t, kappa


def _run_rule(array, grid, method, noise, sigma, rel, h, contrast, t, kappa, fraction, mask, callback,
              diffusivity=None, regularization=None):
    """The calibrated rule of :data:`RULES` (and the discrepancy stop) for ``method``."""
    from .linear import heat
    from .nonlinear import perona_malik, tv_flow
    from .tensor import coherence_enhancing, edge_enhancing

    rule = RULES[grid.ndim][method]
    t_px = rule["b"] * rel ** rule["p"]
    common = dict(spacing=grid.spacing, channel_axis=grid.channel_axis, callback=callback)
    if t is None:
        t = t_px * contrast * h if method == "tv" else t_px * h * h
        if method != "heat":  # heat runs as one Gaussian filter: nothing to stop
            factor = DISCREPANCY
            if noise == "rician":  # the noise's variance is 0.43 sigma**2 in the Rayleigh background
                if fraction is None:  # sigma and noise="rician" given
                    fraction = _background_stats(array, grid.channel_axis, mask)[4]
                factor *= (1.0 - fraction) + RAYLEIGH_VAR * fraction
            common["stop_when"] = _discrepancy_stop(array, grid, sigma, factor)
    if method == "heat":
        return heat(array, t, **common)
    if method == "tv":
        return tv_flow(array, t, **common)
    if method == "ced":
        return coherence_enhancing(array, t, sigma=rule["s"] * h, rho=rule["r"] * h,
                                   C=rule["k"] * (sigma / h) ** 4, **common)
    model = perona_malik if method == "perona_malik" else edge_enhancing
    return model(array, t, kappa=kappa if kappa is not None else rule["a"] * sigma / h,
                 diffusivity=rule["diffusivity"] if diffusivity is None else diffusivity,
                 sigma=rule["c"] * h if regularization is None else regularization, **common)


def denoise(image, *, method="auto", noise="auto", sigma=None, mask=None, spacing=None, channel_axis=None,
            t=None, kappa=None, diffusivity=None, regularization=None, tuning="sure", callback=None):
    """Remove noise with diffusion, choosing every parameter from the data.

    The noise model and level are estimated (:func:`estimate_noise`) unless
    given.  For Gaussian noise and Perona-Malik (``method="auto"``), the
    parameters are then chosen per image by Stein's unbiased risk estimate
    (SURE, ``tuning="sure"``): four candidate models (the calibrated
    Catte-regularised rule, and unregularised rational Perona-Malik with
    ``kappa`` = 0.2, 0.5 and 1 sigma, see :data:`SURE_FAMILIES`) each run
    twice with FED, on the image and on the image plus a small random probe,
    and the estimated mean squared error is read after every cycle; the
    candidate and stopping time of least estimated error win (Ramani, Blu
    & Unser's Monte-Carlo SURE).  SURE needs no clean image, so this is an
    unbiased, per-image version of what a user would tune by eye: textured
    photographs get the regularised rule, piecewise-constant images and
    volumes with one-voxel structures (a skull, vessels) get the models
    that converge to flat regions without dissolving thin lines.  It costs
    about ten runs of the rule; images larger than :data:`SURE_SAMPLE`
    values are scored on a centred crop.  The choice is logged (logger
    ``"imdiffuse"``, INFO) and printed by the CLI.

    Otherwise (``tuning="rule"``, other methods, Rician noise, or ``t`` /
    ``kappa`` given) the parameters (stopping time ``t``, contrast
    ``kappa``, regularisation) follow from the noise level relative to the
    image's contrast by rules calibrated on training sets of 2-D images and
    3-D volumes (``scripts/calibrate_denoise.py``; the constants are in
    :data:`RULES`), and the diffusion stops earlier if the variance of what
    it removed reaches that of the noise (the discrepancy principle,
    :data:`DISCREPANCY`; for Rician data ``0.43 sigma**2`` in the background
    and ``sigma**2`` elsewhere), which keeps textures that the rule would
    over-smooth.  For Rician (MR magnitude) data the diffused image, a
    local mean of the magnitude, is corrected for the Rician bias
    (:func:`imdiffuse.noise.rician_bias_correct`), so that the background
    returns to 0 and low-signal tissue to its true level.

    Parameters
    ----------
    image : (M, N[, P][, C]) array_like
        2-D or 3-D image (e.g. a CT or MR volume), real numeric dtype; a 4-D
        series (fMRI, diffusion MRI, dynamic CT) with its volumes along
        ``channel_axis`` is diffused jointly (one diffusivity from all
        volumes).
    method : {"auto", "perona_malik", "tv", "heat", "eed", "ced"}, optional
        Diffusion model.  ``"auto"`` is Perona-Malik (edge-preserving, fast).
        ``"eed"``: edge-enhancing tensor diffusion
        (:func:`imdiffuse.edge_enhancing`), the best quality on photographs
        at high noise and about 3x slower; ``"ced"``: coherence-enhancing
        diffusion (:func:`imdiffuse.coherence_enhancing`) for flow-like
        structures (fingerprints, fibres).
    noise : {"auto", "gaussian", "rician"}, optional
        Noise model.  ``"rician"``: MR magnitude data (values >= 0), sigma
        estimated from the dark background and the result bias-corrected.
        ``"auto"`` (default) decides with :func:`imdiffuse.noise.detect_noise`
        (non-negative data with a dark, Rayleigh-distributed background ->
        Rician) and logs the decision (logger ``"imdiffuse"``, INFO).
    sigma : float, optional
        Noise standard deviation in the image's units (for Rician data: of
        the real and imaginary channels); estimated if None.
    mask : (M, N[, P]) bool array or "auto", optional
        True on the object: only voxels inside are changed (the outside is
        returned as given), and Rician noise is estimated from the outside.
        ``"auto"``: the object is everything but the dark background
        (:func:`imdiffuse.noise.background_mask`).  Default: every voxel.
    spacing : float or sequence of float, optional
        Voxel spacing: parameters are set in voxels of the mean spacing and
        converted to physical units, so thick slices are smoothed less along
        their axis.
    channel_axis : int, optional
        Axis holding channels (diffused jointly).
    t, kappa : float, optional
        Override the calibrated stopping time (physical units, see the
        model's docs) or contrast parameter (Perona-Malik and EED only).
    diffusivity, regularization : optional
        Perona-Malik and EED only: override the rule's diffusivity (a name
        of :func:`perona_malik`'s) and Catte regularisation ``sigma``
        (physical units, 0 for none).  With ``t`` and ``kappa`` they fix the
        model completely, as :func:`imdiffuse.chunked.denoise_parameters`
        does with the choice SURE made on a sample.
    tuning : {"sure", "rule"}, optional
        How blind Perona-Malik on Gaussian noise sets its parameters: per
        image by SURE (default; 0.1-2 dB better on 2-D photographs and up
        to 10 dB on volumes with thin structures, about ten times the work)
        or by the calibrated rule alone (fast).
    callback : callable, optional
        Progress, ``callback(t_done)`` (with SURE: the time of the candidate
        being scored).

    Returns
    -------
    out : ndarray
        Denoised image, same shape; float64 for float64 input, else float32.

    Raises
    ------
    TypeError, ValueError
        Bad image or options (see :func:`perona_malik`); ``sigma <= 0``;
        ``kappa`` given with a model that has none; unknown ``noise``;
        negative values with ``noise="rician"``; a ``mask`` that is not a
        boolean array of the image's spatial shape.

    References
    ----------
    .. [1] P. Perona, J. Malik, "Scale-space and edge detection using
       anisotropic diffusion", IEEE Trans. PAMI 12(7):629-639, 1990.
       :doi:`10.1109/34.56205`
    .. [2] D. L. Donoho, I. M. Johnstone, "Ideal spatial adaptation by wavelet
       shrinkage", Biometrika 81(3):425-455, 1994. :doi:`10.1093/biomet/81.3.425`
    .. [3] H. Gudbjartsson, S. Patz, "The Rician distribution of noisy MRI
       data", Magnetic Resonance in Medicine 34(6):910-914, 1995.
       :doi:`10.1002/mrm.1910340618`
    .. [4] C. M. Stein, "Estimation of the mean of a multivariate normal
       distribution", Annals of Statistics 9(6):1135-1151, 1981.
       :doi:`10.1214/aos/1176345632`
    .. [5] S. Ramani, T. Blu, M. Unser, "Monte-Carlo SURE: a black-box
       optimization of regularization parameters for general denoising
       algorithms", IEEE Trans. Image Processing 17(9):1540-1554, 2008.
       :doi:`10.1109/TIP.2008.2001404`

    Examples
    --------
    >>> import numpy as np
    >>> import imdiffuse as imd
    >>> clean = imd.data.phantom3d((32, 48, 48))
    >>> noisy = clean + np.random.default_rng(0).normal(0, 20, clean.shape)
    >>> u = imd.denoise(noisy)
    >>> bool(np.abs(u - clean).mean() < 0.5 * np.abs(noisy - clean).mean())
    True

    MR magnitude data: the Rician bias lifts the dark background to 1.25
    sigma; denoising with ``noise="rician"`` (or "auto") brings it down to
    under a third of sigma.

    >>> rng = np.random.default_rng(1)
    >>> mag = np.hypot(clean + rng.normal(0, 15, clean.shape), rng.normal(0, 15, clean.shape))
    >>> float(mag[clean == 0].mean()) > 1.2 * 15
    True
    >>> u = imd.denoise(mag, noise="rician")
    >>> float(u[clean == 0].mean()) < 15 / 3
    True
    """
    array, grid = prepare(image, spacing, channel_axis)
    method, noise, sigma, t, kappa = check_options(method, noise, sigma, t, kappa, diffusivity, regularization)
    tuning = check_option(tuning, "tuning", TUNINGS)
    mask = _check_mask(mask, grid)
    found_mask = isinstance(mask, str)
    if found_mask:  # "auto": the object is what is not dark background
        mask = ~_background_stats(array, grid.channel_axis)[0]
    if noise == "rician" and float(array.min()) < 0:
        raise ValueError(f"noise='rician' needs magnitude data (values >= 0), got a minimum of {float(array.min()):g}")
    fraction = None  # of the voxels in the Rayleigh background (Rician data)
    if sigma is None:
        sigma, noise, fraction = _estimate(array, grid, noise, mask, trust_mask=not found_mask)
        if not sigma > 0:  # a noise-free (e.g. constant) image: nothing to remove
            return np.array(array, dtype=grid.dtype, copy=True)
    elif noise == "auto":
        noise, _, fraction, _ = _detect(array, grid, mask, sigma)
    h = math.prod(grid.spacing) ** (1.0 / grid.ndim)
    contrast = robust_contrast(array, sigma)
    rel = sigma / contrast
    sure = (method == "perona_malik" and t is None and kappa is None and diffusivity is None
            and regularization is None and tuning == "sure")
    region = mask
    if sure and noise == "rician":  # where Rician noise is close to Gaussian (SNR > SURE_RICIAN_SNR)
        high = _high_snr(array, grid, sigma)
        region = high if mask is None else high & mask
    if sure and region is not None and not region.any():
        log.info("denoise: no voxel to score SURE on (all below %g sigma or outside the mask): "
                 "the calibrated rule sets the parameters", SURE_RICIAN_SNR)
        sure = False
    if sure:
        out, choice = _sure_perona_malik(array, grid, sigma, rel, h, callback, region)
        log.info("denoise: %s", choice)
    else:
        out = _run_rule(array, grid, method, noise, sigma, rel, h, contrast, t, kappa, fraction, mask, callback,
                        diffusivity, regularization)
    if noise == "rician":  # slice by slice: the float64 temporaries stay one slice big
        for k in range(out.shape[0]):
            rician_bias_correct(out[k], sigma, out=out[k])
    if mask is not None:
        keep = ~mask if grid.channel_axis is None else np.expand_dims(~mask, grid.channel_axis)
        np.copyto(out, array, where=np.broadcast_to(keep, out.shape))
    return out
