"""One dataclass holds every knob of a run; profiles pick sensible values for CPU and GPU."""

from __future__ import annotations

import dataclasses
import math
import os
from pathlib import Path

from dcgan_tf.fileio import read_json, write_json

RESOLUTIONS = (32, 64, 128)


class InputError(ValueError):
    """A bad setting, run folder or file, named in the message (the CLIs exit with 2).

    Errors of other types are bugs or the environment's: the CLIs exit with 1 for those.
    """

PROFILES = ("small", "full")
KERNEL_SIZES = (4, 5)
PRIORS = ("uniform", "normal")  # of z; dcgan_tf.prior draws from them
STRATEGIES = ("default", "mirrored")  # one device; every GPU (dcgan_tf.devices)
# The most decoded training images (uint8 bytes) the data pipeline's "auto" cache keeps in
# RAM; larger sets are cached in a file under cache_dir() (dcgan_tf.data.choose_cache).
CACHE_CHOICES = ("auto", "memory", "disk", "none")  # see dcgan_tf.data.make_dataset
CACHE_MEMORY_BUDGET = 2 * 2**30


@dataclasses.dataclass
class DCGANConfig:
    """Model, guideline switches, training settings; defaults from docs/paper_notes.md §3-4."""

    # --- model ---
    resolution: int = 64  # output side; 32, 64 or 128
    channels: int = 3
    z_dim: int = 100
    width: int = 64  # feature maps of G's last / D's first conv layer ("ngf"/"ndf")
    kernel_size: int = 5  # 5 in the original code, 4 in most ports
    z_prior: str = "uniform"  # "uniform" on [-1, 1] as in the paper, or "normal"

    # --- switches that break one stability guideline each (all False = the paper) ---
    g_batchnorm: bool = True  # BN in G's hidden layers
    d_batchnorm: bool = True  # BN in D's hidden layers
    bn_on_g_output: bool = False  # the paper leaves it out: BN everywhere oscillated
    bn_on_d_input: bool = False
    pooling: bool = False  # max-pooling in D and upsampling in G instead of strides
    hidden_dense: bool = False  # a fully connected hidden layer in G and D
    g_leaky_relu: bool = False  # LeakyReLU instead of ReLU in G
    d_relu: bool = False  # ReLU instead of LeakyReLU in D
    g_sigmoid_output: bool = False  # sigmoid instead of tanh (data is then scaled to [0, 1])
    # Global average pooling on top of D instead of flattening: "increased model stability
    # but hurt convergence speed" (docs/paper_notes.md §3).
    global_pooling: bool = False

    # --- training ---
    batch_size: int = 128
    learning_rate: float = 2e-4
    beta_1: float = 0.5
    epochs: int = 5
    leaky_slope: float = 0.2
    init_stddev: float = 0.02
    # Not in the paper: sample from an exponential moving average of G's weights (decay per
    # step; 0 = off, the paper's plain G). Training is unchanged: the average only watches.
    g_ema: float = 0.0
    seed: int = 0
    mixed_precision: bool = False  # a GPU feature: float16 maths, float32 weights
    # Compile the train step with XLA: True, False, or "auto": on for one GPU only
    # (dcgan_tf.devices.jit_compile).
    xla: bool | str = "auto"
    # Train steps per call into TensorFlow (Keras' steps_per_execution): above 1, a fast GPU
    # waits less for Python to dispatch each step.
    steps_per_execution: int = 1

    def __post_init__(self):
        if self.resolution not in RESOLUTIONS:
            raise InputError(f"resolution must be one of {RESOLUTIONS}, got {self.resolution}")
        if self.z_prior not in PRIORS:
            raise InputError(f"z_prior must be one of {PRIORS}, got {self.z_prior!r}")
        if self.kernel_size not in KERNEL_SIZES:
            raise InputError(f"kernel_size must be one of {KERNEL_SIZES}, got {self.kernel_size}")
        if self.channels not in (1, 3):
            raise InputError(f"channels must be 1 or 3, got {self.channels}")
        for name in ("width", "z_dim", "batch_size", "epochs", "steps_per_execution"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be positive, got {getattr(self, name)}")
        check_learning_rate(self.learning_rate)
        check_beta_1(self.beta_1)
        check_g_ema(self.g_ema)
        if self.xla != "auto" and not isinstance(self.xla, bool):
            raise InputError(f"xla must be 'auto', True or False, got {self.xla!r}")

    @property
    def n_up(self) -> int:
        """Number of stride-2 layers between 4x4 and the output resolution."""
        return {32: 3, 64: 4, 128: 5}[self.resolution]

    @property
    def pixel_range(self) -> tuple[float, float]:
        """The range the data is scaled to: G's output range."""
        return (0.0, 1.0) if self.g_sigmoid_output else (-1.0, 1.0)

    @classmethod
    def guideline_switches(cls) -> tuple[str, ...]:
        """The fields that each break one guideline: those from g_batchnorm to batch_size."""
        names = [f.name for f in dataclasses.fields(cls)]
        return tuple(names[names.index("g_batchnorm") : names.index("batch_size")])

    def broken_guidelines(self) -> list[str]:
        """Names of the switches set away from the paper's choice."""
        paper = DCGANConfig()
        return [s for s in self.guideline_switches() if getattr(self, s) != getattr(paper, s)]

    def replace(self, **changes) -> "DCGANConfig":
        return dataclasses.replace(self, **changes)

    def to_json(self, path: str | os.PathLike) -> None:
        write_json(path, dataclasses.asdict(self))

    @classmethod
    def from_json(cls, path: str | os.PathLike) -> "DCGANConfig":
        data = read_json(path)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise InputError(f"{path}: unknown config keys {sorted(unknown)}")
        return cls(**data)

    @classmethod
    def profile(cls, name: str | None = None, **overrides) -> "DCGANConfig":
        """The 'small' (laptop CPU, minutes) or 'full' (GPU, 64x64, batch 128) profile.

        The full profile's width 64 starts G at 4x4x512; Fig. 1's 4x4x1024 is width=128.

        `name=None` reads the DCGAN_PROFILE environment variable (default 'small').
        """
        name = name or os.environ.get("DCGAN_PROFILE", "small")
        if name not in PROFILES:
            raise InputError(f"profile must be one of {PROFILES}, got {name!r}")
        if name == "full":
            # Keras hands each call's logs to the callbacks as Python numbers, so the host
            # waits for the device once per call: 8 steps per call on a GPU wait once.
            base = dict(resolution=64, width=64, batch_size=128, epochs=5,
                        steps_per_execution=8)
        else:
            # 32x32 at width 32 costs ~1/25 of the paper's 64x64 model per image: a CPU
            # sees ~100k images in the time the full model needs for 5k. Samples come from
            # a weight average of G (g_ema), which lowers the FD of a short run at no
            # training cost (docs/results.md, "Quality per CPU-minute").
            base = dict(resolution=32, width=32, batch_size=64, epochs=10, g_ema=0.99)
        base.update(overrides)
        return cls(**base)


def check_learning_rate(value: float) -> float:
    """`value` if it is a usable Adam learning rate (finite, positive), else InputError."""
    if not (0 < value < math.inf):  # also refuses NaN
        raise InputError(f"learning_rate must be a positive number, got {value}")
    return value


def check_beta_1(value: float) -> float:
    """`value` if it is a usable Adam beta_1 (in [0, 1)), else InputError."""
    # Also refuses NaN. At 1 Adam's first moment never moves off zero and its bias
    # correction divides by 1 - 1**t = 0.
    if not 0 <= value < 1:
        raise InputError(f"beta_1 must be in [0, 1), got {value}")
    return value


def check_g_ema(value: float) -> float:
    """`value` if it is a usable decay for G's weight average (in [0, 1)), else InputError."""
    if not 0 <= value < 1:  # also refuses NaN; at 1 the average would never leave the start
        raise InputError(f"g_ema must be in [0, 1) (0 = off), got {value}")
    return value


def profile_name() -> str:
    """The active profile: the DCGAN_PROFILE environment variable, 'small' if unset."""
    name = os.environ.get("DCGAN_PROFILE", "small")
    if name not in PROFILES:
        raise InputError(f"DCGAN_PROFILE must be one of {PROFILES}, got {name!r}")
    return name


def cache_dir() -> Path:
    """Where generated data sets and trained probes are cached (env DCGAN_CACHE)."""
    path = Path(os.environ.get("DCGAN_CACHE", Path.home() / ".cache" / "dcgan_tf"))
    path.mkdir(parents=True, exist_ok=True)
    return path
