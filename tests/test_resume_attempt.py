"""A resume changes its run only once it has saved a new epoch: a failed one leaves the folder byte for byte as it
was; a successful one clears an earlier failure, and compare shows its results."""

import errno
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

from genmodels import compare
from genmodels.runs import atomic
from tests.helpers import short_run

# One epoch with the writers that run before a checkpoint: TensorBoard, the sample grid, the curves.
FIGURES_RUN = [*short_run(1, 2), "latent=2", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
FIGURES_RUN += [f"~callbacks.{name}" for name in ("reconstructions", "manifold", "latent_scatter", "interpolation")]


def tree_hashes(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) -> the sha256 of its bytes."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in folder.rglob("*")
        if path.is_file()
    }


@pytest.fixture(scope="module")
def one_epoch_run(tmp_path_factory, run_main) -> Path:
    run_dir = tmp_path_factory.mktemp("one_epoch") / "run"
    run_main("genmodels.train", *FIGURES_RUN, f"hydra.run.dir={run_dir}")
    return run_dir


@pytest.fixture
def run(one_epoch_run, tmp_path) -> Path:
    """A copy of the finished one-epoch run, to resume."""
    copy = tmp_path / "run"
    shutil.copytree(one_epoch_run, copy)
    return copy


def read_only_checkpoints(monkeypatch) -> None:
    """Writes into any ``checkpoints/`` folder fail as on a read-only folder (the tests may run as root)."""
    real = atomic._open_partial

    def open_partial(path: Path) -> tuple[int, Path]:
        if path.parent.name == "checkpoints":
            raise PermissionError(errno.EACCES, "Permission denied", str(path.parent))
        return real(path)

    monkeypatch.setattr(atomic, "_open_partial", open_partial)


def test_a_resume_that_cannot_save_its_first_epoch_leaves_the_folder_byte_identical(run_main, run, monkeypatch):
    (run / "failed.json").write_text('{"error": "an earlier failure"}')  # kept too: nothing is committed
    before = tree_hashes(run)
    read_only_checkpoints(monkeypatch)
    result = run_main("genmodels.train", f"resume={run}", "trainer.max_epochs=2", check=False)
    assert result.returncode == 1, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot write" in errors[0] and "Traceback" not in result.stderr
    assert tree_hashes(run) == before  # no new figures, events, failed.json; config, overrides and log as they were


def test_a_successful_resume_clears_an_earlier_failure_and_compare_shows_its_metrics(run_main, run, tmp_path):
    (run / "failed.json").write_text(json.dumps({"error": "RunFolderError: an earlier attempt"}))
    run_main("genmodels.train", f"resume={run}", "trainer.max_epochs=2")
    assert not (run / "failed.json").exists()
    assert "trainer.max_epochs=2" in yaml.safe_load((run / ".hydra" / "overrides.yaml").read_text())
    assert json.loads((run / "metrics.json").read_text())["epochs"] == 2
    assert compare.main([str(run.parent), "--out", str(tmp_path)]) == 0
    table = (tmp_path / "comparison.md").read_text()
    assert "failed" not in table and "| run |" in table


def test_compare_lists_metrics_newer_than_a_stale_failure(one_epoch_run, tmp_path):
    sweep = tmp_path / "sweep"
    for job in ("stale", "failed"):
        shutil.copytree(one_epoch_run, sweep / job)
        (sweep / job / "failed.json").write_text(json.dumps({"error": f"ValueError: {job}"}))
    metrics = sweep / "stale" / "metrics.json"
    failed_at = (sweep / "stale" / "failed.json").stat().st_mtime_ns
    os.utime(metrics, ns=(failed_at + 10**9, failed_at + 10**9))  # results written after the failure
    os.utime(sweep / "failed" / "failed.json", ns=(failed_at + 10**9, failed_at + 10**9))  # and this one before
    assert compare.main([str(sweep)]) == 0
    table = (sweep / "comparison.md").read_text()
    assert "| stale |" in table and "`failed`" in table and "failed: ValueError: failed" in table
    assert "ValueError: stale" not in table
