"""`python -m dcgan_tf`: the command line, with the drawn data sets registered.

The core (dcgan_tf.cli, train, data, ...) knows no drawn data: dcgan_tf.groundtruth adds
"faces" and "rooms" as sources, with their probes and scores. It is imported once the
arguments are parsed, so `--help` answers without loading TensorFlow.
"""

import importlib
import sys

from dcgan_tf.cli import main as cli_main


def _register_drawn_sets() -> None:
    importlib.import_module("dcgan_tf.groundtruth")


def main(argv=None) -> int:
    return cli_main(argv, setup=_register_drawn_sets)


if __name__ == "__main__":
    sys.exit(main())
