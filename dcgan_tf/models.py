"""The DCGAN generator and discriminator, built from the guidelines (docs/paper_notes.md §3).

With a default `DCGANConfig` both networks follow the paper exactly. Each switch in the
config breaks one guideline, so a later chapter can show what that guideline buys.

Channel widths: G starts at 4x4 with `width * 2**(n_up - 1)` maps and halves them at every
doubling of the side; D mirrors it. For 64x64 and width 64 that is 4x4x512 -> ... -> 32x32x64
-> 64x64x3 (the PyTorch example); the paper's Fig. 1 is the same shape at width 128.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import layers

from dcgan_tf.config import DCGANConfig


def _conv_init(cfg):
    # Paper 4: "All weights were initialized from a zero-centered Normal distribution with
    # standard deviation 0.02." A fresh initializer per layer, so each draws its own weights.
    return keras.initializers.RandomNormal(0.0, cfg.init_stddev)


def _batchnorm(cfg, name, synchronized=None):
    # gamma ~ N(1, 0.02) as in the reference code; momentum 0.9 / epsilon 1e-5 are the Torch
    # defaults the original used (Keras' own 0.99 / 1e-3 adapt the moving averages too
    # slowly for short runs). Synchronized under a multi-replica strategy: the statistics are
    # taken over the global batch, so a 2-GPU run normalises exactly like a 1-GPU run. On one
    # device the synchronized path only adds work, so by default it follows the strategy in
    # scope when the layer is built.
    if synchronized is None:
        synchronized = tf.distribute.get_strategy().num_replicas_in_sync > 1
    return layers.BatchNormalization(
        momentum=0.9,
        epsilon=1e-5,
        gamma_initializer=keras.initializers.RandomNormal(1.0, cfg.init_stddev),
        synchronized=synchronized,
        name=name,
    )


def _g_activation(cfg, name):
    if cfg.g_leaky_relu:
        return layers.LeakyReLU(cfg.leaky_slope, name=name)
    return layers.ReLU(name=name)


def _d_activation(cfg, name):
    if cfg.d_relu:
        return layers.ReLU(name=name)
    return layers.LeakyReLU(cfg.leaky_slope, name=name)


def _channels(cfg: DCGANConfig) -> list[int]:
    """Feature maps at 4x4, 8x8, ... up to the layer before the output (G's order)."""
    return [cfg.width * 2 ** (cfg.n_up - 1 - i) for i in range(cfg.n_up)]


def build_generator(cfg: DCGANConfig) -> keras.Model:
    """z (z_dim,) -> image (resolution, resolution, channels) in [-1, 1] (tanh)."""
    chans = _channels(cfg)
    k, bn = cfg.kernel_size, cfg.g_batchnorm
    z = keras.Input((cfg.z_dim,), name="z")
    x = z
    if cfg.hidden_dense:  # guideline broken: a fully connected hidden layer
        x = layers.Dense(16 * cfg.width, kernel_initializer=_conv_init(cfg), name="hidden")(x)
        x = _g_activation(cfg, "hidden_act")(x)
    # "Project and reshape": a matrix multiply of z, reshaped to a 4x4 stack of feature maps.
    # No bias where BN follows: BN's beta plays that role.
    x = layers.Dense(
        4 * 4 * chans[0], use_bias=not bn, kernel_initializer=_conv_init(cfg), name="project"
    )(x)
    x = layers.Reshape((4, 4, chans[0]), name="reshape")(x)
    if bn:
        x = _batchnorm(cfg, "project_bn")(x)
    x = _g_activation(cfg, "project_act")(x)

    for i, c in enumerate(chans[1:] + [cfg.channels], start=1):
        last = i == cfg.n_up
        use_bn = cfg.bn_on_g_output if last else bn
        if cfg.pooling:  # guideline broken: fixed upsampling instead of learned strides
            x = layers.UpSampling2D(2, name=f"up{i}")(x)
            x = layers.Conv2D(
                c, k, padding="same", use_bias=not use_bn,
                kernel_initializer=_conv_init(cfg), name=f"conv{i}",
            )(x)
        else:  # fractionally-strided (transposed) convolution doubles the side
            x = layers.Conv2DTranspose(
                c, k, strides=2, padding="same", use_bias=not use_bn,
                kernel_initializer=_conv_init(cfg), name=f"deconv{i}",
            )(x)
        if use_bn:
            x = _batchnorm(cfg, f"bn{i}")(x)
        if not last:
            x = _g_activation(cfg, f"act{i}")(x)
    # The output activation runs in float32 so mixed precision never clips the image.
    out_act = "sigmoid" if cfg.g_sigmoid_output else "tanh"
    x = layers.Activation(out_act, dtype="float32", name=out_act)(x)
    return keras.Model(z, x, name="generator")


def build_discriminator(cfg: DCGANConfig) -> keras.Model:
    """image -> one logit (float32). The sigmoid lives in the loss, for numerical stability."""
    chans = _channels(cfg)[::-1]  # D mirrors G: width, 2*width, ... at 4x4
    k = cfg.kernel_size
    img = keras.Input((cfg.resolution, cfg.resolution, cfg.channels), name="image")
    x = img
    for i, c in enumerate(chans, start=1):
        first = i == 1
        use_bn = cfg.bn_on_d_input if first else cfg.d_batchnorm
        if cfg.pooling:  # guideline broken: max-pooling instead of strided convolutions
            x = layers.Conv2D(
                c, k, padding="same", use_bias=not use_bn,
                kernel_initializer=_conv_init(cfg), name=f"conv{i}",
            )(x)
            x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
        else:
            x = layers.Conv2D(
                c, k, strides=2, padding="same", use_bias=not use_bn,
                kernel_initializer=_conv_init(cfg), name=f"conv{i}",
            )(x)
        if use_bn:
            x = _batchnorm(cfg, f"bn{i}")(x)
        x = _d_activation(cfg, f"act{i}")(x)
    # The highest conv features go straight to the single output: no global pooling, no
    # hidden dense layer (the paper's middle ground between stability and speed).
    if cfg.global_pooling:  # the paper's stable but slow option: one mean per feature map
        x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    else:
        x = layers.Flatten(name="flatten")(x)
    if cfg.hidden_dense:  # guideline broken
        x = layers.Dense(16 * cfg.width, kernel_initializer=_conv_init(cfg), name="hidden")(x)
        x = _d_activation(cfg, "hidden_act")(x)
    logit = layers.Dense(1, kernel_initializer=_conv_init(cfg), dtype="float32", name="logit")(x)
    return keras.Model(img, logit, name="discriminator")
