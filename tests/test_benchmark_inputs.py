"""Benchmarks without a smoke test elsewhere: they run on the layered package, and refuse
input they cannot use in one line."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_input_pipeline_benchmark_reads_drawn_faces():
    # In a fresh interpreter: the drawn sets are registered only if the script imports
    # dcgan_tf.groundtruth (this test process has it imported already, by conftest).
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "input_pipeline.py"),
                           "--n", "256", "--epochs", "1", "--steps", "2", "--sizes", "32"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "train step (32x32" in done.stdout


def test_the_dedup_benchmark_needs_two_sizes_to_fit_a_line(load_benchmark, capsys):
    with pytest.raises(SystemExit) as done:
        load_benchmark("dedup").main(["--sizes", "64", "--epochs", "1"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "at least two different sizes" in err and len(err.splitlines()) == 1
