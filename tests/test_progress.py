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


def test_runs_of_the_same_name_are_told_apart_by_their_folders(tmp_path,
                                                              capsys):
  for folder, losses in (("r1", (3., 2.)), ("r2", (2., 1.5))):
    (tmp_path / folder / "m.train").mkdir(parents=True)
    write(tmp_path / folder / "m.train" / "progress.csv",
          [(100, 60, losses[0]), (200, 120, losses[1])])
  assert progress.distinct_labels([["a", "r1", "m"], ["a", "r2", "m"],
                                   ["b", "r2", "m"]]) == [
                                       "a/r1/m", "a/r2/m", "b/r2/m"]
  assert progress.main([str(tmp_path / "r1" / "m.train"),
                        str(tmp_path / "r2" / "m.train")]) == 0
  lines = capsys.readouterr().out.splitlines()
  assert "CPU min to r1/m's final loss" in lines[0]
  assert lines[2].startswith("| runs | r1/m | 200 | 2.0 | 2 |")
  assert lines[3].startswith("| runs | r2/m | 200 | 2.0 | 1.5 |")


def _one_line_exit(capsys, argv):
  with pytest.raises(SystemExit) as exit_info:
    progress.main(argv)
  assert exit_info.value.code == 1
  error = capsys.readouterr().err
  assert error.count("\n") == 1, error
  return error


def test_bad_baseline_table_logs_and_times_are_one_line(tmp_path, capsys):
  write(tmp_path / "bls2017-old.csv", [(100, 60, 3.), (200, 120, 2.)])
  write(tmp_path / "bls2017-new.csv", [(100, 0, 1.5), (200, 60, 1.2)])
  assert _one_line_exit(capsys, [str(tmp_path), "--baseline", "nosuch"]) == (
      "error: --baseline nosuch: no run of that name (the runs: new, old)\n")
  # The new arm reached the old one's final loss at 0 CPU seconds.
  table = tmp_path / "new folder" / "table.md"
  assert progress.main([str(tmp_path), "--baseline", "old", "--table",
                        str(table)]) == 0
  assert table.read_text().splitlines()[3].endswith("| 0.0 | n/a |")
  assert _one_line_exit(capsys, [str(tmp_path), "--table",
                                 str(tmp_path)]) == (
      f"error: cannot write {tmp_path}: a folder\n")
  (tmp_path / "bls2017-old.csv").write_text(
      "step,cpu_seconds,val_loss\n100,60,3.0\n")
  assert _one_line_exit(capsys, [str(tmp_path)]) == (
      f"error: {tmp_path / 'bls2017-old.csv'}: no val_bpp, val_psnr column "
      "(not a progress log)\n")
  (tmp_path / "bls2017-old.csv").write_text(
      "step,cpu_seconds,val_loss,val_bpp,val_psnr\n100,x,3.0,0.5,25\n")
  assert _one_line_exit(capsys, [str(tmp_path)]) == (
      f"error: {tmp_path / 'bls2017-old.csv'}: line 2: cpu_seconds 'x' is "
      "not a number\n")
