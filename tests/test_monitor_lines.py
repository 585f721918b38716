"""benchmarks/monitor_lines.py replays the monitor's verdicts from a sweep's health.csv."""

from dcgan_tf.health import monitor
from dcgan_tf.runlog import write_rows

HEALTHY = {"swing": 0.5, "loss_std": 0.2, "d_real": 0.7, "d_fake": 0.3, "d_grad_norm": 1.0,
           "g_grad_norm": 1.0, "saturation": 0.0, "saturation_real": 0.0}


def _run(folder, diversities):
    rows = [{"epoch": e + 1, "diversity_pixels": d, "diversity_probes": d,
             "fd_pixels": 10.0 - e, **HEALTHY} for e, d in enumerate(diversities)]
    folder.mkdir(parents=True)
    write_rows(folder / monitor.HEALTH_CSV, rows, monitor.COLUMNS)


def test_replay_flags_collapse_only_where_diversity_stays_low(tmp_path, load_benchmark,
                                                              capsys):
    lines = load_benchmark("monitor_lines")
    before = (monitor.COLLAPSE_BELOW, monitor.COLLAPSE_SEVERE)
    _run(tmp_path / "paper" / "seed0", [0.6, 0.8, 0.9, 0.9])
    _run(tmp_path / "paper" / "seed1", [0.4, 0.7, 0.8, 0.9])  # young and rising: healthy
    _run(tmp_path / "no_g_batchnorm" / "seed0", [0.1, 0.1, 0.1, 0.1])
    assert lines.replay(tmp_path / "no_g_batchnorm" / "seed0" / monitor.HEALTH_CSV) == {
        "collapse"}
    assert lines.rates(tmp_path) == {"no_g_batchnorm": (1, 1), "paper": (0, 2)}
    assert lines.main([str(tmp_path)]) == 0
    assert "paper flagged 0/2 (0%); broken: no_g_batchnorm 1/1" in capsys.readouterr().out
    assert (monitor.COLLAPSE_BELOW, monitor.COLLAPSE_SEVERE) == before  # restored
    assert lines.main([str(tmp_path / "no_g_batchnorm")]) == 2
