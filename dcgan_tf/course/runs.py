"""The chapters' runs: which configuration, data and run folder each chapter trains or reads.

Chapters 2 and 3 share `chapter_run`, chapters 5 and 6 `rooms_run`; chapter 4's stability lab
trains LAB on LAB_SOURCE for LAB_EPOCHS; chapter 5's tasks are TASKS. Each is the one place
its choice is made: the notebooks, the benchmarks and the tests read it from here.
"""

from __future__ import annotations

from dcgan_tf.config import DCGANConfig, InputError, profile_name
from dcgan_tf.studies.representation import Task


def chapter_run(profile: str | None = None) -> tuple[DCGANConfig, str, str]:
    """The run chapters 2 and 3 share: (config, data source, run folder name).

    Small: the procedural faces at 32x32 for a few epochs (minutes on a CPU); the main job
    (`python -m dcgan_tf train`) trains the same model longer. Full: CelebA at 64x64 on a GPU.
    """
    profile = profile or profile_name()
    if profile == "full":
        return DCGANConfig.profile("full", epochs=5), "tfds:celeb_a", "celeba_full"
    return DCGANConfig.profile("small", epochs=4), "faces", "faces_small"


def rooms_run(profile: str | None = None) -> tuple[DCGANConfig, str, str]:
    """The bedroom run chapters 5 and 6 share: (config, data source, run folder name).

    Small: 10,000 procedural rooms at 32x32 for 4 epochs (minutes on a CPU); full: LSUN
    bedrooms at 64x64 on a GPU, as in the paper.
    """
    profile = profile or profile_name()
    if profile == "full":
        return DCGANConfig.profile("full", epochs=1), "tfds:lsun/bedroom", "lsun_full"
    return DCGANConfig.profile("small", epochs=4), "rooms:10000", "rooms_small"


# The teachable subset chapter 4 trains, and the budget the chapter and the benchmark share
# (same settings, same folder: the chapter reuses the benchmark's seed-0 runs). Pooling is
# left to the benchmark: its stride-1 convolutions make a step 2.5x slower, and the six
# below keep the chapter near six minutes on a 2-core CPU.
LAB = ("paper", "no_g_batchnorm", "bn_everywhere", "d_relu", "lr_1e-3", "beta1_0.9")
LAB_SOURCE, LAB_EPOCHS = "faces:4000", 4


def digits_run(profile=None, epochs: int = 15, folder: str = "digits_small"):
    """The unlabelled digits run (all 1,797 scans, grey, 32x32): (config, source, folder)."""
    return DCGANConfig.profile("small", channels=1, epochs=epochs), "digits", folder


def _tfds_run(name, folder):
    return lambda profile=None: (DCGANConfig.profile("full", resolution=32, epochs=5),
                                 f"tfds:{name}", folder)


TASKS = {
    "digits": Task("digits", digits_run, "digit", (10, 50), "digits", 300, 600),
    # The harder setting: the same D trained four times longer (1,680 steps).
    "digits_long": Task("digits_long", lambda profile=None: digits_run(profile, 60,
                                                                       "digits_long"),
                        "digit", (10, 50), "digits", 300, 600),
    **{f"faces_{a}": Task(f"faces_{a}", chapter_run, a, (50, 500), "faces:4000", 500, 1000)
       for a in ("glasses", "smiling", "beard")},
    # The harder setting: D from the main job's run (`python -m dcgan_tf train`: 10 epochs
    # on 20,000 faces, 3,120 steps, against chapter 2's 1,248).
    "faces_glasses_long": Task("faces_glasses_long",
                               lambda profile=None: (DCGANConfig.profile("small"), "faces",
                                                     "faces"),
                               "glasses", (50, 500), "faces:4000", 500, 1000),
    "rooms_window": Task("rooms_window", rooms_run, "window", (50, 500), "rooms:4000", 500,
                         1000),
    "svhn": Task("svhn", _tfds_run("svhn_cropped", "svhn_full"), "label", (100,),
                 "tfds:svhn_cropped", 10_000),
    "cifar10": Task("cifar10", _tfds_run("cifar10", "cifar10_full"), "label", (400, None),
                    "tfds:cifar10", 5_000),
    # The paper's own setting: D trained on ImageNet-1k (32x32), evaluated on CIFAR-10.
    "cifar10_imagenet": Task("cifar10_imagenet", _tfds_run("imagenet_resized/32x32",
                                                           "imagenet32_full"),
                             "label", (400, None), "tfds:cifar10", 5_000),
}
SMALL_TASKS = ("digits", "faces_glasses", "rooms_window")  # chapter 5 in the small profile
FULL_TASKS = ("svhn", "cifar10")  # the paper's, on a GPU


def task(name: str) -> Task:
    """Chapter 5's task `name` (one of TASKS), or an InputError listing them."""
    if name not in TASKS:
        raise InputError(f"unknown task {name!r}; expected one of {list(TASKS)}")
    return TASKS[name]
