"""Every pytest run of the chapters also runs the kit's exercise solutions
(dcgan_tf.course.exercises): each check cell then checks the solution in
notebooks/solutions/ instead of the empty answer, and fails the notebook if it is not
accepted. The kernels inherit this environment."""

import os

os.environ["DCGAN_SOLUTIONS"] = "1"
