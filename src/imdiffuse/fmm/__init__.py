"""Fast marching: signed distances, travel times, extension velocities, arrival times.

A drop-in replacement for `scikit-fmm <https://github.com/scikit-fmm/scikit-fmm>`_
(same function names, arguments and results) that is faster and fixes what
its users report:

* ``init="high_order"``: a higher-order initialisation of the front, so that
  ``order=2`` is really second-order accurate (scikit-fmm's linear
  initialisation limits it to first order);
* the second-order update never fails ("negative discriminant"): it falls back
  locally to first order, then to fewer axes;
* :func:`arrival_time`: exact point sources (sub-pixel seeds), a stopping
  value, and the seed each point was reached from (``closest=True``);
* the kernels release the GIL: solves run concurrently in threads;
* unreached points are masked (scikit-fmm functions) or NaN
  (:func:`arrival_time`), never a huge sentinel number.

Importing this module is light: Numba loads on the first call.
"""

from __future__ import annotations

import numpy as np

from .._validate import (
    check_bool,
    check_option,
    check_positive,
    parse_periodic,
    parse_spacing,
)

__all__ = ["distance", "travel_time", "extension_velocities", "arrival_time"]

_INITS = ("linear", "high_order")
_METHODS = ("fmm", "fsm")


def _check_method(method, order, ndim):
    method = check_option(method, "method", _METHODS)
    if method == "fsm":
        if order != 1:
            raise ValueError("method='fsm' (fast sweeping) is first order: pass order=1, or use method='fmm'")
        if ndim > 3:
            raise ValueError(f"method='fsm' supports 1-D to 3-D arrays, got {ndim}-D; use method='fmm'")
    return method


def _sweep_solve(dist, flag, speed, shape, per, h, mode):
    """Fast sweeping from the frozen front in (flag, dist); returns unsigned values (inf = unreached)."""
    from . import _march, _sweep

    u = np.where(flag == _march.FROZEN, np.abs(dist), np.inf)
    if mode == _march.TRAVEL:
        with np.errstate(divide="ignore"):
            rhs = 1.0 / (speed * speed)
    else:
        rhs = np.ones(1)
    pad = 3 - len(shape)
    shape3 = np.array((1,) * pad + tuple(int(n) for n in shape), dtype=np.int64)
    per3 = np.array((False,) * pad + tuple(bool(p) for p in per), dtype=np.bool_)
    idx2 = np.array((1.0,) * pad + tuple(1.0 / hh / hh for hh in h), dtype=np.float64)
    _sweep.sweep(u, flag, rhs, shape3, per3, idx2, 100_000)
    return u


# ---------------------------------------------------------------- helpers --


def _check_order(order) -> int:
    if isinstance(order, (bool, np.bool_)) or not isinstance(order, (int, np.integer)):
        raise TypeError(f"order must be 1 or 2, got {order!r}")
    if int(order) not in (1, 2):
        raise ValueError(f"order must be 1 or 2, got {int(order)}")
    return int(order)


def _as_field(value, name, shape=None):
    """(float64 C-contiguous data, mask or None) of a possibly masked array."""
    if value is None or isinstance(value, (str, bytes, dict)):
        raise TypeError(f"{name} must be an array, got {value!r}")
    mask = None
    if isinstance(value, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(value)
        value = value.data
        if not mask.any():
            mask = None
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} must be an array, got {type(value).__name__} ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a real numeric dtype, got {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"{name} must have at least 1 dimension, got a scalar")
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, got an array of shape {arr.shape}")
    if shape is not None and arr.shape != tuple(shape):
        raise ValueError(f"{name} must have the shape of phi {tuple(shape)}, got {arr.shape}")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(arr) if mask is None else (np.isfinite(arr) | mask)
    if not finite.all():
        bad = int(finite.size - np.count_nonzero(finite))
        raise ValueError(f"{name} must contain only finite values, got {bad} NaN/inf value(s); mask them instead")
    return arr, mask


def _geometry(shape, dx, periodic):
    ndim = len(shape)
    h = np.array(parse_spacing(dx, ndim, "dx"), dtype=np.float64)
    per = np.array(parse_periodic(periodic, ndim), dtype=np.bool_)
    shp = np.array(shape, dtype=np.int64)
    strides = np.ones(ndim, dtype=np.int64)
    for e in range(ndim - 2, -1, -1):
        strides[e] = strides[e + 1] * shp[e + 1]
    return shp, strides, per, h


def _flags(shape, *masks):
    from ._march import MASK

    flag = np.zeros(int(np.prod(shape)), dtype=np.int8)
    for m in masks:
        if m is not None:
            flag[np.asarray(m, dtype=bool).ravel()] = MASK
    if not (flag != MASK).any():
        raise ValueError("every point is masked (or has speed <= 0): there is nothing to march through")
    return flag


def _output(values, reached, shape, masked_in):
    """float64 result; masked where not reached (like scikit-fmm), NaN under the mask."""
    out = values.reshape(shape)
    unreached = ~reached.reshape(shape)
    if unreached.any():
        out[unreached] = np.nan
        return np.ma.MaskedArray(out, unreached)
    if masked_in:
        return np.ma.MaskedArray(out, np.zeros(shape, dtype=bool))
    return out


def _front(phi, mask, speed, fext, ext_mask, geometry, mode, init, extra_masks=()):
    """Flags and values of the initial front (raises if phi has no zero contour)."""
    from . import _interface, _march

    shp, strides, per, h = geometry
    flag = _flags(phi.shape, mask, *extra_masks)
    flat = phi.ravel()
    dist = np.zeros(flat.shape[0])
    dummy = np.zeros(1)
    imode = _march.DISTANCE if (init == "high_order" and mode == _march.TRAVEL) else mode
    n = _interface.init_linear(flat, flag, dist, speed if speed is not None else dummy,
                               fext if fext is not None else dummy,
                               ext_mask if ext_mask is not None else np.zeros(1, dtype=np.bool_),
                               shp, strides, per, h, imode)
    if n == 0:
        raise ValueError(
            "phi has no zero contour (no zero level set): it must contain zeros or change sign "
            "between neighbouring points outside the mask"
        )
    if init == "high_order":
        _interface.init_quadratic(flat, flag, dist, shp, strides, per, h)
        if mode == _march.TRAVEL:
            frozen = flag == _march.FROZEN
            dist[frozen] = np.abs(dist[frozen] / speed[frozen])
    return flag, dist


def _padded_march(dist, flag, phi, speed, fext, label, shp, strides, per, idx2, order, mode, narrow, stop, strict):
    """:func:`_march.march` on copies padded with a MASK border when no axis is periodic.

    The padded kernel needs no coordinates and no border tests (10 %
    faster on a 1024^2 circle); periodic axes need the wrap, so they march
    unpadded.  phi enters as its one-byte sign code (:func:`_march.signs`).
    Returns ``(dist, flag, fext)`` (fext None if not given); ``label`` is
    updated in place.
    """
    from . import _march

    def given(a, default):
        return default if a is None else a

    nolabel = np.zeros(0, dtype=np.int64)
    nosign = np.ones(1, dtype=np.int8)
    phi = None if phi is None else _march.signs(phi)
    if per.any():
        _march.march(dist, flag, given(phi, nosign), given(speed, np.zeros(1)), given(fext, np.zeros(1)),
                     given(label, nolabel), shp, strides, per, idx2, order, mode, narrow, stop, strict, False,
                     _march.index_template(dist.shape[0]))
        return dist, flag, fext
    pflag, pdist, (pphi, psp, pfx, plab), big, pstrides, crop = _march.pad(
        flag, dist, tuple(shp), order, phi, speed, fext, label)
    _march.march(pdist, pflag, given(pphi, nosign), given(psp, np.zeros(1)), given(pfx, np.zeros(1)),
                 given(plab, nolabel), big, pstrides, per, idx2, order, mode, narrow, stop, strict, True,
                 _march.index_template(pdist.shape[0]))
    if label is not None:
        label[:] = crop(plab)
    return crop(pdist), crop(pflag), (None if fext is None else crop(pfx))


def _run(phi, speed, dx, order, narrow, periodic, init, mode, ext_mask=None, name="phi", method="fmm"):
    from . import _march

    data, mask = _as_field(phi, name)
    geometry = _geometry(data.shape, dx, periodic)
    order = _check_order(order)
    method = _check_method(method, order, data.ndim)
    narrow = check_positive(narrow, "narrow", allow_zero=True)
    init = check_option(init, "init", _INITS)
    extra = ()
    sp = None
    fext = None
    em = None
    if speed is not None:
        sdata, smask = _as_field(speed, "speed", data.shape)
        sp = sdata.ravel()
        if mode == _march.TRAVEL:
            extra = ((sdata < np.finfo(np.float64).eps), smask)
        elif smask is not None:
            extra = (smask,)
    if mode == _march.EXTENSION:
        fext = np.zeros(data.size)
        if ext_mask is None:
            em = np.zeros(data.size, dtype=np.bool_)
        else:
            em_arr = np.asarray(ext_mask)
            if em_arr.shape != data.shape:
                raise ValueError(f"ext_mask must have the shape of phi {data.shape}, got {em_arr.shape}")
            if em_arr.dtype.kind not in "biu":
                raise TypeError(f"ext_mask must be a boolean array, got dtype {em_arr.dtype}")
            em = np.ascontiguousarray(em_arr.astype(np.bool_).ravel())
    flag, dist = _front(data, mask, sp, fext, em, geometry, mode, init, extra)
    shp, strides, per, h = geometry
    flat = data.ravel()
    if method == "fsm":
        u = _sweep_solve(dist, flag, sp, data.shape, per, h, mode)
        reached = np.isfinite(u) & (flag != _march.MASK)
        if narrow > 0:
            reached &= u <= narrow
        front = flag == _march.FROZEN
        sign = np.where(flat > 0, 1.0, -1.0) if mode == _march.DISTANCE else 1.0
        dist = np.where(front, dist, u * sign)
        masked_in = mask is not None or isinstance(phi, np.ma.MaskedArray)
        return _output(dist, reached, data.shape, masked_in)
    dist, flag, fext = _padded_march(dist, flag, flat, sp, fext, None, shp, strides, per, 1.0 / h / h, order,
                                     mode, narrow, np.inf, init == "linear")
    reached = flag == _march.FROZEN
    masked_in = mask is not None or isinstance(phi, np.ma.MaskedArray)
    out = _output(dist, reached, data.shape, masked_in)
    if mode == _march.EXTENSION:
        return out, _output(fext, reached, data.shape, masked_in)
    return out


# ----------------------------------------------------------------- public --


def distance(phi, dx=1.0, order=2, narrow=0.0, periodic=False, *, init="linear", method="fmm", self_test=False):
    """Signed distance from the zero contour of ``phi`` (scikit-fmm compatible).

    Solves the Eikonal equation ``|grad d| = 1`` with the fast marching
    method, starting from the zero level set of ``phi``.  The result has the
    sign of ``phi``.

    Parameters
    ----------
    phi : (..., ) array_like or masked array
        Level-set function of any dimension >= 1; its zero contour is the
        front.  Masked points are obstacles: the front goes around them and
        the result is masked there.
    dx : float or sequence of float, optional
        Grid spacing, one value or one per axis (NumPy scalars accepted).
    order : {1, 2}, optional
        Order of the upwind finite-difference stencil (default 2).
    narrow : float, optional
        Narrow-band half-width: marching stops at ``|d| > narrow`` and the
        points beyond are masked.  0 (default) marches everywhere.
    periodic : bool or sequence of bool, optional
        Periodic boundaries, for all axes or per axis.
    init : {"linear", "high_order"}, optional
        Initialisation of the front.  ``"linear"`` (default) is scikit-fmm's
        (the zero contour located by linear interpolation along the axes;
        results equal scikit-fmm's to rounding).  ``"high_order"`` fits a
        local quadratic model of ``phi`` at each node next to the front and
        uses the exact distance to its zero set (Chopp 2001): with
        ``order=2`` the result is then second-order accurate.
    method : {"fmm", "fsm"}, optional
        "fmm" (default): fast marching.  "fsm": fast sweeping (Zhao 2005),
        first order only (``order=1``), 1-D to 3-D: the same first-order
        solution, often faster for distances on large grids (see the user
        guide for when).
    self_test : bool, optional
        Accepted and ignored, for drop-in compatibility with scikit-fmm.

    Returns
    -------
    d : (..., ) ndarray of float64 or masked array
        Signed distance.  A masked array (NaN under the mask) when ``phi`` is
        masked or some points are not reached (mask, narrow band, points
        enclosed by obstacles).

    Raises
    ------
    ValueError
        ``phi`` without a zero contour, everything masked, NaN/inf in
        ``phi``, bad ``dx``, ``order``, ``narrow``, ``periodic``, ``init``.
    TypeError
        Non-numeric input or options of the wrong type.

    References
    ----------
    .. [1] J. A. Sethian, "A fast marching level set method for monotonically
       advancing fronts", PNAS 93(4), 1591-1595, 1996.
       :doi:`10.1073/pnas.93.4.1591`
    .. [2] D. L. Chopp, "Some improvements of the fast marching method",
       SIAM J. Sci. Comput. 23(1), 230-244, 2001. :doi:`10.1137/S106482750037617X`

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import fmm
    >>> x = np.linspace(-1, 1, 201)
    >>> X, Y = np.meshgrid(x, x, indexing="ij")
    >>> d = fmm.distance(X**2 + Y**2 - 0.25, dx=x[1] - x[0], init="high_order")
    >>> exact = np.hypot(X, Y) - 0.5
    >>> bool(np.abs(d - exact)[np.abs(exact) < 0.3].max() < 1e-3)
    True
    """
    from ._march import DISTANCE

    check_bool(self_test, "self_test")
    return _run(phi, None, dx, order, narrow, periodic, init, DISTANCE, method=method)


def travel_time(phi, speed, dx=1.0, order=2, narrow=0.0, periodic=False, *, init="linear", method="fmm",
                self_test=False):
    """Travel time from the zero contour of ``phi`` with speed ``speed`` (scikit-fmm compatible).

    Solves ``|grad T| speed = 1`` with ``T = 0`` on the zero contour.  Times
    are positive on both sides of the front.

    Parameters
    ----------
    phi : (..., ) array_like or masked array
        Level-set function; its zero contour is the front.  Masked points
        are obstacles.
    speed : (..., ) array_like
        Speed of the front, same shape as ``phi``.  Points with
        ``speed < machine epsilon`` (in particular ``speed <= 0``) are
        obstacles, masked in the result, as in scikit-fmm.
    dx : float or sequence of float, optional
        Grid spacing, one value or one per axis.
    order : {1, 2}, optional
        Stencil order (default 2).
    narrow : float, optional
        Stop at travel times above ``narrow`` (0: no limit); later points
        are masked.
    periodic : bool or sequence of bool, optional
        Periodic boundaries, for all axes or per axis.
    init : {"linear", "high_order"}, optional
        Front initialisation, see :func:`distance`; the initial times are
        ``|d| / speed``.
    method : {"fmm", "fsm"}, optional
        Fast marching (default) or fast sweeping (first order, 1-D to 3-D),
        see :func:`distance`.
    self_test : bool, optional
        Accepted and ignored (scikit-fmm compatibility).

    Returns
    -------
    t : (..., ) ndarray of float64 or masked array
        Travel time, masked where not reached (obstacles, ``speed <= 0``,
        beyond ``narrow``, enclosed regions) or where ``phi`` is masked.

    Raises
    ------
    ValueError
        No zero contour, shapes differ, NaN/inf in ``phi`` or ``speed``,
        every point masked, bad options.
    TypeError
        Non-numeric input.

    References
    ----------
    .. [1] J. A. Sethian, *Level Set Methods and Fast Marching Methods*,
       Cambridge University Press, 1999.

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import fmm
    >>> phi = np.arange(10.0) - 2.5        # front at x = 2.5
    >>> t = fmm.travel_time(phi, np.full(10, 2.0), order=1)
    >>> np.round(t, 3).tolist()
    [1.25, 0.75, 0.25, 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25]
    """
    from ._march import TRAVEL

    check_bool(self_test, "self_test")
    if speed is None:
        raise TypeError("speed must be an array of the shape of phi, got None")
    return _run(phi, speed, dx, order, narrow, periodic, init, TRAVEL, method=method)


def extension_velocities(phi, speed, dx=1.0, order=2, ext_mask=None, narrow=0.0, periodic=False, *,
                         init="linear", self_test=False):
    """Signed distance and the extension of ``speed`` off the front (scikit-fmm compatible).

    The speed defined on the zero contour of ``phi`` (interpolated linearly
    from the grid) is extended so that ``grad f_ext . grad d = 0``
    (Adalsteinsson & Sethian 1999): constant along the normals of the front.

    Parameters
    ----------
    phi : (..., ) array_like or masked array
        Level-set function; masked points are obstacles.
    speed : (..., ) array_like
        Speed values, same shape as ``phi``; only those near the front matter.
    dx : float or sequence of float, optional
        Grid spacing.
    order : {1, 2}, optional
        Stencil order of the distance computation (default 2).
    ext_mask : (..., ) array_like of bool, optional
        Points whose speed must not be used at the front (the neighbour's
        value is used instead), as in scikit-fmm.
    narrow : float, optional
        Narrow-band half-width (0: everywhere).
    periodic : bool or sequence of bool, optional
        Periodic boundaries.
    init : {"linear", "high_order"}, optional
        Front initialisation of the distance, see :func:`distance`.  The
        front speeds are always scikit-fmm's linear interpolation.
    self_test : bool, optional
        Accepted and ignored (scikit-fmm compatibility).

    Returns
    -------
    d : (..., ) ndarray of float64 or masked array
        Signed distance, as :func:`distance`.
    f_ext : (..., ) ndarray of float64 or masked array
        Extended speed, masked where ``d`` is.

    Raises
    ------
    ValueError
        As :func:`distance`; also shape mismatches of ``speed``/``ext_mask``.
    TypeError
        Non-numeric input.

    References
    ----------
    .. [1] D. Adalsteinsson and J. A. Sethian, "The fast construction of
       extension velocities in level set methods", J. Comput. Phys. 148(1),
       2-22, 1999. :doi:`10.1006/jcph.1998.6090`

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import fmm
    >>> phi = np.arange(6.0) - 2.5
    >>> d, f = fmm.extension_velocities(phi, np.arange(6.0), order=1)
    >>> d.tolist(), f.tolist()
    ([-2.5, -1.5, -0.5, 0.5, 1.5, 2.5], [2.5, 2.5, 2.5, 2.5, 2.5, 2.5])
    """
    from ._march import EXTENSION

    check_bool(self_test, "self_test")
    if speed is None:
        raise TypeError("speed must be an array of the shape of phi, got None")
    return _run(phi, speed, dx, order, narrow, periodic, init, EXTENSION, ext_mask=ext_mask)


def _seeds(seeds, shape):
    """(K, ndim) float64 seed coordinates from coordinates or a boolean mask."""
    ndim = len(shape)
    arr = np.asarray(seeds)
    if arr.dtype.kind == "b":
        if arr.shape != tuple(shape):
            raise ValueError(f"seeds as a mask must have the shape of speed {tuple(shape)}, got {arr.shape}")
        pts = np.argwhere(arr).astype(np.float64)
        if len(pts) == 0:
            raise ValueError("seeds mask is empty: give at least one True point")
        return pts
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"seeds must be a (K, {ndim}) array of coordinates or a boolean mask, got dtype {arr.dtype}")
    if arr.ndim == 1 and arr.shape[0] == ndim:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != ndim or arr.shape[0] == 0:
        raise ValueError(f"seeds must be a (K, {ndim}) array of index coordinates, got shape {arr.shape}")
    pts = np.ascontiguousarray(arr, dtype=np.float64)
    if not np.isfinite(pts).all():
        raise ValueError("seeds must be finite coordinates")
    upper = np.array(shape, dtype=np.float64) - 1
    bad = (pts < 0).any(axis=1) | (pts > upper).any(axis=1)
    if bad.any():
        k = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"seeds must lie inside the grid (0 <= seed <= shape - 1 = {tuple(int(u) for u in upper)}), "
            f"got seed {k} = {tuple(float(v) for v in pts[k])}"
        )
    return pts


def arrival_time(speed, seeds, *, dx=1.0, order=2, stop=None, closest=False, radius=5, method="fmm"):
    """Arrival time of a front started at point sources, ``|grad T| speed = 1``.

    Each seed is a point source (sub-pixel positions allowed).  The times of
    the grid points within ``radius`` cells of a seed are set analytically
    (the straight-ray time, exact for a constant speed), which removes the
    large error that a point source causes in a plain fast march: with
    ``speed = 1`` and ``order=2`` the relative error is below 0.4 % at 10
    cells from the seed and 0.1 % at 80 cells (measured in 2-D, seeds on and
    off the grid; ``order=1``: about 4 %).

    Parameters
    ----------
    speed : (..., ) array_like or masked array
        Speed of the front (> 0), any dimension >= 1.  Points with
        ``speed <= 0`` (below machine epsilon) or masked are obstacles.
    seeds : (K, ndim) array_like or (..., ) bool array
        Seed coordinates in index units (row, column[, ...]; floats allowed),
        or a boolean mask of seed points.
    dx : float or sequence of float, optional
        Grid spacing, one value or one per axis.
    order : {1, 2}, optional
        Stencil order (default 2).
    stop : float, optional
        Stop marching when the arrival time exceeds ``stop``; later points
        are NaN.  None (default): march everywhere.
    closest : bool, optional
        Also return, per point, the seed it was reached from (Voronoi-like
        labels along geodesics).
    radius : int, optional
        Radius (cells) of the analytic initialisation around each seed
        (default 5: the box of 11**ndim points; 1 for seeds with an obstacle
        in that box, so that no straight ray crosses a wall).
    method : {"fmm", "fsm"}, optional
        Fast marching (default) or fast sweeping (``order=1`` only, 1-D to
        3-D, no ``closest``), see :func:`distance`.

    Returns
    -------
    T : (..., ) ndarray of float64
        Arrival time; NaN where not reached (obstacles, regions enclosed by
        obstacles, times beyond ``stop``).
    seed : (..., ) ndarray of int64, only with ``closest=True``
        Row of the seed in ``seeds`` (for a mask: in ``np.argwhere(seeds)``)
        each point was reached from; -1 where ``T`` is NaN.

    Raises
    ------
    ValueError
        Seeds outside the grid or on obstacles only, empty seeds, NaN/inf in
        ``speed``, bad options.
    TypeError
        Non-numeric input.

    References
    ----------
    .. [1] J. A. Sethian, "Fast marching methods", SIAM Review 41(2),
       199-235, 1999. :doi:`10.1137/S0036144598347059`
    .. [2] E. Treister and E. Haber, "A fast marching algorithm for the
       factored eikonal equation", J. Comput. Phys. 324, 210-225, 2016.
       :doi:`10.1016/j.jcp.2016.08.012`

    Examples
    --------
    >>> import numpy as np
    >>> from imdiffuse import fmm
    >>> T = fmm.arrival_time(np.ones((64, 64)), [[10, 10]])
    >>> bool(abs(T[50, 40] / np.hypot(40, 30) - 1) < 0.005)
    True
    >>> T, seed = fmm.arrival_time(np.ones((5, 9)), [[2, 0], [2, 8]], closest=True)
    >>> seed[2].tolist()
    [0, 0, 0, 0, 0, 1, 1, 1, 1]
    """
    from . import _march

    order = _check_order(order)
    closest = check_bool(closest, "closest")
    if stop is None:
        stop_v = np.inf
    else:
        stop_v = check_positive(stop, "stop", allow_zero=True)
    data, flat, flag, dist, label, (shp, strides, per, h) = _point_sources(speed, seeds, dx, closest, radius)
    method = _check_method(method, order, data.ndim)
    if closest and method == "fsm":
        raise ValueError("closest=True needs method='fmm' (fast sweeping does not track the seeds)")
    if method == "fsm":
        u = _sweep_solve(dist, flag, flat, data.shape, per, h, _march.TRAVEL)
        u[flag == _march.MASK] = np.nan
        u[~np.isfinite(u)] = np.nan
        if stop is not None:
            u[u > stop_v] = np.nan
        return u.reshape(data.shape)
    dist, flag, _ = _padded_march(dist, flag, None, flat, None, label if closest else None, shp, strides, per,
                                  1.0 / h / h, order, _march.TRAVEL, 0.0, stop_v, False)
    reached = flag == _march.FROZEN
    if stop is not None:
        reached &= dist <= stop_v
    dist[~reached] = np.nan
    T = dist.reshape(data.shape)
    if closest:
        label[~reached] = -1
        return T, label.reshape(data.shape)
    return T


def _point_sources(speed, seeds, dx, closest=False, radius=5):
    """Validated speed and the initial front of :func:`arrival_time`'s point sources.

    Returns ``(data, flat speed, flag, dist, label, geometry)``; ``label``
    has size 0 unless ``closest``.
    """
    from . import _interface

    data, mask = _as_field(speed, "speed")
    geometry = _geometry(data.shape, dx, False)
    shp, strides, per, h = geometry
    if isinstance(radius, (bool, np.bool_)) or not isinstance(radius, (int, np.integer)) or radius < 1:
        raise ValueError(f"radius must be an integer >= 1, got {radius!r}")
    pts = _seeds(seeds, data.shape)
    flag = _flags(data.shape, mask, data < np.finfo(np.float64).eps)
    flat = data.ravel()
    dist = np.zeros(flat.shape[0])
    label = np.full(flat.shape[0] if closest else 0, -1, dtype=np.int64)
    n = _interface.init_points(pts, flag, dist, flat, label, shp, strides, h, int(radius))
    if n == 0:
        raise ValueError("every seed lies on an obstacle (speed <= 0 or masked): nothing to march from")
    return data, flat, flag, dist, label, geometry


class PausedArrival:
    """:func:`arrival_time` (order 2) as a march that pauses and goes on: for an early stop decided on the way.

    ``advance(n)`` freezes about ``n`` more points (it pauses only between
    two values, never inside one) and returns True once the march has
    ended.  :meth:`count` gives ``N(t) = #{T <= t}`` over the points frozen
    so far by binary search (the times are recorded in the order frozen,
    which is sorted), final for ``t`` below :attr:`known`; :meth:`below`
    gives the mask ``T <= t``, and :meth:`times` the whole ``T`` of
    :func:`arrival_time` (marching to the end first).  Used by
    :func:`imdiffuse.segment_fmm` to stop at its automatic threshold.

    The times are recorded as their running maximum: a second-order update
    can freeze a point slightly below the last time popped (measured: up to
    0.1 % of the largest time on random speed maps, never on smooth ones),
    so ``count`` is the number of points frozen by the time the front
    reached ``t``, which equals ``#{T <= t}`` except within such dips.
    """

    def __init__(self, speed, seeds, dx=1.0):
        from . import _march

        data, flat, flag, dist, label, (shp, strides, per, h) = _point_sources(speed, seeds, dx)
        self.shape = data.shape
        self.size = flat.shape[0]
        pflag, self._dist, (psp,), big, pstrides, self._crop = _march.pad(flag, dist, tuple(shp), 2, flat)
        self._args = (np.ones(1, dtype=np.int8), psp, np.zeros(1), label, big, pstrides, per, 1.0 / h / h, 2,
                      _march.TRAVEL, 0.0, np.inf, False, True)
        self._flag = pflag
        self._work = _march.start(pflag, _march.index_template(pflag.shape[0]))
        self._seed_times = np.sort(self._dist[pflag == _march.FROZEN])
        # one slot per point the march may freeze; np.empty commits memory only where written
        self._popped = np.empty(max(int((pflag == _march.FAR).sum()), 1))
        self.done = False

    @property
    def frozen(self):
        """Number of points frozen so far (seeds included)."""
        return int(self._work[4][1])

    @property
    def _npopped(self):
        """Number of points frozen by the march (the seeds' boxes excluded): the length of the record."""
        return self.frozen - int(self._work[4][3])

    @property
    def known(self):
        """The counts below this time are final: the last (running maximum) time popped; inf once ended."""
        n = self._npopped
        if self.done:
            return np.inf
        return float(self._popped[n - 1]) if n > 0 else 0.0

    @property
    def last(self):
        """The largest time frozen so far (the seeds' included)."""
        n = self._npopped
        top = float(self._seed_times[-1]) if self._seed_times.size else 0.0
        return max(top, float(self._popped[n - 1])) if n > 0 else top

    def positive(self):
        """Number of points frozen with a positive time."""
        n = self._npopped
        return int((self._seed_times > 0).sum() + (self._popped[:n] > 0).sum())

    def advance(self, n):
        from . import _march

        if not self.done:
            self.done = bool(_march.resume(self._dist, self._flag, *self._args, *self._work, self.frozen + int(n),
                                           self._popped))
        return self.done

    def count(self, t):
        """``#{T <= t}`` over the frozen points, for each value of the array ``t``."""
        n = self._npopped
        t = np.asarray(t, dtype=np.float64)
        return (np.searchsorted(self._seed_times, t, side="right")
                + np.searchsorted(self._popped[:n], t, side="right"))

    def smallest_positive(self, k):
        """The k-th smallest positive time frozen (0-based), None if fewer are frozen."""
        n = self._npopped
        seeds = self._seed_times[self._seed_times > 0]
        head = np.concatenate([seeds[:k + 1], self._popped[:min(n, k + 1)]])
        head = head[head > 0]
        return float(np.sort(head)[k]) if head.shape[0] > k else None

    def below(self, t):
        """Mask of the points frozen with ``T <= t`` (``T <= t`` itself for t well below :attr:`known`)."""
        from . import _march

        state = self._work[0]
        return self._crop((state == _march.FROZEN) & (self._dist <= t)).reshape(self.shape)

    def times(self):
        """The arrival time everywhere, as :func:`arrival_time` returns it (NaN where not reached)."""
        from . import _march

        while not self.advance(self.size):
            pass
        dist = self._crop(self._dist)
        dist[self._crop(self._flag) != _march.FROZEN] = np.nan
        return dist.reshape(self.shape)
