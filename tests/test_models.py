"""The built networks against the paper's guidelines, layer by layer."""

import dataclasses
import json
import textwrap
from pathlib import Path

import keras
import numpy as np
import pytest

from dcgan_tf import models
from dcgan_tf.config import DCGANConfig
from dcgan_tf.studies import diagrams

TRANSPOSED = "Conv2DTranspose"


def layer_types(model):
    return [type(layer).__name__ for layer in model.layers]


def blocks(model):
    """Group the layer sequence into blocks that each start at a weighted (conv/dense) layer."""
    out = []
    for layer in model.layers[1:]:
        kind = type(layer).__name__
        if kind in ("Dense", "Conv2D", TRANSPOSED) or not out:
            out.append([kind])
        else:
            out[-1].append(kind)
    return out


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_generator_follows_guidelines(resolution):
    cfg = DCGANConfig(resolution=resolution, width=16)
    g = models.build_generator(cfg)
    assert g.output.shape[1:] == (resolution, resolution, 3)
    types = layer_types(g)
    # Projection of z reshaped to 4x4 starts the conv stack: no other dense layer.
    assert types[1:3] == ["Dense", "Reshape"] and types.count("Dense") == 1
    assert g.get_layer("reshape").output.shape[1:3] == (4, 4)
    # Only transposed convolutions upsample; no pooling or fixed upsampling anywhere.
    assert types.count(TRANSPOSED) == cfg.n_up
    assert not {"MaxPooling2D", "UpSampling2D", "AveragePooling2D"} & set(types)
    # Every hidden block is conv -> BN -> ReLU; the output block is conv -> tanh (no BN).
    *hidden, output = blocks(g)
    assert hidden[0] == ["Dense", "Reshape", "BatchNormalization", "ReLU"]
    for block in hidden[1:]:
        assert block == [TRANSPOSED, "BatchNormalization", "ReLU"]
    assert output == [TRANSPOSED, "Activation"]
    assert g.layers[-1].get_config()["activation"] == "tanh"
    # Strides of 2 double the side at each step: 4 -> 8 -> ... -> resolution.
    sides = [l.output.shape[1] for l in g.layers if type(l).__name__ == TRANSPOSED]
    assert sides == [4 * 2 ** (i + 1) for i in range(cfg.n_up)]
    # A bias is redundant where BN follows (BN's beta plays that role).
    for layer in g.layers:
        if type(layer).__name__ in ("Dense", TRANSPOSED):
            assert layer.use_bias == (layer.name == "deconv%d" % cfg.n_up)


@pytest.mark.parametrize("resolution", [32, 64, 128])
def test_discriminator_follows_guidelines(resolution):
    cfg = DCGANConfig(resolution=resolution, width=16)
    d = models.build_discriminator(cfg)
    assert d.output.shape[1:] == (1,)
    types = layer_types(d)
    assert not {"MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D"} & set(types)
    first, *hidden, head = blocks(d)
    assert first == ["Conv2D", "LeakyReLU"]  # no BN on D's input layer
    for block in hidden[:-1]:
        assert block == ["Conv2D", "BatchNormalization", "LeakyReLU"]
    # The last conv layer is flattened straight into one output: no hidden dense layer.
    assert hidden[-1] == ["Conv2D", "BatchNormalization", "LeakyReLU", "Flatten"]
    assert head == ["Dense"]
    assert types[-2:] == ["Flatten", "Dense"] and d.layers[-1].units == 1
    assert d.get_layer("flatten").input.shape[1:3] == (4, 4)
    for layer in d.layers:
        if type(layer).__name__ == "LeakyReLU":
            assert layer.negative_slope == pytest.approx(0.2)
        if type(layer).__name__ == "Conv2D":
            assert layer.strides == (2, 2)
    # D's logit stays float32 even under mixed precision.
    assert d.layers[-1].dtype_policy.compute_dtype == "float32"


def independent_param_count(res=64, width=64, z=100, k=5, c=3, global_pooling=False):
    """Parameters of the paper's networks, counted by hand from the layer shapes."""
    n_up = {32: 3, 64: 4, 128: 5}[res]
    ch = [width * 2 ** (n_up - 1 - i) for i in range(n_up)]  # 512, 256, 128, 64
    bn = lambda n: 4 * n  # gamma, beta, moving mean, moving variance
    g = z * 16 * ch[0] + bn(ch[0])  # projection without bias, then BN
    for cin, cout in zip(ch, ch[1:]):
        g += k * k * cin * cout + bn(cout)
    g += k * k * ch[-1] * c + c  # output layer keeps its bias
    d = k * k * c * ch[-1] + ch[-1]  # first conv keeps its bias (no BN)
    rev = ch[::-1]
    for cin, cout in zip(rev, rev[1:]):
        d += k * k * cin * cout + bn(cout)
    if global_pooling:  # one average per channel -> one logit
        d += rev[-1] + 1
    else:  # flatten the 4x4 maps -> one logit
        d += 16 * rev[-1] + 1
    return g, d


@pytest.mark.parametrize("k", [4, 5])
def test_parameter_count_matches_independent_count(k):
    cfg = DCGANConfig(resolution=64, width=64, kernel_size=k)
    g, d = independent_param_count(k=k)
    assert models.build_generator(cfg).count_params() == g
    assert models.build_discriminator(cfg).count_params() == d


def test_global_pooling_logit_has_one_weight_per_channel():
    cfg = DCGANConfig(resolution=64, width=64, global_pooling=True)
    g, d = independent_param_count(global_pooling=True)
    assert models.build_generator(cfg).count_params() == g  # G is untouched
    disc = models.build_discriminator(cfg)
    assert disc.count_params() == d
    assert disc.get_layer("logit").count_params() == 512 + 1  # 4x4x512 maps, averaged


def test_paper_fig1_model_size():
    """The paper's Fig. 1 generator (z 100 -> 4x4x1024 -> 8x8x512 -> 16x16x256 -> 32x32x128 ->
    64x64x3, 5x5 kernels) and its mirror D, counted layer by layer. BN adds gamma and beta
    plus two moving statistics per channel; layers followed by BN have no bias."""
    g = (100 * 4 * 4 * 1024 + 4 * 1024  # project z, BN
         + 5 * 5 * 1024 * 512 + 4 * 512  # 4x4 -> 8x8, BN
         + 5 * 5 * 512 * 256 + 4 * 256  # 8x8 -> 16x16, BN
         + 5 * 5 * 256 * 128 + 4 * 128  # 16x16 -> 32x32, BN
         + 5 * 5 * 128 * 3 + 3)  # 32x32 -> 64x64 RGB, bias, tanh
    d = (5 * 5 * 3 * 128 + 128  # 64x64 -> 32x32, bias (no BN on D's input)
         + 5 * 5 * 128 * 256 + 4 * 256  # -> 16x16, BN
         + 5 * 5 * 256 * 512 + 4 * 512  # -> 8x8, BN
         + 5 * 5 * 512 * 1024 + 4 * 1024  # -> 4x4, BN
         + 4 * 4 * 1024 + 1)  # flatten -> one logit
    assert (g, d) == (18_858_883, 17_236_481)  # the arithmetic above, evaluated by hand
    cfg = DCGANConfig(resolution=64, width=128, kernel_size=5)
    assert models.build_generator(cfg).count_params() == g
    assert models.build_discriminator(cfg).count_params() == d


def test_initialisation_is_normal_0_02_and_gamma_1_0_02():
    keras.utils.set_random_seed(0)
    cfg = DCGANConfig(resolution=64, width=64)
    g = models.build_generator(cfg)
    d = models.build_discriminator(cfg)
    for net in (g, d):
        for layer in net.layers:
            kind = type(layer).__name__
            if kind in ("Conv2D", TRANSPOSED, "Dense"):
                w = layer.kernel.numpy()
                assert abs(w.mean()) < 0.004 and w.std() == pytest.approx(0.02, rel=0.1), layer.name
            if kind == "BatchNormalization":
                gamma = layer.gamma.numpy()
                assert gamma.mean() == pytest.approx(1.0, abs=0.01)
                assert gamma.std() == pytest.approx(0.02, rel=0.3), layer.name
                assert layer.momentum == pytest.approx(0.9) and layer.epsilon == pytest.approx(1e-5)


SWITCHES = {
    # switch: (G types expected present / absent, D types present / absent)
    "pooling": ({"UpSampling2D"}, {TRANSPOSED}, {"MaxPooling2D"}, set()),
    "hidden_dense": (set(), set(), set(), set()),
    "g_leaky_relu": ({"LeakyReLU"}, {"ReLU"}, set(), set()),
    "d_relu": (set(), set(), {"ReLU"}, {"LeakyReLU"}),
    "global_pooling": (set(), set(), {"GlobalAveragePooling2D"}, {"Flatten"}),
}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_switch_breaks_its_guideline(switch):
    cfg = DCGANConfig(resolution=32, width=8).replace(**{switch: True})
    assert cfg.broken_guidelines() == [switch]
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    g_in, g_out, d_in, d_out = SWITCHES[switch]
    assert g_in <= set(layer_types(g)) and not g_out & set(layer_types(g))
    assert d_in <= set(layer_types(d)) and not d_out & set(layer_types(d))
    assert g.output.shape[1:] == (32, 32, 3) and d.output.shape[1:] == (1,)


def test_hidden_dense_adds_one_dense_layer_each():
    cfg = DCGANConfig(resolution=32, width=8, hidden_dense=True)
    assert layer_types(models.build_generator(cfg)).count("Dense") == 2
    assert layer_types(models.build_discriminator(cfg)).count("Dense") == 2


@pytest.mark.parametrize("resolution", [32, 64])
@pytest.mark.parametrize("extra", [{}, {"hidden_dense": True}, {"pooling": True},
                                   {"hidden_dense": True, "pooling": True}])
def test_global_pooling_combines_with_other_switches(resolution, extra):
    width = 8
    cfg = DCGANConfig(resolution=resolution, width=width, global_pooling=True, **extra)
    d = models.build_discriminator(cfg)
    last = width * 2 ** (cfg.n_up - 1)
    pool = d.get_layer("global_pool")
    assert pool.input.shape[1:] == (4, 4, last) and pool.output.shape[1:] == (last,)
    assert "Flatten" not in layer_types(d) and d.output.shape[1:] == (1,)
    hidden = 16 * width if cfg.hidden_dense else last  # what the logit layer reads
    assert d.get_layer("logit").count_params() == hidden + 1
    images = np.zeros((2, resolution, resolution, 3), "float32")
    assert d(images).shape == (2, 1)
    g = models.build_generator(cfg)
    assert g.output.shape[1:] == (resolution, resolution, 3)


def test_global_pooling_averages_the_last_features():
    """The logit is an affine map of the channel means of D's last activations."""
    cfg = DCGANConfig(resolution=32, width=8, global_pooling=True)
    d = models.build_discriminator(cfg)
    images = np.random.default_rng(0).uniform(-1, 1, (3, 32, 32, 3)).astype("float32")
    maps = keras.Model(d.input, d.get_layer("act3").output)(images).numpy()
    w, b = d.get_layer("logit").get_weights()
    expected = maps.mean(axis=(1, 2)) @ w + b
    np.testing.assert_allclose(d(images).numpy(), expected, rtol=1e-4, atol=1e-6)


def test_batchnorm_switches():
    base = DCGANConfig(resolution=32, width=8)
    count = lambda m: layer_types(m).count("BatchNormalization")
    g, d = models.build_generator(base), models.build_discriminator(base)
    assert count(g) == base.n_up and count(d) == base.n_up - 1
    assert count(models.build_generator(base.replace(g_batchnorm=False))) == 0
    assert count(models.build_discriminator(base.replace(d_batchnorm=False))) == 0
    g_out = models.build_generator(base.replace(bn_on_g_output=True))
    assert count(g_out) == base.n_up + 1 and type(g_out.layers[-2]).__name__ == "BatchNormalization"
    d_in = models.build_discriminator(base.replace(bn_on_d_input=True))
    assert count(d_in) == base.n_up and layer_types(d_in)[1:4] == [
        "Conv2D", "BatchNormalization", "LeakyReLU"]


def test_sigmoid_output_switch_changes_range():
    cfg = DCGANConfig(resolution=32, width=8, g_sigmoid_output=True)
    g = models.build_generator(cfg)
    assert g.layers[-1].get_config()["activation"] == "sigmoid"
    assert cfg.pixel_range == (0.0, 1.0)
    z = np.random.default_rng(0).uniform(-1, 1, (4, 100)).astype("float32")
    logits = keras.Model(g.input, g.layers[-2].output)(z).numpy().astype(np.float64)
    np.testing.assert_allclose(g(z).numpy(), 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)


def test_config_rejects_bad_values():
    for bad in (dict(resolution=48), dict(z_prior="cauchy"), dict(kernel_size=3),
                dict(width=0), dict(channels=2), dict(learning_rate=0.0),
                dict(learning_rate=-1e-3), dict(learning_rate=float("nan")),
                dict(learning_rate=float("inf")), dict(beta_1=1.0), dict(beta_1=-0.1),
                dict(beta_1=float("nan"))):
        with pytest.raises(ValueError, match=list(bad)[0]):
            DCGANConfig(**bad)


def test_config_json_round_trip(tmp_path):
    cfg = DCGANConfig(resolution=32, pooling=True, z_prior="normal", global_pooling=True)
    cfg.to_json(tmp_path / "c.json")
    assert DCGANConfig.from_json(tmp_path / "c.json") == cfg


def test_a_config_json_from_before_global_pooling_reads_as_the_paper(tmp_path):
    old = dataclasses.asdict(DCGANConfig(resolution=32, pooling=True))
    del old["global_pooling"]
    (tmp_path / "c.json").write_text(json.dumps(old))
    assert DCGANConfig.from_json(tmp_path / "c.json") == DCGANConfig(resolution=32,
                                                                    pooling=True)


def test_every_guideline_switch_is_seen_by_broken_guidelines():
    """Flipping each boolean field, independently: exactly the switches are reported."""
    paper = DCGANConfig()
    seen = {}
    for f in dataclasses.fields(DCGANConfig):
        value = getattr(paper, f.name)
        if isinstance(value, bool):
            seen[f.name] = paper.replace(**{f.name: not value}).broken_guidelines()
    switches = [name for name, broken in seen.items() if broken]
    assert switches == list(DCGANConfig.guideline_switches())
    assert all(seen[name] == [name] for name in switches)
    assert "global_pooling" in switches
    assert not {"mixed_precision", "xla"} & set(switches)


@pytest.mark.parametrize("switch,broken", [
    (None, set()),
    ("pooling", {0}), ("hidden_dense", {1}), ("bn_on_g_output", {2}), ("g_batchnorm", {2}),
    ("bn_on_d_input", {3}), ("d_batchnorm", {3}), ("g_leaky_relu", {4}),
    ("g_sigmoid_output", {4}), ("d_relu", {5}), ("global_pooling", {6}),
])
def test_guideline_checklist_flags_exactly_the_broken_guideline(switch, broken):
    cfg = DCGANConfig(resolution=32, width=8)
    if switch:
        # Switches that remove BN are "on" when False; the rest when True.
        cfg = cfg.replace(**{switch: switch not in ("g_batchnorm", "d_batchnorm")})
    rows = diagrams.guideline_checklist(models.build_generator(cfg),
                                      models.build_discriminator(cfg))
    assert {i for i, (_, holds, _) in enumerate(rows) if not holds} == broken


def bn_layers(model):
    return [l for l in model.layers if isinstance(l, keras.layers.BatchNormalization)]


def test_batchnorm_is_plain_on_one_device():
    cfg = DCGANConfig(resolution=32, width=8)
    g, d = models.build_generator(cfg), models.build_discriminator(cfg)
    layers = bn_layers(g) + bn_layers(d)
    assert len(layers) == 2 * cfg.n_up - 1
    assert not any(l.synchronized for l in layers)


SYNC_BN = textwrap.dedent("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    from dcgan_tf import models
    from dcgan_tf.config import DCGANConfig

    cfg = DCGANConfig(resolution=32, width=8)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    with strategy.scope():
        nets = [models.build_generator(cfg), models.build_discriminator(cfg)]
    flags = [l.synchronized for n in nets for l in n.layers
             if isinstance(l, keras.layers.BatchNormalization)]
    print("REPLICAS", strategy.num_replicas_in_sync, "SYNC", flags)
""")


def test_batchnorm_is_synchronized_under_two_replicas(run_script):
    # Logical devices must be set before TensorFlow initialises: a fresh interpreter.
    root = str(Path(__file__).resolve().parents[1])
    out = run_script(SYNC_BN, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": root})
    line = next(l for l in out.splitlines() if l.startswith("REPLICAS"))
    assert line == "REPLICAS 2 SYNC " + str([True] * 5)
