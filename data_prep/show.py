"""Pictures and tables of a work folder, for notebook 01 (kept out of the notebook's cells)."""

from __future__ import annotations

import cv2
import numpy as np

from data_prep import dedup
from data_prep.decode import BadImage, load_rgb
from data_prep.detect import crop_square, square
from data_prep.manifest import Manifest
from dcgan_tf.plots import new_figure, save_figure

GREEN, RED = (40, 200, 60), (230, 40, 40)


def _gist(reason: str) -> str:
    return reason.split(":")[0].split(" (")[0]


def annotate(rgb: np.ndarray, boxes: list[dict], thickness: int | None = None) -> np.ndarray:
    """The photo with kept boxes in green and rejected ones in red, labelled with why."""
    out = rgb.copy()
    t = thickness or max(2, round(max(rgb.shape[:2]) / 250))
    scale = max(0.4, max(rgb.shape[:2]) / 900)
    for b in boxes:
        x, y, w, h = (int(round(v)) for v in b["box"])
        colour = GREEN if b["kept"] else RED
        cv2.rectangle(out, (x, y), (x + w, y + h), colour, t)
        if not b["kept"]:
            label = _gist(b["reason"])
            cv2.putText(out, label, (x, max(12, y - 4)), cv2.FONT_HERSHEY_SIMPLEX, scale,
                        colour, max(1, t // 2), cv2.LINE_AA)
    return out


def table(rows, headers) -> str:
    """A plain-text table (no pandas needed)."""
    rows = [[str(c) for c in r] for r in rows]
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    body = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join([line, "-" * len(line), *body])


def labels(work) -> dict[str, str]:
    """A readable label per recorded photo: the URL's file name and the person, if known."""
    m = Manifest(work)
    out = {}
    for url, rec in m.latest("download").items():
        if rec["status"] == "ok":
            tail = url.rstrip("/").rsplit("/", 1)[-1]
            out.setdefault(rec["file"], f"{tail} ({rec['name']})" if rec.get("name") else tail)
    return out


def photos_with_boxes(work, pick=(), n: int = 6):
    """(label, annotated photo) for up to n recorded photos: those whose label starts with a
    name in `pick` first, then photos with rejected boxes, then the rest."""
    m = Manifest(work)
    names = labels(work)
    recs = [(names.get(k, k.rsplit("/", 1)[-1]), k, r) for k, r in m.latest("detect").items()
            if r.get("boxes")]

    def rank(item):
        label, _, rec = item
        chosen = [i for i, p in enumerate(pick) if label.startswith(p)]
        return (chosen[0] if chosen else len(pick), all(b["kept"] for b in rec["boxes"]))

    out = []
    for label, key, rec in sorted(recs, key=rank)[:n]:
        try:
            out.append((label, annotate(load_rgb(m.resolve(key)), rec["boxes"])))
        except (OSError, BadImage):
            continue  # the photo was moved or deleted since detect ran
    return out


def kept_crops(work, status: str | None = None) -> list[tuple[str, np.ndarray]]:
    """(crop path, pixels) of the kept crops; status="ok"/"duplicate" filters by dedup's
    verdict on the crop's current bytes."""
    m = Manifest(work)
    verdicts = m.latest("dedup")
    return [(c["crop"], load_rgb(m.resolve(c["crop"]))) for c in dedup.kept_crops(m)
            if status is None or dedup.verdict(verdicts, c) == status]


def rejected_boxes(work, size: int = 64, n: int = 12) -> list[tuple[str, np.ndarray]]:
    """(reason, picture of the box) for up to n rejected face boxes."""
    m = Manifest(work)
    out = []
    for key, rec in m.latest("detect").items():
        rejected = [b for b in rec.get("boxes", []) if not b["kept"]]
        if not rejected:
            continue
        rgb = load_rgb(m.resolve(key))
        for b in rejected:
            out.append((b["reason"], crop_square(rgb, square(b["box"], 0.2), size, "constant")))
            if len(out) == n:
                return out
    return out


def rejections(work) -> list[tuple[str, str, str]]:
    """(step, input, reason) of every input a step refused, skipped or could not finish."""
    m = Manifest(work)
    rows = []
    for step in ("download", "detect", "dedup", "shard"):
        for key, rec in m.latest(step).items():
            if rec["status"] in ("rejected", "skipped", "failed", "error"):
                rows.append((step, key if len(key) < 60 else "..." + key[-57:],
                             rec.get("reason", "")))
    return rows


def hash_quality_figure(scores: dict, path=None):
    """Precision and recall of each de-duplication method's pairs (dedup.pair_scores per
    method), side by side, with the pair counts under the bars."""
    methods = list(scores)
    fig, axes = new_figure(path, 1, 1, (6.0, 3.2))
    ax, x = axes[0], np.arange(len(methods))
    for offset, key in ((-0.2, "precision"), (0.2, "recall")):
        ax.bar(x + offset, [scores[m][key] for m in methods], 0.4, label=key)
    ax.set_xticks(x, [f"{m}\n{scores[m]['true_pos']} of {scores[m]['pairs_true']} true pairs,"
                      f"\n{scores[m]['pairs_found']} found" for m in methods], fontsize=8)
    ax.set_ylim(0, 1.25)  # room above the bars for the legend
    ax.set_ylabel("share of pairs")
    ax.legend(fontsize=8, loc="upper center", ncol=2)
    return save_figure(fig, path)
