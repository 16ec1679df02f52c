"""The ``imdiffuse`` command line.

Each verb is one small function registered with :func:`verb`: it receives the
parsed arguments and a :class:`Session` (progress bars, messages, safe
output) and does its work through the public Python API.  Heavy modules are
imported inside the verbs, so ``imdiffuse --help`` stays fast.

Exit codes: 0 success, 2 bad usage (unknown option, invalid parameter
value), 1 failed run (unreadable file, refusal to overwrite, ...).  Errors
are one line on stderr, no traceback (set ``IMDIFFUSE_DEBUG=1`` to see it).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from pathlib import Path

__all__ = ["main", "verb", "VERBS"]

#: name -> (function, help text, argument specs)
VERBS: dict = {}


class UsageError(ValueError):
    """A bad command-line value found after parsing (exit code 2)."""


def verb(name: str, help: str, *arguments, io: bool | str = True):
    """Register ``func(args, session)`` as the verb ``name``.

    ``arguments`` are ``(flags, kwargs)`` pairs for ``add_argument``.  With
    ``io=True`` the verb also gets an INPUT file and ``-o/--output``; with
    ``io="output"`` only ``-o/--output`` (a verb that makes its data).
    """

    def register(func):
        VERBS[name] = (func, help, arguments, io)
        return func

    return register


def arg(*flags, **kwargs):
    return flags, kwargs


# ---------------------------------------------------------------- session --


class Session:
    """What verbs share: quiet flag, progress bars and safe output."""

    def __init__(self, args):
        self.quiet = getattr(args, "quiet", False)
        self.overwrite = getattr(args, "overwrite", False)

    def say(self, message: str) -> None:
        if not self.quiet:
            print(message)

    def progress(self, total: float, desc: str):
        """A ``callback(done)`` that drives a tqdm bar on stderr (TTY only, after 1 s)."""
        if self.quiet or not sys.stderr.isatty():
            return None
        from tqdm import tqdm

        bar = tqdm(total=float(total), desc=desc, file=sys.stderr, delay=1.0, leave=False,
                   bar_format="{l_bar}{bar}| {elapsed}<{remaining}")

        def callback(done):
            bar.n = min(float(done), bar.total)
            bar.refresh()
            if done >= total:
                bar.close()

        return callback

    def check_output(self, output, inputs=()) -> Path:
        """Refuse, before any work, to write over an existing file or an input."""
        out = Path(output)
        for inp in inputs:
            if Path(inp).exists() and out.exists() and out.resolve() == Path(inp).resolve():
                if not self.overwrite:
                    raise FileExistsError(f"output {out} is the input file; choose another -o (or pass --overwrite)")
        if out.exists() and not self.overwrite:
            raise FileExistsError(f"output {out} exists; pass --overwrite to replace it")
        if not out.parent.exists():
            raise FileNotFoundError(f"output folder {out.parent} does not exist")
        return out

    def write(self, path, array, *, like=None, dtype="input"):
        from . import io

        if dtype == "input":
            dtype = like.data.dtype if like is not None and like.data.dtype.kind in "iu" else None
            if Path(path).suffix.lower() == ".png" and dtype not in (None, "uint8", "uint16"):
                dtype = None  # PNG holds uint8/uint16 only: io's automatic rule picks one or refuses
        written = io.write(path, array, like=like, dtype=dtype, overwrite=self.overwrite,
                           spacing=None if like is None else like.spacing,
                           channel_axis=None if like is None else like.channel_axis)
        self.say(f"wrote {written}")
        return written


# ------------------------------------------------------------------ verbs --

DTYPES = ("input", "float32", "float64", "uint8", "uint16", "int16")
_dtype_arg = arg("--dtype", choices=DTYPES, default="input",
                 help="output data type: 'input' (default) rounds and clips float results to an integer "
                      "input's type; a float type keeps the full result")


def _positive_float(name):
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be a number, got {text!r}") from None
        if not (value >= 0 and value < float("inf")):
            raise argparse.ArgumentTypeError(f"{name} must be a finite number >= 0, got {text!r}")
        return value

    return parse


@verb("smooth", "linear (heat-equation) smoothing: a Gaussian of sigma = sqrt(2 t)",
      arg("--t", type=_positive_float("--t"), required=True,
          help="diffusion time in physical units squared (sigma = sqrt(2 t))"),
      arg("--scheme", choices=("auto", "exact", "explicit", "fed", "aos"), default="auto",
          help="time stepping (default auto = exact Gaussian)"),
      _dtype_arg)
def _smooth(args, session):
    from . import io
    from .linear import heat

    session.check_output(args.output, [args.input])
    img = io.read(args.input)
    out = heat(img.data, args.t, scheme=args.scheme, spacing=img.spacing, channel_axis=img.channel_axis,
               callback=session.progress(args.t, "smooth"))
    session.write(args.output, out, like=img, dtype=args.dtype)


def _positive_or_none(name):
    parse = _positive_float(name)

    def check(text):
        value = parse(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{name} must be > 0, got {text!r}")
        return value

    return check


@verb("denoise", "blind denoising by diffusion: noise model and level estimated, parameters chosen",
      arg("--method", choices=("auto", "perona_malik", "tv", "heat", "eed", "ced"), default="auto",
          help="diffusion model (default auto = Perona-Malik; eed = edge-enhancing tensor diffusion, "
               "ced = coherence-enhancing)"),
      arg("--noise", choices=("auto", "gaussian", "rician"), default="auto",
          help="noise model: gaussian, rician (MR magnitude: sigma from the background, bias removed) or auto "
               "(default: decided from the data, and printed)"),
      arg("--sigma", type=_positive_or_none("--sigma"), default=None,
          help="noise standard deviation in the image's units (default: estimated)"),
      arg("--mask", default=None, metavar="MASK|auto",
          help="object mask file (nonzero = object): only voxels inside change, Rician noise is estimated "
               "outside; 'auto' = everything but the dark background"),
      arg("--t", type=_positive_float("--t"), default=None, help="override the stopping time"),
      arg("--kappa", type=_positive_or_none("--kappa"), default=None,
          help="override the contrast parameter of perona_malik/eed (intensity per unit length)"),
      arg("--tuning", choices=("sure", "rule"), default="sure",
          help="blind perona_malik on Gaussian noise: pick the parameters per image by SURE (default, "
               "best quality) or use the calibrated rule alone (faster)"),
      arg("--chunks", type=int, default=None, metavar="N",
          help="stream chunk by chunk (imdiffuse.chunked, needs the [dask] extra) with chunks of N voxels per "
               "axis: bounded memory for volumes bigger than RAM; zarr/OME-Zarr input is always streamed, "
               "a .zarr/.ome.zarr output is written chunk by chunk"),
      _dtype_arg)
def _denoise(args, session):
    import numpy as np

    from . import io
    from .denoise import denoise
    from .noise import background_mask, estimate_noise

    inputs = [args.input] + ([args.mask] if args.mask not in (None, "auto") else [])
    session.check_output(args.output, inputs)
    if args.chunks is not None and args.chunks < 1:
        raise ValueError(f"--chunks must be >= 1, got {args.chunks}")
    img = io.read(args.input, lazy=args.chunks is not None)
    if args.chunks is not None or hasattr(img.data, "dask"):
        return _denoise_chunked(args, session, img)
    shape = img.data.shape
    spatial = shape if img.channel_axis is None else tuple(
        n for i, n in enumerate(shape) if i != img.channel_axis % len(shape))
    if args.mask is None:
        mask = None
    elif args.mask == "auto":
        mask = ~background_mask(img.data, channel_axis=img.channel_axis)
        session.say(f"mask: auto, {100 * mask.mean():.0f}% of the voxels are object")
    else:
        m = io.read(args.mask).data
        if m.shape != spatial:
            raise ValueError(f"--mask {args.mask} has shape {m.shape}, the image's spatial shape is {spatial}")
        mask = np.asarray(m) != 0
    if args.sigma is None:
        sigma, noise = estimate_noise(img.data, noise=args.noise, mask=mask, channel_axis=img.channel_axis,
                                      return_model=True)
        session.say(f"noise model: {noise}{' (auto)' if args.noise == 'auto' else ''}")
        session.say(f"estimated noise sigma: {sigma:.4g}")
    else:
        sigma, noise = args.sigma, args.noise
    with _say_log(session, "denoise:"):  # the parameters SURE chose
        out = denoise(img.data, method=args.method, noise=noise, sigma=sigma if sigma > 0 else None, mask=mask,
                      spacing=img.spacing, channel_axis=img.channel_axis, t=args.t, kappa=args.kappa,
                      tuning=args.tuning)
    session.write(args.output, out, like=img, dtype=args.dtype)


@contextlib.contextmanager
def _say_log(session, prefix):
    """Print the ``imdiffuse`` logger's INFO messages that start with ``prefix`` while inside."""
    import logging

    class Say(logging.Handler):
        def emit(self, record):
            message = record.getMessage()
            if message.startswith(prefix):
                session.say(message[len(prefix):].strip())

    logger = logging.getLogger("imdiffuse")
    handler = Say(logging.INFO)
    level = logger.level
    logger.addHandler(handler)
    if logger.getEffectiveLevel() > logging.INFO:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def _denoise_chunked(args, session, img):
    """denoise --chunks: the Dask graph of imdiffuse.chunked, computed while it is written."""
    import contextlib
    import tempfile

    from . import chunked

    if args.mask is not None:
        raise ValueError("--mask is not supported with chunked (zarr / --chunks) processing; "
                         "denoise without it, or in memory without --chunks")
    params = chunked.denoise_parameters(img.data, method=args.method, noise=args.noise, sigma=args.sigma,
                                        spacing=img.spacing, channel_axis=img.channel_axis, t=args.t,
                                        kappa=args.kappa, tuning=args.tuning)
    session.say(f"noise model: {params['noise']}{' (auto)' if args.noise == 'auto' else ''}")
    session.say(f"estimated noise sigma: {params['sigma']:.4g}" if args.sigma is None
                else f"noise sigma: {params['sigma']:.4g}")
    if params["diffusivity"] is not None:
        session.say(f"chosen on a sample by SURE: {params['method']} diffusivity={params['diffusivity']!r} "
                    f"kappa={params['kappa']:.4g} sigma={params['regularization']:.3g} t={params['t']:.4g}")
    bar = contextlib.nullcontext()
    if not session.quiet and sys.stderr.isatty():
        from dask.diagnostics import ProgressBar

        bar = ProgressBar(minimum=1.0, out=sys.stderr)
    # eed/ced: the FED cycles' intermediate results go to disk beside the output (bounded memory)
    with tempfile.TemporaryDirectory(prefix=".imdiffuse-work-", dir=Path(args.output).parent) as work, bar:
        out = chunked.denoise(img.data, spacing=img.spacing, channel_axis=img.channel_axis, chunks=args.chunks,
                              workdir=work, **params)
        if args.chunks is not None:  # Dask merges chunks thinner than the halo: store the requested ones
            out = out.rechunk(chunked.as_dask(out, chunks=args.chunks, channel_axis=img.channel_axis)[0].chunks)
        session.write(args.output, out, like=img, dtype=args.dtype)


_float_dtype_arg = arg("--dtype", choices=("float32", "float64"), default="float32",
                       help="output data type (default float32)")


def _read_single_channel(args, session, what):
    """Check the output path, then read the input, which must have no channel axis."""
    from . import io

    session.check_output(args.output, [args.input])
    img = io.read(args.input)
    if img.channel_axis is not None:
        raise ValueError(f"{what} must be a single-channel image or volume, got channels on axis {img.channel_axis}")
    return img


@verb("distance", "signed distance to the boundary of a binary mask (negative inside, positive outside)",
      arg("--order", type=int, choices=(1, 2), default=2, help="fast marching stencil order (default 2)"),
      _float_dtype_arg)
def _distance(args, session):
    import numpy as np

    from .fmm import distance

    img = _read_single_channel(args, session, "MASK")
    inside = np.asarray(img.data) != 0
    if inside.all() or not inside.any():
        raise ValueError("MASK has no boundary: it must contain both foreground (nonzero) and background (0) pixels")
    # the boundary lies halfway between inside and outside pixels
    d = distance(np.where(inside, -1.0, 1.0), dx=img.spacing, order=args.order, init="linear")
    session.write(args.output, np.asarray(d), like=img, dtype=args.dtype)


def _seed(text):
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--seed must be comma-separated indices like 120,80, got {text!r}") from None


def _seed_array(seeds, img):
    """The --seed values as a (K, ndim) array, each checked to have the image's number of coordinates."""
    import numpy as np

    ndim = np.ndim(img.data)
    for s in seeds:
        if len(s) != ndim:
            raise ValueError(f"--seed must have {ndim} coordinates for a {ndim}-D image, got {','.join(map(str, s))}")
    return np.array(seeds)


@verb("arrival", "arrival time of a front from seed points through a speed image (|grad T| speed = 1)",
      arg("--seed", type=_seed, action="append", required=True, metavar="I,J[,K]",
          help="seed position in index coordinates (row,column[,slice order as stored]); repeatable"),
      arg("--stop", type=_positive_or_none("--stop"), default=None,
          help="stop when the time exceeds this value (later points are NaN)"),
      arg("--order", type=int, choices=(1, 2), default=2, help="fast marching stencil order (default 2)"),
      _float_dtype_arg)
def _arrival(args, session):
    import numpy as np

    from .fmm import arrival_time

    img = _read_single_channel(args, session, "SPEED")
    T = arrival_time(np.asarray(img.data), _seed_array(args.seed, img), dx=img.spacing, order=args.order, stop=args.stop)
    if np.isnan(T).any():
        session.say(f"{int(np.isnan(T).sum())} point(s) not reached (NaN)")
    session.write(args.output, T, like=img, dtype=args.dtype)


@verb("inpaint", "fill the pixels marked in a mask from their surroundings (scratches, holes, missing slices)",
      arg("--mask", required=True, metavar="MASK",
          help="mask file of the image's spatial shape: nonzero = pixel to fill"),
      arg("--method", choices=("auto", "harmonic", "biharmonic", "eed", "telea"), default="auto",
          help="harmonic (Laplace), biharmonic (smooth, scikit-image's), eed (edge-enhancing diffusion, "
               "continues edges), telea (fast marching, fastest); default auto = eed"),
      _dtype_arg)
def _inpaint(args, session):
    import numpy as np

    from . import io
    from .inpaint import inpaint

    session.check_output(args.output, [args.input, args.mask])
    img = io.read(args.input)
    m = io.read(args.mask)
    mask = np.asarray(m.data)
    if m.channel_axis is not None:  # an RGB(A) mask drawn in a paint program: any nonzero channel
        mask = (mask != 0).any(axis=m.channel_axis)
    mask = mask != 0
    session.say(f"filling {int(mask.sum())} pixel(s) ({100 * mask.mean():.1f}%) with method {args.method}")
    out = inpaint(img.data, mask, method=args.method, spacing=img.spacing, channel_axis=img.channel_axis)
    session.write(args.output, out, like=img, dtype=args.dtype)


@verb("info", "print shape, dtype, spacing and value range of an image or volume file", io=False)
def _info(args, session):
    import numpy as np

    from . import io

    img = io.read(args.input)
    data = np.asarray(img.data)
    finite = data[np.isfinite(data)] if data.dtype.kind == "f" else data
    rng = (f"{finite.min():g} .. {finite.max():g}" if finite.size else "no finite values")
    print(f"file:         {args.input}")
    print(f"format:       {img.format}")
    print(f"shape:        {data.shape}")
    print(f"dtype:        {data.dtype}")
    print(f"channel axis: {img.channel_axis}")
    print(f"spacing:      {tuple(round(float(s), 6) for s in img.spacing)}")
    print(f"range:        {rng}")
    if finite.size:
        print(f"mean:         {float(finite.mean()):g}")


@verb("demo", "run imdiffuse on the bundled samples and write before/after PNGs", io=False)
def _demo(args, session):
    from .demo import run_demo

    run_demo(Path(args.output), session)


@verb("edges", "edge map by diffusion pre-smoothing + non-maximum suppression + hysteresis (uint8 0/255)",
      arg("--method", choices=("auto", "perona_malik", "eed", "heat"), default="auto",
          help="pre-smoothing model (default auto = edge-enhancing diffusion; heat = Canny)"),
      arg("--sigma", type=_positive_or_none("--sigma"), default=None,
          help="noise standard deviation in the image's units (default: estimated)"),
      arg("--low", type=_positive_float("--low"), default=None,
          help="low hysteresis threshold on the gradient magnitude (default: from the noise)"),
      arg("--high", type=_positive_float("--high"), default=None,
          help="high hysteresis threshold on the gradient magnitude (default: from the noise)"),
      arg("--magnitude", action="store_true",
          help="write the gradient magnitude of the smoothed image (float32) instead of the edge map"))
def _edges(args, session):
    import numpy as np

    from . import io
    from .edges import edges

    session.check_output(args.output, [args.input])
    img = io.read(args.input)
    found, mag = edges(img.data, method=args.method, sigma=args.sigma, low=args.low, high=args.high,
                       spacing=img.spacing, channel_axis=img.channel_axis, return_magnitude=True)
    out = mag.astype(np.float32) if args.magnitude else np.where(found, 255, 0).astype(np.uint8)
    if not args.magnitude:
        session.say(f"{int(found.sum())} edge {'voxels' if found.ndim == 3 else 'pixels'}")
    written = io.write(args.output, out, spacing=img.spacing, channel_axis=None,
                       like=img if img.channel_axis is None else None, overwrite=session.overwrite,
                       dtype=out.dtype)
    session.say(f"wrote {written}")


def _threshold_arg(text):
    if text == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--threshold must be a number in [0, 1] or 'auto', got {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"--threshold must be a number in [0, 1] or 'auto', got {text!r}")
    return value


@verb("segment", "segment the region around seed points by fast marching (mask), or label one region per seed",
      arg("--seed", type=_seed, action="append", required=True, metavar="I,J[,K]",
          help="seed position in index coordinates (row,column[,slice order as stored]); repeatable"),
      arg("--threshold", type=_threshold_arg, default="auto", metavar="T|auto",
          help="threshold on the normalised geodesic distance, in [0, 1] (default auto: where the front stalls)"),
      arg("--weight", choices=("graydiff", "gradient"), default="graydiff",
          help="speed map: graydiff (default: denoised intensity close to the seeds') or gradient "
               "(MATLAB gradientweight)"),
      arg("--labels", action="store_true",
          help="write one label per seed (geodesic watershed: 1, 2, ... in --seed order) instead of a "
               "0/255 mask of the region around all seeds"))
def _segment(args, session):
    import numpy as np

    from .segment import geodesic_watershed, segment_fmm

    img = _read_single_channel(args, session, "IMAGE")
    seeds = _seed_array(args.seed, img)
    if args.labels:
        if args.threshold != "auto":
            raise ValueError("--threshold does not apply with --labels (every point gets the label of the nearest seed)")
        labels = geodesic_watershed(np.asarray(img.data), seeds, weight=args.weight, spacing=img.spacing)
        session.say(f"{len(seeds)} label(s): " + ", ".join(f"{k}: {int((labels == k).sum())} px"
                                                           for k in range(1, len(seeds) + 1)))
        out = labels.astype(np.uint8 if len(seeds) < 256 else np.uint16)
    else:
        mask = segment_fmm(np.asarray(img.data), seeds, args.threshold, weight=args.weight, spacing=img.spacing)
        session.say(f"segmented {int(mask.sum())} of {mask.size} points")
        out = np.where(mask, 255, 0).astype(np.uint8)
    session.write(args.output, out, like=img, dtype=str(out.dtype))


def _grid_size(text):
    try:
        size = tuple(int(v) for v in text.split(","))
    except ValueError:
        size = ()
    if len(size) == 1:
        size = size * 2
    if len(size) not in (2, 3) or min(size) < 3:
        raise argparse.ArgumentTypeError(f"--size must be N (square), N,M or N,M,P with entries >= 3, got {text!r}")
    return size


def _positive_int(name):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise argparse.ArgumentTypeError(f"{name} must be an integer >= 1, got {text!r}")
        return value

    return parse


@verb("texture", "reaction-diffusion (Gray-Scott) texture: spots, stripes, mazes, coral, ... (no input file)",
      arg("--preset", default="spots", metavar="NAME",
          help="pattern regime: spots, mitosis, solitons, mazes, coral, worms, holes, waves or chaos "
               "(default spots)"),
      arg("--size", type=_grid_size, default=(512, 512), metavar="N[,M[,P]]",
          help="grid size: N for N x N (default 512), or N,M / N,M,P for a rectangle or a volume"),
      arg("--steps", type=_positive_int("--steps"), default=None,
          help="number of time steps (default: time 10000, about 13600 steps in 2-D)"),
      arg("--seed", type=int, default=None, help="seed of the random start (default: a fresh one, printed)"),
      arg("--field", choices=("v", "u"), default="v", help="species to write (default v)"),
      arg("--reflecting", action="store_true", help="zero-flux borders (default: periodic, a seamless tile)"),
      io="output")
def _texture(args, session):
    import numpy as np

    from .texture import DEFAULT_T, PRESETS, _preset_step, reaction_diffusion

    out = session.check_output(args.output)
    if args.preset not in PRESETS:
        raise ValueError(f"--preset must be one of {', '.join(PRESETS)}, got {args.preset!r}")
    seed = args.seed if args.seed is not None else int(np.random.SeedSequence().entropy % 2**32)
    t = None if args.steps is None else args.steps * _preset_step(args.preset, len(args.size))
    total = DEFAULT_T if t is None else t
    session.say(f"texture: preset {args.preset}, size {'x'.join(map(str, args.size))}, seed {seed}")
    field = reaction_diffusion(args.size, preset=args.preset, t=t, n_steps=args.steps, seed=seed,
                               periodic=not args.reflecting, field=args.field,
                               callback=session.progress(total, "texture"))
    if out.suffix.lower() in (".png", ".jpg", ".jpeg", ".bmp", ".gif"):
        lo, hi = float(field.min()), float(field.max())
        field = np.rint((field - lo) * (255.0 / (hi - lo if hi > lo else 1.0))).astype(np.uint8)
        session.say(f"{args.field} in [{lo:.3g}, {hi:.3g}] stretched to 0..255")
    session.write(out, field, dtype=str(field.dtype))


# ------------------------------------------------------------------- main --


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("imdiffuse")
    except PackageNotFoundError:
        return "unknown"


class _VersionAction(argparse.Action):
    def __init__(self, option_strings, dest, **kwargs):
        super().__init__(option_strings, dest, nargs=0, help="print the version and exit")

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"imdiffuse {_version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imdiffuse",
        description="PDE-based diffusion for images and volumes (PNG, TIFF, NIfTI, DICOM series, NRRD).",
        epilog="Run 'imdiffuse VERB --help' for the options of one verb.",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    for name, (_, help_text, arguments, has_io) in VERBS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == "demo":
            p.add_argument("-o", "--output", default="imdiffuse-demo", metavar="DIR",
                           help="folder for the PNGs (default: ./imdiffuse-demo)")
        elif has_io == "output":
            p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                           help="output file; its extension picks the format")
        elif has_io:
            p.add_argument("input", metavar="INPUT", help="input image/volume file (or DICOM folder)")
            p.add_argument("-o", "--output", required=True, metavar="OUTPUT",
                           help="output file; its extension picks the format")
        else:
            p.add_argument("input", metavar="INPUT", help="image/volume file (or DICOM folder)")
        for flags, kwargs in arguments:
            p.add_argument(*flags, **kwargs)
        if has_io or name == "demo":
            p.add_argument("--overwrite", action="store_true", help="replace existing output files")
        p.add_argument("-q", "--quiet", action="store_true", help="no messages, no progress bar")
    return parser


def _on_sigterm(signum, frame):  # let `finally` blocks remove temporary files
    raise SystemExit(128 + signum)


def main(argv=None) -> int:
    """Entry point of the ``imdiffuse`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with 2 on bad usage
    func = VERBS[args.verb][0]
    try:
        signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not in the main thread
        pass
    try:
        func(args, Session(args))
    except KeyboardInterrupt:
        print("imdiffuse: interrupted", file=sys.stderr)
        return 130
    except (ValueError, TypeError) as exc:
        if os.environ.get("IMDIFFUSE_DEBUG"):
            raise
        print(f"imdiffuse {args.verb}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a failed run: one line, no traceback
        if os.environ.get("IMDIFFUSE_DEBUG"):
            raise
        print(f"imdiffuse {args.verb}: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
