"""The devices a run trains on: the line train() prints, XLA's "auto", the CPU warning."""

from __future__ import annotations

import tensorflow as tf

from dcgan_tf.config import STRATEGIES, InputError

# The full profile's 64x64 step (width 64, batch 128) on the 2-core CPUs measured, slowest
# and fastest (docs/benchmarks.md).
CPU_IMAGES_PER_S = (33.0, 71.0)


def gpus() -> list:
    return tf.config.list_physical_devices("GPU")


def strategy_named(name: str) -> tf.distribute.Strategy:
    """"default": one device (a GPU if there is one); "mirrored": every GPU, one replica each."""
    if name not in STRATEGIES:
        raise InputError(f"strategy must be one of {STRATEGIES}, got {name!r}")
    return tf.distribute.MirroredStrategy() if name == "mirrored" else tf.distribute.get_strategy()


def memory_growth() -> None:
    """Let TensorFlow take GPU memory as it needs it, not all of it at start (for a GPU
    shared with other work). It must run before anything has touched a GPU."""
    try:
        for gpu in gpus():
            tf.config.experimental.set_memory_growth(gpu, True)
    except RuntimeError as err:
        raise InputError(f"memory growth must be set before TensorFlow uses a GPU: call it "
                         f"first, in a fresh process ({err})") from None


def describe(strategy) -> str:
    """"training on ...": the GPUs by name, or the CPU; the replicas, if more than one."""
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
             for g in gpus()]
    where = ", ".join(names) if names else "the CPU (no GPU found)"
    n = strategy.num_replicas_in_sync
    return f"training on {where}" + (f"; {type(strategy).__name__}, {n} replicas" if n > 1
                                     else "")


def jit_compile(xla, strategy) -> bool:
    """Whether to compile the train step with XLA: `xla` True or False, or "auto" (on for a
    single GPU; off on the CPU, where it is slower, and under several replicas)."""
    n = strategy.num_replicas_in_sync
    if n > 1:
        if xla is True:  # Keras would compile strategy.run's step, all-reduce included
            raise InputError(f"xla=True (--xla on) does not run under {type(strategy).__name__}"
                             f" with {n} replicas: use xla='auto' or False (--xla auto|off), "
                             "or train on one device (--strategy default)")
        return False
    return bool(gpus()) if xla == "auto" else bool(xla)


def steps_per_call(wanted: int, steps: int | None, strategy) -> int:
    """Steps per call: the most, up to `wanted`, that divide an epoch's `steps` (Keras runs
    whole calls, across epoch boundaries otherwise); 1 under several replicas, where Keras
    3.15 fails with more ("You must feed a value for placeholder tensor")."""
    if strategy.num_replicas_in_sync > 1:
        return 1
    if steps is None:
        return wanted
    return max(k for k in range(1, min(wanted, steps) + 1) if steps % k == 0)


def cpu_warning(cfg, n_images: int) -> str | None:
    """One line for a 64x64 (or larger) run with no GPU: what an epoch will cost."""
    if gpus() or cfg.resolution < 64:
        return None
    flops = (cfg.resolution / 64) ** 2 * (cfg.width / 64) ** 2  # against the measured step
    slow, fast = (n_images * flops / rate / 60 for rate in CPU_IMAGES_PER_S)
    return (f"warning: no GPU found: this {cfg.resolution}x{cfg.resolution} run trains on "
            f"the CPU, roughly {fast:,.0f}-{slow:,.0f} min per epoch of {n_images:,} images "
            f"(the full profile's step: {CPU_IMAGES_PER_S[0]:.0f}-{CPU_IMAGES_PER_S[1]:.0f} "
            "images/s on 2-core CPUs); for a GPU, install requirements-gpu.txt (README)")
