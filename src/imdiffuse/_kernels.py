"""Numba kernels: the arithmetic of every diffusion model lives here.

All kernels work on the canonical layout of :mod:`imdiffuse._grid`: images
are C-contiguous ``(C, Z, Y, X)`` arrays, a 2-D image has ``Z = 1``, and a
shared coefficient field (diffusivity) is ``(Z, Y, X)``.  Boundaries are
reflecting (zero flux) through clamped neighbour indices.

Arguments that may be ``None`` (``g``: no diffusivity, i.e. the heat
equation) are specialised by Numba at compile time: ``if g is None`` branches
are pruned, so the linear case costs nothing for the generality.

Importing this module imports Numba; the rest of the package imports it
lazily, on the first call that needs a kernel.
"""

from __future__ import annotations

import os

# Numba's OpenMP threading layer spin-waits between parallel regions; on a
# machine shared with other processes that makes 2-thread calls up to 15x
# slower than 1 thread (measured in benchmarks/bench_heat.py).  Passive
# waiting costs nothing measurable on an idle machine.  Users can override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numba  # noqa: E402
import numpy as np  # noqa: E402

__all__ = ["jit", "scalar_step", "tridiagonal_axis"]


def jit(*args, parallel: bool = False, inline: str = "never"):
    """The project's one ``numba.njit``: disk cache, no fastmath, GIL released.

    ``fastmath`` stays off so that results are reproducible and NaN/inf
    checks keep working; ``error_model="numpy"`` lets divisions vectorise.
    """
    options = dict(cache=True, nogil=True, fastmath=False, error_model="numpy", parallel=parallel)
    if inline != "never":
        options["inline"] = inline
    if args and callable(args[0]):
        return numba.njit(**options)(args[0])
    return numba.njit(*args, **options)


@jit
def _line(line, Z, Y):
    """Line number -> (z, y) and their clamped (reflecting) neighbours."""
    z = line // Y
    y = line - z * Y
    return z, y, max(z - 1, 0), min(z + 1, Z - 1), max(y - 1, 0), min(y + 1, Y - 1)


@jit
def _divergence(u, g, c, z, y, x, zm, zp, ym, yp, xm, xp, ih):
    """div(g grad u) at one voxel with face diffusivities (g_i + g_j) / 2.

    ``g is None`` is the Laplacian (g = 1).  Compiled separately for both and
    inlined by LLVM into the calling loops.
    """
    uc = u[c, z, y, x]
    if g is None:
        return (
            ih[2] * (u[c, z, y, xp] + u[c, z, y, xm] - 2.0 * uc)
            + ih[1] * (u[c, z, yp, x] + u[c, z, ym, x] - 2.0 * uc)
            + ih[0] * (u[c, zp, y, x] + u[c, zm, y, x] - 2.0 * uc)
        )
    gc = g[z, y, x]
    return 0.5 * (
        ih[2] * ((gc + g[z, y, xp]) * (u[c, z, y, xp] - uc) - (gc + g[z, y, xm]) * (uc - u[c, z, y, xm]))
        + ih[1] * ((gc + g[z, yp, x]) * (u[c, z, yp, x] - uc) - (gc + g[z, ym, x]) * (uc - u[c, z, ym, x]))
        + ih[0] * ((gc + g[zp, y, x]) * (u[c, zp, y, x] - uc) - (gc + g[zm, y, x]) * (uc - u[c, zm, y, x]))
    )


@jit(parallel=True)
def scalar_step(u, g, out, tau, ih):
    """One explicit Euler step ``out = u + tau * div(g grad u)``.

    Parameters
    ----------
    u, out : (C, Z, Y, X) float arrays (distinct buffers)
    g : (Z, Y, X) float array or None (g = 1)
    tau : float scalar of u's dtype
    ih : (3,) array of 1/h**2 for the Z, Y, X axes (0 on unused axes)
    """
    C, Z, Y, X = u.shape
    for line in numba.prange(Z * Y):
        z, y, zm, zp, ym, yp = _line(line, Z, Y)
        for c in range(C):
            # the two ends of the line clamp, the interior loop vectorises
            out[c, z, y, 0] = u[c, z, y, 0] + tau * _divergence(
                u, g, c, z, y, 0, zm, zp, ym, yp, 0, 1 if X > 1 else 0, ih
            )
            for x in range(1, X - 1):
                out[c, z, y, x] = u[c, z, y, x] + tau * _divergence(
                    u, g, c, z, y, x, zm, zp, ym, yp, x - 1, x + 1, ih
                )
            if X > 1:
                out[c, z, y, X - 1] = u[c, z, y, X - 1] + tau * _divergence(
                    u, g, c, z, y, X - 1, zm, zp, ym, yp, X - 2, X - 1, ih
                )


@jit
def _face(g, a, i, b, s, face):
    """Implicit coupling weight across face i+1/2: s * g_face.

    g_face is 1 (``g is None``), ``g[a, i, b]`` (``face``: g given per face)
    or ``(g_i + g_{i+1}) / 2`` (g given per voxel).
    """
    if g is None:
        return s
    if face:
        return s * g[a, i, b]
    return s * 0.5 * (g[a, i, b] + g[a, i + 1, b])


@jit(parallel=True)
def tridiagonal_axis(u, g, face, out, cp, dp, s, weight, accumulate, block):
    """Solve ``(I - s A(g)) v = u`` along axis 1 and add ``weight * v`` to out.

    ``A(g)`` is the 1-D reflecting-boundary diffusion matrix with face
    diffusivities ``(g_i + g_{i+1}) / 2`` (``g is None``: g = 1) and ``s``
    is ``m * tau / h**2``.  The matrix is symmetric, strictly diagonally
    dominant with unit row sums, so the Thomas algorithm is stable without
    pivoting and the solve conserves mass and obeys the maximum principle.

    The system is solved in *delta form*, ``(I - s A) d = s A u`` and
    ``v = u + d``: rounding errors then scale with the change ``d``, not with
    ``u``.  (Solving for ``v`` directly, the rounded Thomas coefficients are
    identical on every line and bias the mean coherently, by ~1e-8 per step
    in float32.)

    Parameters
    ----------
    u : (A, N, B) float array
        Right-hand side; the solve runs along axis 1 for every (a, b).
    g : (Ag, N, B) float array or None
        Diffusivity shared by the A // Ag channel blocks (a -> a % Ag).
    face : bool
        ``g[a, i, b]`` is the diffusivity of face i+1/2 (else: of voxel i).
    out : (A, N, B)
        ``out = weight * v`` (accumulate False) or ``out += weight * v``.
    cp, dp : (A, N, B)
        Work buffers (modified Thomas coefficients).
    block : int
        Number of b-columns solved together: the inner loop runs over
        contiguous memory, so lines along slow axes vectorise.
    """
    A, N, B = u.shape
    Ag = A if g is None else g.shape[0]
    nb = (B + block - 1) // block
    for job in numba.prange(A * nb):
        a = job // nb
        b0 = (job - a * nb) * block
        b1 = min(B, b0 + block)
        ag = a % Ag
        if N == 1:
            for b in range(b0, b1):
                if accumulate:
                    out[a, 0, b] += weight * u[a, 0, b]
                else:
                    out[a, 0, b] = weight * u[a, 0, b]
            continue
        # forward sweep; right-hand side s A u = w-(u[i-1] - u[i]) + w+(u[i+1] - u[i])
        for b in range(b0, b1):
            wp = _face(g, ag, 0, b, s, face)
            diag = 1.0 + wp
            cp[a, 0, b] = -wp / diag
            dp[a, 0, b] = wp * (u[a, 1, b] - u[a, 0, b]) / diag
        for i in range(1, N - 1):
            for b in range(b0, b1):
                wm = _face(g, ag, i - 1, b, s, face)
                wp = _face(g, ag, i, b, s, face)
                ui = u[a, i, b]
                rhs = wm * (u[a, i - 1, b] - ui) + wp * (u[a, i + 1, b] - ui)
                denom = 1.0 + wm + wp + wm * cp[a, i - 1, b]
                cp[a, i, b] = -wp / denom
                dp[a, i, b] = (rhs + wm * dp[a, i - 1, b]) / denom
        for b in range(b0, b1):
            wm = _face(g, ag, N - 2, b, s, face)
            rhs = wm * (u[a, N - 2, b] - u[a, N - 1, b])
            denom = 1.0 + wm + wm * cp[a, N - 2, b]
            dp[a, N - 1, b] = (rhs + wm * dp[a, N - 2, b]) / denom
        # back substitution, adding weight * (u + d) into out
        for i in range(N - 1, -1, -1):
            for b in range(b0, b1):
                if i < N - 1:
                    dp[a, i, b] -= cp[a, i, b] * dp[a, i + 1, b]
                v = u[a, i, b] + dp[a, i, b]
                if accumulate:
                    out[a, i, b] += weight * v
                else:
                    out[a, i, b] = weight * v


@jit
def _exponent_max(bits, mask):
    """max(bits & mask): the largest exponent field of float data viewed as unsigned integers."""
    m = bits.dtype.type(0)
    for i in range(bits.shape[0]):
        m = max(m, bits[i] & mask)
    return m


def any_nonfinite(a: np.ndarray) -> bool:
    """Does C-contiguous float32/float64 ``a`` hold a NaN or an inf?  One pass, no temporary.

    A value is NaN or infinite exactly when its exponent bits are all ones,
    so the largest exponent field decides; an integer max vectorises (a
    float reduction would not without reassociation).  Twice as fast as
    ``not np.isfinite(a).all()``, which also writes a boolean array.
    """
    if a.dtype == np.float32:
        mask = np.uint32(0x7F800000)
        return bool(_exponent_max(a.reshape(-1).view(np.uint32), mask) == mask)
    mask = np.uint64(0x7FF0000000000000)
    return bool(_exponent_max(a.reshape(-1).view(np.uint64), mask) == mask)


def typed(value, dtype) -> np.generic:
    """A scalar in the kernels' float dtype (avoids float64 promotion in float32 loops)."""
    return np.dtype(dtype).type(value)


# ------------------------------------------------------------------------
# Nonlinear scalar diffusion with face diffusivities (Perona-Malik, TV)
# ------------------------------------------------------------------------
#
# The diffusivity of the face between voxels i and j is g(s) with
# s = sum_c (v_c[j] - v_c[i])**2 / h**2, the squared directional derivative
# of the image v the coefficients are computed from (u itself, or its
# Gaussian-smoothed version), summed over channels (joint diffusion).  This
# is Perona & Malik's own discretisation (1990, eq. 8), also MedPy's.  Each
# face's g is computed once per step into short line buffers, so a step
# reads u (and v) and writes out: memory traffic close to a copy.

WEICKERT_C4 = 3.31488


@jit(inline="always")
def _s(out, a, b, i, shift):
    """The argument of g at i: out[i] itself (``a`` None) or the squared difference b[i + shift] - a[i]."""
    if a is None:
        return out[i]
    d = b[i + shift] - a[i]
    return d * d


@jit
def _g_loop(out, n, kind, lam, scale, a, b, shift):
    """out[:n] = g(scale * s) with s from :func:`_s`; one loop per kind so each vectorises.

    With ``a`` and ``b`` (rows) the squared differences and g are computed in
    one pass, without a round trip through the buffer.  With ``a`` None (the
    specialisation Numba compiles for it has no branch) the buffer holds s.
    """
    if kind == 1:
        for i in range(n):
            out[i] = lam / (lam + scale * _s(out, a, b, i, shift))
    elif kind == 0:
        for i in range(n):
            out[i] = np.exp(-(scale * _s(out, a, b, i, shift)) / lam)
    elif kind == 2:
        for i in range(n):
            out[i] = np.sqrt(lam / (lam + scale * _s(out, a, b, i, shift)))
    elif kind == 5:
        for i in range(n):
            out[i] = 1.0 / np.sqrt(lam + scale * _s(out, a, b, i, shift))
    elif kind == 3:
        two = lam + lam
        for i in range(n):
            s = scale * _s(out, a, b, i, shift)
            r = (two - s) / two
            out[i] = r * r if s < two else 0.0
    else:
        for i in range(n):
            r = scale * _s(out, a, b, i, shift) / lam
            if r > 0:
                r2 = r * r
                out[i] = 1.0 - np.exp(-WEICKERT_C4 / (r2 * r2))
            else:
                out[i] = 1.0


@jit
def apply_diffusivity(buf, n, kind, lam, scale=1.0):
    """buf[:n] = g(scale * buf[:n]) in place; one loop per kind so each vectorises.

    kind: 0 exponential, 1 rational, 2 charbonnier, 3 tukey, 4 weickert,
    5 TV ``1 / sqrt(eps**2 + s)``; ``lam`` is kappa**2 (eps**2 for TV).
    ``scale`` (1/h**2) turns squared differences into squared derivatives.
    """
    _g_loop(buf, n, kind, lam, scale, None, None, 0)


@jit
def _faces_x_channels(v, z, y, gx, ihx, kind, lam):
    """:func:`_faces_x` for several channels: squared differences summed, then g."""
    C, X = v.shape[0], v.shape[3]
    for x in range(X - 1):
        d = v[0, z, y, x + 1] - v[0, z, y, x]
        gx[x] = d * d
    for c in range(1, C):
        for x in range(X - 1):
            d = v[c, z, y, x + 1] - v[c, z, y, x]
            gx[x] += d * d
    apply_diffusivity(gx, X - 1, kind, lam, ihx)


@jit
def _faces_across_channels(v, z0, y0, z1, y1, gl, ih, kind, lam):
    """:func:`_faces_across` for several channels."""
    C, X = v.shape[0], v.shape[3]
    for x in range(X):
        d = v[0, z1, y1, x] - v[0, z0, y0, x]
        gl[x] = d * d
    for c in range(1, C):
        for x in range(X):
            d = v[c, z1, y1, x] - v[c, z0, y0, x]
            gl[x] += d * d
    apply_diffusivity(gl, X, kind, lam, ih)


# The per-row helpers of face_step below are inlined at the Numba IR level:
# as calls, the reference counting of their array arguments, once per row,
# cost 20 % of a 3-D step on 256^3 (31 -> 25 ms).  They stay small (the
# several-channel paths are calls): inlined bodies are compiled once per
# call site, and the first call's compilation is part of the price.
@jit(inline="always")
def _faces_x(v, z, y, gx, ihx, kind, lam):
    """gx[x] = g of the face (x, x+1) on line (z, y), x = 0..X-2."""
    if v.shape[0] == 1:  # the difference and g in one pass
        row = v[0, z, y]
        _g_loop(gx, v.shape[3] - 1, kind, lam, ihx, row, row, 1)
    else:
        _faces_x_channels(v, z, y, gx, ihx, kind, lam)


@jit(inline="always")
def _faces_across(v, z0, y0, z1, y1, gl, ih, kind, lam):
    """gl[x] = g of the faces between lines (z0, y0) and (z1, y1)."""
    if v.shape[0] == 1:
        _g_loop(gl, v.shape[3], kind, lam, ih, v[0, z0, y0], v[0, z1, y1], 0)
    else:
        _faces_across_channels(v, z0, y0, z1, y1, gl, ih, kind, lam)


#: Planes per job of :func:`face_step` in 3-D (the back faces of a job's
#: first plane are recomputed).
FACE_STEP_PLANES = 16


@jit(parallel=True)
def face_step(u, v, out, tau, ih, kind, lam, rows):
    """One explicit step ``out = u + tau * div(g grad u)`` with face diffusivities.

    Parameters
    ----------
    u, out : (C, Z, Y, X) float arrays (distinct buffers)
    v : (C, Z, Y, X) the image g is computed from (may be ``u`` itself)
    tau : step size (scalar of u's dtype); ih : (3,) 1/h**2 for Z, Y, X
    kind, lam : diffusivity code and kappa**2 (see apply_diffusivity)
    rows : rows per parallel job (the north faces of a job's first row
        are recomputed, later rows reuse the previous row's south faces)

    A 3-D job takes the same rows of up to :data:`FACE_STEP_PLANES`
    consecutive planes: each plane's faces towards the next are the next
    plane's faces towards it, so a voxel costs three face evaluations, not
    four (only a job's first plane recomputes its back faces).
    """
    C, Z, Y, X = u.shape
    nby = (Y + rows - 1) // rows
    planes = min(Z, FACE_STEP_PLANES)
    nbz = (Z + planes - 1) // planes
    for job in numba.prange(nbz * nby):
        bz = job // nby
        y0 = (job - bz * nby) * rows
        y1 = min(Y, y0 + rows)
        z0 = bz * planes
        z1 = min(Z, z0 + planes)
        ihz = ih[0]
        ihy = ih[1]
        ihx = ih[2]
        gx = np.zeros(X, dtype=u.dtype)
        gn = np.zeros(X, dtype=u.dtype)
        gs = np.zeros(X, dtype=u.dtype)
        # back and front faces of every row of the block; where a face is
        # missing (first or last plane) the neighbour is the voxel itself, so
        # whatever the buffer holds is multiplied by an exact 0
        nb = y1 - y0 if Z > 1 else 1  # 2-D: one (unused) row, not rows x X zeros per job
        gbs = np.zeros((nb, X), dtype=u.dtype)
        gfs = np.zeros((nb, X), dtype=u.dtype)
        if Z > 1 and z0 > 0:
            for y in range(y0, y1):
                _faces_across(v, z0 - 1, y, z0, y, gbs[y - y0], ih[0], kind, lam)
        for z in range(z0, z1):
            zm = z - 1 if z > 0 else 0
            zp = z + 1 if z < Z - 1 else Z - 1
            if y0 > 0:
                _faces_across(v, z, y0 - 1, z, y0, gn, ih[1], kind, lam)
            for y in range(y0, y1):
                ym = y - 1 if y > 0 else 0
                yp = y + 1 if y < Y - 1 else Y - 1
                gb = gbs[(y - y0) % nb]
                gf = gfs[(y - y0) % nb]
                if y < Y - 1:
                    _faces_across(v, z, y, z, y + 1, gs, ih[1], kind, lam)
                if X > 1:
                    _faces_x(v, z, y, gx, ih[2], kind, lam)
                if Z > 1 and z < Z - 1:
                    _faces_across(v, z, y, zp, y, gf, ih[0], kind, lam)
                for c in range(C):
                    # x = 0 and x = X - 1 clamp; the interior loop vectorises
                    _face_update(u, out, c, z, y, 0, zm, zp, ym, yp, X, gx, gn, gs, gb, gf, tau, ih)
                    # row views and the 1/h**2 as scalars: indexing the 4-D arrays and
                    # reading ih inside the loop (a store to ``out`` might alias
                    # it) cost 12 % of a 2-D step (2048^2, with the one-pass faces)
                    r = u[c, z, y]
                    rn = u[c, z, ym]
                    rs = u[c, z, yp]
                    o = out[c, z, y]
                    if Z > 1:
                        rb = u[c, zm, y]
                        rf = u[c, zp, y]
                        for x in range(1, X - 1):
                            uc = r[x]
                            acc = ihx * (gx[x] * (r[x + 1] - uc) - gx[x - 1] * (uc - r[x - 1]))
                            acc += ihy * (gs[x] * (rs[x] - uc) - gn[x] * (uc - rn[x]))
                            acc += ihz * (gf[x] * (rf[x] - uc) - gb[x] * (uc - rb[x]))
                            o[x] = uc + tau * acc
                    else:  # 2-D: no flux along the padded Z axis, a third less arithmetic
                        for x in range(1, X - 1):
                            uc = r[x]
                            acc = ihx * (gx[x] * (r[x + 1] - uc) - gx[x - 1] * (uc - r[x - 1]))
                            acc += ihy * (gs[x] * (rs[x] - uc) - gn[x] * (uc - rn[x]))
                            o[x] = uc + tau * acc
                    if X > 1:
                        _face_update(u, out, c, z, y, X - 1, zm, zp, ym, yp, X, gx, gn, gs, gb, gf, tau, ih)
                gn, gs = gs, gn
            gbs, gfs = gfs, gbs  # this plane's front faces are the next plane's back faces


@jit(inline="always")
def _face_update(u, out, c, z, y, x, zm, zp, ym, yp, X, gx, gn, gs, gb, gf, tau, ih):
    """The update of one voxel at the ends of a line (clamped x neighbours)."""
    uc = u[c, z, y, x]
    acc = 0.0 * uc
    if x < X - 1:
        acc += ih[2] * gx[x] * (u[c, z, y, x + 1] - uc)
    if x > 0:
        acc -= ih[2] * gx[x - 1] * (uc - u[c, z, y, x - 1])
    acc += ih[1] * (gs[x] * (u[c, z, yp, x] - uc) - gn[x] * (uc - u[c, z, ym, x]))
    acc += ih[0] * (gf[x] * (u[c, zp, y, x] - uc) - gb[x] * (uc - u[c, zm, y, x]))
    out[c, z, y, x] = uc + tau * acc


@jit(parallel=True)
def face_diffusivities(v, gface, axis, ih, kind, lam):
    """gface[i] = g of the face (i, i+1) along canonical spatial ``axis`` (0=Z, 1=Y, 2=X).

    The entry at the last index along ``axis`` is set to 0 (no face).
    """
    C, Z, Y, X = v.shape
    for line in numba.prange(Z * Y):
        z = line // Y
        y = line - z * Y
        if axis == 2:
            if X > 1:
                _faces_x(v, z, y, gface[z, y], ih, kind, lam)
            gface[z, y, X - 1] = 0.0
        elif axis == 1:
            if y < Y - 1:
                _faces_across(v, z, y, z, y + 1, gface[z, y], ih, kind, lam)
            else:
                gface[z, y, :] = 0.0
        else:
            if z < Z - 1:
                _faces_across(v, z, y, z + 1, y, gface[z, y], ih, kind, lam)
            else:
                gface[z, y, :] = 0.0


@jit(parallel=True)
def pixel_diffusivity(v, g, ih4, kind, lam):
    """g = g(|grad v|**2) per voxel, central differences, channels summed.

    ``ih4`` holds 1/(4 h**2) per canonical axis (0 on unused axes); at the
    border the clamped neighbour makes the difference one-sided and halved,
    which is the central difference of the reflected (Neumann) image.
    """
    C, Z, Y, X = v.shape
    for line in numba.prange(Z * Y):
        z, y, zm, zp, ym, yp = _line(line, Z, Y)
        row = g[z, y]
        for x in range(X):
            row[x] = 0.0
        for c in range(C):
            if X > 1:
                d = v[c, z, y, 1] - v[c, z, y, 0]
                row[0] += ih4[2] * d * d
                d = v[c, z, y, X - 1] - v[c, z, y, X - 2]
                row[X - 1] += ih4[2] * d * d
            for x in range(1, X - 1):
                d = v[c, z, y, x + 1] - v[c, z, y, x - 1]
                row[x] += ih4[2] * d * d
            for x in range(X):
                dy = v[c, z, yp, x] - v[c, z, ym, x]
                dz = v[c, zp, y, x] - v[c, zm, y, x]
                row[x] += ih4[1] * dy * dy + ih4[0] * dz * dz
        apply_diffusivity(row, X, kind, lam)


# ------------------------------------------------------------------------
# Tensor (anisotropic) diffusion: structure tensor, diffusion tensors and
# the nonnegative-where-possible "delta stencil" for div(D grad u)
# ------------------------------------------------------------------------
#
# The diffusion tensor D is stored per voxel as *plane tensors*: for each
# coordinate plane (P, Q) the 2x2 tensor [[A_P, B], [B, A_Q]] in grid units
# (A_P = s D_PP / h_P**2, B = D_PQ / (h_P h_Q)).  In 2-D there is one plane
# (Y, X), T = (A_y, A_x, B_xy), s = 1.  In 3-D there are three, T[0:3] =
# (A_y, A_x, B_xy), T[3:6] = (A_z, A_x, B_xz), T[6:9] = (A_z, A_y, B_yz),
# and each diagonal entry is split between the two planes containing its axis
# in proportion to the off-diagonal entries of those planes (1/2 each if both
# vanish), so that a plane tensor carries the full diagonal where its
# off-diagonal needs it; B is then limited to sqrt(A_P A_Q) (plane tensor
# positive semidefinite).
#
# A plane *cell* is the square of four voxels (p0..p1) x (q0..q1); its tensor
# is the mean of its corners'.  Following Weickert, Welk & Wickert (2013) the
# cell's quadratic form a u_P**2 + 2 b u_P u_Q + c u_Q**2 is written with the
# two axial differences per axis and the two diagonal differences,
#   weight of each P edge  (A_P - delta) / 2,  each Q edge  (A_Q - delta) / 2,
#   main diagonal          (delta + B) / 2,    anti-diagonal (delta - B) / 2,
# with delta = alpha (A_P + A_Q) + (1 - 2 alpha) |B| (the WWW family with
# beta = (1 - 2 alpha) sign(b)).  The cell form is positive semidefinite with
# largest eigenvalue <= A_P + A_Q for every alpha in [0, 1/2]; all four weights
# are >= 0 iff delta <= min(A_P, A_Q) (with alpha = 0: |B| <= min(A_P, A_Q)).
# Cells that stick out of the image (reflecting boundary) take the clamped
# corners' A and B = 0 (the mirror image of the tensor field has -B there).
# The operator is the sum of the cells' graph Laplacians: symmetric, zero row
# sums (mean preserved), negative semidefinite.


@jit
def _cell_weights(Ap, Aq, B, alpha):
    """(wP, wQ, wd, wa) of one cell from its (scaled) plane tensor.

    ``alpha < 0`` selects the *nonnegative* variant: delta = |B| and axial
    weights clipped at 0, i.e. where |B| > min(A_P, A_Q) the cell diffuses
    as if the smaller diagonal entry were raised to |B| (the least added
    diffusion, along one axis only, that makes the cell's weights >= 0).
    The cell trace grows by at most a factor (1 + sqrt(2)) / 2.
    """
    if alpha < 0:
        d = abs(B)
        return 0.5 * max(Ap - d, 0.0), 0.5 * max(Aq - d, 0.0), 0.5 * (d + B), 0.5 * (d - B)
    d = alpha * (Ap + Aq) + (1.0 - 2.0 * alpha) * abs(B)
    return 0.5 * (Ap - d), 0.5 * (Aq - d), 0.5 * (d + B), 0.5 * (d - B)


@jit
def _cells_along_x(T, o, z0, y0, z1, y1, ghost, wp, wq, wd, wa, alpha):
    """Weights of the cells between lines (z0, y0) and (z1, y1) spanning x and x+1.

    Plane components T[o] = A_P, T[o+1] = A_Q (= A_x), T[o+2] = B.  Buffer
    index k holds the cell between x = k-1 and x = k (k = 0..X); cells k = 0
    and k = X stick out of the image in x (``ghost``: also out in P).
    """
    X = T.shape[3]
    for k in range(X + 1):
        xa = max(k - 1, 0)
        xb = min(k, X - 1)
        ap = 0.25 * (T[o, z0, y0, xa] + T[o, z0, y0, xb] + T[o, z1, y1, xa] + T[o, z1, y1, xb])
        aq = 0.25 * (T[o + 1, z0, y0, xa] + T[o + 1, z0, y0, xb] + T[o + 1, z1, y1, xa] + T[o + 1, z1, y1, xb])
        if ghost or k == 0 or k == X:
            b = 0.0 * ap
        else:
            b = 0.25 * (T[o + 2, z0, y0, xa] + T[o + 2, z0, y0, xb] + T[o + 2, z1, y1, xa] + T[o + 2, z1, y1, xb])
        wp[k], wq[k], wd[k], wa[k] = _cell_weights(ap, aq, b, alpha)


@jit
def _cells_zy(T, z0, y0, z1, y1, ghost, wp, wq, wd, wa, alpha):
    """Weights of the (z, y) plane cells with corners (z0|z1, y0|y1) at every x."""
    X = T.shape[3]
    for x in range(X):
        ap = 0.25 * (T[6, z0, y0, x] + T[6, z0, y1, x] + T[6, z1, y0, x] + T[6, z1, y1, x])
        aq = 0.25 * (T[7, z0, y0, x] + T[7, z0, y1, x] + T[7, z1, y0, x] + T[7, z1, y1, x])
        if ghost:
            b = 0.0 * ap
        else:
            b = 0.25 * (T[8, z0, y0, x] + T[8, z0, y1, x] + T[8, z1, y0, x] + T[8, z1, y1, x])
        wp[x], wq[x], wd[x], wa[x] = _cell_weights(ap, aq, b, alpha)


@jit
def _plane_x_update(u, c, z, y, pm, pp, X, acc, nwp, nwq, nwd, nwa, swp, swq, swd, swa, zy):
    """acc[x] += the flux of the cells of one plane (P, x) around voxels (z, y, x).

    ``pm``/``pp`` are the lines (z, y) one step back/forward along P (clamped);
    n* are the cells between pm and the line, s* between the line and pp.
    ``zy``: 0 for the (y, x) plane (lines differ in y), 1 for (z, x).
    """
    for x in range(X):
        xm = max(x - 1, 0)
        xp = min(x + 1, X - 1)
        uc = u[c, z, y, x]
        if zy == 0:
            um_ = u[c, z, pm, x]
            up_ = u[c, z, pp, x]
            umm = u[c, z, pm, xm]
            ump = u[c, z, pm, xp]
            upm = u[c, z, pp, xm]
            upp = u[c, z, pp, xp]
        else:
            um_ = u[c, pm, y, x]
            up_ = u[c, pp, y, x]
            umm = u[c, pm, y, xm]
            ump = u[c, pm, y, xp]
            upm = u[c, pp, y, xm]
            upp = u[c, pp, y, xp]
        dxp = u[c, z, y, xp] - uc
        dxm = u[c, z, y, xm] - uc
        # cells on the forward side (line .. pp): k = x + 1 (x .. x+1) and k = x (x-1 .. x)
        a = swq[x + 1] * dxp + swp[x + 1] * (up_ - uc) + swd[x + 1] * (upp - uc)
        a += swq[x] * dxm + swp[x] * (up_ - uc) + swa[x] * (upm - uc)
        # cells on the backward side (pm .. line)
        a += nwq[x + 1] * dxp + nwp[x + 1] * (um_ - uc) + nwa[x + 1] * (ump - uc)
        a += nwq[x] * dxm + nwp[x] * (um_ - uc) + nwd[x] * (umm - uc)
        acc[x] += a


@jit(parallel=True)
def tensor_step(u, T, out, tau, alpha, rows):
    """One explicit step ``out = u + tau * div(D grad u)`` with the delta stencil.

    Parameters
    ----------
    u, out : (C, Z, Y, X) float arrays (distinct buffers)
    T : (3, Z, Y, X) (Z == 1) or (9, Z, Y, X) plane tensors (see above),
        shared by all channels
    tau, alpha : step size and WWW parameter (scalars of u's dtype)
    rows : rows per parallel job; cells between consecutive rows of a job
        are computed once and reused.
    """
    C, Z, Y, X = u.shape
    three = T.shape[0] == 9
    nby = (Y + rows - 1) // rows
    for job in numba.prange(Z * nby):
        z = job // nby
        y0 = (job - z * nby) * rows
        y1 = min(Y, y0 + rows)
        zm = max(z - 1, 0)
        zp = min(z + 1, Z - 1)
        dt = u.dtype
        # (y, x) plane: backward (n) and forward (s) cell rows, X + 1 cells each
        nwp = np.empty(X + 1, dt); nwq = np.empty(X + 1, dt); nwd = np.empty(X + 1, dt); nwa = np.empty(X + 1, dt)
        swp = np.empty(X + 1, dt); swq = np.empty(X + 1, dt); swd = np.empty(X + 1, dt); swa = np.empty(X + 1, dt)
        # (z, x) plane
        bwp = np.empty(X + 1, dt); bwq = np.empty(X + 1, dt); bwd = np.empty(X + 1, dt); bwa = np.empty(X + 1, dt)
        fwp = np.empty(X + 1, dt); fwq = np.empty(X + 1, dt); fwd = np.empty(X + 1, dt); fwa = np.empty(X + 1, dt)
        # (z, y) plane: four cell rows (z -+ 1/2, y -+ 1/2)
        q = np.empty((4, 4, X), dt)
        acc = np.empty(X, dt)
        ym0 = max(y0 - 1, 0)
        _cells_along_x(T, 0, z, ym0, z, y0, y0 == 0, nwp, nwq, nwd, nwa, alpha)
        if three:
            _cells_zy(T, zm, ym0, z, y0, z == 0 or y0 == 0, q[0, 0], q[0, 1], q[0, 2], q[0, 3], alpha)
            _cells_zy(T, z, ym0, zp, y0, z == Z - 1 or y0 == 0, q[1, 0], q[1, 1], q[1, 2], q[1, 3], alpha)
        for y in range(y0, y1):
            ym = max(y - 1, 0)
            yp = min(y + 1, Y - 1)
            _cells_along_x(T, 0, z, y, z, yp, y == Y - 1, swp, swq, swd, swa, alpha)
            if three:
                _cells_along_x(T, 3, zm, y, z, y, z == 0, bwp, bwq, bwd, bwa, alpha)
                _cells_along_x(T, 3, z, y, zp, y, z == Z - 1, fwp, fwq, fwd, fwa, alpha)
                # q[0]: (z-1/2, y-1/2), q[1]: (z+1/2, y-1/2), q[2]: (z-1/2, y+1/2), q[3]: (z+1/2, y+1/2)
                _cells_zy(T, zm, y, z, yp, z == 0 or y == Y - 1, q[2, 0], q[2, 1], q[2, 2], q[2, 3], alpha)
                _cells_zy(T, z, y, zp, yp, z == Z - 1 or y == Y - 1, q[3, 0], q[3, 1], q[3, 2], q[3, 3], alpha)
            for c in range(C):
                for x in range(X):
                    acc[x] = 0.0
                _plane_x_update(u, c, z, y, ym, yp, X, acc, nwp, nwq, nwd, nwa, swp, swq, swd, swa, 0)
                if three:
                    _plane_x_update(u, c, z, y, zm, zp, X, acc, bwp, bwq, bwd, bwa, fwp, fwq, fwd, fwa, 1)
                    for x in range(X):
                        uc = u[c, z, y, x]
                        dzm = u[c, zm, y, x] - uc
                        dzp = u[c, zp, y, x] - uc
                        dym = u[c, z, ym, x] - uc
                        dyp = u[c, z, yp, x] - uc
                        # P = z (index 0 of q[.]), Q = y (index 1); d main diagonal, a anti
                        a = q[3, 1, x] * dyp + q[3, 0, x] * dzp + q[3, 2, x] * (u[c, zp, yp, x] - uc)
                        a += q[1, 1, x] * dym + q[1, 0, x] * dzp + q[1, 3, x] * (u[c, zp, ym, x] - uc)
                        a += q[2, 1, x] * dyp + q[2, 0, x] * dzm + q[2, 3, x] * (u[c, zm, yp, x] - uc)
                        a += q[0, 1, x] * dym + q[0, 0, x] * dzm + q[0, 2, x] * (u[c, zm, ym, x] - uc)
                        acc[x] += a
                for x in range(X):
                    out[c, z, y, x] = u[c, z, y, x] + tau * acc[x]
            nwp, swp = swp, nwp
            nwq, swq = swq, nwq
            nwd, swd = swd, nwd
            nwa, swa = swa, nwa
            if three:
                for i in range(4):
                    for x in range(X):
                        q[0, i, x] = q[2, i, x]
                        q[1, i, x] = q[3, i, x]


@jit(parallel=True)
def tensor_radius(T):
    """max over voxels of the summed traces A_P + A_Q of the cells around each voxel.

    The spectral radius of the discrete operator is at most this (each cell's
    form has largest eigenvalue <= A_P + A_Q), so explicit steps
    ``tau <= 2 / radius`` are stable in the Euclidean norm and, where all
    weights are >= 0, obey the maximum principle (centre weight >= 0).
    """
    P, Z, Y, X = T.shape
    best = np.zeros(Z * Y, dtype=np.float64)
    for line in numba.prange(Z * Y):
        z = line // Y
        y = line - z * Y
        zs = (max(z - 1, 0), z, min(z + 1, Z - 1))
        ys = (max(y - 1, 0), y, min(y + 1, Y - 1))
        m = 0.0
        for x in range(X):
            xs = (max(x - 1, 0), x, min(x + 1, X - 1))
            r = 0.0
            # each of the four cells of a plane around the voxel averages its
            # corners: weights 1 (centre), 1/2 (edge neighbours), 1/4 (diagonal)
            for i in range(3):
                for j in range(3):
                    w = (1.0 if i == 1 else 0.5) * (1.0 if j == 1 else 0.5)
                    r += w * (T[0, z, ys[i], xs[j]] + T[1, z, ys[i], xs[j]])
                    if P == 9:
                        r += w * (T[3, zs[i], y, xs[j]] + T[4, zs[i], y, xs[j]])
                        r += w * (T[6, zs[i], ys[j], x] + T[7, zs[i], ys[j], x])
            m = max(m, r)
        best[line] = m
    return best.max()


@jit(parallel=True)
def structure_products(v, J, ihalf):
    """J = sum_c grad v_c grad v_c^T per voxel (central differences, reflecting).

    ``J`` is (3, Z, Y, X) for Z == 1, components (yy, xx, xy), or (>= 6, Z,
    Y, X), components (zz, yy, xx, yz, xz, xy); ``ihalf`` = 1/(2 h) per
    canonical axis.
    """
    C, Z, Y, X = v.shape
    three = J.shape[0] >= 6
    for line in numba.prange(Z * Y):
        z, y, zm, zp, ym, yp = _line(line, Z, Y)
        for x in range(X):
            xm = max(x - 1, 0)
            xp = min(x + 1, X - 1)
            jzz = 0.0; jyy = 0.0; jxx = 0.0; jyz = 0.0; jxz = 0.0; jxy = 0.0
            for c in range(C):
                gx = (v[c, z, y, xp] - v[c, z, y, xm]) * ihalf[2]
                gy = (v[c, z, yp, x] - v[c, z, ym, x]) * ihalf[1]
                jxx += gx * gx
                jyy += gy * gy
                jxy += gx * gy
                if three:
                    gz = (v[c, zp, y, x] - v[c, zm, y, x]) * ihalf[0]
                    jzz += gz * gz
                    jyz += gy * gz
                    jxz += gx * gz
            if three:
                J[0, z, y, x] = jzz
                J[1, z, y, x] = jyy
                J[2, z, y, x] = jxx
                J[3, z, y, x] = jyz
                J[4, z, y, x] = jxz
                J[5, z, y, x] = jxy
            else:
                J[0, z, y, x] = jyy
                J[1, z, y, x] = jxx
                J[2, z, y, x] = jxy


@jit
def _g_scalar(s, kind, lam):
    """The diffusivity g(s) of ``apply_diffusivity`` for one value."""
    if kind == 1:
        return lam / (lam + s)
    if kind == 0:
        return np.exp(-s / lam)
    if kind == 2:
        return np.sqrt(lam / (lam + s))
    if kind == 3:
        two = lam + lam
        r = (two - s) / two
        return r * r if s < two else 0.0
    r = s / lam
    if r > 0:
        r2 = r * r
        return 1.0 - np.exp(-WEICKERT_C4 / (r2 * r2))
    return 1.0


@jit
def _ced_flow(gap, alpha, cc):
    """CED eigenvalue along the flow: alpha + (1 - alpha) exp(-C / gap**2)."""
    if gap <= 0.0:
        return alpha
    return alpha + (1.0 - alpha) * np.exp(-cc / (gap * gap))


@jit
def eigh2(a, b, c):
    """Eigen-decomposition of [[a, b], [b, c]]: (mu1 >= mu2, (v1y, v1x)) with v1 for mu1.

    Closed form (principal-axis transform); isotropic matrices return v1 = (1, 0).
    """
    d = np.sqrt((a - c) * (a - c) + 4.0 * b * b)
    mu1 = 0.5 * (a + c + d)
    mu2 = 0.5 * (a + c - d)
    if d == 0.0:
        return mu1, mu2, 1.0, 0.0
    if a > c:
        p = a - c + d
        q = 2.0 * b
    else:
        p = 2.0 * b
        q = c - a + d
    n = np.sqrt(p * p + q * q)
    return mu1, mu2, p / n, q / n


@jit
def eigh3(m, w, V):
    """Symmetric 3x3 eigen-decomposition by cyclic Jacobi rotations, in place.

    ``m`` (3, 3) float64 is destroyed; eigenvalues go to ``w`` (ascending) and
    unit eigenvectors to the columns of ``V``.  Jacobi rotations are
    backward stable and need no special case for repeated eigenvalues; the
    sweeps stop when the off-diagonal part is below 1e-15 of the norm
    (at most 12 sweeps, convergence is quadratic).
    """
    for i in range(3):
        for j in range(3):
            V[i, j] = 1.0 if i == j else 0.0
    scale = 0.0
    for i in range(3):
        for j in range(3):
            scale += m[i, j] * m[i, j]
    for sweep in range(12):
        off = m[0, 1] * m[0, 1] + m[0, 2] * m[0, 2] + m[1, 2] * m[1, 2]
        if off <= 1e-30 * scale or off == 0.0:
            break
        for r in range(3):
            p = 0 if r < 2 else 1
            q = 1 if r == 0 else 2
            apq = m[p, q]
            if apq == 0.0:
                continue
            theta = (m[q, q] - m[p, p]) / (2.0 * apq)
            if abs(theta) > 1e150:
                t = 0.5 / theta
            else:
                t = 1.0 / (abs(theta) + np.sqrt(theta * theta + 1.0))
                if theta < 0.0:
                    t = -t
            cs = 1.0 / np.sqrt(t * t + 1.0)
            sn = t * cs
            for k in range(3):
                mkp = m[k, p]
                mkq = m[k, q]
                m[k, p] = cs * mkp - sn * mkq
                m[k, q] = sn * mkp + cs * mkq
            for k in range(3):
                mpk = m[p, k]
                mqk = m[q, k]
                m[p, k] = cs * mpk - sn * mqk
                m[q, k] = sn * mpk + cs * mqk
            for k in range(3):
                vkp = V[k, p]
                vkq = V[k, q]
                V[k, p] = cs * vkp - sn * vkq
                V[k, q] = sn * vkp + cs * vkq
    for i in range(3):
        w[i] = m[i, i]
    # sort ascending (three elements: insertion sort, columns follow)
    for i in range(1, 3):
        j = i
        while j > 0 and w[j - 1] > w[j]:
            tmp = w[j - 1]
            w[j - 1] = w[j]
            w[j] = tmp
            for k in range(3):
                tmp = V[k, j - 1]
                V[k, j - 1] = V[k, j]
                V[k, j] = tmp
            j -= 1


@jit
def _split(d1, d2, eps):
    """Share of a diagonal entry for the plane whose off-diagonal is d1 (the other has d2).

    ``(|d1| + eps) / (|d1| + |d2| + 2 eps)``: proportional to the
    off-diagonal entries, 1/2 where both vanish, and continuous in D
    (``eps`` > 0 is a small fraction of the trace).
    """
    return (abs(d1) + eps) / (abs(d1) + abs(d2) + 2.0 * eps)


@jit
def _store_plane(T, o, z, y, x, ap, aq, b):
    """Write a plane tensor, with |B| limited to sqrt(A_P A_Q) (semidefinite)."""
    lim = np.sqrt(max(ap * aq, 0.0))
    if b > lim:
        b = lim
    elif b < -lim:
        b = -lim
    T[o, z, y, x] = ap
    T[o + 1, z, y, x] = aq
    T[o + 2, z, y, x] = b


@jit(parallel=True)
def diffusion_tensor(J, T, mode, rank1, kind, lam, alpha, cc, h):
    """Plane tensors T of the diffusion tensor built from the structure tensor J.

    J and T may be the same buffer (each voxel reads J before writing T).

    Parameters
    ----------
    J : (3 | >= 6, Z, Y, X) structure tensor (layout of structure_products)
    T : (3 | 9, Z, Y, X) output plane tensors (see the section comment)
    mode : 0 EED (eigenvalues g(mu_i)), 1 CED (alpha, and along the
        eigenvector of the smallest mu: alpha + (1 - alpha) exp(-C / (mu_max - mu_min)**2))
    rank1 : J is grad v grad v^T (one channel, no integration): closed form
    kind, lam : diffusivity code and kappa**2 (EED)
    alpha, cc : CED parameters
    h : (3,) float64 spacing of the canonical (Z, Y, X) axes
    """
    P, Z, Y, X = T.shape
    three = P == 9
    for line in numba.prange(Z * Y):
        z = line // Y
        y = line - z * Y
        m = np.empty((3, 3))
        w = np.empty(3)
        V = np.empty((3, 3))
        for x in range(X):
            if not three:
                a = float(J[0, z, y, x])  # yy
                c = float(J[1, z, y, x])  # xx
                b = float(J[2, z, y, x])  # xy
                mu1, mu2, v1y, v1x = eigh2(a, b, c)
                if mode == 0:
                    l1 = _g_scalar(mu1, kind, lam)
                    l2 = _g_scalar(mu2, kind, lam) if not rank1 else 1.0
                else:
                    l1 = alpha
                    l2 = _ced_flow(mu1 - mu2, alpha, cc)
                dyy = l2 + (l1 - l2) * v1y * v1y
                dxx = l2 + (l1 - l2) * v1x * v1x
                dxy = (l1 - l2) * v1y * v1x
                _store_plane(T, 0, z, y, x, dyy / (h[1] * h[1]), dxx / (h[2] * h[2]), dxy / (h[1] * h[2]))
                continue
            jzz = float(J[0, z, y, x]); jyy = float(J[1, z, y, x]); jxx = float(J[2, z, y, x])
            jyz = float(J[3, z, y, x]); jxz = float(J[4, z, y, x]); jxy = float(J[5, z, y, x])
            if rank1 and mode == 0:
                # J = g g^T: D = I - (1 - g(|g|^2)) n n^T, n = g / |g|
                s = jzz + jyy + jxx
                if s > 0.0:
                    k = (1.0 - _g_scalar(s, kind, lam)) / s
                else:
                    k = 0.0
                dzz = 1.0 - k * jzz; dyy = 1.0 - k * jyy; dxx = 1.0 - k * jxx
                dyz = -k * jyz; dxz = -k * jxz; dxy = -k * jxy
            else:
                m[0, 0] = jzz; m[1, 1] = jyy; m[2, 2] = jxx
                m[0, 1] = jyz; m[1, 0] = jyz
                m[0, 2] = jxz; m[2, 0] = jxz
                m[1, 2] = jxy; m[2, 1] = jxy
                eigh3(m, w, V)
                if mode == 0:
                    l0 = _g_scalar(max(w[0], 0.0), kind, lam)
                    l1 = _g_scalar(max(w[1], 0.0), kind, lam)
                    l2 = _g_scalar(max(w[2], 0.0), kind, lam)
                else:
                    l2 = alpha
                    l1 = alpha
                    l0 = _ced_flow(w[2] - w[0], alpha, cc)
                dzz = l0 * V[0, 0] * V[0, 0] + l1 * V[0, 1] * V[0, 1] + l2 * V[0, 2] * V[0, 2]
                dyy = l0 * V[1, 0] * V[1, 0] + l1 * V[1, 1] * V[1, 1] + l2 * V[1, 2] * V[1, 2]
                dxx = l0 * V[2, 0] * V[2, 0] + l1 * V[2, 1] * V[2, 1] + l2 * V[2, 2] * V[2, 2]
                dyz = l0 * V[0, 0] * V[1, 0] + l1 * V[0, 1] * V[1, 1] + l2 * V[0, 2] * V[1, 2]
                dxz = l0 * V[0, 0] * V[2, 0] + l1 * V[0, 1] * V[2, 1] + l2 * V[0, 2] * V[2, 2]
                dxy = l0 * V[1, 0] * V[2, 0] + l1 * V[1, 1] * V[2, 1] + l2 * V[1, 2] * V[2, 2]
            iz = 1.0 / (h[0] * h[0]); iy = 1.0 / (h[1] * h[1]); ix = 1.0 / (h[2] * h[2])
            eps = 1e-3 * (dzz + dyy + dxx) + 1e-300
            sx = _split(dxy, dxz, eps)  # share of D_xx for the (y, x) plane, rest to (z, x)
            sy = _split(dxy, dyz, eps)  # share of D_yy for (y, x), rest to (z, y)
            sz = _split(dxz, dyz, eps)  # share of D_zz for (z, x), rest to (z, y)
            _store_plane(T, 0, z, y, x, sy * dyy * iy, sx * dxx * ix, dxy / (h[1] * h[2]))
            _store_plane(T, 3, z, y, x, sz * dzz * iz, (1.0 - sx) * dxx * ix, dxz / (h[0] * h[2]))
            _store_plane(T, 6, z, y, x, (1.0 - sz) * dzz * iz, (1.0 - sy) * dyy * iy, dyz / (h[0] * h[1]))


# ---------------------------------------------------------------- Gaussian --


@jit
def _reflect(j, n):
    """scipy.ndimage's "reflect" (d c b a | a b c d | d c b a) index into 0..n-1."""
    j = j % (2 * n)
    return j if j < n else 2 * n - 1 - j


@jit(parallel=True)
def _correlate_last(src, dst, w):
    """dst[r, :] = src[r, :] correlated with the odd kernel w along the last axis (reflect).

    Each row is first copied into a buffer extended by ``r`` reflected
    samples per side, so that every output, borders included, is one
    vectorised axpy per tap over row slices (computing the border taps
    through :func:`_reflect` cost an integer modulo each, O(r^2) per row:
    that was most of the time at sigma >= 2).
    """
    R, n = src.shape
    r = (w.shape[0] - 1) // 2
    for row in numba.prange(R):
        s = src[row]
        d = dst[row]
        buf = np.empty(n + 2 * r, dtype=src.dtype)
        for j in range(r):
            buf[j] = s[_reflect(j - r, n)]
            buf[n + r + j] = s[_reflect(n + j, n)]
        mid = buf[r:r + n]
        for j in range(n):
            mid[j] = s[j]
        w0 = w[0]
        for j in range(n):
            d[j] = w0 * buf[j]
        for k in range(1, 2 * r + 1):
            bk = buf[k:k + n]
            wk = w[k]
            for j in range(n):
                d[j] += wk * bk[j]


@jit(parallel=True)
def _correlate_middle(src, dst, w):
    """dst[p, i, :] = sum_k w_k src[p, reflect(i + k - r), :]: the kernel along the middle axis."""
    P, n, Q = src.shape
    r = (w.shape[0] - 1) // 2
    for job in numba.prange(P * n):
        p = job // n
        i = job - p * n
        d = dst[p, i]
        first = src[p, _reflect(i - r, n)]
        w0 = w[0]
        for q in range(Q):
            d[q] = w0 * first[q]
        for k in range(1, 2 * r + 1):
            s = src[p, _reflect(i + k - r, n)]
            wk = w[k]
            for q in range(Q):
                d[q] += wk * s[q]


def gaussian_kernel(sigma, truncate):
    """scipy.ndimage's sampled, normalised Gaussian (radius ``int(truncate * sigma + 0.5)``)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-0.5 * (x / float(sigma)) ** 2)
    return w / w.sum()


def gaussian_filter(u, sigma, *, truncate=4.0, output=None, work=None):
    """Separable Gaussian filter, ``scipy.ndimage.gaussian_filter(mode="reflect")``, 1.5-5x faster.

    ``sigma``: one standard deviation (pixels) per axis of ``u``, 0 = not
    filtered.  The same sampled kernel as scipy's, applied as one
    vectorised axpy per tap (scipy's ``correlate1d`` is scalar); float32
    data are filtered in float32 (scipy: in float64, then rounded).
    ``output`` may be ``u`` itself.  ``work``: an optional scratch array
    of ``u``'s shape and dtype (neither ``u`` nor ``output``) used as the
    one temporary instead of allocating it.  Returns the filtered array.
    """
    u = np.ascontiguousarray(u)
    if u.dtype not in (np.float32, np.float64):
        u = u.astype(np.float64)
    if output is not None and (output.dtype != u.dtype or not output.flags.c_contiguous):
        np.copyto(output, gaussian_filter(u, sigma, truncate=truncate), casting="unsafe")
        return output
    out = np.empty_like(u) if output is None else output
    axes = [a for a, s in enumerate(sigma) if s > 0 and u.shape[a] > 1]
    if not axes:
        if out is not u:
            np.copyto(out, u)
        return out
    # ping-pong between ``out`` and one temporary, so that the last pass lands
    # in ``out``: with an odd number of passes the first writes into ``out``
    # (two temporaries for three passes before: one image-sized buffer more).
    # In place (``out`` is ``u``) the first pass must not write into ``u``.
    # in place the first pass goes to tmp (an odd count then ends there: copied below)
    first_out = len(axes) % 2 == 1 and out is not u
    tmp = None
    if len(axes) > 1 or not first_out:
        usable = (work is not None and work.shape == u.shape and work.dtype == u.dtype
                  and work.flags.c_contiguous and work is not u and work is not out)
        tmp = work if usable else np.empty_like(u)
    src = u
    for k, a in enumerate(axes):
        dst = out if (k % 2 == 0) == first_out else tmp
        w = gaussian_kernel(sigma[a], truncate).astype(u.dtype)
        pre = int(np.prod(u.shape[:a], dtype=np.int64))
        post = int(np.prod(u.shape[a + 1:], dtype=np.int64))
        n = u.shape[a]
        if post == 1:
            _correlate_last(src.reshape(pre, n), dst.reshape(pre, n), w)
        else:
            _correlate_middle(src.reshape(pre, n, post), dst.reshape(pre, n, post), w)
        src = dst
    if src is not out:
        np.copyto(out, src)
    return out


# ------------------------------------------------- wavelet noise estimate --


@jit(parallel=True)
def _dwt_hi_axis(src, dst, f):
    """dst[p, k, q] = sum_j f[j] src[p, 2k + 1 - j, q]: one axis of a db-wavelet detail band.

    PyWavelets' "symmetric" extension is scipy's "reflect" (half-sample
    symmetric), so :func:`_reflect` serves both.
    """
    P, n, Q = src.shape
    K = dst.shape[1]
    L = f.shape[0]
    for job in numba.prange(P * K):
        p = job // K
        k = job - p * K
        d = dst[p, k]
        s = src[p, _reflect(2 * k + 1, n)]
        f0 = f[0]
        for q in range(Q):
            d[q] = f0 * s[q]
        for j in range(1, L):
            s = src[p, _reflect(2 * k + 1 - j, n)]
            fj = f[j]
            for q in range(Q):
                d[q] += fj * s[q]


def dwt_detail(x, f):
    """The finest all-details subband of a separable wavelet transform (PyWavelets' ``dwtn``, "symmetric").

    ``f``: the decomposition high-pass filter.  Along each axis,
    ``y[k] = sum_j f[j] x[2k + 1 - j]`` for ``k < (n + len(f) - 1) // 2``,
    PyWavelets' downsampled convolution.  float64.
    """
    y = np.ascontiguousarray(x, dtype=np.float64)
    f = np.ascontiguousarray(f, dtype=np.float64)
    for ax in range(y.ndim):
        n = y.shape[ax]
        K = (n + f.size - 1) // 2
        pre = int(np.prod(y.shape[:ax], dtype=np.int64))
        post = int(np.prod(y.shape[ax + 1:], dtype=np.int64))
        out = np.empty(y.shape[:ax] + (K,) + y.shape[ax + 1:])
        _dwt_hi_axis(y.reshape(pre, n, post), out.reshape(pre, K, post), f)
        y = out
    return y


# ------------------------------------------------------ SURE (denoise) --


@jit(parallel=True)
def sure_sums(y, u, v, b, region):
    """(sum (u - y)**2, sum b (v - u), count) over flat arrays, accumulated in float64.

    The data of Monte-Carlo SURE (see :func:`imdiffuse.denoise`): ``u`` is
    the denoiser's output for ``y``, ``v`` its output for ``y + eps b``.
    ``region``: bool mask of the values summed, or size 0 for all.  Rows of
    4096 values run in parallel, each summed in order (the result does not
    depend on the number of threads).
    """
    n = y.shape[0]
    every = region.shape[0] == 0
    rows = (n + 4095) // 4096
    res = np.zeros(rows)
    div = np.zeros(rows)
    cnt = np.zeros(rows, dtype=np.int64)
    for r in numba.prange(rows):
        s = 0.0
        d = 0.0
        c = 0
        for i in range(r * 4096, min(n, r * 4096 + 4096)):
            if every or region[i]:
                e = np.float64(u[i]) - np.float64(y[i])
                s += e * e
                d += np.float64(b[i]) * (np.float64(v[i]) - np.float64(u[i]))
                c += 1
        res[r] = s
        div[r] = d
        cnt[r] = c
    return res.sum(), div.sum(), cnt.sum()
