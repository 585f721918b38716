"""One run on a GPU machine that checks the kit's GPU path and prints what it measured.

    python benchmarks/gpu_smoke.py                # on a GPU: about 5 minutes
    python benchmarks/gpu_smoke.py --cpu-dry-run  # the same script on the CPU, tiny sizes

It prints, in order:
  1. the versions: TensorFlow, Keras, the CUDA and cuDNN TensorFlow was built with, and
     every GPU by name;
  2. the train step's images/s and achieved TFLOP/s (model FLOPs, benchmarks/train_step.py)
     in float32 and mixed precision, each with XLA off and on, timed queued (the device
     runs ahead of Python, as fit() lets it) and synced after every step;
  3. a short 64x64 full-profile train() on drawn faces: the probe Frechet distance of the
     trained and of the untrained G, the checkpoint's size and save time;
  4. the input pipeline's images/s beside the step's, for a folder of JPEGs, for data_prep
     shards and for the memory cache;
  5. mixed precision under MirroredStrategy on two logical devices (two GPUs, or on one GPU
     two halves of it): an overflow planted on one replica is skipped by both.
--cpu-dry-run runs every part at tiny sizes (32x32, a few steps) to check the script.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as dcgan_tf sets it, before TF loads

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from PIL import Image  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from input_pipeline import epoch_rates  # noqa: E402
from train_step import forward_flops  # noqa: E402

import dcgan_tf.groundtruth  # noqa: E402, F401  (registers the drawn sets: faces:N)
from data_prep.shard import example  # noqa: E402
from dcgan_tf import checkpoint, devices  # noqa: E402
from dcgan_tf.config import DCGANConfig  # noqa: E402
from dcgan_tf.groundtruth import procedural, scoring  # noqa: E402
from dcgan_tf.train import build_gan, train  # noqa: E402


def logical_pair() -> tuple[str, list[str]]:
    """Two logical devices for the replica check, set before TensorFlow uses a device: two
    GPUs, one GPU split in two, or (no GPU) the CPU split in two."""
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= 2:
        return "GPU", ["/gpu:0", "/gpu:1"]
    if gpus:
        tf.config.set_logical_device_configuration(
            gpus[0], [tf.config.LogicalDeviceConfiguration(memory_limit=2048)] * 2)
        return "GPU", ["/gpu:0", "/gpu:1"]
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return "CPU", ["/cpu:0", "/cpu:1"]


def versions() -> None:
    info = tf.sysconfig.get_build_info()
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name)
             for g in tf.config.list_physical_devices("GPU")]
    print(f"1. TensorFlow {tf.__version__}, Keras {keras.__version__}, built with CUDA "
          f"{info.get('cuda_version', 'none')}, cuDNN {info.get('cudnn_version', 'none')}")
    print(f"   GPUs: {names or 'none'}")


def step_rates(cfg: DCGANConfig, steps: int) -> dict[str, float]:
    """Images/s of the train step on a fixed uint8 batch: queued, and synced every step."""
    keras.utils.set_random_seed(0)
    gan = build_gan(cfg)
    x = tf.constant(np.random.default_rng(0).integers(
        0, 256, (cfg.batch_size, cfg.resolution, cfg.resolution, cfg.channels), np.uint8))
    step = tf.function(gan.train_step,
                       jit_compile=devices.jit_compile(cfg.xla, tf.distribute.get_strategy()))
    for _ in range(3):
        step(x)["d_loss"].numpy()
    out = {}
    for mode in ("queued", "synced"):
        t = time.perf_counter()
        for _ in range(steps):
            logs = step(x)
            if mode == "synced":
                logs["d_loss"].numpy()
        logs["d_loss"].numpy()  # the queue drained: every step has run
        out[mode] = steps * cfg.batch_size / (time.perf_counter() - t)
    return out


def part_steps(cfg: DCGANConfig, steps: int) -> None:
    gan = build_gan(cfg)
    flops = 3 * forward_flops(gan.generator) + 8 * forward_flops(gan.discriminator)
    print(f"\n2. train step, {cfg.resolution}x{cfg.resolution}, width {cfg.width}, batch "
          f"{cfg.batch_size} ({flops / 1e9:.3f} GFLOP per image), {steps} steps:")
    for mixed in (False, True):
        for xla in (False, True):
            rates = step_rates(cfg.replace(mixed_precision=mixed, xla=xla), steps)
            print(f"  {'mixed' if mixed else 'fp32 '} xla {'on ' if xla else 'off'}: "
                  + ", ".join(f"{mode} {r:,.0f} images/s ({r * flops / 1e12:.3f} TFLOP/s)"
                              for mode, r in rates.items()))


def part_train(cfg: DCGANConfig, source: str, score_n: int, out: Path) -> None:
    print(f"\n3. train() on {source}, {cfg.resolution}x{cfg.resolution}, {cfg.epochs} epoch(s):")
    t = time.perf_counter()
    gan = train(cfg, source, out, progress=False)
    print(f"  trained in {time.perf_counter() - t:.0f} s")
    scorer = scoring.Scorer(cfg, "faces", score_n)
    keras.utils.set_random_seed(cfg.seed)  # the generator the run started from
    untrained = build_gan(cfg)
    print(f"  probe FD ({score_n} images): trained {scorer.fd(scorer.images(gan)):.1f}, "
          f"untrained {scorer.fd(scorer.images(untrained)):.1f}")
    t = time.perf_counter()
    checkpoint.save(gan, out, cfg.epochs)
    size = (out / checkpoint.CHECKPOINT).stat().st_size
    print(f"  checkpoint.npz {size / 2**20:.1f} MB, saved with its history and "
          f"generator.keras in {time.perf_counter() - t:.2f} s")


def write_inputs(images: np.ndarray, folder: Path) -> tuple[Path, Path]:
    """The same images as a folder of JPEGs and as one data_prep shard."""
    jpegs, shards = folder / "jpegs", folder / "shards"
    jpegs.mkdir(parents=True)
    shards.mkdir()
    with tf.io.TFRecordWriter(str(shards / "faces-00000-of-00001.tfrecord")) as writer:
        for i, image in enumerate(images):
            Image.fromarray(image).save(jpegs / f"{i:05d}.jpg", quality=90)
            png = tf.io.encode_png(image).numpy()
            writer.write(example(png, "gpu_smoke", f"{i:05d}", (0.0, 0.0, 1.0, 1.0)))
    return jpegs, shards


def part_inputs(cfg: DCGANConfig, n: int, step_rate: float) -> None:
    print(f"\n4. input pipeline, {n:,} images at {cfg.resolution}x{cfg.resolution} (train step"
          f": {step_rate:,.0f} images/s):")
    images, _ = procedural.load("faces", n, seed=0, size=cfg.resolution)
    with tempfile.TemporaryDirectory() as tmp:
        jpegs, shards = write_inputs(images, Path(tmp))
        for name, source, cache in (("JPEG folder", jpegs, "none"), ("shards", shards, "none"),
                                    ("memory cache", f"faces:{n}", "memory")):
            rates = epoch_rates(str(source), cfg, cache, epochs=2)
            print(f"  {name}: {rates[-1]:,.0f} images/s")


def part_replicas(kind: str, names: list[str]) -> None:
    """Mixed precision under MirroredStrategy: an overflow on one replica only."""
    strategy = tf.distribute.MirroredStrategy(names)
    cfg = DCGANConfig(resolution=32, width=8, batch_size=16, mixed_precision=True)
    keras.utils.set_random_seed(0)
    gan = build_gan(cfg, strategy)
    # At 2**16 (2,000 finite steps after the start), D's first step on these data overflows
    # on one replica of two logical CPUs and not on the other; other devices may need
    # another scale, so a step that no replica overflows is reported, not failed.
    gan.d_optimizer.dynamic_scale.assign(2.0 ** 16)
    x = np.random.default_rng(0).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
    gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, verbose=0,
            shuffle=False)
    copies = [strategy.experimental_local_results(w.value) for w in gan.discriminator.weights]
    finite = all(np.isfinite(c.numpy()).all() for cs in copies for c in cs)
    same = all(np.array_equal(cs[0].numpy(), cs[1].numpy()) for cs in copies)
    skipped = int(gan.d_optimizer.iterations.numpy()) == 0
    scale = float(gan.d_optimizer.dynamic_scale.numpy())
    ok = finite and same and (skipped == (scale == 2.0 ** 15))
    print(f"\n5. mixed precision at loss scale 65536 on 2 {kind} replicas: weights finite "
          f"{finite}, equal {same}, step skipped {skipped}, loss scale now {scale:g} -> "
          f"{'OK' if ok else 'FAILED'}")
    if not ok:
        raise SystemExit("the replicas disagreed about an overflow (see dcgan_tf/gan.py)")


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cpu-dry-run", action="store_true",
                    help="run every part on the CPU at tiny sizes (checks the script)")
    ap.add_argument("--replicas", action="store_true",
                    help="part 5 only (run in a process of its own: it splits a device)")
    args = ap.parse_args(argv)
    if args.replicas:
        part_replicas(*logical_pair())
        return
    versions()
    if args.cpu_dry_run:
        if tf.config.list_physical_devices("GPU"):
            raise SystemExit("--cpu-dry-run: hide the GPUs first (CUDA_VISIBLE_DEVICES=)")
        cfg, steps, n, score_n = DCGANConfig(resolution=32, width=8, batch_size=16), 3, 256, 100
        run_cfg = cfg.replace(epochs=1)
    else:
        if not tf.config.list_physical_devices("GPU"):
            raise SystemExit("no GPU found: install requirements-gpu.txt (README), or run "
                             "--cpu-dry-run to check the script on the CPU")
        cfg, steps, n, score_n = DCGANConfig.profile("full"), 50, 20_000, 2_000
        run_cfg = cfg.replace(epochs=1)
    part_steps(cfg, steps)
    with tempfile.TemporaryDirectory() as tmp:
        part_train(run_cfg, f"faces:{n}", score_n, Path(tmp) / "run")
    part_inputs(cfg, min(n, 4_096), step_rates(cfg, steps)["queued"])
    # Logical devices are fixed when TensorFlow starts: the split gets its own process.
    sys.stdout.flush()
    done = subprocess.run([sys.executable, __file__, "--replicas"])
    if done.returncode != 0:
        raise SystemExit(done.returncode)


if __name__ == "__main__":
    main()
