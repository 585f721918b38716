"""`python -m dcgan_tf`: the command line, with the drawn data sets and the health monitor.

The core (dcgan_tf.cli, train, data, ...) knows neither: dcgan_tf.groundtruth adds "faces"
and "rooms" as sources, with their probes and scores, and every run is watched by
dcgan_tf.health. Both are imported once the arguments are parsed, so `--help` answers
without loading TensorFlow.
"""

import importlib
import sys

from dcgan_tf.cli import main as cli_main


def _compose():
    """Register the drawn sets; the monitor every run gets."""
    importlib.import_module("dcgan_tf.groundtruth")
    return importlib.import_module("dcgan_tf.health").watch


def main(argv=None) -> int:
    return cli_main(argv, setup=_compose)


if __name__ == "__main__":
    sys.exit(main())
