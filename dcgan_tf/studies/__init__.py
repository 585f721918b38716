"""The chapters' experiments, built on the core and the drawn data (see the package map in
dcgan_tf/__init__.py)."""
