"""The seed table: every fixed seed once, and the modules draw with the table's seeds."""

from dcgan_tf import seeds
from dcgan_tf.groundtruth import probes, scoring
from dcgan_tf.studies import network_studies, representation, window_removal


def test_no_two_jobs_share_a_seed():
    table = seeds.table()
    by_value = {}
    for name, value in table.items():
        by_value.setdefault(value, []).append(name)
    assert {v: n for v, n in by_value.items() if len(n) > 1} == {}
    assert len(table) == 13  # a new seed is added to the table, and counted here


def test_the_window_segmenter_does_not_train_on_the_rooms_scoring_holds_out():
    # The collision this table fixed: the segmenter drew its rooms with scoring's seeds.
    held_out = set(scoring.REAL_SEEDS)
    assert not held_out & {window_removal.TRAIN_SEED, window_removal.TEST_SEED}


def test_modules_draw_with_the_table_s_seeds():
    assert (probes.TRAIN_SEED, probes.VAL_SEED) == (seeds.PROBE_TRAIN, seeds.PROBE_VAL)
    assert representation.EVAL_SEED == seeds.REPRESENTATION_EVAL
    assert network_studies.IMAGE_SEED == seeds.NETWORK_IMAGES
    assert scoring.NOISE_SEED == seeds.SCORING_NOISE
