"""Scaling out: DDP on CPU (two gloo processes), parallel sweeps (joblib), SLURM submission, Optuna search."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path

import lightning as L
import pytest
import torch
import yaml
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from lightning.fabric.utilities.distributed import DistributedSamplerWrapper
from submitit.core.utils import FailedJobError

from genmodels.data.datamodule import EpochShuffle
from genmodels.errors import ConfigError
from genmodels.train import check_ddp_fits_sweep
from tests.helpers import CONFIGS, QUICK_CLASSIFIER, SMALL_DCGAN

DDP = ["trainer=ddp", "trainer.devices=2", "trainer.accelerator=cpu"]
QUIET = ["trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
EPOCHS, BATCHES, BATCH_SIZE = 2, 3, 16


class RecordIndices(L.Callback):
    """Each rank writes to ``<out_dir>/rank<r>.json`` what it trained on: per epoch the loader's sampler, its inner
    sampler's epoch and a fingerprint of every image; at the end a digest of the weights, the epoch metrics, the
    hyper-parameters and the output folder."""

    def __init__(self, out_dir: str) -> None:
        self.out_dir, self.epochs = Path(out_dir), {}

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        sampler = trainer.train_dataloader.sampler
        inner = getattr(getattr(sampler, "dataset", None), "_sampler", None)  # DistributedSamplerWrapper's
        kinds = {"sampler": type(sampler).__name__, "inner_sampler": type(inner).__name__}
        self.epochs[trainer.current_epoch] = {**kinds, "inner_epoch": getattr(inner, "epoch", None), "images": []}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.epochs[trainer.current_epoch]["images"] += [_digest(image) for image in batch[0].detach().cpu()]

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        record = {
            "rank": trainer.global_rank,
            "world_size": trainer.world_size,
            "epochs": self.epochs,
            "weights": _digest(torch.cat([p.detach().cpu().flatten() for p in pl_module.parameters()])),
            "metrics": {k: float(v) for k, v in trainer.callback_metrics.items() if v.numel() == 1},
            "hparams": dict(pl_module.hparams),
            "output_dir": str(trainer.default_root_dir),
        }
        self.out_dir.mkdir(parents=True, exist_ok=True)
        (self.out_dir / f"rank{trainer.global_rank}.json").write_text(json.dumps(record, default=str))


def _digest(tensor: torch.Tensor) -> str:
    return hashlib.blake2b(tensor.contiguous().numpy().tobytes(), digest_size=8).hexdigest()


VAE = ["latent=4", "data.eval_batch_size=100", "trainer.limit_val_batches=1", "trainer.limit_test_batches=1"]
DCGAN = [
    *SMALL_DCGAN,
    "latent=16",
    *QUICK_CLASSIFIER,
    "callbacks.sample_quality.num_samples=200",
    "~logger",
]  # scores of 200 samples


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["vae", "dcgan"])
def test_ddp_on_two_cpu_processes_is_one_run_on_two_shards(run_cli, tmp_path, kind):
    run_dir, seen = tmp_path / "run", tmp_path / "seen"
    run_cli(
        "genmodels.train",
        *DDP,
        *QUIET,
        *(VAE if kind == "vae" else DCGAN),
        f"trainer.max_epochs={EPOCHS}",
        f"trainer.limit_train_batches={BATCHES}",
        f"data.batch_size={BATCH_SIZE}",
        "figures.sample_epochs=[1]",
        f"+callbacks.record._target_={__name__}.RecordIndices",
        f"+callbacks.record.out_dir={seen}",
        f"paths.log_dir={tmp_path / 'logs'}",  # where a rank that made its own Hydra folder would put it
        f"hydra.run.dir={run_dir}",
    )
    rank0, rank1 = [json.loads((seen / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    # One run: one folder, one config, one metrics.json, one set of checkpoints; rank 1 only adds its log.
    assert not (tmp_path / "logs").exists()
    assert [p.relative_to(run_dir) for p in run_dir.rglob("metrics.json")] == [Path("metrics.json")]
    assert [p.relative_to(run_dir) for p in run_dir.rglob(".hydra")] == [Path(".hydra")]
    assert (run_dir / "train_ddp_process_1.log").exists()
    checkpoints = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert checkpoints[-1] == "last.ckpt" and len(checkpoints) <= 2, checkpoints
    assert not list(run_dir.rglob("*.partial"))
    summary = json.loads((run_dir / "metrics.json").read_text())
    assert summary["epochs"] == EPOCHS
    assert (rank0["rank"], rank1["rank"], rank0["world_size"]) == (0, 1, 2)
    # Both ranks ran the same configuration in the same folder, and ended with the same weights.
    assert rank0["hparams"] == rank1["hparams"] and rank0["output_dir"] == rank1["output_dir"] == str(run_dir)
    assert rank0["weights"] == rank1["weights"]
    for epoch in map(str, range(EPOCHS)):
        a, b = rank0["epochs"][epoch], rank1["epochs"][epoch]
        for info in (a, b):  # Lightning wrapped EpochShuffle for sharding, and passed the epoch on to it
            assert info["sampler"] == "DistributedSamplerWrapper" and info["inner_sampler"] == "EpochShuffle"
            assert info["inner_epoch"] == int(epoch)
            assert len(info["images"]) == len(set(info["images"])) == BATCHES * BATCH_SIZE
        assert not set(a["images"]) & set(b["images"]), f"ranks shared images in epoch {epoch}"
    assert set(rank0["epochs"]["0"]["images"]) != set(rank0["epochs"]["1"]["images"])
    if kind == "vae":
        assert summary["model"] == "VAE" and summary["global_steps"] == EPOCHS * BATCHES
        assert "test/neg_elbo" in summary["metrics"]
        # Epoch metrics are reduced across ranks (sync_dist): both ranks hold the same value.
        assert rank0["metrics"]["train/neg_elbo"] == rank1["metrics"]["train/neg_elbo"]
        assert summary["metrics"]["train/neg_elbo"] == pytest.approx(rank0["metrics"]["train/neg_elbo"])
        # Figures and TensorBoard events are in the run folder (rank zero draws and logs).
        assert len(list((run_dir / "figures" / "samples").glob("epoch_001_mean*.png"))) == 1
        assert (run_dir / "figures" / "curves.png").exists()
        assert list((run_dir / "tensorboard").glob("events.out.tfevents.*"))
    else:
        assert summary["model"] == "GAN" and summary["global_steps"] == 2 * EPOCHS * BATCHES  # D and G steps
        assert summary["metrics"]["val/fid_clf"] > 0  # scored on both ranks alike: each checkpoint callback sees it
        assert (run_dir / "figures" / "samples_by_epoch_mean.png").exists()


def test_distributed_wrapper_shards_epoch_shuffle_disjointly():
    shards = {}
    for epoch in (0, 1):
        for rank in (0, 1):
            sampler = DistributedSamplerWrapper(EpochShuffle(1000, seed=3), num_replicas=2, rank=rank, seed=0)
            sampler.set_epoch(epoch)
            assert sampler.dataset._sampler.epoch == epoch  # reaches the inner sampler
            shards[epoch, rank] = list(sampler)
        assert not set(shards[epoch, 0]) & set(shards[epoch, 1])
        assert sorted(shards[epoch, 0] + shards[epoch, 1]) == list(range(1000))
    assert shards[0, 0] != shards[1, 0]


@pytest.fixture
def sweep_hydra_config():
    """HydraConfig as inside a sweep job (mode MULTIRUN), reset afterwards."""
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        cfg = compose(config_name="train", overrides=["hydra.mode=MULTIRUN"], return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)
    yield
    HydraConfig.instance().cfg = None
    GlobalHydra.instance().clear()


@pytest.mark.parametrize(
    "strategy, devices, refused",
    [("ddp", 2, True), ("ddp_find_unused_parameters_true", 2, True), ("ddp", 1, False), ("ddp_spawn", 2, False)],
)
def test_ddp_that_reruns_the_command_line_is_refused_in_a_sweep_only(sweep_hydra_config, strategy, devices, refused):
    trainer = L.Trainer(strategy=strategy, devices=devices, accelerator="cpu", logger=False, enable_progress_bar=False)
    if refused:
        with pytest.raises(ConfigError, match="cannot run in a sweep.*ddp_spawn"):
            check_ddp_fits_sweep(trainer)
        HydraConfig.instance().cfg = None  # the same trainer in a single run runs
    check_ddp_fits_sweep(trainer)


def test_slurm_launcher_writes_the_sbatch_script(tmp_path, monkeypatch):
    """The real launcher up to `sbatch`, with stand-ins for srun and sbatch (no SLURM here)."""
    bin_dir, script = tmp_path / "bin", tmp_path / "sbatch_script.sh"
    bin_dir.mkdir()
    for name, body in (("srun", "exit 1"), ("sbatch", f'cp "$1" {script}; echo not submitted >&2; exit 1')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(stat.S_IRWXU)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        two_nodes = "hydra/launcher=slurm trainer=ddp trainer.devices=4 trainer.num_nodes=2 hydra.launcher.nodes=2"
        per_node = "hydra.launcher.tasks_per_node=4 hydra.launcher.gpus_per_node=4 hydra.launcher.partition=gpu"
        overrides = [*two_nodes.split(), *per_node.split(), f"hydra.sweep.dir={tmp_path / 'sweep'}"]
        cfg = compose(config_name="train", overrides=overrides, return_hydra_config=True)
    GlobalHydra.instance().clear()
    assert cfg.hydra.launcher._target_ == "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher"
    launcher = instantiate(cfg.hydra.launcher)
    launcher.setup(hydra_context=None, task_function=None, config=cfg)
    with pytest.raises(FailedJobError, match="not submitted"):
        launcher.launch([["latent=2"], ["latent=20"]], initial_job_idx=0)
    directives = [line for line in script.read_text().splitlines() if line.startswith("#SBATCH")]
    # --array: array_parallelism (16), capped at the number of jobs
    expected = "--nodes=2 --ntasks-per-node=4 --gpus-per-node=4 --cpus-per-task=4 --time=240 --partition=gpu"
    for directive in [*expected.split(), "--array=0-1%2"]:
        assert f"#SBATCH {directive}" in directives, directives


@pytest.mark.slow
def test_joblib_runs_sweep_jobs_side_by_side(run_cli, tmp_path):
    result = run_cli(
        "genmodels.train",
        "-m",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "latent=2,4",
        "trainer.fast_dev_run=true",
        "callbacks=none",
        "~logger",
        *QUIET,
        f"hydra.sweep.dir={tmp_path}",
    )
    assert "Joblib.Parallel(n_jobs=2" in result.stdout + result.stderr
    assert [json.loads((tmp_path / job / "metrics.json").read_text())["latent"] for job in ("0", "1")] == [2, 4]


@pytest.mark.slow
def test_optuna_search_minimises_the_validation_negative_elbo(run_cli, tmp_path):
    run_cli(
        "genmodels.train",
        "hparams_search=vae_optuna",
        "hydra.sweeper.n_trials=2",
        "trainer.fast_dev_run=true",
        "callbacks=none",
        "~logger",
        *QUIET,
        f"hydra.sweep.dir={tmp_path}",
    )
    results = yaml.safe_load((tmp_path / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"latent", "model.optimizer.lr", "model.encoder.hidden_dims.0"}
    trials = [json.loads((tmp_path / job / "metrics.json").read_text()) for job in ("0", "1")]
    # The best trial is the one with the lowest validation negative ELBO.
    assert results["best_value"] == pytest.approx(min(t["metrics"]["val/neg_elbo"] for t in trials))
    best = min(trials, key=lambda t: t["metrics"]["val/neg_elbo"])
    assert best["latent"] == results["best_params"]["latent"]
    assert all(not any(key.startswith("test/") for key in t["metrics"]) for t in trials)  # test split untouched
