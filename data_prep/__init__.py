"""data_prep: build a face data set from photos, the way the paper built its Faces set.

Steps (each resumable, all sharing <work>/manifest.jsonl), one module each:
  data_prep.download.download  a URL list (URL [person's name] per line) into <work>/images
  data_prep.detect.detect      OpenCV faces -> square crops in <work>/crops, every box judged
  data_prep.dedup.dedup        exact and near duplicates: the paper's autoencoder hash, pHash
  data_prep.shard.shard        TFRecord shards that dcgan_tf.data reads
Shared pieces: manifest (the log), fetch (one bounded HTTP GET: deadline, redirects, size
caps), decode (bytes -> 8-bit RGB or a reason, via dcgan_tf.images, the one image reader),
synthetic (offline photos with known answers, for tests and notebook 01), cli (python -m
data_prep).

Import the step functions from their modules, e.g. `from data_prep.detect import detect`.
"""

__all__ = ["cli", "decode", "dedup", "detect", "download", "fetch", "manifest", "shard",
           "synthetic"]
