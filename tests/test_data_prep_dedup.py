"""data_prep dedup: the paper's autoencoder hash, a DCT pHash, exact hashing, scored on known
near-duplicates."""

import json

import cv2
import numpy as np
import pytest
import scipy.fft

from data_prep import dedup as D
from data_prep import synthetic
from data_prep.detect import DetectConfig, detect
from data_prep.manifest import Manifest

# Measured on near_duplicate_set(300, seed=0..2): autoencoder precision 1.0 / recall
# 0.54-0.58, pHash 1.0 / 0.54-0.60, exact 1.0 / 0.18-0.21. Floors leave a margin.
FLOORS = {"ae": (0.95, 0.45), "phash": (0.95, 0.45), "exact": (1.0, 0.1)}


@pytest.fixture(scope="module")
def dup_set():
    return synthetic.near_duplicate_set(300, seed=0)


def test_phash_matches_a_scipy_dct_reference():
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (40 + i, 50, 3), dtype=np.uint8) for i in range(20)]
    images += [synthetic.shapes_image(rng) for _ in range(20)]
    ours = D.phash_bits(images)
    for img, bits in zip(images, ours):
        grey = cv2.resize(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), (32, 32),
                          interpolation=cv2.INTER_AREA).astype(np.float64)
        low = scipy.fft.dctn(grey, type=2, norm="ortho")[:8, :8].ravel()
        ref = low > np.median(low[1:])
        ref[0] = False
        assert np.array_equal(bits, ref)


def test_buckets_merge_and_pair_scores_by_hand():
    assert D.buckets(["a", "b", "a", "c", "b", "a"]) == [[0, 2, 5], [1, 4]]
    assert D.merge([[0, 1]], [[1, 2], [4, 5]], n=6) == [[0, 1, 2], [4, 5]]
    found, truth = [[0, 1, 2], [4, 5]], [[0, 1], [2, 3], [4, 5]]
    # found pairs: 01 02 12 45; true pairs: 01 23 45 -> 2 of 4 found are true, 2 of 3 found
    s = D.pair_scores(found, truth)
    assert (s["true_pos"], s["precision"], s["recall"]) == (2, 0.5, 2 / 3)


def test_autoencoder_is_the_papers_shape():
    model, encoder = D.build_autoencoder()
    dense = [layer for layer in model.layers if layer.__class__.__name__ == "Dense"]
    assert [d.units for d in dense] == [128, 3072] and model.input_shape == (None, 3072)
    assert dense[0].activation.__name__ == "relu"
    kinds = {layer.__class__.__name__ for layer in model.layers}
    assert {"GaussianNoise", "Dropout"} <= kinds  # de-noising, dropout-regularised
    assert encoder.output_shape == (None, 128)


def test_methods_find_injected_near_duplicates(dup_set):
    images, truth, kinds = dup_set
    scores = {m: D.pair_scores(D.find_groups(images, m), truth) for m in D.METHODS}
    for m, (p_floor, r_floor) in FLOORS.items():
        print(m, {k: round(v, 3) for k, v in scores[m].items()})
        assert scores[m]["precision"] >= p_floor and scores[m]["recall"] >= r_floor, m
    # Exact hashing finds exactly the pixel-identical pairs (checked here by brute force),
    # and the autoencoder hash finds much more than that.
    identical = {(i, j) for g in truth for i in g for j in g
                 if i < j and images[i].shape == images[j].shape
                 and np.array_equal(images[i], images[j])}
    assert scores["exact"]["true_pos"] == len(identical) > 0
    assert scores["ae"]["recall"] > scores["exact"]["recall"] + 0.2


def test_dedup_step_marks_duplicates_and_writes_its_report(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    scenes = synthetic.face_scenes(4, seed=3)
    for i, (img, _) in enumerate(scenes):
        cv2.imwrite(str(photos / f"scene{i}.png"), img[..., ::-1])
    # The same photo under another name: every face in it is an exact duplicate.
    (photos / "copy_of_scene0.png").write_bytes((photos / "scene0.png").read_bytes())
    work = tmp_path / "work"
    detect(work, photos, DetectConfig(), workers=1)
    info = D.dedup(work, "phash")
    m = Manifest(work)
    records = m.latest("dedup")
    dups = [r for r in records.values() if r["status"] == "duplicate"]
    assert len(records) == info["crops"] and info["removed"] == len(dups)
    # Each face of the copied photo pairs with the same face of the original: exactly one
    # of the two is kept, the other is an exact duplicate of it.
    det = m.latest("detect")
    crops = [[b["crop"] for b in det[str(photos / name)]["boxes"] if b["kept"]]
             for name in ("scene0.png", "copy_of_scene0.png")]
    assert len(crops[0]) == len(crops[1]) >= 3
    for a, b in zip(*crops):
        verdicts = sorted([records[a]["status"], records[b]["status"]])
        assert verdicts == ["duplicate", "ok"]
        dup, orig = (a, b) if records[a]["status"] == "duplicate" else (b, a)
        assert records[dup]["reason"] == f"exact duplicate of {orig}"
    groups = json.loads((work / "dedup" / "groups.json").read_text())
    assert groups["method"] == "phash" and len(groups["groups"]) == info["groups"]
    sheet = cv2.imread(str(work / "dedup" / "collisions.png"))
    assert sheet is not None and sheet.shape[0] >= 48 * info["groups"]
    # Re-running appends a fresh verdict per crop and changes none.
    D.dedup(work, "phash")
    assert {k: r["status"] for k, r in m.latest("dedup").items()} == \
        {k: r["status"] for k, r in records.items()}


class FixedCodes:
    """A stand-in encoder giving every crop the same activations (a hash collision for all)."""

    def __init__(self, value: float):
        self.value = value

    def predict(self, x, **kw):
        return np.full((len(x), 128), self.value, np.float32)


def _distinct_with_copies():
    """40 distinct pictures, then exact copies of 0 and 1 and altered copies of 2 and 3."""
    rng = np.random.default_rng(5)
    images = [synthetic.shapes_image(rng) for _ in range(40)]
    images += [images[0].copy(), images[1].copy(),
               synthetic.alter(images[2], "brightness", rng),
               synthetic.alter(images[3], "jpeg", rng)]
    return images


def test_all_zero_codes_are_not_evidence_of_duplicates():
    images = _distinct_with_copies()
    # Every activation below the threshold: one shared all-zero key, which says nothing.
    groups = D.find_groups(images, "ae", encoder=FixedCodes(0.0))
    assert groups == [[0, 40], [1, 41]]  # the exact copies are still found, by their hash


@pytest.mark.parametrize("method", ["ae", "phash"])
def test_collisions_in_a_bucket_are_confirmed_by_pixel_distance(method, monkeypatch):
    images = _distinct_with_copies()
    # Every crop lands in one bucket: only those truly alike may be called duplicates.
    monkeypatch.setattr(D, "phash_bits",
                        lambda imgs, hash_side=8: np.ones((len(imgs), 64), bool))
    groups = D.find_groups(images, method, encoder=FixedCodes(1.0))
    assert groups == [[0, 40], [1, 41], [2, 42], [3, 43]]


def test_dedup_verdicts_follow_crop_contents_not_paths(tmp_path):
    """After a photo is detected anew, its crops' old verdicts do not apply to new pixels."""
    from data_prep.shard import select

    photos = tmp_path / "photos"
    photos.mkdir()
    scenes = synthetic.face_scenes(2, seed=3)
    cv2.imwrite(str(photos / "a.png"), scenes[0][0][..., ::-1])
    (photos / "b.png").write_bytes((photos / "a.png").read_bytes())
    work = tmp_path / "work"
    detect(work, photos, DetectConfig(), workers=1)
    D.dedup(work, "phash")
    m = Manifest(work)
    verdicts = m.latest("dedup")
    dup_photo = next(k for k, r in m.latest("detect").items()
                     if any(verdicts[b["crop"]]["status"] == "duplicate" for b in r["boxes"]
                            if b["kept"]))
    # That photo is replaced by another scene; detect redoes it, dedup has not run since.
    cv2.imwrite(dup_photo, scenes[1][0][..., ::-1])
    detect(work, photos, DetectConfig(), workers=1)
    new = [b for b in m.latest("detect")[dup_photo]["boxes"] if b["kept"]]
    assert new and all(verdicts.get(b["crop"], {}).get("status") == "duplicate"
                       for b in new[:1])  # the same crop paths, judged before
    chosen, unchecked = select(m)
    assert {b["crop"] for b in new} <= {c["crop"] for c in chosen}
    assert unchecked == len(new)
    # dedup judges the new pixels; its verdicts carry the content hash they were made for.
    D.dedup(work, "phash")
    recs = m.latest("dedup")
    assert all(recs[b["crop"]]["sha256"] == b["crop_sha256"] for b in new)
    chosen, unchecked = select(m)
    assert unchecked == 0 and {b["crop"] for b in new} <= {c["crop"] for c in chosen}


def _brute_force_groups(x, max_rms):
    """Connected components of 'RMS difference <= max_rms', pair by pair (the reference)."""
    n = len(x)
    close = [[j for j in range(n) if np.sqrt(np.mean((x[i] - x[j]) ** 2)) <= max_rms]
             for i in range(n)]
    seen, out = set(), []
    for i in range(n):
        if i in seen:
            continue
        comp, todo = {i}, [i]
        while todo:
            for j in close[todo.pop()]:
                if j not in comp:
                    comp.add(j)
                    todo.append(j)
        seen |= comp
        if len(comp) > 1:
            out.append(sorted(comp))
    return out


def test_confirm_joins_chains_like_a_brute_force_reference():
    rng = np.random.default_rng(3)
    base = rng.normal(size=(30, 48)).astype(np.float32)
    # Chains of small steps: neighbours are close, the ends of a chain are not.
    x = np.concatenate([base, base[:10] + 0.3, base[:10] + 0.6, base[:5] + 0.9]).astype(
        np.float32)
    every = [list(range(len(x)))]
    for block in (7, 1024):  # row blocks must not change the answer
        assert D.confirm(every, x, max_rms=0.35, block=block) == \
            _brute_force_groups(x, 0.35)
    halves = [list(range(0, len(x), 2)), list(range(1, len(x), 2))]  # two buckets
    assert D.confirm(halves, x, max_rms=0.35) == D.merge(
        *[[[h[i] for i in g] for g in _brute_force_groups(x[h], 0.35)] for h in halves],
        n=len(x))


def test_a_huge_bucket_of_copies_is_grouped_without_a_list_of_pairs():
    import tracemalloc

    n = 3000  # 4.5 million matching pairs: hundreds of MB as a list
    x = np.tile(np.random.default_rng(0).normal(size=(1, 64)).astype(np.float32), (n, 1))
    tracemalloc.start()
    try:
        groups = D.confirm([list(range(n))], x, block=256)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert groups == [list(range(n))]
    assert peak < 40 * 2**20, f"peak {peak / 2**20:.0f} MB"  # a few row blocks of distances


def test_hash_quality_figure_draws_precision_and_recall_per_method(tmp_path):
    from data_prep import dedup, show

    truth = [[0, 1, 2], [3, 4]]
    scores = {"exact": dedup.pair_scores([[0, 1]], truth),  # 1 of 4 true pairs, precise
              "ae": dedup.pair_scores([[0, 1, 2, 5]], truth)}  # 3 right of 6 found
    fig = show.hash_quality_figure(scores, tmp_path / "h.png")
    heights = [round(p.get_height(), 3) for p in fig.axes[0].patches]
    assert heights == [1.0, 0.5, 0.25, 0.75]  # precision bars, then recall bars
    assert (tmp_path / "h.png").stat().st_size > 1000
