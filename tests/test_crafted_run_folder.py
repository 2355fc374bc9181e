"""A checkpoint whose parts have the wrong shape is refused by name; a damaged file in a sweep's job folder is a row
marked damaged in ``compare`` (which still compares the other jobs), never a traceback, and compare never resolves an
interpolation of a job's files. (Damaged run folders under evaluate, resume and load_run: test_damaged_run_folder.)"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from genmodels import compare
from genmodels.errors import CheckpointError
from genmodels.runs.checkpoints import load_checkpoint


@pytest.mark.parametrize(
    ("part", "said"),
    [
        ({"global_step": True}, "its global_step is True, not a count"),
        ({"loops": {"fit_loop": []}}, "its loops do not count the epochs it finished"),
        ({"state_dict": {"weight": 1.0}}, "its state_dict is not a mapping of parameter names to tensors"),
        (  # Lightning would delete the path it names when it falls out of the top k
            {"callbacks": {"ModelCheckpoint{}": {"best_model_path": "local:///home", "best_model_score": None}}},
            r"its state of callback ModelCheckpoint\{\} names 'local:///home', not a local checkpoint file",
        ),
        ({"callbacks": {"x": {"best_k_models": {"s3://bucket/a.ckpt": 1.0}}}}, "its state of callback x names 's3:"),
    ],
)
def test_a_checkpoint_of_the_wrong_shape_is_refused_by_name(tmp_path, part, said):
    crafted = tmp_path / "crafted.ckpt"
    torch.save({"state_dict": {"weight": torch.zeros(1)}, "epoch": 0, **part}, crafted)
    refused = rf"^{re.escape(str(crafted))} is not a checkpoint genmodels can load: {said}.* Fix: "
    with pytest.raises(CheckpointError, match=refused):
        load_checkpoint(crafted)


def sweep_of_two(folder: Path) -> Path:
    """A sweep folder of two finished jobs, ``0`` (latent=2) and ``1`` (latent=5)."""
    for job, latent in enumerate((2, 5)):
        (folder / str(job) / ".hydra").mkdir(parents=True)
        (folder / str(job) / ".hydra" / "overrides.yaml").write_text(f"- latent={latent}\n- debug=tiny\n")
        summary = {"latent": latent, "epochs": 1, "metrics": {"test/neg_elbo": 100.0 + latent}}
        (folder / str(job) / "metrics.json").write_text(json.dumps(summary))
    return folder


def failed_with(content: bytes) -> Callable[[Path], None]:
    def damage(job: Path) -> None:
        (job / "metrics.json").unlink()
        (job / "failed.json").write_bytes(content)

    return damage


def written(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda job: (job / name).write_bytes(content)


JOB_DAMAGE = {
    "failed.json a list": (failed_with(b"[1]"), "latent=5", "failed.json holds a JSON list, not an object"),
    "failed.json cut short": (failed_with(b'{"err'), "latent=5", "failed.json is damaged (JSONDecodeError"),
    "eval a string": (
        written("metrics.json", b'{"latent": 5, "metrics": {}, "eval": "x"}'),
        "latent=5",
        'metrics.json is damaged (eval is "x")',
    ),
    "overrides not YAML": (
        written(".hydra/overrides.yaml", b"- [latent=5\n"),
        "",
        ".hydra/overrides.yaml is not valid YAML (ParserError",
    ),
    "failed.json a named pipe": (
        lambda job: ((job / "metrics.json").unlink(), os.mkfifo(job / "failed.json")),
        "latent=5",
        "failed.json is not a regular file",
    ),
    "overrides a mapping": (
        written(".hydra/overrides.yaml", b"latent: 5\n"),
        "",
        ".hydra/overrides.yaml is not a list of overrides",
    ),
}


@pytest.mark.parametrize("case", JOB_DAMAGE)
def test_compare_lists_a_damaged_job_and_compares_the_others(tmp_path, case):
    damage, overrides, said = JOB_DAMAGE[case]
    sweep = sweep_of_two(tmp_path / "sweep")
    damage(sweep / "1")
    assert compare.main([str(sweep)]) == 0
    table = (sweep / "comparison.md").read_text().splitlines()
    assert any(line.startswith("| 0 | latent=2") and "102.00" in line for line in table), table
    damaged = [line for line in table if line.startswith("- `1`")]
    assert len(damaged) == 1 and damaged[0].startswith(f"- `1` ({overrides}): damaged: "), table
    assert said in damaged[0], table
    assert damaged[0].count("Fix:") == 1


def test_compare_never_resolves_an_interpolation_of_a_job_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("GENMODELS_TEST_SECRET", "hunter2")
    sweep = sweep_of_two(tmp_path / "sweep")
    (sweep / "0" / ".hydra" / "overrides.yaml").write_text("- latent=${oc.env:GENMODELS_TEST_SECRET}\n")
    (sweep / "1" / ".hydra" / "overrides.yaml").write_text("- ${nosuch:x}\n")
    assert compare.main([str(sweep)]) == 0
    for name in ("comparison.md", "comparison.csv"):
        text = (sweep / name).read_text()
        assert "latent=${oc.env:GENMODELS_TEST_SECRET}" in text and "${nosuch:x}" in text and "hunter2" not in text
