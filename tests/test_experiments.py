"""Report experiments compose and run; the compare command tabulates a real (tiny) sweep."""

import json
import shutil
from pathlib import Path

import pytest

from genmodels import compare
from tests.conftest import CONFIGS

EXPERIMENTS = sorted(p.stem for p in (CONFIGS / "experiment").glob("*.yaml"))


def test_every_report_experiment_is_a_config():
    from genmodels.report import EXPERIMENTS as REPORT

    assert {e.name for e in REPORT} <= set(EXPERIMENTS)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_shortened_experiment_runs_and_draws_its_figures(run_cli, tmp_path, name):
    shown = run_cli("genmodels.train", f"experiment={name}", "--cfg", "job").stdout
    assert "max_epochs: 40" in shown
    small = ["data.image_size=32", "model.generator_width=8", "model.discriminator_width=8"] if "dcgan" in name else []
    result = run_cli(
        "genmodels.train",
        f"experiment={name}",
        "trainer.max_epochs=3",
        "trainer.limit_train_batches=2",
        "trainer.limit_val_batches=1",
        "trainer.limit_test_batches=1",
        "~logger",
        *small,
        f"hydra.run.dir={tmp_path}",
    )
    figures = tmp_path / "figures"
    assert (tmp_path / "metrics.json").exists() and (figures / "interpolation.png").exists()
    # The report's epochs beyond the run are dropped with one warning; the first and the last are drawn.
    assert sorted(p.name for p in (figures / "samples").glob("*_mean.png")) == [
        "epoch_001_mean.png",
        "epoch_003_mean.png",
    ]
    assert (figures / "samples_by_epoch_mean.png").exists()
    assert (result.stdout + result.stderr).count("beyond trainer.max_epochs=3") == 1


@pytest.fixture(scope="module")
def tiny_sweep(tmp_path_factory, mnist_dir):
    import os
    import subprocess
    import sys

    from tests.conftest import REPO

    sweep = tmp_path_factory.mktemp("sweep")
    env = {**os.environ, "GENMODELS_DATA_DIR": str(mnist_dir), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [
            sys.executable,
            "-m",
            "genmodels.train",
            "-m",
            "latent=2,5",
            "trainer.fast_dev_run=true",
            "~logger",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=REPO,
        env=env,
        check=True,
        capture_output=True,
    )
    return sweep


def test_compare_writes_table_and_plot(tiny_sweep, tmp_path):
    assert compare.main([str(tiny_sweep), "--out", str(tmp_path)]) == 0
    table = (tmp_path / "comparison.md").read_text()
    assert "latent=2" in table and "latent=5" in table and "test -ELBO" in table
    rows = (tmp_path / "comparison.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].split(",")[2] == "2" and rows[2].split(",")[2] == "5"
    assert (tmp_path / "comparison.png").stat().st_size > 1000


def test_compare_names_missing_and_failed_jobs(tiny_sweep, tmp_path):
    sweep = tmp_path / "sweep"
    shutil.copytree(tiny_sweep, sweep)
    (sweep / "1" / "metrics.json").unlink()
    failed = sweep / "2"
    shutil.copytree(sweep / "0" / ".hydra", failed / ".hydra")
    (failed / "failed.json").write_text(json.dumps({"error": "ValueError: boom"}))
    assert compare.main([str(sweep)]) == 0
    table = (sweep / "comparison.md").read_text()
    assert "`1` (latent=5): incomplete" in table and "`2` (latent=2): failed: ValueError: boom" in table
    assert len((sweep / "comparison.csv").read_text().splitlines()) == 4


def test_compare_rejects_a_non_sweep(tmp_path, capsys):
    assert compare.main([str(tmp_path / "nope")]) == 1
    assert "not a folder" in capsys.readouterr().err
    assert compare.main([str(Path(tmp_path))]) == 1
