"""DCGAN as a keras.Model: a custom train_step, so fit(), callbacks and tf.distribute just work."""

from __future__ import annotations

import keras
import tensorflow as tf

from dcgan_tf.config import DCGANConfig
from dcgan_tf.data import to_model_range
from dcgan_tf.models import build_discriminator, build_generator
from dcgan_tf.prior import sample_prior

# Each step's values, as the train step logs them (epoch means) and keeps them (per step).
LOGGED = ("d_loss", "g_loss", "D(x)", "D(G(z))", "d_grad_norm", "g_grad_norm")


def _bce_with_logits(labels_value: float, logits):
    """Per-example binary cross-entropy of sigmoid(logits) against a constant label."""
    labels = tf.fill(tf.shape(logits), tf.cast(labels_value, logits.dtype))
    return tf.reduce_mean(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=-1
    )


def plain_train_step(gan, real) -> dict:
    """One DCGAN step on one device, written plainly: chapter 2 reads it before train_step.

    DCGAN.train_step does the same, plus what one device does not need: each replica's share
    of the noise and of the loss, loss scaling for float16, and one forward pass of G
    reused by both updates (here G runs twice, so BatchNorm's moving averages in G move
    twice; the weights after the step are the same, as a test checks).
    """
    G, D = gan.generator, gan.discriminator
    z = gan.sample_z(tf.shape(real)[0])
    # D's step: real images labelled 1, G's images labelled 0.
    fake = G(z, training=True)
    with tf.GradientTape() as tape:
        d_loss = tf.reduce_mean(_bce_with_logits(1.0, D(real, training=True))) + \
            tf.reduce_mean(_bce_with_logits(0.0, D(fake, training=True)))
    grads = tape.gradient(d_loss, D.trainable_weights)
    gan.d_optimizer.apply_gradients(zip(grads, D.trainable_weights))
    # G's step, against the D just updated: G's images labelled 1 (the non-saturating loss).
    with tf.GradientTape() as tape:
        g_loss = tf.reduce_mean(_bce_with_logits(1.0, D(G(z, training=True), training=True)))
    grads = tape.gradient(g_loss, G.trainable_weights)
    gan.g_optimizer.apply_gradients(zip(grads, G.trainable_weights))
    return {"d_loss": float(d_loss), "g_loss": float(g_loss)}


def _grad_norm(grads, optimizer, scale):
    """(norm, counted): the global L2 norm of the gradient of the replica's own mean loss,
    and whether it counts in the epoch's mean.

    The gradients were taken of loss * scale (the replica's share of the global batch), times
    the loss scale under mixed precision: both are divided out, so the figure is the norm of
    the gradient of the mean loss over the replica's own examples, in float16 as in float32.
    On one device that is the batch's gradient; under several replicas the logged figure is
    the replicas' mean of their local gradients' norms (each a little noisier than the
    global batch's), which serves the monitor's purpose: spotting an explosion. Under loss
    scaling a non-finite gradient is
    an overflow the optimizer skips (and halves the scale for), not a divergence: it is left
    out of the mean. Without loss scaling every step counts, NaN included.
    """
    norm = tf.linalg.global_norm([tf.cast(g, tf.float32) for g in grads])
    loss_scale = getattr(optimizer, "dynamic_scale", None)
    if loss_scale is None:
        return norm / scale, tf.constant(True)
    norm = norm / tf.cast(loss_scale, tf.float32) / scale
    counted = tf.math.is_finite(norm)
    return tf.where(counted, norm, 0.0), counted


def _replicas_agree(grads, optimizer):
    """The gradients, made non-finite on every replica when any replica's are not finite.

    Keras' LossScaleOptimizer decides whether to skip a step from replica 0's local gradients,
    before the all-reduce: when only another replica overflowed, the step was applied and
    its inf reached every replica's weights. Agreeing first makes every replica skip it, and
    the loss scale fall, as one device would. Only loss-scaled steps over several replicas
    need this: elsewhere a non-finite gradient is a divergence the NaN guard reports.
    """
    ctx = tf.distribute.get_replica_context()
    if getattr(optimizer, "dynamic_scale", None) is None or ctx is None \
            or ctx.num_replicas_in_sync == 1:
        return grads
    finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads])
    bad = ctx.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
    poison = tf.where(bad > 0, float("nan"), 1.0)
    return [g * tf.cast(poison, g.dtype) for g in grads]


class StepBuffer:
    """Each step's LOGGED values for one epoch, kept on the device and read once per epoch.

    Keras turns the logs of every call into Python numbers for its callbacks, which makes
    the device wait for the host; with steps_per_execution k it calls them once per k steps
    and the steps in between are never seen. So the train step writes each step's row here
    and the callbacks read the epoch at its end. Under several replicas each writes its own
    copy and a read averages them: the global batch's figures, as the epoch means are. A
    plain holder, not a tracked Keras object.
    """

    def __init__(self, steps: int):
        on_read = tf.VariableSynchronization.ON_READ
        self.steps = steps
        self.values = tf.Variable(tf.fill((steps, len(LOGGED)), float("nan")),
                                  trainable=False, synchronization=on_read,
                                  aggregation=tf.VariableAggregation.MEAN)
        self.index = tf.Variable(0, trainable=False, synchronization=on_read,
                                 aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)

    def write(self, row):
        i = tf.minimum(self.index.assign_add(1) - 1, self.steps - 1)
        # A whole-variable assign: per-replica (on-read) variables refuse scatter updates.
        self.values.assign(tf.tensor_scatter_nd_update(tf.identity(self.values), [[i]],
                                                       [row]))

    def read(self):
        """{name: array over this epoch's steps so far} (one host transfer)."""
        values = self.values.numpy()[:int(self.index.numpy())]
        return {name: values[:, k] for k, name in enumerate(LOGGED)}

    def reset(self):
        self.index.assign(0)
        self.values.assign(tf.fill(self.values.shape, float("nan")))


class DCGAN(keras.Model):
    """Generator + discriminator trained with the paper's alternating updates.

    Build it (and compile it) inside `strategy.scope()` to train on several devices.
    """

    def __init__(self, cfg: DCGANConfig | None = None, generator=None, discriminator=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.cfg = cfg or DCGANConfig()
        self.generator = generator or build_generator(self.cfg)
        self.discriminator = discriminator or build_discriminator(self.cfg)
        # The generator samples come from: a moving average of G's weights (cfg.g_ema), or G.
        self.g_ema = None
        if self.cfg.g_ema:
            self.g_ema = build_generator(self.cfg)
            self.g_ema.set_weights(self.generator.get_weights())
        # The model owns its noise stream: its state is a variable, so checkpoints capture
        # it and a resumed run draws exactly the noise an uninterrupted run would have.
        self.noise_seed = keras.random.SeedGenerator(self.cfg.seed, name="noise_seed")
        self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
        self.g_loss_tracker = keras.metrics.Mean(name="g_loss")
        self.d_real_tracker = keras.metrics.Mean(name="D(x)")
        self.d_fake_tracker = keras.metrics.Mean(name="D(G(z))")
        # Gradient norms for the health monitor: an exploding norm announces divergence.
        self.d_grad_tracker = keras.metrics.Mean(name="d_grad_norm")
        self.g_grad_tracker = keras.metrics.Mean(name="g_grad_norm")
        self.step_buffer = None  # keep_steps() turns on the per-step log
        # Both networks are built functional models; without this, fit() under a strategy
        # would try to build the wrapper by calling it on a batch of images.
        self.built = True

    def compile(self, d_optimizer=None, g_optimizer=None, **kwargs):
        """Defaults to the paper's Adam(lr=2e-4, beta_1=0.5) for both networks.

        With cfg.mixed_precision both optimizers are wrapped in a LossScaleOptimizer,
        so small float16 gradients do not underflow to zero.
        """
        # No optimizer for Keras itself: its default (RMSprop, lr 0.001) would be unused, yet
        # TensorBoard would log its learning rate and lr callbacks would act on it.
        super().compile(optimizer=None, **kwargs)
        cfg = self.cfg
        self.d_optimizer = d_optimizer or keras.optimizers.Adam(cfg.learning_rate, cfg.beta_1)
        self.g_optimizer = g_optimizer or keras.optimizers.Adam(cfg.learning_rate, cfg.beta_1)
        if cfg.mixed_precision:
            if not isinstance(self.d_optimizer, keras.optimizers.LossScaleOptimizer):
                self.d_optimizer = keras.optimizers.LossScaleOptimizer(self.d_optimizer)
            if not isinstance(self.g_optimizer, keras.optimizers.LossScaleOptimizer):
                self.g_optimizer = keras.optimizers.LossScaleOptimizer(self.g_optimizer)
        # Create the Adam slots now, inside the caller's strategy scope: created lazily in
        # the first (distributed, compiled) step they would not be mirrored and fit() fails.
        self.build_optimizers()

    def keep_steps(self, steps: int) -> StepBuffer:
        """Keep each step's values on the device, `steps` of them per epoch (train() does)."""
        with self.distribute_strategy.scope():
            self.step_buffer = StepBuffer(steps)
        self.train_function = None  # a step traced before writes to no buffer, or the old one
        return self.step_buffer

    @property
    def metrics(self):
        # Listed here so Keras resets them at the start of each epoch.
        return [self.d_loss_tracker, self.g_loss_tracker, self.d_real_tracker,
                self.d_fake_tracker, self.d_grad_tracker, self.g_grad_tracker]

    def sample_z(self, n: int):
        """n latent vectors from the prior, drawn in-graph from the model's noise stream."""
        return sample_prior(n, self.cfg.z_dim, self.cfg.z_prior, self.noise_seed)

    def learning_rates(self) -> dict[str, float]:
        """The current learning rates of both optimizers, as logged each epoch."""
        # .numpy(): float() refuses the mirrored variable of a multi-device strategy.
        return {"d_lr": float(self.d_optimizer.learning_rate.numpy()),
                "g_lr": float(self.g_optimizer.learning_rate.numpy())}

    def call(self, z, training=False):
        return self.generator(z, training=training)

    @property
    def sampler(self) -> keras.Model:
        """The generator that draws samples: the weight average if cfg.g_ema, else G."""
        return self.g_ema if self.g_ema is not None else self.generator

    def generate(self, z):
        """Images for latent vectors z from `sampler`, in inference mode (BN uses its moving
        statistics)."""
        return self.sampler(z, training=False)

    def update_average(self):
        """One step of the weight average: avg <- d avg + (1 - d) w, for every weight of G
        (BN's moving statistics too). d = min(cfg.g_ema, (1 + t) / (10 + t)) at G step t, so
        early averages are not dragged back to the random start."""
        t = tf.cast(self.g_optimizer.iterations, tf.float32)
        decay = tf.minimum(self.cfg.g_ema, (1.0 + t) / (10.0 + t))
        for avg, w in zip(self.g_ema.weights, self.generator.weights):
            avg.assign(decay * avg + (1.0 - decay) * tf.cast(w, avg.dtype))

    def _replica_noise(self, local_batch):
        # Every replica draws the noise of the whole global batch from the same seed state and
        # keeps its own slice: the step then sees exactly the noise a single device would.
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx else 1
        z = self.sample_z(local_batch * replicas)
        if replicas == 1:
            return z, local_batch
        start = ctx.replica_id_in_sync_group * local_batch
        return z[start : start + local_batch], local_batch * replicas

    def train_step(self, data):
        real = data[0] if isinstance(data, (tuple, list)) else data
        if isinstance(real, dict):  # (image, labels) pairs from labelled sources
            real = real["image"]
        if real.dtype == tf.uint8:  # batches cross to the device as bytes, scaled here
            real = to_model_range(real, self.cfg.pixel_range)
        local_batch = tf.shape(real)[0]
        z, global_batch = self._replica_noise(local_batch)
        # Losses are summed over the replica's examples and divided by the GLOBAL batch:
        # the optimizer all-reduces (sums) gradients across replicas, giving the global mean.
        scale = tf.cast(local_batch, tf.float32) / tf.cast(global_batch, tf.float32)
        G, D = self.generator, self.discriminator

        with tf.GradientTape() as g_tape:
            # G runs forward once; its tape stays open across the D update so the G step can
            # reuse the same fake images, as the reference implementation does.
            fake = G(z, training=True)
            with g_tape.stop_recording():
                with tf.GradientTape() as d_tape:
                    # Real and fake go through D separately, so BN normalises each batch on
                    # its own statistics (mixing them would leak "realness" into the stats).
                    real_logits = D(real, training=True)
                    fake_logits = D(tf.stop_gradient(fake), training=True)
                    d_loss = tf.reduce_mean(_bce_with_logits(1.0, real_logits)) + \
                        tf.reduce_mean(_bce_with_logits(0.0, fake_logits))
                    d_scaled = self.d_optimizer.scale_loss(d_loss * scale)
                d_grads = _replicas_agree(d_tape.gradient(d_scaled, D.trainable_weights),
                                          self.d_optimizer)
                self.d_optimizer.apply_gradients(zip(d_grads, D.trainable_weights))
            # Non-saturating G loss: maximise log D(G(z)) rather than minimise
            # log(1 - D(G(z))), whose gradient vanishes while D easily rejects the fakes.
            gen_logits = D(fake, training=True)
            g_loss = tf.reduce_mean(_bce_with_logits(1.0, gen_logits))
            g_scaled = self.g_optimizer.scale_loss(g_loss * scale)
        g_grads = _replicas_agree(g_tape.gradient(g_scaled, G.trainable_weights),
                                  self.g_optimizer)
        self.g_optimizer.apply_gradients(zip(g_grads, G.trainable_weights))
        if self.g_ema is not None:
            self.update_average()

        self.d_loss_tracker.update_state(d_loss)
        self.g_loss_tracker.update_state(g_loss)
        p_real, p_fake = tf.sigmoid(real_logits), tf.sigmoid(fake_logits)
        self.d_real_tracker.update_state(p_real)
        self.d_fake_tracker.update_state(p_fake)
        row = [d_loss, g_loss, tf.reduce_mean(p_real), tf.reduce_mean(p_fake)]
        for tracker, grads, optimizer in ((self.d_grad_tracker, d_grads, self.d_optimizer),
                                          (self.g_grad_tracker, g_grads, self.g_optimizer)):
            norm, counted = _grad_norm(grads, optimizer, scale)
            tracker.update_state(norm, sample_weight=tf.cast(counted, tf.float32))
            row.append(tf.where(counted, norm, float("nan")))  # nan: an overflow skipped
        if self.step_buffer is not None:
            self.step_buffer.write(tf.stack([tf.cast(v, tf.float32) for v in row]))
        return {m.name: m.result() for m in self.metrics}

    def build_optimizers(self):
        """Create both optimizers' slot variables (Adam's moments) for the current networks.

        Idempotent: LossScaleOptimizer.build adds its variables again on every call, which
        would leave a model built twice (compile, then restore) unable to load its checkpoint.
        """
        for optimizer, network in ((self.d_optimizer, self.discriminator),
                                   (self.g_optimizer, self.generator)):
            if not optimizer.built:
                optimizer.build(network.trainable_weights)
