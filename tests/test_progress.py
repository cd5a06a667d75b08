"""Progress logs compared: the CPU time at which an arm reaches a loss."""

import csv

import pytest

from tfc_repro import progress


def write(path, rows):
  with open(path, "w", newline="") as f:
    writer = csv.DictWriter(f, ["step", "cpu_seconds", "val_loss", "val_bpp",
                                "val_psnr"])
    writer.writeheader()
    for step, seconds, loss in rows:
      writer.writerow(dict(step=step, cpu_seconds=seconds, val_loss=loss,
                           val_bpp=0.5, val_psnr=25.))


def test_time_to_reach_the_baselines_final_loss(tmp_path, capsys):
  write(tmp_path / "bls2017-old.csv",
        [(100, 60, 3.), (200, 120, 2.), (300, 240, 1.5)])
  write(tmp_path / "bls2017-new.csv",
        [(100, 60, 2.5), (200, 120, 1.4), (300, 240, 1.2)])
  write(tmp_path / "lee2019-new.csv", [(100, 60, 2.5)])
  runs = progress.read_runs(str(tmp_path))
  assert progress.time_to_reach(runs["bls2017"]["new"], 1.5) == 120
  assert progress.time_to_reach(runs["bls2017"]["old"], 1.0) is None
  assert progress.main([str(tmp_path), "--baseline", "old", "--figure",
                        str(tmp_path / "c.png")]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert lines[2].startswith("| bls2017 | old | 300 | 4.0 | 1.5 |")
  assert lines[3].endswith("| 2.0 | 2.00× |")   # 240 s / 120 s
  assert lines[4].endswith("| n/a | n/a |")      # lee2019 has no baseline
  assert (tmp_path / "c.png").stat().st_size > 0


def test_training_folders_compare_against_the_first(tmp_path, capsys):
  for name, losses in (("m1", (3., 2.)), ("m2", (2., 1.5))):
    (tmp_path / f"{name}.train").mkdir()
    write(tmp_path / f"{name}.train" / "progress.csv",
          [(100, 60, losses[0]), (200, 120, losses[1])])
  assert progress.main([str(tmp_path / "m1.train"),
                        str(tmp_path / "m2.train" / "progress.csv")]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert "CPU min to m1's final loss" in lines[0]
  assert lines[2].startswith("| runs | m1 | 200 | 2.0 | 2 |")
  assert lines[3].startswith("| runs | m2 | 200 | 2.0 | 1.5 |")
  assert lines[3].endswith("| 1.0 | 2.00× |")  # reached 2.0 at 60 s


def test_a_missing_run_is_one_line(tmp_path, capsys):
  with pytest.raises(SystemExit) as exit_info:
    progress.main([str(tmp_path / "absent.train")])
  assert exit_info.value.code == 1
  assert capsys.readouterr().err == (
      f"error: no such training folder or progress log: "
      f"{tmp_path / 'absent.train'}\n")
