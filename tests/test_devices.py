"""Where a run trains: XLA's "auto", the device line, the CPU warning, the GPU install."""

import importlib.metadata
import re
from pathlib import Path

import pytest
import tensorflow as tf

from dcgan_tf import devices
from dcgan_tf.config import DCGANConfig, InputError
from dcgan_tf.train import check_same_config

ROOT = Path(__file__).parents[1]
ONE_DEVICE = tf.distribute.get_strategy()


def test_xla_auto_is_off_on_the_cpu_and_explicit_choices_are_kept():
    assert not tf.config.list_physical_devices("GPU")  # the suite hides GPUs (conftest)
    assert DCGANConfig().xla == "auto"
    assert devices.jit_compile("auto", ONE_DEVICE) is False
    assert devices.jit_compile(True, ONE_DEVICE) is True
    assert devices.jit_compile(False, ONE_DEVICE) is False


@pytest.mark.parametrize("bad", ["yes", 1, None])
def test_xla_takes_auto_true_or_false_only(bad):
    with pytest.raises(InputError, match="xla must be"):
        DCGANConfig(xla=bad)


def test_a_run_resumes_under_another_xla_setting(tmp_path):
    """How the step is compiled may change with the machine; what it computes may not."""
    saved = DCGANConfig(xla=False)
    check_same_config(saved, saved.replace(xla="auto", epochs=9), tmp_path)
    with pytest.raises(InputError, match="width"):
        check_same_config(saved, saved.replace(xla="auto", width=8), tmp_path)


def test_the_device_line_names_the_cpu_when_there_is_no_gpu():
    assert devices.describe(ONE_DEVICE) == "training on the CPU (no GPU found)"


def test_a_64x64_run_without_a_gpu_warns_with_the_time_of_an_epoch():
    n = 202_599  # CelebA's images
    line = devices.cpu_warning(DCGANConfig.profile("full"), n)
    slow, fast = (n / rate / 60 for rate in devices.CPU_IMAGES_PER_S)  # the measured step
    assert f"roughly {fast:,.0f}-{slow:,.0f} min per epoch of 202,599 images" in line
    assert "requirements-gpu.txt" in line and "\n" not in line
    wider = devices.cpu_warning(DCGANConfig.profile("full", width=128), n)
    assert f"roughly {4 * fast:,.0f}-{4 * slow:,.0f} min" in wider  # 2x the width, 4x FLOPs
    assert devices.cpu_warning(DCGANConfig.profile("small"), n) is None  # 32x32: minutes


def test_steps_per_call_divide_the_epoch():
    assert devices.steps_per_call(8, 1582, ONE_DEVICE) == 7  # CelebA at batch 128
    assert devices.steps_per_call(8, 14, ONE_DEVICE) == 7  # digits at batch 128
    assert devices.steps_per_call(8, 1583, ONE_DEVICE) == 1  # a prime
    assert devices.steps_per_call(8, 3, ONE_DEVICE) == 3
    assert devices.steps_per_call(4, None, ONE_DEVICE) == 4  # no epoch to fit


def test_strategies_by_name():
    assert devices.strategy_named("default") is ONE_DEVICE
    mirrored = devices.strategy_named("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 1  # no GPU: one replica on the CPU
    with pytest.raises(InputError, match="strategy must be one of"):
        devices.strategy_named("tpu")


def test_the_gpu_requirements_add_cuda_to_the_same_tensorflow():
    cpu = (ROOT / "requirements.txt").read_text()
    gpu = (ROOT / "requirements-gpu.txt").read_text().splitlines()
    assert "-r requirements.txt" in gpu
    version = re.search(r"^tensorflow==(\S+)$", cpu, re.M).group(1)
    assert f"tensorflow[and-cuda]=={version}" in gpu
    # The extra exists in that TensorFlow and brings NVIDIA's CUDA and cuDNN wheels.
    extra = [r for r in importlib.metadata.requires("tensorflow") if 'extra == "and-cuda"' in r]
    assert any(r.startswith("nvidia-cudnn") for r in extra), extra
    assert importlib.metadata.version("tensorflow") == version
