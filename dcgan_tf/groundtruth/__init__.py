"""Data drawn with known ground truth, and scoring runs against it.

Importing this package registers the drawn sets "faces" and "rooms" as data sources of the
core (dcgan_tf.data.register_drawn), with their probes as the health monitor's features and
score_run as the score printed after training. `python -m dcgan_tf` imports it; so do the
chapters. Its modules are in the package map (dcgan_tf/__init__.py).
"""

from functools import partial

from dcgan_tf.data import DrawnSet, register_drawn
from dcgan_tf.groundtruth import probes, procedural, scoring


def _features(name: str, size: int):
    return probes.get_probes(name, size).features


def _load(name: str, n: int, seed: int = 0, size: int = 64):
    return procedural.load(name, n, seed=seed, size=size)


def _score(name: str, run_dir, n: int = 2_000):
    return scoring.score_run(run_dir, name, n=n)


for _name in procedural.NAMES:
    register_drawn(_name, DrawnSet(
        default_n=procedural.DEFAULT_N, load=partial(_load, _name),
        features=partial(_features, _name), n_features=probes.FEATURES,
        score=partial(_score, _name)))
