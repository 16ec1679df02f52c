"""imdiffuse.segment: weights, segment_fmm, geodesic watershed/distance, minimal paths, CLI."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imdiffuse import (
    geodesic_distance,
    geodesic_watershed,
    gradient_weight,
    graydiff_weight,
    minimal_path,
    segment_fmm,
)
from imdiffuse.segment import auto_threshold


def disc_image(n=64, c=(32, 30), r=15, inside=200.0, outside=50.0):
    yy, xx = np.mgrid[:n, :n]
    disc = (yy - c[0]) ** 2 + (xx - c[1]) ** 2 <= r**2
    return np.where(disc, inside, outside), disc


def line_distance(path, a, b):
    """Distance of each point of ``path`` to the straight line through a and b."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    u = (b - a) / np.linalg.norm(b - a)
    v = path - a
    return np.linalg.norm(v - np.outer(v @ u, u), axis=1)


# ---------------------------------------------------------------- weights --


def test_gradient_weight_is_matlab_formula():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.normal(0, 50, (48, 40)), 2)
    g = ndimage.gaussian_gradient_magnitude(img, 1.5, mode="nearest")
    expected = np.exp(-3.0 * g / g.max())
    np.testing.assert_allclose(gradient_weight(img, cutoff=None), expected, rtol=1e-10, atol=1e-12)
    cut = gradient_weight(img)  # MATLAB's WeightCutoff 0.25 -> 0.001
    np.testing.assert_array_equal(cut, np.where(expected < 0.25, 1e-3, expected))


def test_gradient_weight_spacing_and_dtype():
    img = np.zeros((20, 30), np.uint8)
    img[:, 15:] = 100
    W = gradient_weight(img)
    assert W.dtype == np.float32 and W.shape == img.shape
    assert gradient_weight(np.ones((5, 5, 5))).dtype == np.float64
    assert (gradient_weight(np.full((6, 7), 3.0)) == 1).all()  # flat: no edge
    # physical units: a spacing of 2 halves the derivative; sigma (in mm) covers the same pixels
    ramp = np.tile(np.arange(30.0) ** 2, (20, 1))
    a = gradient_weight(ramp, 2.0, spacing=2.0, cutoff=None)
    b = gradient_weight(ramp, 1.0, spacing=1.0, cutoff=None)
    np.testing.assert_allclose(a, b, rtol=1e-10)  # relative gradient: same weights


def test_graydiff_weight_formula_and_references():
    img = np.array([[10.0, 10.0, 20.0, 30.0], [10.0, 10.0, 20.0, 30.0]])
    W = graydiff_weight(img, 10.0, scale=10.0, sigma=0)
    np.testing.assert_allclose(W[0], np.exp(-0.5 * np.array([0, 0, 1, 4.0])))
    # seeds and masks give the mean intensity there as the reference
    np.testing.assert_allclose(graydiff_weight(img, [[0, 3], [1, 3]], scale=10.0, sigma=0)[0, 3], 1.0)
    mask = np.zeros(img.shape, bool)
    mask[:, 2] = True
    np.testing.assert_allclose(graydiff_weight(img, mask, scale=10.0, sigma=0)[0, 2], 1.0)
    cut = graydiff_weight(img, 10.0, scale=10.0, sigma=0, cutoff=15)
    assert cut[0, 3] == pytest.approx(1e-6) and cut[0, 2] == pytest.approx(np.exp(-0.5))


def test_graydiff_auto_scale_is_unit_free():
    rng = np.random.default_rng(1)
    img, _ = disc_image()
    noisy = img + rng.normal(0, 10, img.shape)
    a = graydiff_weight(noisy, [[32, 30]])
    b = graydiff_weight(noisy * 7.0 - 300.0, [[32, 30]])  # other units (HU-like), same image
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-9)


# ------------------------------------------------------------ segment_fmm --


@pytest.mark.parametrize("threshold", [1e-6, 1e-4, 1e-3, 0.01, "auto"])
def test_disc_is_segmented_exactly_for_a_range_of_thresholds(threshold):
    img, disc = disc_image()
    mask = segment_fmm(img, [[32, 30]], threshold)
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, disc)


def test_disc_from_any_seed_inside_and_from_a_seed_mask():
    img, disc = disc_image()
    for seed in ([32, 30], [20.3, 25.7], [44, 36]):
        np.testing.assert_array_equal(segment_fmm(img, [seed]), disc)
    seeds = np.zeros(img.shape, bool)
    seeds[30:34, 28:32] = True
    np.testing.assert_array_equal(segment_fmm(img, seeds), disc)


def test_noisy_disc_dice_and_gradient_weight():
    rng = np.random.default_rng(2)
    img, disc = disc_image(96, (48, 48), 25)
    noisy = img + rng.normal(0, 30, img.shape)
    for weight, goal in (("graydiff", 0.95), ("gradient", 0.9)):
        mask = segment_fmm(noisy, [[48, 48]], weight=weight)
        dice = 2 * (mask & disc).sum() / (mask.sum() + disc.sum())
        assert dice > goal, (weight, dice)


def test_segment_3d_with_spacing():
    # a ball of radius 10 mm on a grid with 2 mm slices: 5 slices of radius
    z, y, x = np.mgrid[:24, :40, :40]
    ball = ((z - 12) * 2.0) ** 2 + (y - 20.0) ** 2 + (x - 20.0) ** 2 <= 10.0**2
    img = np.where(ball, 120.0, 20.0)
    mask, D = segment_fmm(img, [[12, 20, 20]], spacing=(2.0, 1.0, 1.0), return_distance=True)
    np.testing.assert_array_equal(mask, ball)
    assert np.nanmax(D) == 1.0 and D[12, 20, 20] == 0.0
    # the normalised distance inside is the physical one: 10 mm to the rim along z and along x
    assert D[7, 20, 20] == pytest.approx(D[12, 20, 30], rel=0.02)


def test_weight_none_uses_the_image_as_speed_and_zero_is_an_obstacle():
    W = np.ones((30, 30))
    W[:, 15] = 0.0  # a wall
    mask, D = segment_fmm(W, [[15, 5]], 1.0, weight=None, return_distance=True)
    assert np.isnan(D[:, 15:]).all() and not mask[:, 15:].any()
    assert mask[:, :15].all()
    np.testing.assert_array_equal(segment_fmm(W, [[15, 5]], 0.5, weight=None), D <= 0.5)
    with pytest.raises(ValueError, match="weight map >= 0"):
        segment_fmm(-W, [[15, 5]], weight=None)


def test_auto_threshold_finds_the_stall():
    # arrival times: a disc reached by t = 10, then a barrier crossed at t = 1000
    img, disc = disc_image()
    T = np.where(disc, 5.0, 1000.0) + np.random.default_rng(0).random(disc.shape)
    t = auto_threshold(T)
    assert 6.0 < t < 1000.0


def _auto_threshold_by_sorting(T, ratio=1.5, stall=0.25):
    """auto_threshold's definition, written out plainly with a full sort (the reference)."""
    t = np.sort(T[np.isfinite(T)].ravel())
    pos = t[t > 0]
    if pos.size == 0:
        return float(t[-1]) if t.size else 0.0
    lo = max(pos[min(4 * 3 ** T.ndim, pos.size - 1)], 3 * pos[0])
    q = np.log(ratio) / 24  # 24 times per factor ratio
    grid = []
    while lo * np.exp(q * len(grid)) <= t[-1]:
        grid.append(lo * np.exp(q * len(grid)))
    n = np.searchsorted(t, np.array(grid), side="right") - (t <= 0).sum()  # beyond the seeds
    times = grid[: max(len(grid) - 24, 0)]
    rate = [(n[k + 24] - n[k]) / n[k] / np.log(ratio) for k in range(len(times))]
    if not rate:
        return float(t[-1])
    low = [r < stall * T.ndim for r in rate]
    if any(low):
        first = low.index(True)
        end = first
        while end < len(low) and low[end]:
            end += 1
        k = first + int(np.argmin(rate[first:end]))
    else:
        k = int(np.argmin(rate))
    return float(grid[k + 12])


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(1,), (2, 2), (7, 5), (40, 30), (9, 8, 7)]),
       st.booleans(), st.booleans())
def test_auto_threshold_equals_the_sorted_definition(seed, shape, holes, coarse):
    # auto_threshold counts N(t) by one-pass histograms with exact edge
    # corrections instead of sorting: the threshold must be the same
    rng = np.random.default_rng(seed)
    T = np.cumsum(rng.random(int(np.prod(shape))) ** rng.uniform(0.1, 5)).reshape(shape) * rng.uniform(0.1, 100)
    rng.shuffle(T.ravel())
    T.ravel()[0] = 0.0  # a seed
    if coarse:  # many ties, values exactly on grid edges are likely
        T = np.round(T, 0)
    if holes:
        T[rng.random(shape) < 0.2] = np.inf
    assert auto_threshold(T) == _auto_threshold_by_sorting(T)


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 3000))
def test_auto_threshold_counts_equal_searchsorted(seed, n):
    # the one-pass counts and order statistic behind auto_threshold, exactly,
    # including values that sit on the grid's edges
    from imdiffuse.segment import _count_below, _smallest

    rng = np.random.default_rng(seed)
    t = np.round(rng.exponential(10.0, n), 1)
    t[rng.random(n) < 0.1] = np.inf
    finite = np.sort(t[np.isfinite(t)])
    positive = finite[finite > 0]
    if positive.size < 2:
        return
    k = int(rng.integers(0, positive.size))
    kth, top, count, npos, least = _smallest(t, k)
    assert (kth, top, count, npos, least) == (positive[k], finite[-1], finite.size, positive.size, positive[0])
    assert np.isnan(_smallest(t, positive.size)[0])
    lo = max(finite[0], 0.05)
    hi = max(finite[-1], 2 * lo)
    grid = np.geomspace(lo, hi, 256)
    grid[::7] = finite[np.linspace(0, finite.size - 1, grid[::7].size).astype(int)].clip(lo, hi)
    grid = np.maximum.accumulate(grid)  # still increasing, now with data values on some edges
    q = np.log(hi / lo) / 255
    np.testing.assert_array_equal(_count_below(t, q, grid), np.searchsorted(finite, grid, side="right"))


@pytest.mark.parametrize("draw", range(8))
def test_one_click_survives_heavy_noise(draw):
    # contrast 100 at noise sigma 50: the denoised disc keeps blotches larger
    # than the 7-pixel reference box; with the box's spread alone the weight
    # was too strict and the front stalled inside the disc (Dice 0.93, 0.10
    # and 0.07 on draws 4, 5 and 7)
    yy, xx = np.mgrid[:160, :160]
    disc = (yy - 80) ** 2 + (xx - 75) ** 2 <= 40**2
    img = np.where(disc, 200.0, 100.0) + np.random.default_rng(draw).normal(0, 50, disc.shape)
    mask = segment_fmm(img, [[80, 75]])
    assert 2 * (mask & disc).sum() / (mask.sum() + disc.sum()) > 0.98


def test_auto_threshold_counts_beyond_seed_masks():
    # a seed mask of many pixels (all T = 0): its first rings arrive at 1, 2,
    # 3... steps, a staircase N(t) that looked stalled between steps (the mask
    # was 165 of the disc's 709 pixels); N(t) now counts beyond the seeds and
    # starts 3 rings out
    img, disc = disc_image()
    seeds = np.zeros(disc.shape, dtype=bool)
    seeds[27:38, 25:36] = True  # 121 seed pixels > 4 * 3**2
    np.testing.assert_array_equal(segment_fmm(img, seeds), disc)


def _noisy_discs(shape, seed):
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    c = [n / 2 for n in shape]
    r = sum((g - ci) ** 2 for g, ci in zip(grids, c))
    img = np.where(r <= (0.25 * min(shape)) ** 2, 200.0, 50.0)
    img += np.where(sum((g - 3) ** 2 for g in grids) <= (0.1 * min(shape)) ** 2, 150.0, 0.0)
    return img + rng.normal(0, 15, shape), [tuple(int(x) for x in c)]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from([(48, 64), (70, 70), (20, 24, 22)]), st.integers(1, 400))
def test_early_stopped_march_gives_the_full_auto_threshold_mask(seed, shape, chunk):
    # segment_fmm stops the march once the auto threshold is known: the mask
    # must be the one of the whole march, whatever the pause points, and
    # T <= auto_threshold(T) of the finished times
    from imdiffuse import graydiff_weight
    from imdiffuse.fmm import arrival_time
    from imdiffuse.segment import _auto_march

    img, seeds = _noisy_discs(shape, seed)
    W = graydiff_weight(img, seeds, sigma=1.0)
    T = arrival_time(W, seeds)
    h = np.ones(len(shape))
    mask, early = _auto_march(W, np.array(seeds, dtype=float), h, chunk=chunk)
    whole, full = _auto_march(W, np.array(seeds, dtype=float), h, full=True)
    np.testing.assert_array_equal(full, T)
    np.testing.assert_array_equal(mask, whole)
    np.testing.assert_array_equal(mask, T <= auto_threshold(T))
    if early is not None:
        np.testing.assert_array_equal(early, T)


@pytest.mark.parametrize("smooth", [True, False])
def test_paused_arrival_matches_arrival_time(smooth):
    # pausing every 37 points changes nothing: the same times bit for bit;
    # the frozen points are all those well below the last time popped, and
    # N(t) counts them exactly (smooth speed) or at most by the dips of the
    # second-order scheme (random speed: never more than #{T <= t})
    from imdiffuse.fmm import PausedArrival, arrival_time

    rng = np.random.default_rng(3)
    W = np.ones((60, 50)) if smooth else 0.2 + rng.random((60, 50))
    W[20:22, 5:45] = 0.0  # a wall
    seeds = [[10.3, 20.7], [50, 10]]
    march = PausedArrival(W, seeds)
    T = arrival_time(W, seeds)
    pauses = 0
    while not march.advance(37):
        pauses += 1
        known = march.known
        t = np.linspace(0, known, 7)[:-1]
        true = np.array([(T <= x).sum() for x in t])
        count = march.count(t)
        assert (count <= true).all() and (np.diff(count) >= 0).all()
        if smooth:
            np.testing.assert_array_equal(count, true)
        np.testing.assert_array_equal(march.below(known / 1.2), T <= known / 1.2)
    assert pauses > 10 and march.known == np.inf
    np.testing.assert_array_equal(march.times(), T)
    assert march.count(np.array([np.inf]))[0] == np.isfinite(T).sum() == march.frozen


@pytest.mark.parametrize("bad", [-0.1, 1.5, np.inf, np.nan, "half"])
def test_threshold_outside_0_1_raises(bad):
    img, _ = disc_image()
    with pytest.raises(ValueError, match="threshold must be a number in \\[0, 1\\]"):
        segment_fmm(img, [[32, 30]], bad)


@settings(max_examples=25, deadline=None)
@given(st.floats(allow_nan=True, allow_infinity=True).filter(lambda v: not 0 <= v <= 1))
def test_threshold_hypothesis(value):
    with pytest.raises(ValueError, match="threshold"):
        segment_fmm(np.ones((6, 6)), [[2, 2]], value, weight=None)


@settings(max_examples=25, deadline=None)
@given(st.tuples(st.floats(-50, 60), st.floats(-50, 60)))
def test_seeds_outside_the_image_raise(seed):
    inside = 0 <= seed[0] <= 9 and 0 <= seed[1] <= 11
    img = np.ones((10, 12))
    if inside:
        assert segment_fmm(img, [seed], 1.0, weight=None).all()
    else:
        with pytest.raises(ValueError, match="seeds must lie inside the grid"):
            segment_fmm(img, [seed], weight=None)


@pytest.mark.parametrize("func", [
    lambda s: segment_fmm(np.ones((8, 8)), s),
    lambda s: geodesic_watershed(np.ones((8, 8)), s if np.asarray(s).dtype != bool else s.astype(int)),
    lambda s: geodesic_distance(np.ones((8, 8), bool), s),
    lambda s: graydiff_weight(np.ones((8, 8)), s),
])
def test_empty_seeds_raise(func):
    for empty in ([], np.zeros((0, 2)), np.zeros((8, 8), bool)):
        with pytest.raises(ValueError, match="empty"):
            func(empty)


def test_bad_inputs_raise_clear_errors():
    img, _ = disc_image()
    with pytest.raises(ValueError, match="weight must be one of"):
        segment_fmm(img, [[3, 3]], weight="sobel")
    with pytest.raises(ValueError, match=r"\(K, 2\)"):
        segment_fmm(img, [[3, 3, 3]])
    with pytest.raises(TypeError, match="image"):
        segment_fmm("img.png", [[3, 3]])
    with pytest.raises(ValueError, match="sigma"):
        gradient_weight(img, -1)
    with pytest.raises(ValueError, match="alpha"):
        gradient_weight(img, alpha=0)
    with pytest.raises(ValueError, match="cutoff"):
        gradient_weight(img, cutoff=2)
    with pytest.raises(ValueError, match="scale"):
        graydiff_weight(img, 3.0, scale=-1)
    with pytest.raises(ValueError, match="reference"):
        graydiff_weight(img, np.nan)


# ---------------------------------------------------------------- watershed --


def test_watershed_two_discs_and_background():
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[:80, :100]
    a = (yy - 40) ** 2 + (xx - 25) ** 2 <= 15**2
    b = (yy - 40) ** 2 + (xx - 70) ** 2 <= 20**2
    img = np.where(a, 200.0, np.where(b, 140.0, 60.0)) + rng.normal(0, 5, a.shape)
    markers = np.zeros(a.shape, np.int32)
    markers[40, 25] = 1
    markers[38:43, 68:73] = 2  # a blob marker
    markers[5, 5] = 3
    for weight in ("graydiff", "gradient"):
        lab = geodesic_watershed(img, markers, weight=weight)
        assert lab.dtype == np.int32 and set(np.unique(lab)) == {1, 2, 3}
        for k, ref in ((1, a), (2, b), (3, ~(a | b))):
            dice = 2 * ((lab == k) & ref).sum() / ((lab == k).sum() + ref.sum())
            assert dice > 0.95, (weight, k, dice)


def test_watershed_is_closest_seed_labelling_of_arrival_time():
    from imdiffuse.fmm import arrival_time

    W = np.random.default_rng(4).uniform(0.2, 1.0, (30, 40))
    pts = np.array([[3.0, 3.0], [25.0, 10.0], [15.5, 35.2]])
    lab, T = geodesic_watershed(W, pts, weight=None, return_distance=True)
    T2, which = arrival_time(W, pts, closest=True)
    np.testing.assert_array_equal(lab, which + 1)
    np.testing.assert_allclose(T, T2)


def test_watershed_markers_errors():
    with pytest.raises(ValueError, match="no label > 0"):
        geodesic_watershed(np.ones((8, 8)), np.zeros((8, 8), np.int32))
    with pytest.raises(ValueError, match=">= 0"):
        geodesic_watershed(np.ones((8, 8)), -np.ones((8, 8), np.int32))
    with pytest.raises(TypeError, match="label image"):
        geodesic_watershed(np.ones((8, 8)), np.ones((8, 8), bool))


# ------------------------------------------------------- geodesic distance --


def test_geodesic_distance_goes_around_a_wall():
    # corridor 0..40 x 0..40, a wall at column 20 from row 0 to row 29: gap at rows 30..40
    mask = np.ones((41, 41), bool)
    mask[:30, 20] = False
    D = geodesic_distance(mask, [[0, 0]])
    assert np.isnan(D[~mask]).all()
    # around the wall's end (30, 20), corner at (29.5 .. 30, 20 +- 0.5): path via that corner
    corner = np.array([30.0, 20.0])
    target = np.array([0.0, 40.0])
    around = np.linalg.norm(corner - [0, 0]) + np.linalg.norm(target - corner)
    assert D[0, 40] == pytest.approx(around, rel=0.03)
    assert D[0, 40] > 1.7 * 40  # much longer than the straight line
    # free side: Euclidean
    assert D[10, 10] == pytest.approx(np.hypot(10, 10), rel=0.005)


def test_geodesic_distance_graydist_form_and_spacing():
    seeds = np.zeros((30, 30), bool)
    seeds[15, 15] = True
    cost = np.full((30, 30), 3.0)
    D = geodesic_distance(seeds, weight=cost, spacing=0.5)
    assert D[15, 25] == pytest.approx(3.0 * 5.0, rel=1e-6)  # 10 px * 0.5 mm * cost 3
    assert D[5, 5] == pytest.approx(3.0 * 0.5 * np.hypot(10, 10), rel=0.005)
    # seeds outside the mask are ignored; none inside raises
    mask = np.zeros((10, 10), bool)
    mask[:, :5] = True
    D = geodesic_distance(mask, [[2, 2], [2, 8]])
    assert D[2, 4] == pytest.approx(2.0) and np.isnan(D[2, 8])
    with pytest.raises(ValueError, match="inside the mask"):
        geodesic_distance(mask, [[2, 8]])
    with pytest.raises(TypeError, match="boolean"):
        geodesic_distance(np.ones((5, 5)), [[2, 2]])
    with pytest.raises(ValueError, match="shape"):
        geodesic_distance(mask, [[2, 2]], weight=np.ones((3, 3)))


# ------------------------------------------------------------ minimal path --


@pytest.mark.parametrize("start,end", [((5, 5), (30, 20)), ((2.5, 40.2), (45.7, 3.1)), ((10, 10), (10, 45)),
                                       ((0, 0), (47, 47))])
def test_minimal_path_in_constant_speed_is_straight(start, end):
    path = minimal_path(np.ones((48, 48)), start, end)
    np.testing.assert_allclose(path[0], start)
    np.testing.assert_allclose(path[-1], end)
    assert line_distance(path, start, end).max() < 0.05
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    assert steps.max() <= np.linalg.norm(np.subtract(end, start))
    # monotone: every step moves towards the end
    proj = (path - start) @ (np.subtract(end, start))
    assert (np.diff(proj) > 0).all()


def test_minimal_path_3d_and_spacing():
    start, end = (2, 3, 4), (12, 20, 25)
    path = minimal_path(np.ones((16, 24, 28)), start, end, spacing=(2.0, 1.0, 1.0))
    phys = path * [2.0, 1.0, 1.0]
    assert line_distance(phys, np.multiply(start, [2, 1, 1]), np.multiply(end, [2, 1, 1])).max() < 0.1
    assert path.shape[1] == 3


def test_minimal_path_goes_around_an_obstacle():
    speed = np.ones((60, 60))
    speed[10:60, 30] = 0.0  # wall with a gap at rows 0..9
    start, end = (50, 10), (50, 50)
    path = minimal_path(speed, start, end)
    from scipy.spatial import cKDTree

    crossing = np.abs(path[:, 1] - 30) < 0.5
    assert crossing.any() and (path[crossing, 0] < 10.5).all()  # through the gap, around the wall's end
    assert cKDTree(np.argwhere(speed == 0)).query(path)[0].min() > 0.25
    length = np.linalg.norm(np.diff(path, axis=0), axis=1).sum()
    best = 2 * np.hypot(40.5, 20)  # via the wall's end (9.5, 30)
    assert best * 0.99 < length < best * 1.03


def bright_curve(n=128, noise=0.5, seed=0):
    x = np.arange(n, dtype=float)
    yc = n / 2 + 0.15 * n * np.sin(2 * np.pi * x / n * 1.5)
    yy = np.arange(n, dtype=float)[:, None]
    img = np.exp(-((yy - yc[None, :]) ** 2) / (2 * 1.5**2))
    return img + np.random.default_rng(seed).normal(0, noise, img.shape), yc


def test_minimal_path_follows_a_bright_curve_in_noise():
    from scipy import ndimage
    from scipy.spatial import cKDTree

    img, yc = bright_curve()
    g = ndimage.gaussian_filter(img, 1.0)
    speed = np.exp(4.0 * g / g.max())
    path = minimal_path(speed, (yc[2], 2.0), (yc[-3], 125.0))
    xs = np.linspace(0, 127, 5000)
    d, _ = cKDTree(np.c_[np.interp(xs, np.arange(128), yc), xs]).query(path)
    assert d.mean() < 0.5
    assert d.max() < 2.0


def test_minimal_path_errors():
    speed = np.ones((20, 20))
    speed[:, 10] = 0
    with pytest.raises(ValueError, match="cannot be reached"):
        minimal_path(speed, (5, 5), (5, 15))
    with pytest.raises(ValueError, match="must lie inside"):
        minimal_path(np.ones((20, 20)), (5, 5), (5, 25))
    with pytest.raises(ValueError, match="single points"):
        minimal_path(np.ones((20, 20)), [(5, 5), (6, 6)], (5, 15))
    with pytest.raises(ValueError, match="step"):
        minimal_path(np.ones((20, 20)), (5, 5), (5, 15), step=5)
    with pytest.raises(RuntimeError, match="max_steps"):
        minimal_path(np.ones((40, 40)), (1, 1), (38, 38), max_steps=3)


def test_minimal_path_start_equals_end():
    path = minimal_path(np.ones((10, 10)), (4, 4), (4, 4))
    np.testing.assert_allclose(path, [[4, 4], [4, 4]])


# -------------------------------------------------------------------- CLI --


def test_cli_segment_mask_and_labels(tmp_path):
    import imageio.v3 as iio

    from imdiffuse.cli import main

    img, disc = disc_image()
    src = tmp_path / "disc.png"
    iio.imwrite(src, img.astype(np.uint8))
    assert main(["segment", str(src), "--seed", "32,30", "-o", str(tmp_path / "m.png"), "-q"]) == 0
    m = iio.imread(tmp_path / "m.png")
    assert m.dtype == np.uint8 and set(np.unique(m)) == {0, 255}
    np.testing.assert_array_equal(m == 255, disc)
    assert main(["segment", str(src), "--seed", "32,30", "--threshold", "0.2", "--weight", "gradient",
                 "-o", str(tmp_path / "g.png"), "-q"]) == 0
    g = iio.imread(tmp_path / "g.png") == 255
    assert 2 * (g & disc).sum() / (g.sum() + disc.sum()) > 0.85
    assert main(["segment", str(src), "--seed", "32,30", "--seed", "2,2", "--labels",
                 "-o", str(tmp_path / "l.png"), "-q"]) == 0
    lab = iio.imread(tmp_path / "l.png")
    np.testing.assert_array_equal(lab, np.where(disc, 1, 2))
    # bad values: usage errors (exit code 2)
    assert main(["segment", str(src), "--seed", "32,300", "-o", str(tmp_path / "x.png"), "-q"]) == 2
    assert main(["segment", str(src), "--seed", "32,30,1", "-o", str(tmp_path / "x.png"), "-q"]) == 2
    with pytest.raises(SystemExit) as exc:
        main(["segment", str(src), "--seed", "32,30", "--threshold", "1.5", "-o", str(tmp_path / "x.png")])
    assert exc.value.code == 2


def test_demo_panel_outlines_ct_structures():
    from imdiffuse import data, demo

    ct = data.ct_slice().astype(np.float32)
    sp = data.SPACING["ct_slice"]
    panel = demo._segment8(ct, sp)
    assert panel.dtype == np.uint8 and panel.shape == ct.shape
    assert 150 < (panel == 255).sum() < 1500  # three closed outlines, not a flooded image
    aorta = segment_fmm(ct, [(8, 92)], spacing=sp)
    area_mm2 = aorta.sum() * sp[0] * sp[1]
    assert 200 < area_mm2 < 600  # an aorta of about 20 mm diameter (cut by the image's top edge)
    assert ct[aorta].mean() > 0 and ct[aorta].std() < 60  # soft tissue / blood, homogeneous


def test_cli_segment_volume_uses_the_file_spacing(tmp_path):
    import imdiffuse as imd
    from imdiffuse.cli import main

    z, y, x = np.mgrid[:16, :32, :32]
    ball = ((z - 8) * 2.0) ** 2 + (y - 16.0) ** 2 + (x - 16.0) ** 2 <= 9.0**2  # round in mm, spacing 2 x 1 x 1
    src = tmp_path / "ball.nii.gz"
    imd.io.write(src, np.where(ball, 300, 20).astype(np.int16), spacing=(2.0, 1.0, 1.0))
    assert main(["segment", str(src), "--seed", "8,16,16", "-o", str(tmp_path / "m.nii.gz"), "-q"]) == 0
    out = imd.io.read(tmp_path / "m.nii.gz")
    np.testing.assert_array_equal(np.asarray(out.data) == 255, ball)
    np.testing.assert_allclose(out.spacing, (2.0, 1.0, 1.0))
