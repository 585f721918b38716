"""Chapter 6's experiments end to end (dcgan_tf.studies.network_studies) on a tiny untrained
DCGAN."""

import json

import keras
import matplotlib.colors
import numpy as np
import pytest
from matplotlib.container import BarContainer

from dcgan_tf.config import DCGANConfig
from dcgan_tf.gan import DCGAN
from dcgan_tf.groundtruth import procedural
from dcgan_tf.studies import network_studies


def tiles(picture, n, ncols, size, pad=2):
    """The n size x size images laid out in a plots.grid picture, read back by position;
    asserts the picture is exactly that grid (white borders around the tiles)."""
    nrows = -(-n // ncols)
    assert picture.shape == (nrows * (size + pad) + pad, ncols * (size + pad) + pad, 3)
    border = np.ones(picture.shape[:2], bool)
    out = []
    for i in range(n):
        r, c = divmod(i, ncols)
        y, x = pad + r * (size + pad), pad + c * (size + pad)
        out.append(picture[y:y + size, x:x + size])
        border[y:y + size, x:x + size] = False
    assert (picture[border] == 255).all()
    return np.stack(out)


def bar_groups(ax):
    """The axis's ax.bar calls, in order (an error bar is a container of its own)."""
    return [c for c in ax.containers if isinstance(c, BarContainer)]


def shown(ax):
    """The picture an axis shows, as a plain uint8 array."""
    assert len(ax.images) == 1
    return np.asarray(ax.images[0].get_array())


@pytest.fixture(scope="module")
def gan():
    keras.utils.set_random_seed(0)
    return DCGAN(DCGANConfig(resolution=32, width=8))


def test_guided_study_shares_are_the_masks_of_the_chosen_images(gan):
    study = network_studies.guided_study(gan, n_images=24, channels=range(2), k=3)
    assert set(study["results"]) == {"trained", "random"}
    # An independent count: energy in the mask over energy in the image, per unit.
    units, grads = study["results"]["trained"]
    rows = [u.index for c in units for u in units[c]]
    g = np.concatenate([grads[c] for c in units]).astype(np.float64)
    mask = study["labels"]["bed_mask"][rows].astype(bool)
    energy = (g ** 2).sum(-1)
    expected = np.mean([e[m].sum() / e.sum() for e, m in zip(energy, mask) if e.sum() > 0])
    assert study["shares"]["trained"]["bed"]["share"] == pytest.approx(expected)
    assert study["shares"]["trained"]["bed"]["chance"] == pytest.approx(mask.mean())
    per_image = [e[m].sum() / e.sum() for e, m in zip(energy, mask) if e.sum() > 0]
    assert study["shares"]["trained"]["bed"]["se"] == pytest.approx(
        np.std(per_image, ddof=1) / np.sqrt(len(per_image)))
    # The random D is a different network, and the same one on every call (seeded).
    assert not np.allclose(grads[0], study["results"]["random"][1][0])
    again = network_studies.guided_study(gan, n_images=24, channels=range(2), k=3)
    np.testing.assert_allclose(again["results"]["random"][1][0],
                               study["results"]["random"][1][0], rtol=1e-5, atol=1e-8)


def test_guided_study_images_are_fresh_rooms(gan):
    study = network_studies.guided_study(gan, n_images=8, channels=range(1), k=2)
    images, _ = procedural.load("rooms", 8, seed=network_studies.IMAGE_SEED, size=32)
    np.testing.assert_array_equal(study["images"], images)


def test_boxed_draws_each_outline_and_nothing_else():
    images = np.zeros((2, 12, 12, 3), np.uint8)
    out = network_studies.boxed(images, {0: [[2, 3, 6, 8]], 1: []})
    red = out[0, ..., 0] == 255
    expected = np.zeros((12, 12), bool)
    expected[3:8, 2:6] = True
    expected[4:7, 3:5] = False  # the inside stays as it was
    np.testing.assert_array_equal(red, expected)
    assert not out[1].any() and not images.any()  # image 1 has no box; inputs untouched


def test_find_windows_with_hand_drawn_boxes(gan, tmp_path):
    boxes = {str(i): [[4, 4, 16, 16]] for i in range(6)} | {"6": []}
    path = tmp_path / "boxes.json"
    path.write_text(json.dumps(boxes))
    found = network_studies.find_windows(gan, box_samples=8, boxes_file=path)
    assert found.segmenter_iou is None and found.samples_with_boxes == 6
    n_maps = gan.generator.get_layer("act2").output.shape[-1]
    assert found.layer == "act2" and found.n_maps == n_maps and len(found.weights) == n_maps
    np.testing.assert_array_equal(found.maps, np.flatnonzero(found.weights > 0))
    assert found.images.shape == (8, 32, 32, 3) and found.images.dtype == np.uint8
    fig = network_studies.windows_figure(found, tmp_path / "maps.png")
    assert (tmp_path / "maps.png").stat().st_size > 1000
    assert len(fig.axes) == 2
    top, bottom = fig.axes
    assert top.get_title() == "window boxes on generated rooms (6 of 8 have one)"
    # Samples 0-5 have a box (sample 6 has none, 7 is not in the file): six tiles, each the
    # sample itself with a red 1-pixel outline on rows and columns 4..15.
    pictures = tiles(shown(top), 6, 6, 32)
    outline = np.zeros((32, 32), bool)
    outline[4:16, 4:16] = True
    outline[5:15, 5:15] = False
    for i, picture in enumerate(pictures):
        assert (picture[outline] == [255, 0, 0]).all()
        np.testing.assert_array_equal(picture[~outline], found.images[i][~outline])
    # The bars: every map's weight, largest first, the positive ones red.
    assert bottom.get_title() == f"{len(found.maps)} of {n_maps} maps have a positive weight"
    heights = [p.get_height() for p in bottom.patches]
    np.testing.assert_allclose(heights, sorted(found.weights, reverse=True))
    red = [p.get_facecolor()[:3] == matplotlib.colors.to_rgb("C3") for p in bottom.patches]
    assert red == [h > 0 for h in heights]


def test_no_box_means_no_maps_and_no_drop(gan, tmp_path):
    path = tmp_path / "none.json"
    path.write_text(json.dumps({"0": [], "1": []}))
    found = network_studies.find_windows(gan, box_samples=2, boxes_file=path)
    assert len(found.maps) == 0 and found.samples_with_boxes == 0
    with pytest.raises(ValueError, match="no window maps"):
        network_studies.drop_study(gan, found)
    res = network_studies.results_json({"shares": {}}, found, None)
    assert res["windows"]["note"] == "no window boxes on any sample"


def test_drop_variants_render_the_first_measured_z(gan):
    drop = {"maps": [0, 1], "control_maps": [2, 3]}
    v = network_studies.drop_variants(gan, drop, k=3)
    assert list(v) == ["original", "windows dropped", "random dropped"]
    assert all(x.shape == (3, 32, 32, 3) for x in v.values())
    assert not np.array_equal(v["original"], v["windows dropped"])


def _results(with_drop=True):
    share = {"share": 0.4, "se": 0.05, "chance": 0.1, "n": 8}
    stats = {"window_rate": 0.5, "window_area": 0.012, "door_rate": 0.25, "lamp_rate": 0.75,
             "picture_rate": 0.125}
    windows = {"segmenter_iou": 0.625, "layer": "act2", "window_maps": 7, "n_maps": 32,
               "samples_with_boxes": 90, "box_samples": 100}
    if with_drop:
        controls = {k: {"mean": v, "sd": 0.01} for k, v in stats.items()} | {"draws": 5}
        windows["dose"] = [{"k": 2, "window_maps_window_rate": 0.25, "random_window_rate": 0.5,
                            "random_window_rate_sd": 0.125, "window_maps_window_area": 0.01,
                            "random_window_area": 0.02}]
        windows |= {"n": 500, "door_change": 0.0625, "bed": "not measured: no bed head",
                    "variants": {"original": stats, "windows dropped": stats,
                                 "random dropped": stats}, "controls": controls}
    else:
        windows["note"] = "no window boxes on any sample"
    return {"guided": {"trained": {"bed": share, "window": share},
                       "random": {"bed": share, "window": share}}, "windows": windows}


def test_summary_reports_every_number():
    text = network_studies.summary(_results())
    for piece in ("| trained | 0.400 ± 0.098 | 0.100 |", "IoU on fresh rooms: 0.625",
                  "7 of 32", "| windows dropped | 0.500 | 0.0120 | 0.250 | 0.750 | 0.125 |",
                  "+0.062", "Bed: not measured",
                  "| random dropped, 5 draws (mean ± sd) | 0.500 ± 0.010 | 0.0120 ± 0.0100 |",
                  "| 2 | 0.250 | 0.500 ± 0.125 | 0.0100 | 0.0200 |"):
        assert piece in text
    assert "No drop measured: no window boxes" in network_studies.summary(_results(False))
    hand = _results()
    hand["windows"]["segmenter_iou"] = None
    assert "IoU on fresh rooms: hand-drawn boxes" in network_studies.summary(hand)


def test_share_figure_draws_each_share_its_error_and_chance(tmp_path):
    shares = {"trained": {"bed": {"share": 0.4, "se": 0.05, "chance": 0.1},
                          "window": {"share": 0.3, "se": 0.02, "chance": 0.2}},
              "random": {"bed": {"share": 0.15, "se": 0.01, "chance": 0.1},
                         "window": {"share": 0.25, "chance": 0.2}}}  # no se: no error bar
    fig = network_studies.share_figure(shares, tmp_path / "shares.png")
    assert (tmp_path / "shares.png").stat().st_size > 1000
    assert [ax.get_title() for ax in fig.axes] == ["energy on the bed mask",
                                                   "energy on the window mask"]
    for ax, obj in zip(fig.axes, ("bed", "window"), strict=True):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["trained", "random"]
        (bars,) = bar_groups(ax)
        heights = [p.get_height() for p in bars]
        np.testing.assert_allclose(heights, [100 * shares[n][obj]["share"] for n in shares])
        # Error bars span +- 1.96 standard errors, in percent, around each bar's top.
        segments = bars.errorbar.lines[2][0].get_segments()
        half = [(seg[1][1] - seg[0][1]) / 2 for seg in segments]
        np.testing.assert_allclose(half, [196 * shares[n][obj].get("se", 0.0)
                                          for n in shares], atol=1e-9)
        np.testing.assert_allclose([(seg[0][1] + seg[1][1]) / 2 for seg in segments], heights)
        (chance,) = [line for line in ax.lines if line.get_linestyle() == "--"]
        assert list(chance.get_ydata()) == pytest.approx([100 * shares["trained"][obj]["chance"]]
                                                         * 2)


def test_rates_figure_draws_each_variant_and_the_controls_spread(tmp_path):
    res = _results()["windows"]
    res["variants"] = {
        name: {"window_rate": w, "door_rate": 0.2 + i / 10, "lamp_rate": 0.7 - i / 10,
               "picture_rate": 0.1 * i, "window_area": 0.01}
        for i, (name, w) in enumerate((("original", 0.5), ("windows dropped", 0.125),
                                       ("random dropped", 0.375)))}
    res["controls"] = {r: {"mean": 0.3 + k / 20, "sd": 0.01 * (k + 1)}
                       for k, r in enumerate(network_studies.RATES)} | {"draws": 5}
    fig = network_studies.rates_figure(res, tmp_path / "rates.png")
    assert (tmp_path / "rates.png").stat().st_size > 1000
    (ax,) = fig.axes
    assert [t.get_text() for t in ax.get_xticklabels()] == ["window", "door", "lamp",
                                                            "picture"]
    assert ax.get_ylabel() == "share of 500 rooms"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "original", "windows dropped", "random dropped (mean ± sd of 5 draws)"]
    bars = bar_groups(ax)
    assert len(bars) == 3
    for container, name in zip(bars[:2], ("original", "windows dropped"), strict=True):
        assert [p.get_height() for p in container] == pytest.approx(
            [res["variants"][name][r] for r in network_studies.RATES])
        assert container.errorbar is None
    # The random drop shows its controls' mean, with their sd as the error bars.
    c = res["controls"]
    assert [p.get_height() for p in bars[2]] == pytest.approx(
        [c[r]["mean"] for r in network_studies.RATES])
    segments = bars[2].errorbar.lines[2][0].get_segments()
    assert [(s[1][1] - s[0][1]) / 2 for s in segments] == pytest.approx(
        [c[r]["sd"] for r in network_studies.RATES])


def test_benchmark_smoke_writes_every_output(load_benchmark, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_RUNS", str(tmp_path / "runs"))
    bench = load_benchmark("internals")
    assert bench.main(["--smoke", "--out", str(tmp_path / "out")]) == 0
    res = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(res) == {"guided", "windows"} and "bed" in res["guided"]["trained"]
    for name in ("guided_units.png", "guided_shares.png", "window_maps.png", "summary.md"):
        assert (tmp_path / "out" / name).exists(), name


def test_rooms_figure_shows_the_rooms_their_masks_and_gs_rooms(gan, tmp_path):
    from dcgan_tf.data import to_uint8

    fig = network_studies.rooms_figure(gan, k=3, path=tmp_path / "rooms.png")
    assert (tmp_path / "rooms.png").stat().st_size > 1000
    assert [ax.get_title() for ax in fig.axes] == [
        "real rooms", "their bed (magenta) and window (green) masks", "generated rooms"]
    images, labels = procedural.load("rooms", 3, seed=network_studies.IMAGE_SEED, size=32)
    tinted = images.astype(np.float32)
    for obj, colour in (("bed", (255, 0, 255)), ("window", (0, 255, 0))):
        m = labels[f"{obj}_mask"].astype(bool)
        tinted[m] = 0.45 * tinted[m] + 0.55 * np.array(colour, np.float32)
    z = network_studies.sample_prior(3, 100, gan.cfg.z_prior, network_studies.BOX_SEED)
    fake = to_uint8(gan.generate(z), gan.cfg.pixel_range)
    for ax, want in zip(fig.axes, (images, tinted.astype(np.uint8), fake), strict=True):
        np.testing.assert_array_equal(tiles(shown(ax), 3, 3, 32), want)
    assert not np.array_equal(tiles(shown(fig.axes[1]), 3, 3, 32), images)  # masks show


class _MeanProbe:
    """Reads each image's mean brightness as its window probability: a stand-in whose
    answers follow the pixels, so a drop changes them."""

    def predict(self, images):
        m = np.asarray(images, np.float64).mean((1, 2, 3)) / 255.0
        return {"window": m, "door": 1 - m, "lamp": m, "picture": m, "window_area": m / 10}


def test_drop_study_spreads_the_control_over_draws(gan, monkeypatch):
    from dcgan_tf.groundtruth import probes
    from dcgan_tf.studies import window_removal

    monkeypatch.setattr(probes, "get_probes", lambda *a, **k: _MeanProbe())
    found = network_studies.WindowSearch(np.zeros((1, 100)), np.zeros((1, 32, 32, 3), np.uint8),
                                   {0: [[0, 0, 4, 4]]}, np.array([0, 1]), np.ones(8), "act2",
                                   8, None)
    drop = network_studies.drop_study(gan, found, n=16, controls=3)
    c = drop["controls"]
    assert c["draws"] == 3
    # An independent recount of the three control draws (seeds 1, 2, 3).
    z = network_studies.sample_prior(16, 100, gan.cfg.z_prior, network_studies.DROP_SEED)
    rates = [float(np.mean(_MeanProbe().predict(window_removal.render_variants(
        gan.generator, z, [0, 1], window_removal.random_maps(8, 2, s))["random dropped"])["window"]
        > 0.5)) for s in (1, 2, 3)]
    assert c["window_rate"]["mean"] == pytest.approx(np.mean(rates))
    assert c["window_rate"]["sd"] == pytest.approx(np.std(rates, ddof=1))
    assert drop["variants"]["random dropped"]["window_rate"] == pytest.approx(rates[0])
    network_studies.rates_figure(drop)  # draws the spread as error bars


def test_dose_response_drops_the_strongest_maps_first(gan, monkeypatch):
    from dcgan_tf.groundtruth import probes
    from dcgan_tf.studies import window_removal

    monkeypatch.setattr(probes, "get_probes", lambda *a, **k: _MeanProbe())
    weights = np.array([0.1, -1.0, 0.9, 0.5, -0.2, 0.3, -0.4, -0.5])
    found = network_studies.WindowSearch(np.zeros((1, 100)), np.zeros((1, 32, 32, 3), np.uint8),
                                   {0: [[0, 0, 4, 4]]}, np.flatnonzero(weights > 0), weights,
                                   "act2", 8, None)
    rows = network_studies.dose_response(gan, found, ks=(1, 2, 9), n=12, controls=2)
    assert [r["k"] for r in rows] == [1, 2, 4]  # 9 is capped at the 4 window maps
    z = network_studies.sample_prior(12, 100, gan.cfg.z_prior, network_studies.DROP_SEED)
    # k = 2 drops maps 2 and 3 (weights 0.9 and 0.5), not the first two indices.
    expected = window_removal.object_stats(_MeanProbe().predict(window_removal.render_variants(
        gan.generator, z, [2, 3], [0])["windows dropped"]))
    assert rows[1]["window_maps_window_area"] == pytest.approx(expected["window_area"])
    network_studies.dose_figure(rows, {"window_rate": 0.5, "window_area": 0.05})


def test_guided_study_traces_any_layer(gan):
    study = network_studies.guided_study(gan, n_images=8, channels=range(1), k=2, layer="act1")
    units, grads = study["results"]["trained"]
    assert {u.layer for u in units[0]} == {"act1"} and grads[0].shape == (2, 32, 32, 3)


def test_write_box_samples_are_the_rooms_find_windows_boxes(gan, tmp_path):
    from PIL import Image

    paths = network_studies.write_box_samples(gan, 3, tmp_path / "to_box")
    assert [p.name for p in paths] == ["sample_0000.png", "sample_0001.png", "sample_0002.png"]
    boxes = tmp_path / "boxes.json"
    boxes.write_text(json.dumps({"0": [], "1": [], "2": []}))
    found = network_studies.find_windows(gan, box_samples=3, boxes_file=boxes)
    big = np.asarray(Image.open(paths[1]))
    assert big.shape == (256, 256, 3)  # 8 times the 32x32 sample
    np.testing.assert_array_equal(big[::8, ::8], found.images[1])
