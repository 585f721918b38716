"""checkpoint.npz keyed by path, the generators of the last epochs, the .keras export."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

from dcgan_tf import checkpoint
from dcgan_tf.config import DCGANConfig
from dcgan_tf.train import build_gan

CFG = DCGANConfig(resolution=32, width=8, batch_size=16, channels=1, mixed_precision=True,
                  g_ema=0.9)


def _randomised(seed: int):
    """A built DCGAN whose every variable holds its own random values (Adam's m and v too,
    so a swap between them shows)."""
    gan = build_gan(CFG)
    rng = np.random.default_rng(seed)
    for v in checkpoint._variables(gan).values():
        value = rng.uniform(1, 2, v.shape) if "float" in str(v.dtype) else \
            rng.integers(1, 9, v.shape)
        v.assign(value.astype(str(v.dtype)))
    return gan


def _values(gan) -> dict:
    return {k: np.asarray(v.numpy()) for k, v in checkpoint._variables(gan).items()}


def test_a_checkpoint_loads_each_variable_into_its_own_place_in_any_order(tmp_path,
                                                                          monkeypatch):
    saved = _randomised(0)
    checkpoint.save(saved, tmp_path, 3)
    # A Keras upgrade that lists the variables of each group in another order: with keys
    # by position, Adam's m and v (equal shapes) would load into each other's place.
    groups = checkpoint._groups
    monkeypatch.setattr(checkpoint, "_groups",
                        lambda gan: {k: v[::-1] for k, v in groups(gan).items()})
    loaded = build_gan(CFG)
    assert checkpoint.restore(loaded, tmp_path) == 3
    expected, got = _values(saved), _values(loaded)
    assert got.keys() == expected.keys() and len(got) > 50
    for key in expected:
        np.testing.assert_array_equal(got[key], expected[key], err_msg=key)
    assert any("inner/" in k and k.endswith("_velocity") for k in got)  # Adam's, by path


def test_a_checkpoint_keyed_by_position_still_loads(tmp_path):
    """Run folders written before path keys resume as they did."""
    saved = _randomised(1)
    arrays = {k: np.asarray(v.numpy()) for k, v in checkpoint._by_position(saved).items()}
    np.savez(tmp_path / checkpoint.CHECKPOINT, **arrays, epoch=np.array(2))
    loaded = build_gan(CFG)
    assert checkpoint.restore(loaded, tmp_path) == 2
    for key, value in _values(saved).items():
        np.testing.assert_array_equal(_values(loaded)[key], value, err_msg=key)


def test_history_keeps_the_last_epochs_generators(tmp_path):
    gan = build_gan(CFG)
    kept = {}
    for epoch in range(1, 8):
        w = gan.g_ema.weights[0]  # the sampler: the weight average
        w.assign(np.full(w.shape, epoch, str(w.dtype)))
        checkpoint.save(gan, tmp_path, epoch)
        kept[epoch] = [np.asarray(v.numpy()) for v in gan.sampler.weights]
    assert checkpoint.history(tmp_path) == [3, 4, 5, 6, 7]  # KEEP_EPOCHS = 5
    fresh = build_gan(CFG)
    checkpoint.load_generator(fresh, tmp_path, 4)
    for got, want in zip(fresh.sampler.weights, kept[4], strict=True):
        np.testing.assert_array_equal(np.asarray(got.numpy()), want)
    with pytest.raises(checkpoint.InputError, match=r"epoch 2; kept: \[3, 4, 5, 6, 7\]"):
        checkpoint.load_generator(fresh, tmp_path, 2)


LOAD_WITHOUT_THE_KIT = textwrap.dedent("""
    import sys
    sys.modules["dcgan_tf"] = None  # any import of the kit now fails
    import keras, numpy as np
    G = keras.saving.load_model(sys.argv[1])
    z = np.load(sys.argv[2])
    np.save(sys.argv[3], np.asarray(G(z, training=False), "float32"))
""")


def test_the_exported_generator_opens_without_the_kit(tmp_path):
    gan = build_gan(CFG.replace(mixed_precision=False))
    checkpoint.save(gan, tmp_path, 1)
    z = np.random.default_rng(0).uniform(-1, 1, (4, CFG.z_dim)).astype("float32")
    np.save(tmp_path / "z.npy", z)
    script = tmp_path / "load.py"
    script.write_text(LOAD_WITHOUT_THE_KIT)
    done = subprocess.run([sys.executable, str(script), tmp_path / checkpoint.EXPORT,
                           tmp_path / "z.npy", tmp_path / "out.npy"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), gan.generate(z), atol=1e-6)
