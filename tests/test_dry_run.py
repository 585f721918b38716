"""`python -m dcgan_tf train --dry-run`: the real training path on tiny data, in seconds."""

import subprocess
import sys
from pathlib import Path

from dcgan_tf import __main__ as entry
from dcgan_tf import checkpoint
from dcgan_tf.config import DCGANConfig
from dcgan_tf.runlog import read_rows


def test_a_dry_run_trains_one_small_epoch_into_a_run_folder(tmp_path, capsys):
    out = tmp_path / "dry"
    assert entry.main(["train", "--dry-run", "--out", str(out)]) == 0
    cfg = DCGANConfig.from_json(out / "config.json")
    assert (cfg.epochs, cfg.batch_size) == (1, 16)
    assert checkpoint.saved_epoch(out) == 1
    assert len(read_rows(out / "steps.csv")) == 128 // 16  # every step of the one epoch
    assert (out / "samples" / "epoch_001.png").is_file() and (out / "health.png").is_file()
    health, = read_rows(out / "health.csv")
    assert health["diversity_probes"] in ("", "nan")  # no probes were trained for it
    assert not (out / "report.json").exists()  # and nothing was scored
    printed = capsys.readouterr().out
    assert f"run folder {out}" in printed
    assert "training on the CPU (no GPU found)" in printed  # where it trained


def test_a_dry_run_refuses_resume_and_data_it_cannot_shrink(tmp_path, capsys):
    assert entry.main(["train", "--dry-run", "--resume", "--out", str(tmp_path)]) == 2
    assert "cannot --resume" in capsys.readouterr().err
    assert entry.main(["train", "--dry-run", "--data", "tfds:celeb_a",
                       "--out", str(tmp_path)]) == 2
    assert "drawn data" in capsys.readouterr().err


def test_the_command_line_dry_run_writes_a_temporary_run_folder():
    done = subprocess.run([sys.executable, "-m", "dcgan_tf", "train", "--dry-run"],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    folder = Path(done.stdout.strip().splitlines()[-1].split("run folder ")[-1])
    assert folder.name.startswith("dcgan_dry_run_") and checkpoint.saved_epoch(folder) == 1
