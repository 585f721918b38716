"""The stability lab's ablation runner: break one guideline at a time, over several seeds.

`run_ablation` trains every configuration x seed on the same data and budget into
OUT/<config>/seed<k>/, each with a ScoreLog (dcgan_tf.groundtruth.scoring: per-epoch probe
FD, attribute rates, training time) beside the health monitor every run has
(dcgan_tf.health). A sweep is resumable: finished runs are skipped, interrupted ones
resume, and a run that diverges is recorded as such and the sweep goes on. `collect` joins
every run's per-epoch files into OUT/results.csv, `summarise` turns them into one row per
configuration (summary.md), and `fd_curves` / `final_grids` draw them.
benchmarks/stability.py is the command line.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image

from dcgan_tf import checkpoint, plots
from dcgan_tf.health import monitor
from dcgan_tf.callbacks import TrainingDiverged
from dcgan_tf.config import DCGANConfig, InputError
from dcgan_tf.data import procedural_name
from dcgan_tf.fileio import read_json, write_json, write_text
from dcgan_tf.groundtruth.scoring import SCORES_FILE, ScoreLog
from dcgan_tf.runlog import read_rows, write_rows
from dcgan_tf.train import describe_source  # data.json's record of a source
from dcgan_tf.train import DATA_FILE, check_same_config, train_or_load

STATUS_FILE = "ablation.json"  # per run: its config name, overrides, seed and outcome


def _ablations() -> dict[str, dict]:
    paper = DCGANConfig()
    table = {"paper": {}}
    for name in paper.guideline_switches():  # every one a bool (tests/test_models.py)
        on = getattr(paper, name)  # a guideline the paper follows is named by its removal
        table[f"no_{name}" if on else name] = {name: not on}
    # The paper's own failed first try: BN on every layer "resulted in sample oscillation
    # and model instability", fixed by leaving out G's output and D's input.
    table["bn_everywhere"] = {"bn_on_g_output": True, "bn_on_d_input": True}
    table["lr_1e-3"] = {"learning_rate": 1e-3}  # "0.001 was too high"
    table["beta1_0.9"] = {"beta_1": 0.9}  # "0.9 resulted in training oscillation"
    return table


ABLATIONS = _ablations()  # name -> DCGANConfig overrides; "paper" is the baseline


# ---------------------------------------------------------------------------- training


def run_config(name: str, seed: int, base: DCGANConfig, table=None) -> DCGANConfig:
    """The config of `name` for one seed: `base` with its overrides from `table`.

    The default table is ABLATIONS, the lab: it samples from the G being trained
    (g_ema=0), as the paper did, since a weight average would smooth away the oscillation
    the lab is there to show. Another table (benchmarks/quality.py's) applies as given.
    """
    if table is None:
        table, base = ABLATIONS, base.replace(g_ema=0.0)
    if name not in table:
        raise InputError(f"unknown configuration {name!r}; expected one of {list(table)}")
    return base.replace(**table[name], seed=seed)


def run_ablation(names, seeds, source, out_dir, base: DCGANConfig | None = None,
                 epochs: int | None = None, score_n: int = 500, progress: bool = False,
                 table: dict | None = None) -> list[dict]:
    """Train every name x seed (names of `table`, default ABLATIONS; `seeds` a count or a
    list of seeds) on `source` into out_dir/<name>/seed<k>/; one status dict per run.

    `base` defaults to the DCGAN_PROFILE profile, `epochs` to its epochs. Finished and
    diverged runs are skipped, interrupted ones resume; a larger budget resumes finished
    runs. Before any run trains, every run folder that exists is checked: another config,
    other data or more epochs than asked (a sweep keeps one budget) is an InputError.
    `progress` shows each run's Keras progress bar.
    """
    base = base or DCGANConfig.profile()
    base = base.replace(epochs=epochs) if epochs is not None else base
    data_name = procedural_name(source)  # None: no probes, so no FD (e.g. CelebA)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    if not names or not seeds:
        raise InputError(f"nothing to run: no {'seeds' if names else 'configurations'}")
    jobs = {(name, seed): run_config(name, seed, base, table)  # every name checked first
            for name in names for seed in seeds}
    for (name, seed), cfg in jobs.items():
        _check_folder(Path(out_dir) / name / f"seed{seed}", cfg, source)
    statuses = []
    for i, ((name, seed), cfg) in enumerate(jobs.items(), 1):
        run_dir = Path(out_dir) / name / f"seed{seed}"
        start = time.perf_counter()
        status = _run_one(name, cfg, source, run_dir, data_name, score_n, progress,
                          (table or ABLATIONS)[name])
        fd = _last_fd(run_dir)
        print(f"[{i}/{len(jobs)}] {name} seed {seed}: {status['status']}, FD "
              f"{fd:.2f}, {time.perf_counter() - start:.0f} s", flush=True)
        statuses.append(status)
    return statuses


def _check_folder(run_dir: Path, cfg: DCGANConfig, source) -> None:
    """InputError if run_dir holds a run this sweep cannot reuse or resume: another config,
    other data, or one that went on past cfg.epochs (finished or diverged)."""
    if (run_dir / "config.json").is_file():
        check_same_config(DCGANConfig.from_json(run_dir / "config.json"), cfg, run_dir)
    recorded, asked = read_json(run_dir / DATA_FILE, default=None), describe_source(source)
    if recorded is not None and recorded != asked:
        raise InputError(f"{run_dir} was trained on {recorded['source']!r}, not on "
                         f"{asked['source']!r}: a sweep trains every run on the same data; "
                         "give it another folder")
    saved, diverged = checkpoint.saved_epoch(run_dir), _diverged(run_dir)
    if (saved + 1 if diverged else saved) > cfg.epochs:
        what = (f"diverged in epoch {saved + 1}, after" if diverged
                else f"holds {saved} epochs, more than")
        raise InputError(f"{run_dir} {what} the {cfg.epochs} epoch(s) this sweep asks for: "
                         "a sweep keeps one budget; ask for its epochs or use another folder")


def _diverged(run_dir: Path) -> bool:
    return read_status(run_dir).get("status") == "diverged"


def _run_one(name, cfg, source, run_dir: Path, data_name, score_n, progress,
             overrides) -> dict:
    """Train one run (checked by _check_folder), or skip it if it finished or diverged."""
    if _diverged(run_dir):  # a divergence within the budget is this run's result
        message = read_status(run_dir)["message"]
        return _write_status(run_dir, name, overrides, cfg, "diverged", message) \
            | {"skipped": True}
    if checkpoint.saved_epoch(run_dir) >= cfg.epochs:
        return _write_status(run_dir, name, overrides, cfg, "done") | {"skipped": True}
    (run_dir / STATUS_FILE).unlink(missing_ok=True)  # the last outcome no longer holds
    status, message = "done", ""
    try:
        train_or_load(cfg, source, run_dir, progress=progress, monitor=monitor.watch,
                      extra_callbacks=[ScoreLog(run_dir, data_name, score_n)] if data_name
                      else [])
    except TrainingDiverged as err:  # its rows so far are kept; the sweep goes on
        status, message = "diverged", str(err)
    return _write_status(run_dir, name, overrides, cfg, status, message) | {"skipped": False}


def _write_status(run_dir: Path, name, overrides, cfg, status, message="") -> dict:
    """Write ablation.json: "epochs" are the epochs saved (a diverged run: before it)."""
    record = {"config": name, "overrides": overrides, "seed": cfg.seed,
              "epochs": checkpoint.saved_epoch(run_dir), "status": status,
              "message": message}
    write_json(run_dir / STATUS_FILE, record)
    return record


def read_status(run_dir) -> dict:
    """A run's ablation.json ({} if it has none yet)."""
    path = Path(run_dir) / STATUS_FILE
    return read_json(path, default={})


def _last_fd(run_dir: Path) -> float:
    rows = read_rows(run_dir / SCORES_FILE)
    return float(rows[-1]["fd"]) if rows else math.nan


# ------------------------------------------------------------------------------ results


def _number(text):
    """A CSV cell as a float (None if empty)."""
    return float(text) if text not in ("", None) else None


def run_dirs(out_dir, configs=None, seeds=None) -> list[Path]:
    """The run folders of a sweep: ABLATIONS order, then other names; seeds in order.
    `configs`, `seeds`: only those (default: all)."""
    order = {name: i for i, name in enumerate(ABLATIONS)}
    folders = sorted((p for p in Path(out_dir).iterdir() if p.is_dir()),
                     key=lambda p: (order.get(p.name, len(order)), p.name))
    runs = [run for config in folders
            for run in sorted(config.glob("seed*"), key=lambda p: int(p.name[4:]))
            if (run / STATUS_FILE).is_file() or (run / SCORES_FILE).is_file()]
    return [run for run in runs if _wanted(run.parent.name, int(run.name[4:]), configs, seeds)]


def _wanted(config: str, seed: int, configs=None, seeds=None) -> bool:
    """Whether a run is of the given configs and seeds (None: any)."""
    return (configs is None or config in configs) and (seeds is None or seed in seeds)


def _status(run_dir: Path, record: dict) -> str:
    """"diverged", "done" (trained to its budget) or "partial" (interrupted, or running)."""
    if record.get("status") == "diverged":
        return "diverged"
    epochs = record.get("epochs")
    done = epochs is not None and checkpoint.saved_epoch(run_dir) >= epochs
    return "done" if done else "partial"


def _run_rows(run_dir: Path) -> list[dict]:
    flags = monitor.read_flags(run_dir)
    common = {"config": run_dir.parent.name, "seed": int(run_dir.name[4:]),
              "status": _status(run_dir, read_status(run_dir)),
              **{f"flag_{s}": flags.get(s) for s in monitor.SIGNALS}}
    health = {int(float(r["epoch"])): r for r in read_rows(run_dir / monitor.HEALTH_CSV)}
    log = {int(float(r["epoch"])): r for r in read_rows(run_dir / "log.csv")}
    scores = {int(float(r["epoch"])): r for r in read_rows(run_dir / SCORES_FILE)}
    rows = []
    for epoch in sorted(scores or health):  # health alone where nothing scores the data
        score = scores.get(epoch, {})
        row = {**common, "epoch": epoch}
        extra = {**health.get(epoch, {}), **score}
        extra.update({k: log.get(epoch, {}).get(k, "") for k in ("d_loss", "g_loss", "D(x)",
                                                                 "D(G(z))")})
        row.update({k: _number(v) for k, v in extra.items() if k != "epoch"})
        rows.append(row)
    # A run that diverged in its first epoch still counts: one row, before training.
    return rows or [{**common, "epoch": 0}]


def collect(out_dir, configs=None, seeds=None) -> list[dict]:
    """One row per config x seed x epoch: scores.csv joined with health.csv, log.csv's
    losses and D(x)/D(G(z)), the run's status and the monitor's first flagged epoch per
    signal (flag_<signal>, None if never). Also written to out_dir/results.csv. `configs`,
    `seeds`: only those runs (default: every run in out_dir)."""
    rows = [row for run in run_dirs(out_dir, configs, seeds) for row in _run_rows(run)]
    fields = list(dict.fromkeys(k for row in rows for k in row))
    write_rows(Path(out_dir) / "results.csv", rows, fields)
    return rows


def _runs(rows) -> dict[str, dict[int, list[dict]]]:
    """config -> seed -> its rows by epoch (first-seen order of configs and seeds)."""
    runs: dict = {}
    for row in rows:
        runs.setdefault(row["config"], {}).setdefault(row["seed"], []).append(row)
    for seeds in runs.values():
        for seed_rows in seeds.values():
            seed_rows.sort(key=lambda r: r["epoch"])
    return runs


def mean_sd(values) -> tuple[float, float] | None:
    """Mean and sample sd (nan for one value) of the values that are not None; None if none."""
    values = [v for v in values if v is not None]
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 \
        else math.nan


def in_late_half(epoch: int, last: int) -> bool:
    """Whether `epoch` is in the second half of a run of `last` epochs (the "late" window)."""
    return last / 2 < epoch <= last


def _late(seed_rows) -> tuple[float, float] | None:
    """One finished run's FD over the second half of its epochs: (mean, swing), swing being
    the mean jump in FD from one epoch to the next inside that window; None if it did not
    finish or has fewer than two scored epochs there."""
    last = seed_rows[-1]["epoch"]
    fds = [r["fd"] for r in seed_rows
           if in_late_half(r["epoch"], last) and r.get("fd") is not None]
    if seed_rows[-1]["status"] != "done" or len(fds) < 2:
        return None
    return float(np.mean(fds)), float(np.mean(np.abs(np.diff(fds))))


def summarise(rows) -> list[dict]:
    """Per config: seeds, final FD mean and sd over the seeds that finished (finished);
    the late FD (mean over the second half of the epochs; mean and sd over seeds) and its
    swing (mean epoch-to-epoch jump there, mean over seeds), which show an oscillating run
    a lucky last epoch hides; the share of seeds the monitor flagged per signal (a
    diverged run counts for "divergence" even unflagged) and the mean training minutes of
    the seeds that have a training time (nan if none)."""
    summary = []
    for config, seeds in _runs(rows).items():
        finals = [r[-1] for r in seeds.values()]
        fds = [r["fd"] for r in finals if r["status"] == "done" and r.get("fd") is not None]
        late = [x for x in map(_late, seeds.values()) if x is not None]
        fd_mean, fd_sd = mean_sd(fds) or (math.nan, math.nan)
        late_mean, late_sd = mean_sd([m for m, _ in late]) or (math.nan, math.nan)
        swing, _ = mean_sd([w for _, w in late]) or (math.nan, math.nan)
        entry = {"config": config, "seeds": len(finals), "finished": len(fds),
                 "fd_mean": fd_mean, "fd_sd": fd_sd,
                 "late_from": max(r["epoch"] for r in finals) // 2 + 1,
                 "late_mean": late_mean, "late_sd": late_sd, "swing": swing}
        for signal in monitor.SIGNALS:
            hit = [r.get(f"flag_{signal}") is not None
                   or (signal == "divergence" and r["status"] == "diverged") for r in finals]
            entry[signal] = float(np.mean(hit))
        times = [r["train_seconds"] / 60 for r in finals if r.get("train_seconds") is not None]
        entry["minutes"] = float(np.mean(times)) if times else math.nan
        summary.append(entry)
    return summary


def _mean_sd(mean: float, sd: float) -> str:
    if math.isnan(mean):
        return "n/a"
    return f"{mean:.1f}" + ("" if math.isnan(sd) else f" ± {sd:.1f}")


def markdown(summary) -> str:
    """summarise()'s rows as a markdown table (flag columns: seeds flagged / seeds; a dash
    for minutes when no seed has a training time)."""
    head = ["config", "seeds", "final FD (mean ± sd)", "late FD (mean ± sd)", "swing",
            *monitor.SIGNALS, "train min"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in summary:
        fd = _mean_sd(s["fd_mean"], s["fd_sd"])
        if s["finished"] < s["seeds"]:
            fd += f" ({s['finished']} of {s['seeds']} finished)"
        late = _mean_sd(s["late_mean"], s["late_sd"])
        if late != "n/a":
            late += f" (epochs {s['late_from']}+)"
        swing = _mean_sd(s["swing"], math.nan)
        flags = [f"{round(s[k] * s['seeds'])}/{s['seeds']}" for k in monitor.SIGNALS]
        minutes = "–" if math.isnan(s["minutes"]) else f"{s['minutes']:.1f}"
        cells = [s["config"], str(s["seeds"]), fd, late, swing, *flags, minutes]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------ figures


def fd_curves(rows, path, minutes: bool = False, baseline: str = "paper",
              title: str = "Probe FD per configuration (mean over seeds, band: range)",
              column: str = "fd", label: str = "", lines: dict | None = None,
              configs=None, seeds=None) -> Path:
    """Probe FD per epoch, one line per config: the mean over seeds, a band from the
    lowest to the highest seed. `minutes`: against the mean training minutes at each epoch
    instead (the quality reached per CPU-minute). With `column="fd_plain"` the plain G's
    FD is drawn dashed beside each config's `fd` (label: what `fd` is). `lines`: {label:
    FD} drawn as grey horizontal references (a target, a ruler's points). `configs`,
    `seeds`: draw only those (default: every run in `rows`)."""
    rows = [r for r in rows if _wanted(r["config"], r["seed"], configs, seeds)]
    fig, (ax,) = plots.new_figure(path, 1, 1, (9, 5))
    # Ten clearly different colours first (tab10), then the lighter tab20 shades.
    palette = [*matplotlib.colormaps["tab10"].colors,
               *matplotlib.colormaps["tab20"].colors[1::2]]
    for i, (config, seeds) in enumerate(_runs(rows).items()):
        colour = "black" if config == baseline else palette[i % len(palette)]
        for key in dict.fromkeys(("fd", column)):
            by_epoch: dict = {}
            for r in (r for seed_rows in seeds.values() for r in seed_rows):
                if r.get(key) is not None:
                    by_epoch.setdefault(r["epoch"], []).append(
                        (r[key], r.get("train_seconds") or 0.0))
            if not by_epoch:
                continue
            epochs = sorted(by_epoch)
            values = [np.asarray(by_epoch[e])[:, 0] for e in epochs]
            xs = [np.mean(np.asarray(by_epoch[e])[:, 1]) / 60 for e in epochs] if minutes \
                else epochs
            name = config if key == "fd" else f"{config}, plain G"
            ax.plot(xs, [v.mean() for v in values], color=colour,
                    label=f"{name}{label}" if key == "fd" else name,
                    ls="-" if key == "fd" else "--", lw=2.5 if config == baseline else 1.3,
                    marker="." if minutes else None)
            ax.fill_between(xs, [v.min() for v in values], [v.max() for v in values],
                            color=colour, alpha=0.15 if key == "fd" else 0.07)
    for i, (text, value) in enumerate((lines or {}).items()):
        ax.axhline(value, color="grey", lw=1, ls=(":", "-.", "--")[i % 3], label=text)
    ax.set(xlabel="training minutes (this machine)" if minutes else "epoch",
           ylabel="probe FD (log scale; lower is closer to the data)", yscale="log",
           title=title)
    if not minutes:
        ax.xaxis.get_major_locator().set_params(integer=True)  # epochs are whole numbers
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    plots.save_figure(fig, path)
    return Path(path)


def final_grids(out_dir, path, ncols: int = 4, configs=None, seeds=None) -> Path:
    """The last sample grid of each config's first seed, side by side (`configs`, `seeds`:
    of those only)."""
    panels = []
    seen = set()
    for run in run_dirs(out_dir, configs, seeds):
        grids = sorted((run / "samples").glob("epoch_*.png"))
        if run.parent.name in seen or not grids:
            continue
        seen.add(run.parent.name)
        status = read_status(run).get("status", "")
        title = f"{run.parent.name} ({run.name}, epoch {int(grids[-1].stem[6:])}" \
                + (", diverged)" if status == "diverged" else ")")
        panels.append((title, np.asarray(Image.open(grids[-1]).convert("RGB"))))
    if not panels:
        raise InputError(f"{out_dir}: no run folders with sample grids")
    ncols = min(ncols, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    fig, axes = plots.new_figure(path, nrows, ncols, (3.2 * ncols, 3.4 * nrows))
    axes = axes.ravel()
    for ax in axes:
        ax.set_axis_off()
    for ax, (title, image) in zip(axes, panels):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(title, fontsize=8)
    plots.save_figure(fig, path)
    return Path(path)


def analyse(out_dir, configs=None, seeds=None) -> tuple[list[dict], str]:
    """collect + summarise a sweep, write summary.md, fd_curves.png and final_grids.png;
    returns the summary rows and the markdown table. `configs`, `seeds`: of those runs only
    (a folder the chapter and the benchmark share holds others)."""
    out_dir = Path(out_dir)
    rows = collect(out_dir, configs, seeds)
    summary = summarise(rows)
    table = markdown(summary)
    write_text(out_dir / "summary.md", table)
    fd_curves(rows, out_dir / "fd_curves.png")
    final_grids(out_dir, out_dir / "final_grids.png", configs=configs, seeds=seeds)
    return summary, table


def verdicts(out_dir, seed: int = 0) -> dict[str, list[str]]:
    """config -> the monitor's messages for its run with `seed`, in the order they came
    ([] when the monitor flagged nothing)."""
    out = {}
    for run in run_dirs(out_dir):
        if run.name == f"seed{seed}":
            path = run / monitor.HEALTH_JSON
            flags = read_json(path, default={"flags": []})["flags"]
            out[run.parent.name] = [f["message"] for f in flags]
    return out
