"""Shared test set-up: quiet TensorFlow and a throw-away cache."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The CPU kernels users get (dcgan_tf/__init__.py), even where a test imports TF first.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# Generated data and trained probes go to one temporary cache per test session unless CI
# (or the developer) points DCGAN_CACHE somewhere on purpose.
os.environ.setdefault("DCGAN_CACHE", tempfile.mkdtemp(prefix="dcgan_cache_"))
# TF32 and cuDNN's autotuned kernels break the bitwise equalities many tests check, so on a
# GPU machine the suite runs on the CPU (its subprocesses and the chapters' kernels inherit
# this) unless DCGAN_TEST_GPU=1. benchmarks/gpu_smoke.py is what checks a GPU.
if os.environ.get("DCGAN_TEST_GPU") != "1":
    os.environ["CUDA_VISIBLE_DEVICES"] = ""

import pytest  # noqa: E402

import dcgan_tf.groundtruth  # noqa: E402,F401  (registers the drawn sets the tests train on)


@pytest.fixture
def tiny_cfg():
    """A 32x32 model small enough for a unit test to train for a few steps."""
    from dcgan_tf.config import DCGANConfig

    return DCGANConfig(resolution=32, width=8, batch_size=16, epochs=2, channels=1)


@pytest.fixture
def load_benchmark():
    """Import a script of benchmarks/ by name (they are scripts, not a package)."""
    import importlib.util
    from pathlib import Path

    def load(name: str):
        path = Path(__file__).parents[1] / "benchmarks" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


@pytest.fixture
def run_script(tmp_path):
    """Run Python source in a fresh interpreter (for settings TensorFlow reads once per
    process: logical devices, XLA flags); returns its stdout, failing with its stderr."""
    import subprocess
    import sys

    def run(source: str, *args, env=None, name: str = "script.py") -> str:
        script = tmp_path / name
        script.write_text(source)
        out = subprocess.run([sys.executable, str(script), *map(str, args)],
                             capture_output=True, text=True, timeout=300,
                             env={**os.environ, **(env or {})})
        assert out.returncode == 0, out.stderr[-3000:]
        return out.stdout

    return run


# The fast tier (`pytest -m "not slow"`, README) leaves out the chapters and these tests,
# each of which trains for more than about 10 s on a 2-core CPU (pytest --durations).
SLOW = (
    "test_resume.py::test_mixed_precision_run_saves_loads_and_resumes_exactly",
    "test_monitor.py::test_a_short_run_of_the_papers_config_flags_nothing",
    "test_ablation.py::test_the_benchmark_trains_and_scores_at_64x64_when_asked",
    "test_ablation.py::test_a_sweep_scores_every_run_and_resumes_without_retraining",
    "test_network_studies.py::test_benchmark_smoke_writes_every_output",
    "test_g_ema.py::test_the_average_is_saved_and_an_interrupted_run_resumes_exactly",
    "test_resume.py::test_an_interrupt_between_log_and_checkpoint_repeats_no_row",
    "test_training.py::test_interrupted_run_resumes_to_the_same_result",
    "test_distributed.py::test_the_gpu_smoke_benchmark_runs_end_to_end_on_the_cpu",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.suffix == ".ipynb" or item.nodeid.split("/")[-1] in SLOW:
            item.add_marker(pytest.mark.slow)
