"""The GAN ablation of docs/experiments.md: ``experiment=cpu_gan`` with one option changed per variant, at the
same number of epochs (so the same images seen), each evaluated on 10,000 fresh samples against the test images.

    python benchmarks/gan_ablation.py --epochs 7 --jobs 2 --out outputs/gan_ablation

Each run trains on ``speed.num_threads`` = cores / jobs threads, so runs side by side compare in seconds too.
Prints the table and writes ``ablation.json``, ``ablation.md`` and ``fid_per_epoch.png`` into ``--out``.
A rerun skips the variants already evaluated.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from genmodels.results import fid_per_epoch_figure, validation_fid
from genmodels.tables import markdown_table

# name -> (what it changes, overrides on top of experiment=cpu_gan)
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "cpu_gan": ("all options on", []),
    "no_ema": ("no moving average: samples from the live generator", ["model.ema_half_life=null"]),
    "no_rampup": ("the average without ramp-up: 10,000-image half-life from the start", ["model.ema_rampup=null"]),
    "report_rate": ("the report's rate, 2e-4, for both networks", ["model.optimizer.lr=2e-4"]),
    "rate_4e-4": ("a rate of 4e-4 for both networks", ["model.optimizer.lr=4e-4"]),
    "one_sided": (
        "one-sided label smoothing (real targets 0.9, none flipped) instead of the report's soft noisy labels",
        ["model.objective.real_label_range=[0.9,0.9]", "model.objective.label_flip_prob=0"],
    ),
    "two_rates": (
        "two time-scale rates: discriminator 4e-4, generator 1e-4",
        ["model.discriminator_lr=4e-4", "model.generator_lr=1e-4"],
    ),
    # another objective with its published settings (configs/model/<name>.yaml; the rate the experiment would
    # override restored), the moving average kept
    "wgan_gp": (
        "WGAN-GP (model=wgan_gp): critic without norm, penalty 10, 5 critic steps a generator step, Adam 1e-4 (0, 0.9)",
        ["model=wgan_gp", "model.optimizer.lr=1e-4"],
    ),
    "hinge_gan": (
        "hinge loss, spectral norm in the discriminator (model=hinge_gan), Adam 2e-4 (0.5, 0.999)",
        ["model=hinge_gan", "model.optimizer.lr=2e-4"],
    ),
}
SCORES = ("fid_classifier", "inception_score", "precision", "recall")


def run(variant: str, epochs: int, threads: int, out: Path) -> dict:
    """Train and evaluate one variant (unless already done); its row of the table."""
    folder = out / variant
    if "eval" not in (json.loads(metrics.read_text()) if (metrics := folder / "metrics.json").exists() else {}):
        overrides = [
            "experiment=cpu_gan",
            *VARIANTS[variant][1],
            f"trainer.max_epochs={epochs}",
            f"figures.sample_epochs=[{epochs}]",
            f"speed.num_threads={threads}",
            f"hydra.run.dir={folder}",
        ]
        with (out / f"{variant}.log").open("w") as log:
            for command in (["genmodels.train", *overrides], ["genmodels.evaluate", f"run_dir={folder}"]):
                subprocess.run([sys.executable, "-m", *command], check=True, stdout=log, stderr=subprocess.STDOUT)
    summary = json.loads((folder / "metrics.json").read_text())
    scores = summary["eval"]["metrics"]
    return {
        "variant": variant,
        "change": VARIANTS[variant][0],
        "epochs": summary["epochs"],
        "fit_s": summary["fit_wall_time_s"],
        **{key: scores[key] for key in SCORES},
        "validation_fid": validation_fid(folder),
    }


def markdown(rows: list[dict]) -> str:
    header = ["variant", "what changes", "epochs", "fit (s)", "FID(clf)", "IS(clf)", "precision", "recall"]
    return "\n".join(markdown_table(header, (
        [f"`{r['variant']}`", r["change"], r["epochs"], f"{r['fit_s']:.0f}", f"{r['fid_classifier']:.2f}",
         f"{r['inception_score']:.2f}", f"{r['precision']:.3f}", f"{r['recall']:.3f}"]
        for r in rows
    ))) + "\n"  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=7)
    parser.add_argument("--jobs", type=int, default=2, help="variants trained side by side")
    parser.add_argument("--out", type=Path, default=Path("outputs/gan_ablation"))
    parser.add_argument("--only", nargs="*", choices=list(VARIANTS), default=list(VARIANTS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    threads = max(1, (os.cpu_count() or 1) // args.jobs)
    with ThreadPoolExecutor(args.jobs) as pool:
        rows = list(pool.map(lambda v: run(v, args.epochs, threads, args.out), args.only))
    (args.out / "ablation.json").write_text(json.dumps(rows, indent=2) + "\n")
    (args.out / "ablation.md").write_text(markdown(rows))
    title = f"GAN ablation around cpu_gan: {args.epochs} epochs, {threads} CPU thread(s) per run, {args.jobs} at a time"
    fid_per_epoch_figure({row["variant"]: row["validation_fid"] for row in rows}, title, args.out / "fid_per_epoch.png")
    print(markdown(rows))


if __name__ == "__main__":
    main()
