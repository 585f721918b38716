"""`python -m dcgan_tf ...`: see dcgan_tf.cli."""

import sys

from dcgan_tf.cli import main

sys.exit(main())
