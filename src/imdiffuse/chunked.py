"""Diffusion of arrays bigger than memory: Dask ``map_overlap`` execution.

Every diffusion filter of imdiffuse runs here on a :class:`dask.array.Array`
and returns one: each chunk is extended by a *halo* (overlap) of its
neighbours, filtered in memory by the ordinary function, and cropped back.
The graph is lazy; ``.compute()`` gives a NumPy array, ``.to_zarr()`` (or
:func:`imdiffuse.io.write` to ``.zarr``) streams the result chunk by chunk,
and the same graph runs on a ``dask.distributed`` cluster.  Needs the
``[dask]`` extra: ``pip install "imdiffuse[dask]"``.

Halo
----
A chunk result equals the in-memory result where the halo is deep enough
for nothing from outside it to matter.  At the true edges of the array no
halo is added (Dask's ``boundary="none"``), so the chunk's own reflecting
(Neumann) boundary is the array's boundary, exactly as in memory.  Dask's
``"reflect"`` boundary (NumPy's half-sample ``"symmetric"`` padding) is
equivalent for these symmetric stencils but costs a halo; ``"nearest"``
(edge replication) is not equivalent.

The depth along an axis of spacing ``h`` is (:func:`halo`)

``ceil((HALO_FACTOR * sqrt(2 t gmax) + r) / h) + HALO_STENCIL``

* ``sqrt(2 t gmax)`` is the diffusion length: the standard deviation of the
  heat kernel at time ``t`` for a diffusivity bounded by ``gmax`` (1 for
  heat, Perona-Malik and the tensor models, ``1 / epsilon`` for TV flow).
  For the heat equation the influence of a voxel beyond ``k`` lengths is
  the Gaussian tail ``~exp(-k**2 / 2)`` (4e-6 at :data:`HALO_FACTOR` = 5);
  for the nonlinear models, whose diffusivity is at most ``gmax``, the same
  rule was checked by measurement (not proved).  AOS, which has no finite
  reach, uses :data:`AOS_HALO_FACTOR` = 6.
* ``r`` is the reach of the Gaussian pre-smoothings of the model (Catte
  ``sigma`` and the integration scale ``rho``, truncated at 4 standard
  deviations by the kernels), added once.  (The tensor models' default FED
  mode, ``fed_limit="global"``, uses the exact reach of each cycle instead,
  see :func:`edge_enhancing`.)
* :data:`HALO_STENCIL` cells cover the stencils (differences, tensor cells).

It is capped by the exact bound where there is one: information moves at
most one cell per explicit step (and per FED inner step), plus the
smoothing radii once per coefficient update; so ``n_steps + ...`` cells
are always enough.  ``scheme="exact"`` for :func:`heat` uses the Gaussian's
own truncation radius (bitwise equal results).  The rule was chosen by
measuring the error against the halo (``benchmarks/bench_chunked.py``
prints that scan); tests check 1e-5 relative equality on chunk borders for
every filter in 2-D and 3-D with anisotropic spacing.  ``depth=`` overrides
it.  Dask enlarges chunks that are thinner than the halo.

Global parameters
-----------------
Parameters that depend on the whole image (``kappa="auto"``,
``epsilon="auto"``, the noise level and model, the contrast and stopping
time of :func:`denoise`) are computed **once**, from the whole array when
it has at most ``sample_size`` voxels, otherwise from a deterministic
*mosaic* sample (:func:`sample`), and passed to every chunk as explicit
values, so all chunks agree.

Not supported
-------------
``stop_when``/``callback`` (a chunk does not know the global state; use
Dask's progress bars) and ``mask=`` in :func:`denoise`.  The FED scheme of
the tensor models sizes its steps from a global maximum: the chunked tensor
filters synchronise once per cycle (``fed_limit="global"``, see
:func:`edge_enhancing`) or use a universal limit.  Fast marching is not local:
:func:`distance`, :func:`travel_time` and :func:`arrival_time` compute in
memory up to ``max_bytes`` and raise :class:`ChunkedNotSupported` beyond.
"""

from __future__ import annotations

import math

import numpy as np

from ._validate import check_int, check_option, check_positive, check_time, parse_spacing

__all__ = [
    "ChunkedNotSupported",
    "HALO_FACTOR",
    "AOS_HALO_FACTOR",
    "HALO_STENCIL",
    "FMM_MAX_BYTES",
    "SAMPLE_SIZE",
    "halo",
    "sample",
    "as_dask",
    "heat",
    "perona_malik",
    "tv_flow",
    "edge_enhancing",
    "coherence_enhancing",
    "denoise",
    "denoise_parameters",
    "distance",
    "travel_time",
    "arrival_time",
]

#: Halo = HALO_FACTOR diffusion lengths sqrt(2 t gmax) (+ smoothing radii +
#: HALO_STENCIL cells).  Measured (bench_chunked.py section B, exact cap off,
#: float32, 2-D and 3-D with anisotropic spacing): the max relative error vs
#: the in-memory result for the explicit and FED schemes of every model
#: (heat, Perona-Malik with and without Catte smoothing, TV flow, EED, CED)
#: is up to 5.6e-6 at 3 lengths, 9e-7 at 4 and 6.4e-7 at 5 (float32
#: rounding level); 5 keeps a factor ~100 below the 1e-5 goal.  AOS (no
#: finite reach) has 5.4e-5 at 4, 7.4e-6 at 5, 1.1e-6 at 6 lengths: it uses
#: AOS_HALO_FACTOR.
HALO_FACTOR = 5.0

#: The same for the AOS scheme (semi-implicit: each step couples whole grid
#: lines, so there is no finite reach; 7.4e-6 at 5 and 1.1e-6 at 6 lengths).
AOS_HALO_FACTOR = 6.0

#: Cells added to every halo for the stencils (one for the differences, one
#: for the tensor cells / face diffusivities).
HALO_STENCIL = 2

#: Gaussian pre-smoothings in the models are truncated at this many
#: standard deviations (scipy's default, used by nonlinear.py and tensor.py).
SMOOTHING_TRUNCATE = 4.0

#: Global parameters come from the whole array up to this many voxels, else
#: from a mosaic sample of about this size (:func:`sample`).
SAMPLE_SIZE = 2**22

#: Fast marching runs in memory up to this many bytes of input (float64
#: working copies need about 6x that); beyond, ChunkedNotSupported.
FMM_MAX_BYTES = 2**28


class ChunkedNotSupported(ValueError):
    """An operation cannot run chunk by chunk; the message names the alternative."""


# --------------------------------------------------------------------------- helpers


def _dask():
    try:
        import dask.array as da
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            'imdiffuse.chunked needs Dask: pip install "imdiffuse[dask]" (dask[array], zarr, distributed)'
        ) from exc
    return da


def as_dask(image, *, chunks=None, channel_axis=None, name="image"):
    """A Dask array for ``image``, validated, with the channel axis in one chunk.

    Parameters
    ----------
    image : dask.array.Array, ndarray or ImageData
        2-D or 3-D image (plus ``channel_axis``), real numeric dtype.  An
        :class:`imdiffuse.io.ImageData` (e.g. from ``io.read("x.zarr")``)
        contributes its data.
    chunks : int, tuple or "auto", optional
        Rechunk to this (spatial axes; the channel axis always stays whole).
        Default: keep the array's chunks (NumPy input: ``"auto"``).
    channel_axis : int, optional
        Axis holding channels.

    Returns
    -------
    darr : dask.array.Array
    channel_axis : int or None
        Normalised channel axis.

    Raises
    ------
    TypeError
        bool, complex or non-numeric dtype.
    ValueError
        Wrong number of dimensions, empty array, bad ``channel_axis``.
    """
    from ._validate import check_channel_axis

    da = _dask()
    if hasattr(image, "data") and hasattr(image, "spacing") and not isinstance(image, (np.ndarray, da.Array)):
        image = image.data
    if not isinstance(image, da.Array):
        if isinstance(image, np.ma.MaskedArray):
            raise TypeError(f"{name} must be a plain array, got a masked array; fill it first (image.filled(...))")
        image = da.from_array(np.asarray(image), chunks="auto" if chunks is None else chunks)
        chunks = None
    kind = image.dtype.kind
    if kind not in "uif":
        raise TypeError(f"{name} must have a real numeric dtype (integer or float), got {image.dtype}")
    axis = check_channel_axis(channel_axis, image.ndim)
    spatial = image.ndim - (axis is not None)
    if spatial not in (2, 3):
        raise ValueError(f"{name} must be 2-D or 3-D, got an array of shape {image.shape}")
    if image.size == 0:
        raise ValueError(f"{name} must not be empty, got an array of shape {image.shape}")
    if chunks is not None:
        if isinstance(chunks, (int, np.integer)):
            chunks = check_int(chunks, "chunks", minimum=1)
        if axis is not None and not isinstance(chunks, str):
            per = list(chunks) if isinstance(chunks, (tuple, list)) else [chunks] * spatial
            per.insert(axis, -1)
            chunks = tuple(per)
        image = image.rechunk(chunks)
    if axis is not None and len(image.chunks[axis]) > 1:
        image = image.rechunk({axis: -1})
    return image, axis


def _out_dtype(dtype) -> np.dtype:
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


def halo(t, spacing, *, gmax=1.0, radius=0.0, max_cells=None, factor=None):
    """Halo depth (cells per spatial axis) for diffusion to time ``t``.

    ``ceil((HALO_FACTOR * sqrt(2 t gmax) + radius) / h) + HALO_STENCIL`` per
    axis of spacing ``h``, capped at ``max_cells`` (an exact bound such as
    the number of explicit steps) when given.  See the module docstring.

    Parameters
    ----------
    t : float
        Diffusion time (physical units squared; for TV flow, ``t / epsilon``
        is the equivalent heat time and ``gmax = 1 / epsilon``).
    spacing : sequence of float
        Spacing per spatial axis.
    gmax : float, optional
        Upper bound of the diffusivity.
    radius : float, optional
        Reach of pre-smoothings in physical units, added once.
    max_cells : int or sequence of int, optional
        Exact bound per axis (cells), if known.
    factor : float, optional
        Diffusion lengths to cover; default :data:`HALO_FACTOR`
        (:data:`AOS_HALO_FACTOR` is used for the AOS scheme).

    Returns
    -------
    tuple of int

    Examples
    --------
    >>> from imdiffuse.chunked import halo
    >>> halo(8.0, (1.0, 2.0))          # 5 * sqrt(16) = 20 length units
    (22, 12)
    >>> halo(8.0, (1.0, 2.0), max_cells=10)
    (10, 10)
    """
    reach = (HALO_FACTOR if factor is None else factor) * math.sqrt(2.0 * t * gmax) + radius
    depth = [math.ceil(reach / h - 1e-9) + HALO_STENCIL for h in spacing]
    if max_cells is not None:
        caps = [max_cells] * len(depth) if np.ndim(max_cells) == 0 else list(max_cells)
        depth = [min(d, int(c)) for d, c in zip(depth, caps)]
    return tuple(depth)


def _factor(scheme) -> float:
    return AOS_HALO_FACTOR if scheme == "aos" else HALO_FACTOR


def _explicit_limit(spacing) -> float:
    return 1.0 / (2.0 * sum(1.0 / h**2 for h in spacing))


def _step_bound(scheme, t, limit, *, n_steps=None, cycle_time=math.inf, dtype=np.float32, per_update=0):
    """Exact reach in cells of an explicit or FED run (None for AOS: not finite).

    One cell per explicit step or FED inner step, plus ``per_update`` cells
    (smoothing radius) per coefficient update.
    """
    from .schemes import FED_MAX_CYCLE_STEPS, FED_MIN_CYCLES, fed_cycle_steps

    if t == 0:
        return 0
    if scheme == "explicit":
        steps = n_steps if n_steps is not None else math.ceil(t / limit * (1 - 1e-12))
        return steps * (1 + per_update)
    if scheme == "fed":
        if n_steps is None:
            n_max = FED_MAX_CYCLE_STEPS[np.dtype(dtype)]
            longest = min(cycle_time, limit * (n_max * n_max + n_max) / 3.0)
            cycles = max(FED_MIN_CYCLES, math.ceil(t / longest))
        else:
            cycles = n_steps
        return cycles * (fed_cycle_steps(t / cycles, limit) + per_update)
    return None


def _depth_map(darr, axis, depth):
    """Per-array-axis depth dict; axes whose halo would exceed half the axis go into one chunk."""
    spatial = [i for i in range(darr.ndim) if i != axis]
    out = {}
    whole = {}
    for i, d in zip(spatial, depth):
        n = darr.shape[i]
        if len(darr.chunks[i]) == 1 or d == 0:
            out[i] = 0
        elif 2 * d >= n:
            whole[i] = -1
            out[i] = 0
        else:
            out[i] = d
    if axis is not None:
        out[axis] = 0
    if whole:
        darr = darr.rechunk(whole)
    return darr, out


def _check_depth(depth, ndim):
    if depth is None:
        return None
    if np.ndim(depth) == 0:
        return (check_int(depth, "depth", minimum=0),) * ndim
    depth = tuple(depth)
    if len(depth) != ndim:
        raise ValueError(f"depth must be an int or one int per spatial axis ({ndim}), got {depth!r}")
    return tuple(check_int(d, "depth", minimum=0) for d in depth)


def _map(darr, axis, depth, func, dtype):
    """map_overlap of ``func`` (chunk -> filtered chunk) with the given spatial depth."""
    darr, depth_map = _depth_map(darr, axis, depth)
    out = np.dtype(dtype)
    return darr.map_overlap(func, depth=depth_map, boundary="none", trim=True, dtype=out,
                            meta=np.empty((0,) * darr.ndim, dtype=out))


def sample(image, *, channel_axis=None, size=SAMPLE_SIZE, block=64):
    """A deterministic in-memory sample of a (large) array for global parameters.

    The whole array if it has at most ``size`` voxels (spatially); otherwise a
    *mosaic*: along every axis longer than ``size**(1/ndim)``, ``k`` blocks of
    ``block`` voxels at evenly spaced positions (first and last included) are
    kept, in order, so the sample is a regular grid of ``k**ndim`` blocks of
    the image side by side, about ``size`` voxels.  Only the chunks under the
    blocks are read.

    Parameters
    ----------
    image : dask.array.Array or ndarray
    channel_axis : int, optional
    size : int, optional
        Voxel budget (spatial).
    block : int, optional
        Block side in voxels.

    Returns
    -------
    ndarray
        Native dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse.chunked import sample
    >>> sample(np.zeros((1000, 1000)), size=256**2, block=64).shape
    (256, 256)
    """
    darr, axis = as_dask(image, channel_axis=channel_axis)
    size = check_int(size, "size", minimum=1)
    block = check_int(block, "block", minimum=1)
    spatial = [i for i in range(darr.ndim) if i != axis]
    side = max(block, int(size ** (1.0 / len(spatial))))
    for i in spatial:
        n = darr.shape[i]
        if n <= side:
            continue
        k = max(1, side // block)
        starts = np.unique(np.round(np.linspace(0, n - block, k)).astype(np.intp))
        index = np.concatenate([np.arange(s, s + block) for s in starts])
        darr = darr[(slice(None),) * i + (index,)]
    return np.asarray(darr.compute())


def _global_kappa(darr, axis, spacing, size):
    from .diffusivity import estimate_kappa

    return estimate_kappa(sample(darr, channel_axis=axis, size=size), spacing=spacing, channel_axis=axis)


def _setup(image, spacing, channel_axis, chunks, depth):
    darr, axis = as_dask(image, chunks=chunks, channel_axis=channel_axis)
    ndim = darr.ndim - (axis is not None)
    spacing = parse_spacing(spacing, ndim)
    return darr, axis, spacing, _check_depth(depth, ndim)


def _time_options(t, scheme, n_steps, check_scheme):
    """Validated ``(t, scheme, n_steps)``; ``check_scheme(scheme)`` checks (and may resolve) the scheme."""
    n_steps = None if n_steps is None else check_int(n_steps, "n_steps", minimum=1)
    return check_time(t), check_scheme(scheme), n_steps


# --------------------------------------------------------------------------- filters


def heat(image, t, *, scheme="auto", spacing=None, channel_axis=None, n_steps=None, chunks=None, depth=None):
    """Chunked :func:`imdiffuse.heat`: linear diffusion of a Dask array.

    Parameters
    ----------
    image : dask.array.Array or array_like
        2-D or 3-D image (NumPy input is wrapped with ``chunks``).
    t, scheme, spacing, channel_axis, n_steps
        As for :func:`imdiffuse.heat`.
    chunks : int, tuple or "auto", optional
        Rechunk the input first (spatial axes); default: keep its chunks.
    depth : int or sequence of int, optional
        Halo in cells per spatial axis; default: :func:`halo` (for
        ``scheme="exact"``, the Gaussian's truncation radius).

    Returns
    -------
    dask.array.Array
        Lazy result, float64 for float64 input, else float32.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import imdiffuse as imd
    >>> x = np.random.default_rng(0).random((96, 80)).astype(np.float32)
    >>> u = imd.chunked.heat(da.from_array(x, chunks=32), 2.0, spacing=(1.0, 0.5))
    >>> float(abs(u.compute() - imd.heat(x, 2.0, spacing=(1.0, 0.5))).max())
    0.0
    """
    from .linear import GAUSSIAN_TRUNCATE, HEAT_SCHEMES
    from .linear import heat as _heat

    darr, axis, spacing, depth = _setup(image, spacing, channel_axis, chunks, depth)
    t, scheme, n_steps = _time_options(t, scheme, n_steps, lambda s: check_option(s, "scheme", HEAT_SCHEMES))
    if scheme == "auto":
        scheme = "exact"
    if depth is None:
        if scheme == "exact":  # scipy's radius int(truncate * sigma + 0.5): bitwise equal results
            depth = tuple(int(GAUSSIAN_TRUNCATE * math.sqrt(2.0 * t) / h + 0.5) for h in spacing)
        else:
            depth = halo(t, spacing, factor=_factor(scheme), max_cells=_step_bound(scheme, t, _explicit_limit(spacing), n_steps=n_steps,
                                                           dtype=_out_dtype(darr.dtype)))

    def func(block):
        return _heat(block, t, scheme=scheme, spacing=spacing, channel_axis=axis, n_steps=n_steps)

    return _map(darr, axis, depth, func, _out_dtype(darr.dtype))


def perona_malik(image, t, *, kappa="auto", diffusivity="rational", sigma=0.0, scheme="auto", spacing=None,
                 channel_axis=None, n_steps=None, chunks=None, depth=None, sample_size=SAMPLE_SIZE):
    """Chunked :func:`imdiffuse.perona_malik`.

    ``kappa="auto"`` is estimated once (:func:`imdiffuse.estimate_kappa` on
    :func:`sample`) and passed to every chunk.  The halo covers
    ``HALO_FACTOR`` diffusion lengths ``sqrt(2 t)`` plus the Catte
    smoothing radius ``4 sigma``.

    Parameters
    ----------
    image : dask.array.Array or array_like
    t, kappa, diffusivity, sigma, scheme, spacing, channel_axis, n_steps
        As for :func:`imdiffuse.perona_malik` (``stop_when`` and ``callback``
        are not available chunk by chunk).
    chunks, depth
        As for :func:`heat`.
    sample_size : int, optional
        Voxel budget of the sample for ``kappa="auto"``.

    Returns
    -------
    dask.array.Array

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import imdiffuse as imd
    >>> x = np.random.default_rng(0).normal(100, 10, (96, 96)).astype(np.float32)
    >>> u = imd.chunked.perona_malik(da.from_array(x, chunks=48), 5.0, kappa=10.0)
    >>> bool(abs(u.compute() - imd.perona_malik(x, 5.0, kappa=10.0)).max() < 1e-3)
    True
    """
    from .diffusivity import DIFFUSIVITIES
    from .nonlinear import NONLINEAR_CYCLE_LIMITS, PM_SCHEMES
    from . import nonlinear

    darr, axis, spacing, depth = _setup(image, spacing, channel_axis, chunks, depth)
    t, scheme, n_steps = _time_options(t, scheme, n_steps, lambda s: check_option(s, "scheme", PM_SCHEMES))
    kappa = check_positive(kappa, "kappa", auto=True)
    diffusivity = check_option(diffusivity, "diffusivity", tuple(DIFFUSIVITIES))
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    if scheme == "auto":
        scheme = "explicit" if sigma == 0 else "fed"
    if kappa == "auto":
        kappa = _global_kappa(darr, axis, spacing, sample_size)
    if depth is None:
        limit = _explicit_limit(spacing)
        r = SMOOTHING_TRUNCATE * sigma
        per = math.ceil(r / min(spacing)) if sigma > 0 else 0
        depth = halo(t, spacing, radius=r, factor=_factor(scheme),
                     max_cells=_step_bound(scheme, t, limit, n_steps=n_steps, dtype=_out_dtype(darr.dtype),
                                           cycle_time=NONLINEAR_CYCLE_LIMITS * limit, per_update=per))

    def func(block):
        return nonlinear.perona_malik(block, t, kappa=kappa, diffusivity=diffusivity, sigma=sigma, scheme=scheme,
                                      spacing=spacing, channel_axis=axis, n_steps=n_steps)

    return _map(darr, axis, depth, func, _out_dtype(darr.dtype))


def tv_flow(image, t, *, epsilon="auto", scheme="auto", spacing=None, channel_axis=None, n_steps=None, chunks=None,
            depth=None, sample_size=SAMPLE_SIZE):
    """Chunked :func:`imdiffuse.tv_flow`.

    ``epsilon="auto"`` (0.1 x the robust gradient scale) is estimated once
    on :func:`sample`.  The diffusivity is at most ``1 / epsilon``, so the
    halo covers ``HALO_FACTOR * sqrt(2 t / epsilon)``.

    Parameters
    ----------
    image : dask.array.Array or array_like
    t, epsilon, scheme, spacing, channel_axis, n_steps
        As for :func:`imdiffuse.tv_flow`.
    chunks, depth, sample_size
        As for :func:`perona_malik`.

    Returns
    -------
    dask.array.Array
    """
    from .nonlinear import NONLINEAR_CYCLE_LIMITS, TV_EPSILON_FRACTION, TV_SCHEMES
    from . import nonlinear

    darr, axis, spacing, depth = _setup(image, spacing, channel_axis, chunks, depth)
    t, scheme, n_steps = _time_options(t, scheme, n_steps, lambda s: check_option(s, "scheme", TV_SCHEMES))
    epsilon = check_positive(epsilon, "epsilon", auto=True)
    if scheme == "auto":
        scheme = "fed"
    if epsilon == "auto":
        epsilon = TV_EPSILON_FRACTION * _global_kappa(darr, axis, spacing, sample_size)
    if depth is None:
        limit = _explicit_limit(spacing) * epsilon
        depth = halo(t, spacing, gmax=1.0 / epsilon, factor=_factor(scheme),
                     max_cells=_step_bound(scheme, t, limit, n_steps=n_steps, dtype=_out_dtype(darr.dtype),
                                           cycle_time=NONLINEAR_CYCLE_LIMITS * limit, per_update=1))

    def func(block):
        return nonlinear.tv_flow(block, t, epsilon=epsilon, scheme=scheme, spacing=spacing, channel_axis=axis,
                                 n_steps=n_steps)

    return _map(darr, axis, depth, func, _out_dtype(darr.dtype))


def _tensor_options(image, t, scheme, stencil, spacing, channel_axis, n_steps, chunks, depth, sigma, rho):
    """The validation shared by the chunked tensor filters."""
    from .tensor import STENCILS, _check_scheme

    darr, axis, spacing, depth = _setup(image, spacing, channel_axis, chunks, depth)
    t, scheme, n_steps = _time_options(t, scheme, n_steps, _check_scheme)
    stencil = check_option(stencil, "stencil", tuple(STENCILS))
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    rho = check_positive(rho, "rho", allow_zero=True)
    return darr, axis, spacing, depth, t, scheme, n_steps, stencil, sigma, rho


#: Step limit of the chunked tensor FED cycles (see edge_enhancing)
FED_LIMITS = ("universal", "global")


def _voxel_radius(T):
    """Per-voxel bound of :func:`imdiffuse._kernels.tensor_radius` (whose maximum it is).

    Summed traces of the cells around each voxel: weights 1, 1/2, 1/4 over
    the 3 x 3 neighbourhood in each coordinate plane, clamped at the edges.
    """
    from scipy import ndimage

    w = np.array([0.5, 1.0, 0.5])
    three = T.shape[0] == 9
    planes = [((0, 1), (1, 2))] + ([((3, 4), (0, 2)), ((6, 7), (0, 1))] if three else [])
    r = np.zeros(T.shape[1:], dtype=np.float64)
    for (a, c), axes in planes:
        s = T[a].astype(np.float64) + T[c]
        for ax in axes:
            s = ndimage.correlate1d(s, w, axis=ax, mode="nearest")
        r += s
    return r


def _tensor_fed_global(darr, axis, spacing, t, n_steps, sigma, rho, make, workdir):
    """FED with the in-memory step limit: one global max reduction and one halo exchange per cycle.

    Each cycle is a map_overlap whose halo is the exact reach of the cycle
    (its inner steps plus the smoothing radii), preceded by a map_overlap
    that computes the largest eigenvalue bound of the operator over every
    chunk's own voxels; the cycle's steps then come from the global maximum,
    as in :func:`imdiffuse.schemes.fed`.  Each cycle's result is persisted:
    held in the workers' memory, or with ``workdir`` written to a zarr store
    in a new folder ``imdiffuse-fed-*`` there (the store of the cycle before
    is deleted once the next one is written; the last one backs the result).
    """
    from ._grid import prepare
    from .schemes import FED_MAX_CYCLE_STEPS, FED_MIN_CYCLES, fed_cycle_steps, fed_step_sizes

    dtype = _out_dtype(darr.dtype)
    ndim = len(spacing)
    probe = make(prepare(np.zeros((3,) * ndim, dtype=dtype), spacing)[1])
    if n_steps is None:
        n_max = FED_MAX_CYCLE_STEPS[dtype]
        longest = min(probe.max_cycle_time, probe.limit() * (n_max * n_max + n_max) / 3.0)
        cycles = max(FED_MIN_CYCLES, math.ceil(t / longest))
    else:
        cycles = n_steps
    theta = t / cycles
    factor = probe._factor
    # the tensor of a voxel depends on u within the two smoothing radii + a difference; the radius on the cells around it
    reach = [math.ceil(SMOOTHING_TRUNCATE * sigma / h) + math.ceil(SMOOTHING_TRUNCATE * rho / h) + 3 for h in spacing]
    u = darr.astype(dtype)
    spatial = [i for i in range(darr.ndim) if i != axis]

    def radius(block, block_info=None):
        info = block_info[0]
        array, grid = prepare(block, spacing, axis)
        op = make(grid)
        op.update(grid.to_canonical(array))
        r = _voxel_radius(op.T)
        own = []  # this chunk's own voxels: the block minus the halo Dask added (none at the array's edges)
        for i in spatial:
            left = dmap[i] if info["chunk-location"][i] > 0 else 0
            right = dmap[i] if info["chunk-location"][i] < info["num-chunks"][i] - 1 else 0
            own.append(slice(left, block.shape[i] - right))
        own = (slice(None),) * (3 - ndim) + tuple(own)
        return np.full((1,) * block.ndim, float(r[own].max()))

    if t == 0:
        return u
    import os
    import shutil
    import tempfile

    from dask.array.overlap import ensure_minimum_chunksize, overlap

    da = _dask()
    folder = None if workdir is None else tempfile.mkdtemp(prefix="imdiffuse-fed-", dir=os.fspath(workdir))
    stores = []

    for _ in range(cycles):
        ready, dmap = _depth_map(u, axis, reach)
        ready = ready.rechunk(tuple(ensure_minimum_chunksize(dmap[i], c) if dmap[i] else c
                                    for i, c in enumerate(ready.chunks)))
        padded = overlap(ready, depth=dmap, boundary="none")
        per_chunk = padded.map_blocks(radius, chunks=tuple((1,) * n for n in padded.numblocks), dtype=np.float64,
                                      meta=np.empty((0,) * darr.ndim, np.float64))
        r = float(per_chunk.max().compute())
        if not r > 0:  # nothing diffuses (as in memory: stop)
            break
        tau_max = 2.0 / (r * factor)
        taus = fed_step_sizes(fed_cycle_steps(theta, tau_max), tau_max, theta)
        depth = [len(taus) + rr for rr in reach]

        def cycle(block, taus=taus):
            array, grid = prepare(block, spacing, axis)
            op = make(grid)
            v = grid.to_canonical(array)
            op.update(v, frozen=True)
            out = np.empty_like(v)
            for tau in taus:
                op.step(v, out, tau)
                v, out = out, v
            return grid.from_canonical(v)

        u = _map(u, axis, depth, cycle, dtype)
        if folder is None:
            u = u.persist()
        else:
            store = os.path.join(folder, f"cycle-{len(stores)}.zarr")
            u.to_zarr(store)
            u = da.from_zarr(store)
            stores.append(store)
            if len(stores) > 1:
                shutil.rmtree(stores[-2], ignore_errors=True)
    return u


def _tensor(darr, axis, spacing, depth, t, scheme, n_steps, sigma, rho, make, fed_limit, workdir):
    """Shared body of the chunked tensor filters (``make(grid) -> TensorDiffusion``)."""
    from ._grid import prepare
    from .schemes import integrate
    from .tensor import TENSOR_CYCLE_LIMITS

    fed_limit = check_option(fed_limit, "fed_limit", FED_LIMITS)
    if scheme == "fed" and fed_limit == "global":
        return _tensor_fed_global(darr, axis, spacing, t, n_steps, sigma, rho, make, workdir)

    if depth is None:
        base = _explicit_limit(spacing)
        limit = base / 2.0 if len(spacing) == 3 else base  # the universal bound of TensorDiffusion
        r = SMOOTHING_TRUNCATE * (sigma + rho)
        per = math.ceil(r / min(spacing)) + 1
        depth = halo(t, spacing, radius=r,
                     max_cells=_step_bound(scheme, t, limit, n_steps=n_steps, dtype=_out_dtype(darr.dtype),
                                           cycle_time=TENSOR_CYCLE_LIMITS * base, per_update=per))

    def func(block):
        array, grid = prepare(block, spacing, axis)
        u = grid.to_canonical(array)
        u = integrate(make(grid), u, t, scheme, n_steps=n_steps)
        return grid.from_canonical(u)

    return _map(darr, axis, depth, func, _out_dtype(darr.dtype))


def edge_enhancing(image, t, *, kappa="auto", sigma=1.0, rho=0.0, diffusivity="weickert", scheme="auto",
                   stencil="www", spacing=None, channel_axis=None, n_steps=None, chunks=None, depth=None,
                   sample_size=SAMPLE_SIZE, fed_limit="global", workdir=None):
    """Chunked :func:`imdiffuse.edge_enhancing` (EED).

    The in-memory FED scheme sizes the inner steps of each cycle from the
    largest eigenvalue of the current operator over the *whole* image, which
    one chunk cannot know.  ``fed_limit`` says what the chunks do instead:

    * ``"universal"``: every cycle uses the model's universal step
      limit (the one ``scheme="explicit"`` uses, valid for every tensor):
      one streaming pass with a halo, bounded memory.  Equal to an in-memory
      FED run with that limit; differs from ``imd.edge_enhancing(...,
      scheme="fed")`` only in cycles where the limit changes the number of
      inner steps (measured: 0 to 6e-3 of the maximum; 1.3e-2 for the
      strongly nonlinear EED of :func:`denoise` in 3-D;
      ``benchmarks/bench_chunked.py``).
    * ``"global"`` (default): exactly the in-memory FED: before every cycle
      a global maximum over all chunks gives the step limit, then the cycle
      runs with a halo of its exact reach (inner steps + smoothing radii).
      One synchronisation and one halo exchange per cycle (4 or more
      cycles); every cycle's result is persisted: in memory (the workers'
      memory on a cluster) or, with ``workdir=``, in zarr stores on disk
      (bounded memory; delete ``workdir`` after use).

    With ``scheme="explicit"`` the result equals the in-memory call in
    either case.

    Parameters
    ----------
    image : dask.array.Array or array_like
    t, kappa, sigma, rho, diffusivity, scheme, stencil, spacing, channel_axis, n_steps
        As for :func:`imdiffuse.edge_enhancing`.
    chunks, depth, sample_size
        As for :func:`perona_malik`.
    fed_limit : {"global", "universal"}, optional
        Step limit of the FED cycles, see above.
    workdir : str or os.PathLike, optional
        ``fed_limit="global"``: keep the cycles' results in zarr stores in
        a new folder there instead of in memory.

    Returns
    -------
    dask.array.Array
    """
    from .diffusivity import DIFFUSIVITIES
    from .tensor import TensorDiffusion

    darr, axis, spacing, depth, t, scheme, n_steps, stencil, sigma, rho = _tensor_options(
        image, t, scheme, stencil, spacing, channel_axis, n_steps, chunks, depth, sigma, rho)
    kappa = check_positive(kappa, "kappa", auto=True)
    diffusivity = check_option(diffusivity, "diffusivity", tuple(DIFFUSIVITIES))
    if kappa == "auto":  # the in-memory rule: robust gradient scale of the raw image
        kappa = _global_kappa(darr, axis, spacing, sample_size)
    kind = DIFFUSIVITIES[diffusivity]

    def make(grid):
        return TensorDiffusion(grid, 0, sigma=sigma, rho=rho, kind=kind, lam=kappa * kappa, fixed_limit=True,
                               stencil=stencil)

    return _tensor(darr, axis, spacing, depth, t, scheme, n_steps, sigma, rho, make, fed_limit, workdir)


def coherence_enhancing(image, t, *, sigma=0.5, rho=4.0, alpha=0.001, C=1.0, scheme="auto", stencil="www",
                        spacing=None, channel_axis=None, n_steps=None, chunks=None, depth=None,
                        fed_limit="global", workdir=None):
    """Chunked :func:`imdiffuse.coherence_enhancing` (CED).

    FED step limit (``fed_limit``) as for :func:`edge_enhancing`; the halo
    covers the diffusion length plus ``4 (sigma + rho)``.

    Parameters
    ----------
    image : dask.array.Array or array_like
    t, sigma, rho, alpha, C, scheme, stencil, spacing, channel_axis, n_steps
        As for :func:`imdiffuse.coherence_enhancing`.
    chunks, depth
        As for :func:`heat`.
    fed_limit, workdir
        As for :func:`edge_enhancing`.

    Returns
    -------
    dask.array.Array
    """
    from .tensor import TensorDiffusion

    darr, axis, spacing, depth, t, scheme, n_steps, stencil, sigma, rho = _tensor_options(
        image, t, scheme, stencil, spacing, channel_axis, n_steps, chunks, depth, sigma, rho)
    alpha = check_positive(alpha, "alpha")
    if alpha > 1:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    C = check_positive(C, "C")

    def make(grid):
        return TensorDiffusion(grid, 1, sigma=sigma, rho=rho, alpha=alpha, C=C, fixed_limit=True, stencil=stencil)

    return _tensor(darr, axis, spacing, depth, t, scheme, n_steps, sigma, rho, make, fed_limit, workdir)


# --------------------------------------------------------------------------- denoise

#: How :func:`denoise` decides the discrepancy stop, which needs the whole image
DENOISE_STOPS = ("sample", "none")


def denoise_parameters(image, *, method="auto", noise="auto", sigma=None, spacing=None, channel_axis=None, t=None,
                       kappa=None, diffusivity=None, regularization=None, stop="sample", tuning="sure",
                       sample_size=SAMPLE_SIZE):
    """The global parameters :func:`denoise` passes to every chunk.

    The noise model and ``sigma`` (:func:`imdiffuse.estimate_noise`), the
    contrast (:func:`imdiffuse.denoise.robust_contrast`) and the calibrated
    stopping time (:data:`imdiffuse.denoise.RULES`) are computed from
    :func:`sample` (the whole array when it has at most ``sample_size``
    voxels).  The discrepancy principle of the in-memory
    :func:`imdiffuse.denoise` compares the removed variance over the whole
    image with sigma**2 after every step, which no chunk can do:

    * ``stop="sample"`` (default): the in-memory :func:`imdiffuse.denoise`
      runs on the sample with the discrepancy stop, and the time it reached
      becomes ``t`` for every chunk (if the sample is the whole array, that
      is the in-memory stopping time);
    * ``stop="none"``: the calibrated time is used (no early stop).

    Perona-Malik with ``tuning="sure"`` (the in-memory default) and neither
    ``t`` nor ``kappa`` given: SURE chooses the model and stopping time on
    the sample, exactly as the in-memory :func:`imdiffuse.denoise` does on
    a whole image, and the choice is returned as explicit ``t``, ``kappa``,
    ``diffusivity`` and ``regularization`` (``stop`` does not apply).

    Parameters
    ----------
    image : dask.array.Array or array_like
    method, noise, sigma, spacing, channel_axis, t, kappa, diffusivity, regularization, tuning
        As for :func:`imdiffuse.denoise`; given values are kept.
    stop : {"sample", "none"}, optional
    sample_size : int, optional

    Returns
    -------
    dict
        ``method``, ``noise`` ("gaussian" or "rician"), ``sigma``, ``t``,
        ``kappa`` (None for models without one), ``diffusivity`` and
        ``regularization`` (None: the rule's): the keyword arguments for
        :func:`imdiffuse.denoise` that give the chunked result in memory.
    """
    import importlib

    _dn = importlib.import_module("imdiffuse.denoise")  # the module (imdiffuse.denoise is also the function)
    from ._grid import prepare
    from .noise import _estimate

    darr, axis = as_dask(image, channel_axis=channel_axis)
    ndim = darr.ndim - (axis is not None)
    spacing = parse_spacing(spacing, ndim)
    method, noise, sigma, t, kappa = _dn.check_options(method, noise, sigma, t, kappa, diffusivity, regularization)
    stop = check_option(stop, "stop", DENOISE_STOPS)
    tuning = check_option(tuning, "tuning", _dn.TUNINGS)
    given = (diffusivity, regularization)
    part = sample(darr, channel_axis=axis, size=sample_size)
    if sigma is None or noise == "auto":
        est, noise, _ = _estimate(*prepare(part, spacing, axis), noise, None)
        sigma = est if sigma is None else sigma
    h = math.prod(spacing) ** (1.0 / ndim)
    if (method == "perona_malik" and t is None and kappa is None and given == (None, None) and tuning == "sure"
            and sigma > 0):
        arr, grid = prepare(part, spacing, axis)
        region = _dn._high_snr(arr, grid, sigma) if noise == "rician" else None
        if region is None or region.any():  # else the rule, as in memory
            rel = sigma / _dn.robust_contrast(arr, sigma)
            _, (f, _, done, _) = _dn._sure_select(arr, grid, sigma, rel, h, None, region)
            if f is None:  # the noisy image itself was best
                t = 0.0
            else:
                diffusivity, kappa, regularization, _ = _dn.sure_family(ndim, f, sigma, rel, h)
                t = done
    if kappa is None and method in ("perona_malik", "eed") and sigma > 0:
        kappa = _dn.RULES[ndim][method]["a"] * sigma / h
    if t is None:
        if not sigma > 0:
            t = 0.0
        elif stop == "sample" and method != "heat":
            reached = [0.0]
            _dn.denoise(part, method=method, noise=noise, sigma=sigma, spacing=spacing, channel_axis=axis,
                        kappa=kappa, diffusivity=diffusivity, regularization=regularization,
                        callback=lambda done: reached.__setitem__(0, done))
            t = float(reached[0])
        else:
            contrast = _dn.robust_contrast(part, sigma)
            rule = _dn.RULES[ndim][method]
            t_px = rule["b"] * (sigma / contrast) ** rule["p"]
            t = t_px * contrast * h if method == "tv" else t_px * h * h
    return {"method": method, "noise": noise, "sigma": float(sigma), "t": float(t),
            "kappa": None if kappa is None else float(kappa), "diffusivity": diffusivity,
            "regularization": None if regularization is None else float(regularization)}


def denoise(image, *, method="auto", noise="auto", sigma=None, mask=None, spacing=None, channel_axis=None, t=None,
            kappa=None, diffusivity=None, regularization=None, stop="sample", tuning="sure", chunks=None,
            depth=None, sample_size=SAMPLE_SIZE, fed_limit="global", workdir=None):
    """Chunked :func:`imdiffuse.denoise`: blind denoising of a Dask array.

    The global parameters come from :func:`denoise_parameters` (noise model
    and level, contrast and stopping time decided once, on a sample); every
    chunk then runs the in-memory :func:`imdiffuse.denoise` with those
    explicit values, so the result equals
    ``imd.denoise(x, **denoise_parameters(x), spacing=...)`` computed in
    memory (to 1e-5 relative).

    Parameters
    ----------
    image : dask.array.Array or array_like
    method, noise, sigma, spacing, channel_axis, t, kappa, diffusivity, regularization
        As for :func:`imdiffuse.denoise`.
    mask : None
        Not supported chunk by chunk (:class:`ChunkedNotSupported`): apply
        the mask afterwards, e.g. ``da.where(mask, out, image)``.
    stop : {"sample", "none"}, optional
        How the discrepancy stop is decided (see :func:`denoise_parameters`).
    tuning : {"sure", "rule"}, optional
        As for :func:`imdiffuse.denoise`; SURE scores its candidates on the
        sample (see :func:`denoise_parameters`).
    chunks, depth, sample_size
        As for :func:`perona_malik`.
    fed_limit, workdir
        ``method="eed"`` / ``"ced"``: FED step limit of the tensor models,
        see :func:`edge_enhancing` ("global" equals the in-memory call).

    Returns
    -------
    dask.array.Array

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import imdiffuse as imd
    >>> clean = imd.data.phantom3d((32, 48, 48))
    >>> noisy = (clean + np.random.default_rng(0).normal(0, 20, clean.shape)).astype(np.float32)
    >>> x = da.from_array(noisy, chunks=24)
    >>> params = imd.chunked.denoise_parameters(x)
    >>> u = imd.chunked.denoise(x).compute()
    >>> ref = imd.denoise(noisy, **params)
    >>> bool(abs(u - ref).max() <= 1e-5 * abs(ref).max())
    True
    """
    import importlib

    _dn = importlib.import_module("imdiffuse.denoise")  # the module (imdiffuse.denoise is also the function)

    if mask is not None:
        raise ChunkedNotSupported(
            "mask= is not supported by imdiffuse.chunked.denoise; denoise without it and combine afterwards, "
            "e.g. dask.array.where(mask, out, image), or use imdiffuse.denoise in memory"
        )
    if method == "tv":
        raise ChunkedNotSupported(
            "method='tv' is not supported by imdiffuse.chunked.denoise (tv_flow estimates its epsilon per call); "
            "use imdiffuse.chunked.tv_flow with an explicit epsilon and t, or another method"
        )
    darr, axis, spacing, depth = _setup(image, spacing, channel_axis, chunks, depth)
    p = denoise_parameters(darr, method=method, noise=noise, sigma=sigma, spacing=spacing, channel_axis=axis, t=t,
                           kappa=kappa, diffusivity=diffusivity, regularization=regularization, stop=stop,
                           tuning=tuning, sample_size=sample_size)
    dtype = _out_dtype(darr.dtype)
    if not p["sigma"] > 0 or p["t"] == 0:
        return darr.astype(dtype)
    method, t, s, ndim = p["method"], p["t"], p["sigma"], len(spacing)
    h = math.prod(spacing) ** (1.0 / ndim)
    rule = _dn.RULES[ndim][method]
    if method in ("eed", "ced"):
        # the tensor models' FED step limit must be the same in every chunk: the chunked tensor filters
        # (same parameters as imdiffuse.denoise), then the pointwise Rician bias correction
        common = dict(spacing=spacing, channel_axis=axis, depth=depth, fed_limit=fed_limit, workdir=workdir)
        if method == "eed":
            out = edge_enhancing(darr, t, kappa=p["kappa"],
                                 diffusivity=rule["diffusivity"] if p["diffusivity"] is None else p["diffusivity"],
                                 sigma=rule["c"] * h if p["regularization"] is None else p["regularization"], **common)
        else:
            out = coherence_enhancing(darr, t, sigma=rule["s"] * h, rho=rule["r"] * h, C=rule["k"] * (s / h) ** 4,
                                      **common)
        if p["noise"] == "rician":
            from .noise import rician_bias_correct

            out = out.map_blocks(lambda b: rician_bias_correct(b, s, out=b), dtype=dtype)
        return out
    if depth is None:
        if method == "heat":
            from .linear import GAUSSIAN_TRUNCATE

            depth = tuple(int(GAUSSIAN_TRUNCATE * math.sqrt(2.0 * t) / hh + 0.5) for hh in spacing)
        else:
            smoothing = rule["c"] * h if p["regularization"] is None else p["regularization"]
            depth = halo(t, spacing, radius=SMOOTHING_TRUNCATE * smoothing)
    kw = {k: p[k] for k in ("method", "noise", "sigma", "t", "kappa", "diffusivity", "regularization")}

    def func(block):
        return _dn.denoise(block, spacing=spacing, channel_axis=axis, **kw)

    return _map(darr, axis, depth, func, dtype)


# --------------------------------------------------------------------------- fast marching


def _fmm_in_memory(name, arrays, max_bytes):
    da = _dask()
    max_bytes = check_int(max_bytes, "max_bytes", minimum=0)
    total = sum(int(a.nbytes) for a in arrays if isinstance(a, (da.Array, np.ndarray)))
    if total > max_bytes:
        raise ChunkedNotSupported(
            f"{name}: fast marching is not local (the front crosses every chunk in order of arrival), so it "
            f"cannot run chunk by chunk; the input has {total / 2**20:.0f} MiB, above max_bytes="
            f"{max_bytes / 2**20:.0f} MiB for the in-memory fallback.  Alternatives: imdiffuse.fmm.{name} on a "
            f"downsampled array, on a cropped region of interest, with narrow= to limit the band, or raise "
            f"max_bytes if the machine has the memory (about 6x the input)"
        )
    return [np.asarray(a.compute()) if isinstance(a, da.Array) else a for a in arrays]


def _fmm_out(result, like):
    da = _dask()
    chunks = like.chunks if isinstance(like, da.Array) else "auto"
    if isinstance(result, np.ma.MaskedArray):
        return result  # masked arrays stay in memory (Dask has no masked zarr storage)
    return da.from_array(result, chunks=chunks)


def distance(phi, dx=1.0, order=2, narrow=0.0, periodic=False, *, max_bytes=FMM_MAX_BYTES, **kwargs):
    """:func:`imdiffuse.fmm.distance` of a Dask array, computed in memory.

    Fast marching visits voxels in order of arrival across the whole grid,
    so it cannot run chunk by chunk.  Arrays of at most ``max_bytes`` are
    loaded, solved in memory and returned as a Dask array with the input's
    chunks; larger ones raise :class:`ChunkedNotSupported` naming the
    alternatives (downsample, crop, ``narrow=``).

    Raises
    ------
    ChunkedNotSupported
        The input is larger than ``max_bytes``.

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> import imdiffuse as imd
    >>> phi = da.from_array(np.hypot(*np.mgrid[-20:21, -20:21]) - 10.0, chunks=20)
    >>> d = imd.chunked.distance(phi)
    >>> round(float(d[20, 35].compute()), 1)  # 15 from the centre, 5 outside the circle
    5.0
    >>> imd.chunked.distance(phi, max_bytes=1000)
    Traceback (most recent call last):
    ...
    imdiffuse.chunked.ChunkedNotSupported: distance: fast marching is not local ...
    """
    from . import fmm

    (a,) = _fmm_in_memory("distance", [phi], max_bytes)
    return _fmm_out(fmm.distance(a, dx, order, narrow, periodic, **kwargs), phi)


def travel_time(phi, speed, dx=1.0, order=2, narrow=0.0, periodic=False, *, max_bytes=FMM_MAX_BYTES, **kwargs):
    """:func:`imdiffuse.fmm.travel_time` in memory up to ``max_bytes`` (see :func:`distance`)."""
    from . import fmm

    a, s = _fmm_in_memory("travel_time", [phi, speed], max_bytes)
    return _fmm_out(fmm.travel_time(a, s, dx, order, narrow, periodic, **kwargs), phi)


def arrival_time(speed, seeds, *, max_bytes=FMM_MAX_BYTES, **kwargs):
    """:func:`imdiffuse.fmm.arrival_time` in memory up to ``max_bytes`` (see :func:`distance`)."""
    from . import fmm

    s, sd = _fmm_in_memory("arrival_time", [speed, seeds], max_bytes)
    return _fmm_out(fmm.arrival_time(s, sd, **kwargs), speed)
