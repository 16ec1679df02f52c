"""The input policy of imdiffuse._validate, through the public heat() and directly."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import imdiffuse as imd
from imdiffuse._validate import (
    check_channel_axis,
    check_image,
    check_int,
    check_kwargs,
    check_option,
    check_positive,
    float_dtype,
    parse_spacing,
)


@pytest.mark.parametrize(
    "dtype, expected",
    [(np.float64, np.float64), (np.float32, np.float32), (np.float16, np.float32), (np.uint8, np.float32),
     (np.uint16, np.float32), (np.int16, np.float32), (np.int32, np.float32), (np.int64, np.float32)],
)
def test_dtype_policy(dtype, expected):
    img = (np.arange(30 * 20) % 200).reshape(30, 20).astype(dtype)
    out = imd.heat(img, 1.0)
    assert out.dtype == expected
    assert float_dtype(dtype) == expected
    # units kept: a uint8 image is not rescaled to [0, 1]
    np.testing.assert_allclose(out.mean(), img.astype(np.float64).mean(), rtol=1e-5)


def test_input_not_modified():
    img = np.random.default_rng(0).random((20, 20))
    before = img.copy()
    for scheme in ("exact", "explicit", "fed", "aos"):
        imd.heat(img, 2.0, scheme=scheme)
    np.testing.assert_array_equal(img, before)


@pytest.mark.parametrize(
    "image, err, match",
    [
        (np.zeros((4, 4), bool), TypeError, "image must have a real numeric dtype, got bool"),
        (np.zeros((4, 4), complex), TypeError, "real numeric dtype.*complex"),
        (np.zeros((4, 4), object), TypeError, "real numeric dtype.*object"),
        (np.array([["a", "b"], ["c", "d"]]), TypeError, "real numeric dtype"),
        ("image.png", TypeError, "image must be an array"),
        (None, TypeError, "image must be an array"),
        (np.zeros(5), ValueError, r"image must be 2-D or 3-D.*shape \(5,\)"),
        (np.zeros((2, 2, 2, 2)), ValueError, "image must be 2-D or 3-D"),
        (np.zeros((0, 5)), ValueError, "must not be empty"),
        (np.array([[1.0, np.nan], [0, 0]]), ValueError, "1 NaN/inf"),
        (np.array([[1.0, np.inf], [-np.inf, 0]]), ValueError, "2 NaN/inf"),
        (np.ma.zeros((3, 3)), TypeError, "masked array"),
        ([[1, 2], [3]], TypeError, "image must be an array"),
    ],
)
def test_bad_images(image, err, match):
    with pytest.raises(err, match=match):
        imd.heat(image, 1.0)


@pytest.mark.parametrize(
    "kwargs, err, match",
    [
        (dict(t=-1.0), ValueError, r"t must be a finite number >= 0, got -1.0"),
        (dict(t=np.nan), ValueError, "t must be a finite number"),
        (dict(t="long"), TypeError, "t must be a real number"),
        (dict(t=True), TypeError, "t must be a real number"),
        (dict(t=1.0, scheme="implicit"), ValueError, "scheme must be one of 'auto', 'exact', 'explicit', 'fed', 'aos', got 'implicit'"),
        (dict(t=1.0, scheme=3), TypeError, "scheme must be one of"),
        (dict(t=1.0, spacing=0), ValueError, "spacing entries must be finite and > 0"),
        (dict(t=1.0, spacing=(1, -2)), ValueError, "spacing entries must be finite and > 0"),
        (dict(t=1.0, spacing=(1, 2, 3)), ValueError, r"one entry per spatial axis \(2\), got 3"),
        (dict(t=1.0, spacing="1"), TypeError, "spacing must be a number"),
        (dict(t=1.0, spacing=(1, np.inf)), ValueError, "finite"),
        (dict(t=1.0, channel_axis=5), ValueError, r"channel_axis must be None or an axis in \[-2, 1\]"),
        (dict(t=1.0, channel_axis=1.0), TypeError, "channel_axis must be None or an integer"),
        (dict(t=1.0, channel_axis=True), TypeError, "channel_axis"),
        (dict(t=1.0, scheme="fed", n_steps=0), ValueError, "n_steps must be >= 1, got 0"),
        (dict(t=1.0, scheme="fed", n_steps=2.5), TypeError, "n_steps must be an integer"),
        (dict(t=10.0, scheme="explicit", n_steps=3), ValueError, "n_steps=3 is too few.*at least 40"),
        (dict(t=1.0, n_steps=3), ValueError, "n_steps applies to the PDE schemes"),
        (dict(t=1.0, kappa=3), TypeError, "unexpected keyword"),
    ],
)
def test_bad_options(kwargs, err, match):
    with pytest.raises(err, match=match):
        imd.heat(np.zeros((6, 7)), **kwargs)


def test_channel_axis_spatial_dims():
    # 2-D with channel axis is fine, a 1-D signal with channels is not
    imd.heat(np.zeros((5, 6, 3)), 1.0, channel_axis=-1)
    with pytest.raises(ValueError, match=r"besides channel_axis=1"):
        imd.heat(np.zeros((5, 3)), 1.0, channel_axis=1)


def test_numpy_scalars_accepted():
    img = np.ones((5, 6, 7), np.float32)
    out = imd.heat(img, np.float32(1.5), spacing=(np.float64(2.0), np.int64(1), np.float32(0.5)),
                   channel_axis=None, scheme="fed", n_steps=np.int64(3))
    np.testing.assert_allclose(out, 1.0, rtol=1e-6)
    assert parse_spacing(np.array([1.0, 2.0]), 2) == (1.0, 2.0)
    assert parse_spacing(np.float32(0.5), 3) == (0.5, 0.5, 0.5)
    assert check_channel_axis(np.int64(-1), 3) == 2
    assert check_positive(np.array(2.0), "x") == 2.0


def test_helpers():
    assert check_option("fed", "scheme", ("fed", "aos")) == "fed"
    assert check_positive("auto", "kappa", auto=True) == "auto"
    with pytest.raises(ValueError, match='kappa must be a number > 0 or "auto", got \'Auto\''):
        check_positive("Auto", "kappa", auto=True)
    with pytest.raises(ValueError, match=r'kappa must be a finite number > 0 or "auto", got -3.0'):
        check_positive(-3.0, "kappa", auto=True)
    with pytest.raises(TypeError, match="unknown option.*'kapa'.*valid options: kappa, sigma"):
        check_kwargs({"kapa": 1}, "perona_malik", ("kappa", "sigma"))
    with pytest.raises(TypeError):
        check_int(np.bool_(True), "n")
    assert check_int(np.int32(4), "n", minimum=1) == 4


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(
        dtype=np.float64,
        shape=hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
        elements=st.one_of(st.floats(-1e4, 1e4), st.sampled_from([np.nan, np.inf, -np.inf])),
    ),
    st.sampled_from([np.uint8, np.int16, np.float16, np.float32, np.float64]),
)
def test_any_array_gives_result_or_documented_error(values, dtype):
    """Arbitrary shapes, dtypes and values: a float result or a ValueError/TypeError, never anything else."""
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        values = np.clip(np.nan_to_num(values), info.min, info.max)
    with np.errstate(over="ignore"):
        arr = values.astype(dtype)
    try:
        out = imd.heat(arr, 0.7, scheme="fed")
    except (ValueError, TypeError) as exc:
        assert "image" in str(exc)
        return
    assert out.shape == arr.shape
    assert out.dtype == float_dtype(arr.dtype)
    assert np.isfinite(out).all()
    a = arr.astype(np.float64)
    assert out.min() >= a.min() - 1e-3 * (1 + abs(a).max())
    assert out.max() <= a.max() + 1e-3 * (1 + abs(a).max())


@settings(max_examples=60, deadline=None)
@given(st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-3, 3),
                 st.lists(st.floats(-2, 5), min_size=0, max_size=4), st.text(max_size=3), st.booleans()))
def test_spacing_fuzz(spacing):
    try:
        values = parse_spacing(spacing, 3)
    except (ValueError, TypeError) as exc:
        assert "spacing" in str(exc)
        return
    assert len(values) == 3 and all(np.isfinite(v) and v > 0 for v in values)


def test_check_image_returns_same_array_for_working_dtype():
    a = np.zeros((3, 3), np.float32)
    b, axis = check_image(a)
    assert b is a and axis is None



@settings(max_examples=60, deadline=None)
@given(
    dtype=st.sampled_from([np.float32, np.float64]),
    n=st.integers(1, 3000),
    specials=st.lists(st.tuples(st.integers(0, 2999), st.sampled_from(
        ["nan", "inf", "-inf", "max", "-max", "tiny", "subnormal", "-0"])), max_size=4),
)
def test_any_nonfinite_agrees_with_numpy(dtype, n, specials):
    # the compiled one-pass NaN/inf test of check_image (large inputs) against np.isfinite
    from imdiffuse._kernels import any_nonfinite

    info = np.finfo(dtype)
    values = {"nan": np.nan, "inf": np.inf, "-inf": -np.inf, "max": info.max, "-max": -info.max,
              "tiny": info.tiny, "subnormal": info.tiny / 8, "-0": -0.0}
    a = np.random.default_rng(n).normal(0, 1e3, n).astype(dtype)
    for i, v in specials:
        a[i % n] = values[v]
    assert any_nonfinite(a) == (not np.isfinite(a).all())
    assert any_nonfinite(a.reshape(1, -1)) == any_nonfinite(a)


def test_check_image_large_float_nan_is_rejected():
    # above FAST_FINITE_MIN values the compiled check runs: same error as NumPy's path
    from imdiffuse._validate import FAST_FINITE_MIN

    side = int(np.ceil(np.sqrt(FAST_FINITE_MIN))) + 1
    for dtype in (np.float32, np.float64):
        img = np.ones((side, side), dtype)
        img[-1, -1] = np.inf
        with pytest.raises(ValueError, match="image must contain only finite values, got 1 NaN/inf"):
            check_image(img)
        img[-1, -1] = 2.0
        assert check_image(img)[0] is img
