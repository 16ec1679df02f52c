"""Reaction-diffusion texture synthesis (Gray-Scott): invariants, NumPy reference, pattern classes, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import measure

import imdiffuse as imd
from imdiffuse import texture as tx

# ---------------------------------------------------------------- helpers --


def reference(shape, u0, v0, n_steps, *, F, k, Du=tx.DU, Dv=tx.DV, spacing=None, periodic=True, t=None):
    """The same run with the vectorised NumPy implementation (float64), steps as reaction_diffusion picks."""
    ndim = len(shape)
    spacing = tx.parse_spacing(spacing, ndim)
    periodic = tx.parse_periodic(periodic, ndim)
    s = sum(1.0 / h ** 2 for h in spacing)
    limit = min(2.0 / (4.0 * np.max(Du) * s + 1.0 + np.max(F)), 2.0 / (4.0 * np.max(Dv) * s + np.max(F + k)))
    dt = limit if t is None else t / n_steps
    return tx._numpy_steps(u0, v0, n_steps, dt, spacing, periodic, F, k, Du, Dv)


def random_state(shape, seed=0):
    rng = np.random.default_rng(seed)
    return 1.0 - rng.uniform(0.0, 0.5, shape), rng.uniform(0.0, 0.3, shape)


def dominant_wavelength(v):
    """Wavelength (points) of the strongest ring of the radially binned power spectrum of a square field."""
    n = v.shape[0]
    power = np.abs(np.fft.fftn(v - v.mean())) ** 2
    freq = np.meshgrid(*[np.fft.fftfreq(m) for m in v.shape], indexing="ij")
    radius = np.rint(np.sqrt(sum(f * f for f in freq)) * n).astype(int)
    ring = np.bincount(radius.ravel(), power.ravel())[: n // 2]
    ring[0] = 0.0
    return n / np.argmax(ring)


def blobs(v):
    """(mask, labels, props) of v above the midpoint of its range (8-connected, as seen on a torus-free image)."""
    mask = v > 0.5 * (float(v.min()) + float(v.max()))
    labels = measure.label(mask, connectivity=2)
    return mask, labels, measure.regionprops(labels)


# ------------------------------------------------------------- invariants --


@pytest.mark.parametrize("shape", [(24, 32), (6, 8, 10)])
@pytest.mark.parametrize("periodic", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_homogeneous_steady_state_is_kept_exactly(shape, periodic, dtype):
    out = imd.reaction_diffusion(shape, preset="mitosis", init=(np.ones(shape), np.zeros(shape)), t=200,
                                 periodic=periodic, dtype=dtype, field="both")
    u, v = out
    assert u.dtype == dtype and v.dtype == dtype
    assert np.array_equal(u, np.ones(shape)) and np.array_equal(v, np.zeros(shape))
    # spatially varying coefficients keep it too
    rng = np.random.default_rng(1)
    u, v = imd.reaction_diffusion(shape, F=rng.uniform(0.02, 0.06, shape), k=rng.uniform(0.05, 0.06, shape),
                                  Du=rng.uniform(0.1, 0.2, shape), Dv=0.05, init=np.zeros(shape), t=50,
                                  periodic=periodic, dtype=dtype, field="both")
    assert np.array_equal(u, np.ones(shape)) and np.array_equal(v, np.zeros(shape))


@pytest.mark.parametrize("shape, shift, t", [((40, 56), (7, -13), 500), ((12, 16, 20), (3, 5, -4), 60)])
def test_periodic_wrap_commutes_with_translation(shape, shift, t):
    u0, v0 = imd.reaction_diffusion(shape, preset="spots", t=1e-9, seed=2, field="both", dtype=np.float64)
    axes = tuple(range(len(shape)))
    kw = dict(preset="spots", t=t, periodic=True, dtype=np.float64, field="both")
    u, v = imd.reaction_diffusion(shape, init=(u0, v0), **kw)
    us, vs = imd.reaction_diffusion(shape, init=(np.roll(u0, shift, axes), np.roll(v0, shift, axes)), **kw)
    np.testing.assert_allclose(us, np.roll(u, shift, axes), rtol=0, atol=1e-13)
    np.testing.assert_allclose(vs, np.roll(v, shift, axes), rtol=0, atol=1e-13)
    # reflecting boundaries do not commute with a wrap-around shift
    u, v = imd.reaction_diffusion(shape, init=(u0, v0), **{**kw, "periodic": False})
    us, vs = imd.reaction_diffusion(shape, init=(np.roll(u0, shift, axes), np.roll(v0, shift, axes)),
                                    **{**kw, "periodic": False})
    assert np.abs(v - v0).max() > 0.05 and np.abs(vs - np.roll(v, shift, axes)).max() > 1e-3


def test_deterministic_for_a_seed():
    a = imd.reaction_diffusion((48, 48), preset="coral", t=500, seed=7)
    b = imd.reaction_diffusion((48, 48), preset="coral", t=500, seed=7)
    c = imd.reaction_diffusion((48, 48), preset="coral", t=500, seed=8)
    gen = imd.reaction_diffusion((48, 48), preset="coral", t=500, seed=np.random.default_rng(7))
    assert np.array_equal(a, b) and np.array_equal(a, gen)
    assert np.abs(a - c).max() > 0.05


def test_initial_conditions():
    shape = (60, 50)
    # no time: t must be > 0, so take one tiny step and look at the start
    u, v = imd.reaction_diffusion(shape, preset="spots", t=1e-9, seed=0, field="both", dtype=np.float64)
    seeded = v > 0.2
    assert 0.02 < seeded.mean() < 0.2  # patches of v = 1/4 over a few % of the plane
    assert np.allclose(u[seeded], 0.5, atol=0.011) and np.allclose(u[~seeded], 1.0, atol=0.011)
    u, v = imd.reaction_diffusion(shape, preset="spots", init="center", t=1e-9, seed=0, field="both")
    seeded = v > 0.2
    rows, cols = np.nonzero(seeded)
    assert seeded.sum() == 6 * 5 and rows.mean() == pytest.approx(29.5) and cols.mean() == pytest.approx(25.0)


# ------------------------------------------------------ NumPy reference --


@pytest.mark.parametrize("shape, periodic, spacing", [
    ((33, 40), True, None),
    ((33, 40), False, (0.9, 1.2)),
    ((33, 40), (True, False), 1.0),
    ((10, 12, 14), True, None),
    ((10, 12, 14), (False, True, False), (1.5, 1.0, 1.1)),
])
def test_agrees_with_numpy_reference(shape, periodic, spacing):
    u0, v0 = random_state(shape, seed=3)
    F, k = 0.0367, 0.0649
    u, v = imd.reaction_diffusion(shape, F=F, k=k, init=(u0, v0), n_steps=25, periodic=periodic, spacing=spacing,
                                  dtype=np.float64, field="both")
    ur, vr = reference(shape, u0, v0, 25, F=F, k=k, spacing=spacing, periodic=periodic)
    assert np.abs(u - ur).max() < 1e-12 and np.abs(v - vr).max() < 1e-12
    assert np.abs(v - v0).max() > 1e-3  # something happened


@pytest.mark.parametrize("shape", [(30, 36), (8, 10, 12)])
def test_spatially_varying_coefficients_agree_with_numpy(shape):
    rng = np.random.default_rng(4)
    u0, v0 = random_state(shape, seed=5)
    F = rng.uniform(0.02, 0.06, shape)
    k = rng.uniform(0.05, 0.065, shape)
    Du = rng.uniform(0.1, 0.2, shape)
    Dv = rng.uniform(0.04, 0.1, shape)
    for periodic in (True, False):
        u, v = imd.reaction_diffusion(shape, F=F, k=k, Du=Du, Dv=Dv, init=(u0, v0), n_steps=20, periodic=periodic,
                                      dtype=np.float64, field="both")
        ur, vr = reference(shape, u0, v0, 20, F=F, k=k, Du=Du, Dv=Dv, periodic=periodic)
        assert np.abs(u - ur).max() < 1e-12 and np.abs(v - vr).max() < 1e-12


def test_float32_tracks_float64():
    a = imd.reaction_diffusion((48, 48), preset="spots", t=200, seed=1)
    b = imd.reaction_diffusion((48, 48), preset="spots", t=200, seed=1, dtype=np.float64)
    assert a.dtype == np.float32 and b.dtype == np.float64
    assert np.abs(a - b).max() < 1e-4


def test_pearson_units_equal_grid_units():
    """spacing = 2.5 / 256 with Du = 2e-5, Dv = 1e-5 is the preset in grid units (Pearson's setting)."""
    a = imd.reaction_diffusion((32, 32), preset="spots", t=100, seed=0, dtype=np.float64)
    b = imd.reaction_diffusion((32, 32), preset="spots", t=100, seed=0, dtype=np.float64, spacing=2.5 / 256,
                               Du=2e-5, Dv=1e-5)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_time_step_rule_and_callback():
    seen = []
    u0, v0 = random_state((20, 20), seed=6)
    imd.reaction_diffusion((20, 20), preset="spots", init=(u0, v0), t=500, callback=seen.append)
    assert 50 <= len(seen) <= 101 and seen[-1] == pytest.approx(500.0) and np.all(np.diff(seen) > 0)
    # the automatic step: min(2 / (4 Du sum h^-2 + 1 + F), 2 / (4 Dv sum h^-2 + F + k)), here u's
    F = tx.PRESETS["spots"][0]
    dt = 2.0 / (4.0 * tx.DU * 2 + 1.0 + F)
    n = int(np.ceil(500 / dt))
    a = imd.reaction_diffusion((20, 20), preset="spots", init=(u0, v0), t=500, dtype=np.float64)
    b = imd.reaction_diffusion((20, 20), preset="spots", init=(u0, v0), t=500, n_steps=n, dtype=np.float64)
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match=r"n_steps=.*above the stable limit"):
        imd.reaction_diffusion((20, 20), preset="spots", init=(u0, v0), t=500, n_steps=n - 1)
    # in 3-D with a fine grid, diffusion sets the step
    with pytest.raises(ValueError, match="above the stable limit"):
        imd.reaction_diffusion((4, 4, 4), preset="spots", t=10, n_steps=10, spacing=0.5)
    # n_steps alone: that many steps of the largest stable step
    seen = []
    imd.reaction_diffusion((8, 8), preset="spots", n_steps=7, callback=seen.append)
    assert seen[-1] == pytest.approx(7 * dt)


# ------------------------------------------------------- pattern classes --


@pytest.mark.parametrize("preset", ["spots", "mitosis", "solitons"])
def test_spot_presets_make_round_spots(preset):
    v = imd.reaction_diffusion((128, 128), preset=preset, seed=3)
    mask, labels, props = blobs(v)
    assert 40 <= labels.max() <= 140  # a plane full of spots, about 12-16 points apart
    assert measure.euler_number(mask, connectivity=2) == labels.max()  # no holes
    assert np.median([p.eccentricity for p in props]) < 0.6  # round
    assert 0.1 < mask.mean() < 0.35
    assert 10 <= dominant_wavelength(v) <= 20


@pytest.mark.parametrize("preset", ["mazes", "coral"])
def test_stripe_presets_make_labyrinths(preset):
    v = imd.reaction_diffusion((128, 128), preset=preset, seed=3)
    mask, labels, props = blobs(v)
    assert labels.max() <= 15  # a few long connected stripes, not spots
    assert 0.35 < mask.mean() < 0.65
    big = [p for p in props if p.area > 100]
    assert big and np.median([p.eccentricity for p in big]) > 0.75
    assert 10 <= dominant_wavelength(v) <= 18


def test_worms_are_elongated_spots():
    v = imd.reaction_diffusion((128, 128), preset="worms", seed=3)
    mask, labels, props = blobs(v)
    assert 15 <= labels.max() <= 60
    assert np.median([p.eccentricity for p in props]) > 0.8


def test_holes_are_the_negative_of_spots():
    v = imd.reaction_diffusion((128, 128), preset="holes", seed=3)
    mask, labels, _ = blobs(v)
    assert mask.mean() > 0.6  # v high almost everywhere
    assert measure.euler_number(mask, connectivity=2) < -20  # ... pierced by many holes
    _, hole_labels, hole_props = blobs(-v)
    assert np.median([p.eccentricity for p in hole_props]) < 0.7


@pytest.mark.parametrize("preset, moving", [("spots", False), ("mazes", False), ("waves", True), ("chaos", True)])
def test_dynamic_presets_keep_moving(preset, moving):
    """waves and chaos never settle; spots and mazes are stationary once formed."""
    shape = (96, 96)
    u, v = imd.reaction_diffusion(shape, preset=preset, seed=5, t=8000, field="both", dtype=np.float64)
    later = imd.reaction_diffusion(shape, preset=preset, init=(u, v), t=400, dtype=np.float64)
    assert v.max() > 0.2  # a pattern, not the trivial state
    change = np.abs(later - v).mean() / v.std()
    assert (change > 0.5) if moving else (change < 0.1)  # measured: >= 1 and <= 0.025


def test_three_d_spots():
    v = imd.reaction_diffusion((40, 40, 40), preset="spots", seed=1, t=3000)
    assert v.shape == (40, 40, 40) and v.dtype == np.float32
    mask = v > 0.5 * (float(v.min()) + float(v.max()))
    labels = measure.label(mask)
    assert 0.05 < mask.mean() < 0.4 and labels.max() >= 10  # separate blobs in the volume


def test_brightness_guided_spot_density():
    """F and k as arrays: the left half grows spots, the right half stays empty."""
    shape = (64, 96)
    F = np.full(shape, 0.035)
    k = np.full(shape, 0.065)
    F[:, 48:] = 0.01  # low feed and high kill: v dies out (u = 1, v = 0 is the only stable state)
    k[:, 48:] = 0.07
    v = imd.reaction_diffusion(shape, F=F, k=k, seed=2, t=6000, periodic=False)
    assert v[:, :40].max() > 0.25 and v[:, :40].std() > 0.05
    assert v[:, 60:].max() < 0.01


@settings(max_examples=25, deadline=None)
@given(F=st.floats(0.0, 0.1), k=st.floats(0.03, 0.07), n=st.integers(3, 24), three=st.booleans(),
       t=st.floats(1.0, 1500.0), seed=st.integers(0, 2**32 - 1), periodic=st.booleans())
def test_automatic_step_keeps_any_regime_bounded(F, k, n, three, t, seed, periodic):
    """Anywhere in the pattern-forming part of the (F, k) plane the automatic step stays stable and bounded."""
    shape = (min(n, 10),) * 3 if three else (n, n + 1)
    u, v = imd.reaction_diffusion(shape, F=F, k=k, t=t, seed=seed, periodic=periodic, field="both",
                                  dtype=np.float64)
    assert np.isfinite(u).all() and np.isfinite(v).all()
    assert u.min() >= -1e-9 and u.max() <= 1.0 + 0.011  # 0 <= u <= 1 (+ the initial noise of 0.01)
    assert v.min() >= -1e-9 and v.max() <= 1.0


# ----------------------------------------------------- anisotropic diffusion --


@pytest.mark.parametrize("periodic", [True, False, (False, True)])
def test_identity_tensor_is_the_isotropic_model(periodic):
    shape = (30, 34)
    u0, v0 = random_state(shape, seed=8)
    eye = np.broadcast_to(np.eye(2), shape + (2, 2))
    # the same steps (the tensor path's automatic step is a little shorter)
    kw = dict(preset="mitosis", init=(u0, v0), t=9.0, n_steps=15, periodic=periodic, dtype=np.float64, field="both")
    u, v = imd.reaction_diffusion(shape, **kw)
    ut, vt = imd.reaction_diffusion(shape, tensor=eye, **kw)
    assert np.abs(u - ut).max() < 1e-12 and np.abs(v - vt).max() < 1e-12


def test_tensor_orients_stripes_along_fast_diffusion():
    shape = (64, 64)
    D = np.zeros(shape + (2, 2))
    D[..., 0, 0] = 1.0  # fast along y (rows)
    D[..., 1, 1] = 0.25
    v = imd.reaction_diffusion(shape, preset="mazes", tensor=D, seed=2, t=4000)
    dy = np.abs(np.diff(v, axis=0)).mean()
    dx = np.abs(np.diff(v, axis=1)).mean()
    assert dx > 2.0 * dy  # stripes run along y: v varies across x
    # rotated by 90 degrees, the stripes turn
    v = imd.reaction_diffusion(shape, preset="mazes", tensor=D[..., ::-1, ::-1], seed=2, t=4000)
    assert np.abs(np.diff(v, axis=0)).mean() > 2.0 * np.abs(np.diff(v, axis=1)).mean()


def test_tensor_keeps_homogeneous_state_and_stays_bounded():
    shape = (40, 40)
    theta = np.linspace(0, np.pi, shape[1])[None, :] * np.ones(shape)
    n = np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    D = 0.2 * np.eye(2) + 0.8 * n[..., :, None] * n[..., None, :]  # strongly anisotropic, rotating
    u, v = imd.reaction_diffusion(shape, preset="spots", tensor=D, init=np.zeros(shape), t=100, field="both")
    assert np.array_equal(u, np.ones(shape)) and np.array_equal(v, np.zeros(shape))
    u, v = imd.reaction_diffusion(shape, preset="spots", tensor=D, seed=1, t=2000, field="both")
    assert np.isfinite(u).all() and u.min() >= 0 and u.max() <= 1.02 and v.min() >= 0 and v.max() < 1


# ----------------------------------------------------------------- errors --


def test_bad_parameters_raise_documented_errors():
    rd = imd.reaction_diffusion
    with pytest.raises(ValueError, match="preset must be one of 'spots', 'mitosis'.*got 'zebra'"):
        rd((16, 16), preset="zebra")
    with pytest.raises(ValueError, match="F and k are required without a preset"):
        rd((16, 16), F=0.03)
    with pytest.raises(ValueError, match=r"F must be in \[0, 1\], got 1.5"):
        rd((16, 16), F=1.5, k=0.06)
    with pytest.raises(ValueError, match="k must be a finite number >= 0"):
        rd((16, 16), F=0.03, k=-0.06)
    with pytest.raises(ValueError, match="Du must be a finite number > 0"):
        rd((16, 16), preset="spots", Du=0)
    with pytest.raises(ValueError, match="Dv must be a finite number > 0"):
        rd((16, 16), preset="spots", Dv=-1.0)
    with pytest.raises(ValueError, match=r"Dv values must be finite, > 0"):
        rd((16, 16), preset="spots", Dv=np.zeros((16, 16)))
    with pytest.raises(ValueError, match=r"F must be a number or an array of the grid's shape \(16, 16\)"):
        rd((16, 16), F=np.full((8, 8), 0.03), k=0.06)
    with pytest.raises(ValueError, match=r"init v0 must have the grid's shape \(16, 16\)"):
        rd((16, 16), preset="spots", init=np.zeros((16, 17)))
    with pytest.raises(ValueError, match="init must be one of 'random', 'center'"):
        rd((16, 16), preset="spots", init="stripes")
    with pytest.raises(TypeError, match="init must be one of"):
        rd((16, 16), preset="spots", init=3)
    with pytest.raises(ValueError, match="shape must have 2 or 3 entries"):
        rd((16,), preset="spots")
    with pytest.raises(TypeError, match="shape must be a tuple"):
        rd(16, preset="spots")
    with pytest.raises(ValueError, match="model must be one of 'gray_scott'"):
        rd((16, 16), preset="spots", model="brusselator")
    with pytest.raises(ValueError, match="field must be one of 'v', 'u', 'both'"):
        rd((16, 16), preset="spots", field="w")
    with pytest.raises(ValueError, match="t must be a finite number > 0"):
        rd((16, 16), preset="spots", t=0)
    with pytest.raises(ValueError, match="dtype must be float32 or float64"):
        rd((16, 16), preset="spots", dtype=np.int16)
    with pytest.raises(ValueError, match="spacing"):
        rd((16, 16), preset="spots", spacing=(1.0, -1.0))
    with pytest.raises(ValueError, match="tensor is available on 2-D grids only"):
        rd((4, 4, 4), preset="spots", tensor=np.zeros((4, 4, 4, 3, 3)))
    with pytest.raises(ValueError, match=r"tensor must have shape \(16, 16, 2, 2\)"):
        rd((16, 16), preset="spots", tensor=np.zeros((16, 16, 3, 3)))
    bad = np.zeros((16, 16, 2, 2))
    bad[..., 0, 0] = 1.0
    bad[..., 0, 1] = 2.0
    bad[..., 1, 0] = 2.0
    with pytest.raises(ValueError, match="positive semidefinite"):
        rd((16, 16), preset="spots", tensor=bad)
    bad[..., 1, 0] = 0.0
    with pytest.raises(ValueError, match="symmetric"):
        rd((16, 16), preset="spots", tensor=bad)


def test_presets_are_documented():
    assert {"spots", "mitosis", "mazes", "coral", "waves", "chaos", "worms", "holes", "solitons"} <= set(tx.PRESETS)
    for name, (F, k, Du, Dv, text) in tx.PRESETS.items():
        assert 0 < F < 0.1 and 0.03 < k < 0.07 and Du == pytest.approx(2 * Dv) and len(text) > 20
        assert name in imd.reaction_diffusion.__doc__


# -------------------------------------------------------------------- CLI --


def test_cli_texture(tmp_path, capsys):
    from imdiffuse import cli

    out = tmp_path / "mazes.png"
    assert cli.main(["texture", "--preset", "mazes", "--size", "48,40", "--steps", "200", "--seed", "3",
                     "-o", str(out)]) == 0
    img = imd.io.read(out).data
    assert img.shape == (48, 40) and img.dtype == np.uint8 and img.min() == 0 and img.max() == 255
    # the same field as the Python call with that many automatic steps, stretched to 0..255
    v = imd.reaction_diffusion((48, 40), preset="mazes", n_steps=200, seed=3)
    expect = np.rint((v - v.min()) * (255.0 / (v.max() - v.min())))
    assert np.abs(img.astype(float) - expect).max() <= 1
    # refuses to overwrite, then does with --overwrite
    assert cli.main(["texture", "--size", "16", "--steps", "5", "-o", str(out)]) == 1
    assert "--overwrite" in capsys.readouterr().err
    assert cli.main(["texture", "--size", "16", "--steps", "5", "--overwrite", "-q", "-o", str(out)]) == 0
    assert imd.io.read(out).data.shape == (16, 16)
    # float output keeps the values; 3-D volumes
    tif = tmp_path / "vol.tif"
    assert cli.main(["texture", "--size", "8,10,12", "--steps", "3", "--seed", "1", "--field", "u", "-q",
                     "-o", str(tif)]) == 0
    vol = imd.io.read(tif).data
    assert vol.shape == (8, 10, 12) and vol.dtype == np.float32 and 0.4 < vol.min() and vol.max() <= 1.02
    # bad values: exit 2, the valid presets listed
    assert cli.main(["texture", "--preset", "zebra", "-o", str(tmp_path / "z.png")]) == 2
    assert "spots, mitosis" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli.main(["texture", "--size", "2", "-o", str(tmp_path / "z.png")])
    assert exc.value.code == 2


def test_cli_help_lists_every_preset(capsys):
    from imdiffuse import cli

    with pytest.raises(SystemExit):
        cli.main(["texture", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for name in tx.PRESETS:
        assert name in text


@settings(max_examples=30, deadline=None)
@given(bad=st.one_of(st.floats(max_value=-1e-9), st.floats(min_value=1.0 + 1e-9), st.just(float("nan"))),
       which=st.sampled_from(["F", "k"]))
def test_rates_outside_unit_interval_raise(bad, which):
    kw = {"F": 0.03, "k": 0.06, which: bad}
    with pytest.raises(ValueError, match=f"{which} must"):
        imd.reaction_diffusion((8, 8), **kw)
    with pytest.raises(ValueError, match=f"{which} values must"):
        imd.reaction_diffusion((8, 8), **{**kw, which: np.full((8, 8), bad)})
