"""The course machinery: the chapters' runs, their exercises, the Colab links (see the
package map in dcgan_tf/__init__.py)."""
