"""The GPU paths on two logical CPUs: mixed precision and XLA under MirroredStrategy.

A GPU owner confirms the same on real devices with benchmarks/gpu_smoke.py.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TWO_CPUS = textwrap.dedent("""
    import os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import json, sys
    import keras, numpy as np
    from dcgan_tf.config import DCGANConfig
    from dcgan_tf.train import build_gan

    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    assert strategy.num_replicas_in_sync == 2
""")

ONE_STEP = TWO_CPUS + textwrap.dedent("""
    cfg = DCGANConfig(resolution=32, width=8, batch_size=16, mixed_precision=True)

    def one_step(x, seed, scale_exponent):
        keras.utils.set_random_seed(seed)
        gan = build_gan(cfg, strategy)
        gan.d_optimizer.dynamic_scale.assign(2.0 ** scale_exponent)
        gan.fit(tf.data.Dataset.from_tensor_slices(x).batch(16), epochs=1, verbose=0,
                shuffle=False)
        # Trained weights, and G's BatchNorm statistics: D's are fed by the images alone,
        # and an image beyond float16 makes them NaN on one device too.
        kept = gan.discriminator.trainable_weights + gan.generator.weights
        copies = [[c.numpy() for c in strategy.experimental_local_results(w.value)]
                  for w in kept]
        return {"finite": all(np.isfinite(c).all() for cs in copies for c in cs),
                "replicas_differ": max(float(np.abs(cs[0] - cs[1]).max()) for cs in copies),
                "d_steps": int(gan.d_optimizer.iterations.numpy()),
                "g_steps": int(gan.g_optimizer.iterations.numpy()),
                "d_scale": float(gan.d_optimizer.dynamic_scale.numpy())}

    out = {}
    for seed in range(int(sys.argv[1])):
        x = np.random.default_rng(seed).uniform(-1, 1, (16, 32, 32, 3)).astype("float32")
        out[seed] = one_step(x, seed, int(sys.argv[2]))
    print("RESULT", json.dumps(out))
""")


def _result(stdout: str) -> dict:
    line, = [ln for ln in stdout.splitlines() if ln.startswith("RESULT ")]
    return json.loads(line.removeprefix("RESULT "))


def test_an_overflow_on_one_replica_is_skipped_by_every_replica(run_script):
    """Mixed precision under MirroredStrategy: when one replica's gradients overflow, every
    replica skips the step and the loss scale halves, as on one device. Keras 3.15 kept
    replica 0's verdict and applied the inf everywhere."""
    # At the loss scale 2**16 (reached after 2,000 finite steps from 2**15), D's first step
    # on these data overflows on one replica and not on the other: Keras 3.15 applied it.
    step = _result(run_script(ONE_STEP, 1, 16))["0"]
    assert step["finite"] and step["replicas_differ"] == 0
    assert step["d_steps"] == 0 and step["d_scale"] == 2.0 ** 15  # skipped, scale halved


def test_no_first_step_of_ordinary_data_breaks_a_weight(run_script):
    for seed, step in _result(run_script(ONE_STEP, 4, 15)).items():
        assert step["finite"] and step["replicas_differ"] == 0, seed
        assert step["d_steps"] + (step["d_scale"] < 2.0 ** 15) == 1, seed  # applied or skipped


TRAIN = TWO_CPUS + textwrap.dedent("""
    import dcgan_tf.groundtruth
    from dcgan_tf import checkpoint
    from dcgan_tf.health import watch
    from dcgan_tf.runlog import read_rows
    from dcgan_tf.train import train
    cfg = DCGANConfig(resolution=32, width=8, batch_size=16, epochs=2, steps_per_execution=4,
                      mixed_precision=True)
    gan = train(cfg, "faces:192", sys.argv[1], strategy=strategy, monitor=watch)
    print("RESULT", json.dumps({
        "per_call": gan.steps_per_execution, "epoch": checkpoint.saved_epoch(sys.argv[1]),
        "steps": [int(r["step"]) for r in read_rows(sys.argv[1] + "/steps.csv")],
        "epochs_logged": len(read_rows(sys.argv[1] + "/log.csv")),
        "health_rows": len(read_rows(sys.argv[1] + "/health.csv"))}))
""")


def test_a_whole_run_trains_under_mirrored_strategy(run_script, tmp_path):
    """train() on two replicas, mixed precision and the monitor: every step logged through
    the per-replica step buffer, one step per call (more fail under several replicas)."""
    out = run_script(TRAIN, tmp_path / "run")
    result = _result(out)
    assert result["per_call"] == 1 and "steps per call: 1 (of 4 asked for" in out
    assert result["epoch"] == 2 and result["steps"] == list(range(1, 25))
    assert result["epochs_logged"] == 2 and result["health_rows"] == 2
    assert (tmp_path / "run" / "generator.keras").is_file()


XLA = TWO_CPUS + textwrap.dedent("""
    from dcgan_tf.config import InputError
    try:
        build_gan(DCGANConfig(resolution=32, width=8, batch_size=16, xla=True), strategy)
    except InputError as err:
        print("REFUSED", err)
""")


def test_xla_under_several_replicas_is_refused_before_training(run_script):
    out = run_script(XLA)
    refused = [ln for ln in out.splitlines() if ln.startswith("REFUSED")]
    assert refused, out
    assert "xla" in refused[0] and "2 replicas" in refused[0]


@pytest.mark.parametrize("xla", ["auto", False])
def test_xla_auto_is_off_under_several_replicas(run_script, xla):
    script = TWO_CPUS + textwrap.dedent(f"""
        gan = build_gan(DCGANConfig(resolution=32, width=8, batch_size=16, xla={xla!r}),
                        strategy)
        print("JIT", gan.jit_compile)
    """)
    assert "JIT False" in run_script(script)


def test_the_gpu_smoke_benchmark_runs_end_to_end_on_the_cpu():
    """benchmarks/gpu_smoke.py --cpu-dry-run: every part of the GPU owner's script, tiny."""
    script = Path(__file__).parents[1] / "benchmarks" / "gpu_smoke.py"
    done = subprocess.run([sys.executable, str(script), "--cpu-dry-run"], capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for part in ("1. TensorFlow ", "2. train step", "3. train()", "4. input pipeline",
                 "5. mixed precision at loss scale 65536 on 2 CPU replicas"):
        assert part in out, out
    assert out.count("images/s (") == 8  # fp32 / mixed x XLA off / on x queued / synced
    for source in ("JPEG folder", "shards", "memory cache"):
        assert f"  {source}: " in out
    assert "probe FD (100 images): trained " in out and out.rstrip().endswith("-> OK")
    assert "step skipped True, loss scale now 32768" in out  # the overflow of one replica
