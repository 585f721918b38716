"""Shared test set-up: quiet TensorFlow and a throw-away cache."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The CPU kernels users get (dcgan_tf/__init__.py), even where a test imports TF first.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
# Generated data and trained probes go to one temporary cache per test session unless CI
# (or the developer) points DCGAN_CACHE somewhere on purpose.
os.environ.setdefault("DCGAN_CACHE", tempfile.mkdtemp(prefix="dcgan_cache_"))

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
