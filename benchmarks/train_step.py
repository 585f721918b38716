"""Throughput of the DCGAN training step, in images/s and GFLOP/s, beside a matmul reference.

    python benchmarks/train_step.py              # paper's 64x64 model at batch 128, and small
    python benchmarks/train_step.py --steps 20 --xla
    python benchmarks/train_step.py --callbacks     # fit() with the run's callbacks vs bare

Model FLOPs per image count the multiply-adds (x2) of every conv, transposed conv and dense
layer in one training step:
  G forward once (shared by both steps)             1 F_G
  D step: D on real and fake, forward + backward    6 F_D  (backward = weight + input grads)
  G step: D forward on fake, input grads through D  2 F_D  (D's weight grads are not needed)
          G backward, weight + input grads          2 F_G
  total                                             3 F_G + 8 F_D
BN, activations and the optimizer update are left out (memory-bound, few FLOPs). The count is
cross-checked against TensorFlow's own graph profiler on the G and D forward passes.

The reference is a 2048x2048 float32 matmul, timed after every training step so both see the
same machine. Two shares are printed: median step over median matmul, and best step over
best matmul; the target (the 64x64 step at 70% of matmul or more) is judged on the lower.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# As dcgan_tf sets it (see dcgan_tf/__init__.py); it must precede TF's import. Compare with
# TF_ENABLE_ONEDNN_OPTS=0 python benchmarks/train_step.py
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.python.framework.convert_to_constants import (  # noqa: E402
    convert_variables_to_constants_v2)

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from dcgan_tf import devices  # noqa: E402
from dcgan_tf.config import DCGANConfig  # noqa: E402
from dcgan_tf.train import build_gan, fixed_noise, run_callbacks  # noqa: E402


def forward_flops(model: keras.Model) -> int:
    """2 x multiply-adds per example of the conv / transposed conv / dense layers."""
    total = 0
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "Dense":
            total += 2 * layer.kernel.shape[0] * layer.kernel.shape[1]
        elif kind == "Conv2D":
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * h * w * kh * kw * cin * cout
        elif kind == "Conv2DTranspose":
            kh, kw, cout, cin = layer.kernel.shape  # Keras stores (k, k, out, in) here
            _, h, w, _ = layer.input.shape
            total += 2 * h * w * kh * kw * cin * cout  # every input pixel scatters a kernel
    return total


def profiler_flops(model: keras.Model) -> int:
    """TensorFlow's own FLOP count of one forward pass per example (independent check)."""
    spec = tf.TensorSpec((1, *model.input.shape[1:]), tf.float32)
    fn = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    graph = convert_variables_to_constants_v2(fn).graph
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return tf.compat.v1.profiler.profile(graph=graph, options=opts).total_float_ops


def matmul_probe(n: int = 2048):
    """A compiled float32 matmul; `probe(reps)` times `reps` products and returns GFLOP/s.

    The machine's practical compute ceiling here: two dense 2048x2048 operands keep both
    cores busy in one well-tuned kernel.
    """
    a = tf.random.normal((n, n))
    b = tf.random.normal((n, n))
    step = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    step(a, b).numpy()

    def probe(reps: int = 5) -> float:
        t = time.perf_counter()
        for _ in range(reps):
            out = step(a, b)
        out.numpy()
        return 2 * n**3 * reps / (time.perf_counter() - t) / 1e9

    return probe


def time_step(gan, cfg: DCGANConfig, steps: int, probe, warmup: int = 3):
    """Seconds of each of `gan`'s training steps on a fixed batch (no input pipeline in the
    way), and the matmul GFLOP/s measured right after each step.

    A shared machine's speed drifts by 20% within minutes, so the step and its reference are
    measured in alternation: the ratio of their medians compares like with like.
    """
    x = tf.random.uniform((cfg.batch_size, cfg.resolution, cfg.resolution, cfg.channels),
                          -1, 1)
    step = tf.function(gan.train_step,
                       jit_compile=devices.jit_compile(cfg.xla, tf.distribute.get_strategy()))
    for _ in range(warmup):
        step(x)["d_loss"].numpy()
    seconds, matmul = [], []
    for _ in range(steps):
        t = time.perf_counter()
        step(x)["d_loss"].numpy()
        seconds.append(time.perf_counter() - t)
        matmul.append(probe())
    return np.array(seconds), np.array(matmul)


def time_parts(cfg: DCGANConfig, reps: int = 5) -> None:
    """GFLOP/s of each network alone, forward and forward + backward: where the time goes."""
    gan = build_gan(cfg)
    G, D = gan.generator, gan.discriminator
    z = tf.random.uniform((cfg.batch_size, cfg.z_dim), -1, 1)
    x = tf.random.uniform((cfg.batch_size, cfg.resolution, cfg.resolution, cfg.channels),
                          -1, 1)

    def forward_backward(net):
        @tf.function
        def run(inputs):
            with tf.GradientTape() as tape:
                y = tf.reduce_sum(net(inputs, training=True))
            return tape.gradient(y, net.trainable_weights)  # weight and input gradients
        return run

    print(f"\nparts at batch {cfg.batch_size}:")
    for name, net, inputs in (("G", G, z), ("D", D, x)):
        flops = forward_flops(net) * cfg.batch_size
        for label, fn, mult in (("forward", tf.function(lambda v: net(v, training=True)), 1),
                                ("forward + backward", forward_backward(net), 3)):
            tf.nest.map_structure(lambda t: t.numpy(), fn(inputs))
            best = float("inf")
            for _ in range(reps):
                t = time.perf_counter()
                tf.nest.map_structure(lambda t: t.numpy(), fn(inputs))
                best = min(best, time.perf_counter() - t)
            print(f"  {name} {label:18s} {best * 1000:6.0f} ms  "
                  f"{mult * flops / best / 1e9:6.1f} GFLOP/s")


def report(name: str, cfg: DCGANConfig, steps: int, probe) -> float:
    """Print one configuration's figures; return the stricter of its two shares of matmul."""
    keras.utils.set_random_seed(0)
    gan = build_gan(cfg)
    f_g, f_d = forward_flops(gan.generator), forward_flops(gan.discriminator)
    p_g, p_d = profiler_flops(gan.generator), profiler_flops(gan.discriminator)
    per_image = 3 * f_g + 8 * f_d
    seconds, matmul = time_step(gan, cfg, steps, probe)
    achieved = per_image * cfg.batch_size / seconds / 1e9
    med, best = float(np.median(achieved)), float(achieved.max())
    share_med, share_best = med / float(np.median(matmul)), best / float(matmul.max())
    print(f"\n{name}: {cfg.resolution}x{cfg.resolution}, width {cfg.width}, kernel "
          f"{cfg.kernel_size}, batch {cfg.batch_size}, xla={cfg.xla}")
    print(f"  forward GFLOP/image  G {f_g / 1e9:.4f}  D {f_d / 1e9:.4f}   "
          f"(TF profiler, all ops: G {p_g / 1e9:.4f}  D {p_d / 1e9:.4f})")
    print(f"  train-step GFLOP/image (3 F_G + 8 F_D): {per_image / 1e9:.3f}")
    print(f"  step time over {steps} steps: median {np.median(seconds) * 1000:.0f} ms "
          f"(range {seconds.min() * 1000:.0f}-{seconds.max() * 1000:.0f})   "
          f"images/s {cfg.batch_size / np.median(seconds):.1f}")
    print(f"  achieved GFLOP/s: median {med:.1f}, best {best:.1f}")
    print(f"  matmul between the steps: median {np.median(matmul):.1f}, "
          f"range {matmul.min():.1f}-{matmul.max():.1f}")
    print(f"  share of matmul: {100 * share_med:.0f}% (median / median), "
          f"{100 * share_best:.0f}% (best / best)")
    return min(share_med, share_best)


class EpochTimer(keras.callbacks.Callback):
    """Seconds of each epoch's steps: listed first, its epoch end runs before the others'
    epoch-end work (grids, checkpoints), so it times the steps alone."""

    def __init__(self):
        super().__init__()
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self.start)


def time_fit(cfg: DCGANConfig, steps: int, kit: bool, epochs: int = 3) -> float:
    """Median ms per step of fit() over uint8 batches after a warm-up epoch: bare, or with
    the step buffer and every callback of a run (train.run_callbacks)."""
    keras.utils.set_random_seed(0)
    gan = build_gan(cfg)
    shape = (steps * cfg.batch_size, cfg.resolution, cfg.resolution, cfg.channels)
    x = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    ds = tf.data.Dataset.from_tensor_slices(x).batch(cfg.batch_size).repeat(epochs).prefetch(2)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as run:
        callbacks = [timer]
        if kit:
            gan.keep_steps(steps)
            callbacks += run_callbacks(Path(run), cfg, steps, 0, fixed_noise(cfg))
        gan.fit(ds, epochs=epochs, steps_per_epoch=steps, callbacks=callbacks, verbose=0,
                shuffle=False)
    return 1000 * float(np.median(timer.seconds[1:])) / steps


def report_callbacks(cfg: DCGANConfig, steps: int) -> None:
    """The kit's callbacks against a bare fit(), with and without steps_per_execution."""
    print(f"\nfit() per step, {cfg.resolution}x{cfg.resolution}, width {cfg.width}, batch "
          f"{cfg.batch_size}, {steps} steps an epoch (median of the later epochs):")
    for spe in (1, 4):
        c = cfg.replace(steps_per_execution=spe)
        bare, kit = time_fit(c, steps, kit=False), time_fit(c, steps, kit=True)
        print(f"  steps_per_execution {spe}: bare {bare:.1f} ms, with the run's callbacks "
              f"{kit:.1f} ms ({100 * (kit / bare - 1):+.1f}%)")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=12, help="timed steps per configuration")
    ap.add_argument("--xla", action="store_true", help="also time with XLA")
    ap.add_argument("--only", choices=["paper", "small"],
                    help="time one configuration only (default: both)")
    ap.add_argument("--callbacks", action="store_true",
                    help="only time fit() with the run's callbacks against a bare fit()")
    ap.add_argument("--parts", action="store_true",
                    help="also time G and D alone (paper model), forward and backward")
    args = ap.parse_args(argv)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, "
          f"{os.cpu_count()} CPU cores, devices: "
          f"{[d.device_type for d in tf.config.list_physical_devices()]}, "
          f"TF_ENABLE_ONEDNN_OPTS={os.environ['TF_ENABLE_ONEDNN_OPTS']}")
    if args.callbacks:
        for name, cfg in (("small", DCGANConfig.profile("small")),
                          ("paper", DCGANConfig(resolution=64, width=64, batch_size=128))):
            if args.only in (None, name):
                report_callbacks(cfg, args.steps if name == "paper" else 5 * args.steps)
        return
    probe = matmul_probe()
    print(f"float32 matmul 2048x2048: {max(probe(20) for _ in range(3)):.1f} GFLOP/s "
          "(best of 3)")
    paper = DCGANConfig(resolution=64, width=64, batch_size=128)
    configs = [("paper 64x64", paper), ("small profile", DCGANConfig.profile("small"))]
    if args.only:
        configs = [c for c in configs if c[0].startswith(args.only)]
    shares = {}
    for name, cfg in configs:
        shares[name] = report(name, cfg, args.steps, probe)
        if args.xla:
            shares[name + " + XLA"] = report(name + " + XLA", cfg.replace(xla=True),
                                             args.steps, probe)
    if args.parts:
        time_parts(paper)
    if "paper 64x64" not in shares:
        return
    target = shares["paper 64x64"]
    print(f"\ntarget (paper 64x64 step >= 70% of matmul, the stricter share): "
          f"{100 * target:.0f}% -> {'met' if target >= 0.70 else 'NOT met'}")


if __name__ == "__main__":
    main()
