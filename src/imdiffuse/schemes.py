"""Time integrators shared by every diffusion model.

A *model* says what the diffusion is; a *scheme* says how to step it in time.
Models hand the schemes an operator object with this small interface
(:class:`DiffusionOperator`):

``update(u, frozen=False)``
    recompute the coefficients (diffusivity, diffusion tensor) from the
    current image ``u``; a no-op for linear diffusion.  Schemes call it once
    per explicit step, once per FED cycle and once per AOS step (the
    coefficients are frozen inside a cycle/step, as in the papers below).
    ``frozen=True`` (FED) warns that ``u``'s buffer will be overwritten while
    the coefficients are still in use, so an operator that would keep a
    reference to ``u`` must copy it.
``step(u, out, tau)``
    one explicit Euler step ``out = u + tau * L(u)`` with the current
    coefficients.
``limit()``
    the largest explicit step that is stable (and keeps the maximum
    principle) for the current coefficients.
``work`` (optional attribute)
    a scheme may set it to a scratch array of ``u``'s shape that is idle
    while ``update`` runs (AOS lends a Thomas work array); an operator may
    use it as a temporary there.
``coupling(axis)``
    for scalar models only (``scalar = True``): the diffusivities AOS needs
    along one axis, ``(g, per_face)`` with ``g`` an array of the spatial
    shape (or None for g = 1) holding either voxel values (face value = mean
    of the two voxels) or, with ``per_face``, the value of face i+1/2 at
    index i.  Tensor models set ``scalar = False``.

The three schemes are registered by name in :data:`SCHEMES` so that the
public functions and the CLI look them up from a string.

References
----------
.. [1] J. Weickert, B. M. ter Haar Romeny, M. A. Viergever, "Efficient and
   reliable schemes for nonlinear diffusion filtering", IEEE Trans. Image
   Processing 7(3):398-410, 1998. :doi:`10.1109/83.661190`
.. [2] S. Grewenig, J. Weickert, A. Bruhn, "From box filtering to fast
   explicit diffusion", DAGM 2010, LNCS 6376:533-542.
   :doi:`10.1007/978-3-642-15986-2_54`
.. [3] J. Weickert, S. Grewenig, C. Schroers, A. Bruhn, "Cyclic schemes for
   PDE-based image analysis", Int. J. Computer Vision 118:275-299, 2016.
   :doi:`10.1007/s11263-015-0874-1`
"""

from __future__ import annotations

import math
from typing import Callable, Protocol

import numpy as np

from ._grid import Grid

__all__ = [
    "DiffusionOperator",
    "ScalarDiffusion",
    "SCHEMES",
    "explicit",
    "fed",
    "aos",
    "fed_step_sizes",
    "fed_trajectory",
    "fed_cycle_steps",
    "fed_amplification",
    "integrate",
]

#: Minimum number of FED cycles for accuracy.  One FED cycle is (close to) a
#: box filter of the same variance, not a Gaussian; the difference shrinks
#: like 1/M with the number M of cycles (first order in the cycle length).
#: With 4 cycles the heat equation on a photograph with sharp edges is
#: reached to about 1-2 % of the image's range in the max norm (camera,
#: t = 2..32; see tests/test_schemes.py and benchmarks/bench_heat.py).
FED_MIN_CYCLES = 4

#: Default AOS step, in units of the explicit stability limit, and the
#: minimum number of steps.  AOS is stable for any step, but its splitting
#: error is first order with a large constant: on sharp edges 8 steps reach
#: about 4 % (t = 2) and steps of 5x the explicit limit about 1 % (t >= 32)
#: of the image's range in the max norm.  AOS pays off for long times and
#: fine grids, where explicit steps are tiny.
AOS_STEP_FACTOR = 5.0
AOS_MIN_STEPS = 8


class DiffusionOperator(Protocol):
    grid: Grid
    scalar: bool
    max_cycle_time: float

    def update(self, u: np.ndarray, frozen: bool = False) -> None: ...

    def step(self, u: np.ndarray, out: np.ndarray, tau: float) -> None: ...

    def limit(self) -> float: ...

    def coupling(self, axis: int) -> tuple: ...


class ScalarDiffusion:
    """div(g grad u) with a scalar diffusivity g in [0, 1] (or g = 1).

    Parameters
    ----------
    grid : Grid
        Geometry of the call.
    diffusivity : callable, optional
        ``diffusivity(u, g)`` writes g (shape ``(Z, Y, X)``, values in
        [0, 1]) computed from the current canonical image ``u``.  None for
        linear (heat) diffusion, g = 1.
    max_cycle_time : float
        Longest time the coefficients may stay frozen (FED cycle, AOS step);
        infinite for linear diffusion.
    gmax : float
        Upper bound of g; the explicit step limit is divided by it.
    """

    scalar = True

    def __init__(self, grid: Grid, diffusivity: Callable | None = None, *, max_cycle_time: float = math.inf,
                 gmax: float = 1.0):
        self.grid = grid
        self._compute = diffusivity
        self.max_cycle_time = max_cycle_time
        self._gmax = gmax
        self.diffusivity = None
        if diffusivity is not None:
            self.diffusivity = np.empty(grid.canonical_shape[1:], dtype=grid.dtype)
        self._ih = grid.inv_h2()

    def update(self, u, frozen=False):
        if self._compute is not None:
            self._compute(u, self.diffusivity)

    def step(self, u, out, tau):
        from . import _kernels

        _kernels.scalar_step(u, self.diffusivity, out, _kernels.typed(tau, u.dtype), self._ih)

    def limit(self):
        return self.grid.explicit_limit() / self._gmax

    def coupling(self, axis):
        """AOS coupling along canonical ``axis``: (diffusivity array or None, per-face?)."""
        return self.diffusivity, False


def _steps(t: float, tau_max: float, n_steps: int | None, scheme: str) -> list[float]:
    """Step sizes reaching t: equal steps if n_steps is given, else tau_max with a short last one."""
    if t == 0:
        return []
    if n_steps is not None:
        need = math.ceil(t / tau_max * (1 - 1e-12)) if math.isfinite(tau_max) else 1
        if n_steps < need:
            raise ValueError(
                f"n_steps={n_steps} is too few for the {scheme} scheme to reach t={t:g} stably: "
                f"the step limit is {tau_max:.6g}, so at least {need} steps are needed"
            )
        return [t / n_steps] * n_steps
    if not math.isfinite(tau_max):
        return [t]
    full = int(t // tau_max)
    rest = t - full * tau_max
    steps = [tau_max] * full
    if rest > 1e-12 * t:
        steps.append(rest)
    return steps


def explicit(op: DiffusionOperator, u: np.ndarray, t: float, *, n_steps: int | None = None, callback=None,
             stop_when=None, overwrite: bool = True):
    """Forward Euler to time ``t`` with the largest stable step.

    Steps have the operator's limit ``tau <= 1 / (2 sum_i h_i**-2)`` (for
    g <= 1); the last step is shortened so that ``t`` is reached exactly.
    With ``n_steps``, ``n_steps`` equal steps are taken (an error if that
    would exceed the limit).  The coefficients are updated before every step.
    Returns the buffer that holds the result (``u`` or a new one).
    ``overwrite=False``: ``u`` is read, never written (it may be the user's
    own array), and the result is always a new buffer.
    """
    out = np.empty_like(u)
    start = u
    owned = overwrite  # whether u's buffer is ours to overwrite
    done = 0.0
    # the limit of a nonlinear operator may depend on u; ours are bounded by g <= 1
    op.update(u)
    for k, tau in enumerate(_steps(t, op.limit(), n_steps, "explicit")):
        if k:
            op.update(u)
        if out is None:  # the first step read the caller's array: a buffer of our own
            out = np.empty_like(u)
        op.step(u, out, tau)
        u, out = out, (u if owned else None)
        owned = True
        done += tau
        if callback is not None:
            callback(done)
        if stop_when is not None and stop_when(u, done):
            break
    return u if u is not start or overwrite else u.copy()


def fed_cycle_steps(cycle_time: float, tau_max: float) -> int:
    """Smallest number n of FED steps whose cycle reaches ``cycle_time``.

    One cycle of n steps covers at most ``tau_max * (n**2 + n) / 3``.
    """
    n = math.ceil(-0.5 + 0.5 * math.sqrt(1.0 + 12.0 * cycle_time / tau_max) - 1e-9)
    return max(n, 1)


def fed_step_sizes(n: int, tau_max: float, cycle_time: float | None = None, *, reorder: bool = True) -> np.ndarray:
    """The n step sizes of one FED cycle, scaled to sum to ``cycle_time``.

    ``tau_i = tau_max / (2 cos**2(pi (2 i + 1) / (4 n + 2)))``, i = 0..n-1,
    whose sum is ``tau_max (n**2 + n) / 3`` (Grewenig, Weickert & Bruhn 2010).
    Scaling every step down to reach ``cycle_time`` exactly keeps stability.

    With ``reorder`` the steps are put in *Leja order* of the roots
    ``1 / tau_i`` of the cycle's polynomial ``prod_i (1 - tau_i lambda)``:
    each next root is the one farthest (in product of distances) from those
    already taken, which keeps every partial product bounded, so rounding
    errors made inside a cycle are not amplified by the large steps that
    follow (Reichel 1990 for Richardson iterations; suggested for FED by
    Weickert, Grewenig, Schroers & Bruhn 2016).  The kappa-cycles of the FED
    reference code (kappa = n // 2) amplify rounding errors by up to 1e20
    for some n (n = 70); Leja order stays below ~0.4 n**2 (measured in
    ``tests/test_schemes.py``).
    """
    i = np.arange(n, dtype=np.float64)
    taus = tau_max / (2.0 * np.cos(np.pi * (2.0 * i + 1.0) / (4.0 * n + 2.0)) ** 2)
    if cycle_time is not None:
        taus *= cycle_time / taus.sum()
    if not reorder or n < 3:
        return taus
    return taus[_leja_order(taus)]


def _leja_order(taus: np.ndarray) -> np.ndarray:
    """Leja ordering of the roots 1/tau (start with the largest root)."""
    roots = 1.0 / taus
    n = len(roots)
    order = np.empty(n, dtype=np.intp)
    free = np.ones(n, dtype=bool)
    order[0] = int(np.argmax(roots))
    free[order[0]] = False
    logdist = np.zeros(n)
    for k in range(1, n):
        with np.errstate(divide="ignore"):
            logdist += np.log(np.abs(roots - roots[order[k - 1]]))
        j = int(np.argmax(np.where(free, logdist, -np.inf)))
        order[k] = j
        free[j] = False
    return order


def fed_amplification(taus: np.ndarray, lam_max: float) -> float:
    """Worst amplification of a rounding error made inside one FED cycle.

    For an operator with eigenvalues in ``[-lam_max, 0]``: the size of the
    state after step k (largest partial product of the factors
    ``1 - tau_j lambda``) times the largest amplification by the remaining
    steps, maximised over k.  Exact arithmetic needs neither to be small;
    finite precision loses about ``eps * fed_amplification`` of accuracy.
    """
    lam = np.linspace(0.0, lam_max, 16 * len(taus) + 256)
    f = 1.0 - np.outer(taus, lam)
    before = np.abs(np.cumprod(f, axis=0)).max(axis=1)
    after = np.abs(np.cumprod(f[::-1], axis=0)[::-1]).max(axis=1)
    return float((before * np.append(after[1:], 1.0)).max())


#: Longest FED cycle (steps) per working dtype.  Rounding errors inside a
#: cycle of n Leja-ordered steps grow by up to ~0.4 n**2 (fed_amplification),
#: so float32 cycles are kept to 60 steps (< 1e-4 relative error); float64
#: can afford 1000.
FED_MAX_CYCLE_STEPS = {np.dtype(np.float32): 60, np.dtype(np.float64): 1000}


def fed(op: DiffusionOperator, u: np.ndarray, t: float, *, n_steps: int | None = None, callback=None,
        stop_when=None, overwrite: bool = True):
    """Fast Explicit Diffusion to time ``t``: M cycles of n varying explicit steps.

    ``n_steps`` is the number of cycles M (default: at least
    :data:`FED_MIN_CYCLES`, more if the operator limits how long its
    coefficients may stay frozen).  Each cycle has length ``t / M`` and
    ``n = fed_cycle_steps(t / M, tau_max)`` steps, so the cost grows like
    ``sqrt(t)`` instead of ``t``.  The coefficients are updated once per cycle.

    FED is stable in the Euclidean norm for any cycle length; unlike the
    explicit scheme at its limit it does not guarantee a discrete maximum
    principle within a cycle (a single cycle on an isolated impulse can
    undershoot by a few percent of the impulse).  With the default number of
    cycles no overshoot is seen on images (tests/test_schemes.py).
    ``overwrite=False``: ``u`` is never written (see :func:`explicit`).
    """
    if t == 0:
        return u if overwrite else u.copy()
    if n_steps is None:
        # as few cycles as accuracy allows, with cycles short enough for the
        # operator (nonlinear coefficients) and for the precision
        n_max = FED_MAX_CYCLE_STEPS[np.dtype(u.dtype)]
        longest = min(op.max_cycle_time, op.limit() * (n_max * n_max + n_max) / 3.0)
        cycles = max(FED_MIN_CYCLES, math.ceil(t / longest))
    else:
        cycles = n_steps
    start = u
    for u, done in fed_trajectory(op, u, t, cycles, overwrite=overwrite):
        if callback is not None:
            callback(done)
        if stop_when is not None and stop_when(u, done):
            break
    return u.copy() if u is start and not overwrite else u


def fed_trajectory(op: DiffusionOperator, u: np.ndarray, t: float, cycles: int, *, overwrite: bool = True):
    """FED to time ``t`` in ``cycles`` equal cycles, yielding ``(u, t_done)`` after each one.

    The generator behind :func:`fed`, for callers that advance several
    diffusions in lock-step or inspect every cycle's result (``u`` is valid
    until the next iteration; the caller must not write into it).  The
    first ``u`` is overwritten, unless ``overwrite=False``: then it is only
    read (it may be the user's array), which also spares the first cycle's
    copy of the coefficients' image.
    """
    theta = t / cycles
    out = np.empty_like(u)
    owned = overwrite  # whether u's buffer is ours to overwrite
    done = 0.0
    for _ in range(cycles):
        op.update(u, frozen=owned)  # frozen: u's buffer is reused within the cycle
        tau_max = op.limit()
        if not math.isfinite(tau_max):  # nothing can diffuse (single voxel)
            return
        for tau in fed_step_sizes(fed_cycle_steps(theta, tau_max), tau_max, theta):
            if out is None:  # the first step read the caller's array: a second buffer of our own
                out = np.empty_like(u)
            op.step(u, out, tau)
            u, out = out, (u if owned else None)
            owned = True
        done += theta
        yield u, done


def aos(op: DiffusionOperator, u: np.ndarray, t: float, *, n_steps: int | None = None, callback=None,
        stop_when=None, overwrite: bool = True):
    """Additive operator splitting (semi-implicit) to time ``t``.

    ``u_new = 1/m sum_l (I - m tau A_l(u))**-1 u`` over the m active axes,
    each a tridiagonal (Thomas) solve per grid line with reflecting ends and
    the axis's spacing (Weickert, ter Haar Romeny & Viergever 1998).  Stable
    for any step; steps default to ``AOS_STEP_FACTOR`` times the explicit
    limit (at least ``AOS_MIN_STEPS``), or ``n_steps`` equal steps.
    Scalar diffusivities only.
    """
    from . import _kernels

    if not op.scalar:
        raise ValueError("scheme='aos' needs a scalar diffusivity; use 'fed' or 'explicit' for tensor diffusion")
    if not overwrite:  # AOS writes into u's buffer from the second step on
        u = u.copy()
    if t == 0:
        return u
    grid = op.grid
    axes = grid.active_axes
    if not axes:
        return u
    if n_steps is None:
        tau_pref = min(AOS_STEP_FACTOR * op.limit(), op.max_cycle_time)
        n_steps = max(AOS_MIN_STEPS, math.ceil(t / tau_pref))
    tau = t / n_steps
    m = len(axes)
    out = np.empty_like(u)
    cp = np.empty_like(u)
    if hasattr(op, "work"):  # idle while the coefficients are updated: lend it (one buffer less)
        op.work = cp
    dp = np.empty_like(u)
    C = u.shape[0]
    spacing = grid.canonical_spacing
    weight = 1.0 / m
    done = 0.0
    for _ in range(n_steps):
        op.update(u)
        for k, ax in enumerate(axes):
            n = u.shape[ax + 1]
            shape3 = (C * math.prod(u.shape[1 : ax + 1]), n, math.prod(u.shape[ax + 2 :]))
            g, face = op.coupling(ax)
            g3 = None if g is None else g.reshape((math.prod(g.shape[:ax]), n, math.prod(g.shape[ax + 1 :])))
            s = _kernels.typed(m * tau / spacing[ax] ** 2, u.dtype)
            _kernels.tridiagonal_axis(
                u.reshape(shape3), g3, face, out.reshape(shape3), cp.reshape(shape3), dp.reshape(shape3),
                s, weight, k > 0, 64 if shape3[2] > 1 else 1,
            )
        u, out = out, u
        done += tau
        if callback is not None:
            callback(done)
        if stop_when is not None and stop_when(u, done):
            break
    return u


SCHEMES: dict[str, Callable] = {"explicit": explicit, "fed": fed, "aos": aos}


def integrate(op: DiffusionOperator, u: np.ndarray, t: float, scheme: str, *, n_steps=None, callback=None,
              stop_when=None, overwrite: bool = True):
    """Run the scheme named ``scheme`` (a key of :data:`SCHEMES`) on ``u`` to time t.

    ``stop_when(u, t_done)``, if given, is asked after every explicit/AOS
    step or FED cycle (``u`` is the current canonical image, valid only
    during the call) and ends the integration early when it returns True.
    ``overwrite=False``: ``u`` is only read (it may be a view of the user's
    array, see :meth:`imdiffuse._grid.Grid.canonical`) and the result is a
    new buffer; explicit and FED steps then read it directly, which spares
    the full-size copy a writable start would cost.
    """
    return SCHEMES[scheme](op, u, t, n_steps=n_steps, callback=callback, stop_when=stop_when, overwrite=overwrite)
