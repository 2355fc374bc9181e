"""Training throughput of genmodels against a raw PyTorch loop and the classic example-script pipeline.

    python benchmarks/throughput.py [--quick] [--json PATH] [--device auto|cpu|cuda]
    python benchmarks/throughput.py --speed-options [--quick] [--options ...]  # bf16, compile, channels_last, cuDNN
    python benchmarks/throughput.py --threads [--quick]  # CPU threads, alone and beside a busy process
    python benchmarks/throughput.py --iwae [--quick]  # only the IWAE evaluation rates

The models are those of the composed training config (``experiment=report_vae_latent20``; ``experiment=report_dcgan``,
at 32x32 on a CPU). Training images/s along three paths, each in a fresh process, interleaved, medians: **framework**
(``genmodels.train.train``, debug=tiny's callbacks, no sample scores); **raw** (a bare ``lightning.Trainer.fit`` on
in-memory batches); **classic** (torchvision's MNIST with per-sample PIL transforms, as pytorch/examples). Also the
float32 matmul rate, FLOPs per training image, and the IWAE rate at k=5000 of ``experiment=binarized_vae`` and
``binarized_conv_vae`` with its share of the matmul rate measured in the same process (what compares across
machines and loads). ``--speed-options``: each speed option against fp32 eager; ``--threads``: 1 and 2 threads,
OpenMP's default and passive wait policy, alone and beside a busy process.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch
from measurements import IWAE_K, IWAE_MODELS, MODELS, REPO, measure, training_config  # this folder's measurement module

from genmodels.runs.atomic import write_json
from genmodels.runs.loading import pick_device

PATHS = ("framework", "raw", "classic")
SPEED_OPTIONS = {
    "bf16": ["trainer.precision=bf16-mixed"],
    "compile": ["speed.compile=true"],
    "channels_last": ["speed.channels_last=true"],  # convolutions only: the DCGAN
    "cudnn_benchmark": ["trainer.benchmark=true"],  # GPU only
}
# name -> (speed.num_threads, OMP_WAIT_POLICY; None: OpenMP's default, spinning a while before sleeping)
THREAD_SETTINGS = {
    "1 thread": (1, None),
    "1 thread, passive": (1, "PASSIVE"),
    "2 threads": (2, None),
    "2 threads, passive": (2, "PASSIVE"),
}
LOADS = ("alone", "busy")


# The driver: each measurement in a fresh process (its own peak memory), repeated in interleaved order
# (so a noisy machine slows all variants alike), medians reported.


@contextmanager
def busy_process() -> Iterator[None]:
    """Another process keeping one core busy for the duration (a Python loop)."""
    process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        yield
    finally:
        process.kill()
        process.wait()


def run_child(spec: dict, env: dict[str, str] | None = None, busy: bool = False) -> dict:
    """``measure(**spec)`` in a fresh process with environment ``env`` (default: this one's, idle OpenMP threads
    asleep as in every genmodels command), beside a busy one with ``busy``."""
    command = [sys.executable, __file__, "--measure", json.dumps(spec)]
    env = env if env is not None else {"OMP_WAIT_POLICY": "PASSIVE", **os.environ}
    with busy_process() if busy else nullcontext():
        result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"{spec['what']} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def interleaved(jobs_of: Callable[[dict], dict[str, dict]], plan: dict, device: torch.device, repeats: int) -> dict:
    """Per model, median images/s of each job (``run_child``'s arguments); all jobs run in turn, ``repeats`` times."""
    results: dict = {}
    for model_name, (steps, warmup) in plan.items():
        jobs = jobs_of({"device": str(device), "model": model_name, "steps": steps, "warmup": warmup})
        runs: dict[str, list[dict]] = {name: [] for name in jobs}
        for repeat, (name, job) in itertools.product(range(repeats), jobs.items()):
            runs[name].append(run_child(**job))
            print(f"{model_name} {name} #{repeat + 1}: {runs[name][-1]['rate']:.0f} images/s", file=sys.stderr)
        results[model_name] = {
            name: {
                "images_per_s": statistics.median(run["rate"] for run in values),
                "all_images_per_s": [round(run["rate"], 1) for run in values],
                "peak_memory_mb": max(run["peak_memory_mb"] for run in values),
            }
            for name, values in runs.items()
        }
    return results


def iwae_rates(device: torch.device, images: int) -> dict:
    """Per IWAE model: test images/s at k = IWAE_K, GFLOP/s and their share of the matmul rate of the same process."""
    results = {}
    for model_name in IWAE_MODELS:
        run = run_child({"what": "iwae", "device": str(device), "model": model_name, "steps": images})
        gflops = run["rate"] * run["flops_per_image"] / 1e9
        results[model_name] = {
            "k": IWAE_K, "images": images, "images_per_s": run.pop("rate"), "gflops": gflops,
            "fraction_of_matmul_rate": gflops / run["matmul_gflops"], **run,
        }  # fmt: skip
    return results


def compare_paths(device: torch.device, plan: dict, repeats: int, iwae_images: int) -> dict:
    """The three paths per model, as fractions of the matmul rate, and the IWAE evaluation rates."""
    # The best of three: the machine's limit, less disturbed by other load than a median.
    matmul = max(run_child({"what": "matmul", "device": str(device)})["rate"] for _ in range(3))
    results = interleaved(
        lambda spec: {path: {"spec": {**spec, "what": path}} for path in PATHS}, plan, device, repeats
    )
    for model_name, entry in results.items():
        flops = run_child({"what": "flops", "device": str(device), "model": model_name})["rate"]
        for path in PATHS:
            rate = entry[path]["images_per_s"]
            gflops = rate * flops / 1e9
            entry[path].update(
                gflops=gflops, fraction_of_matmul_rate=gflops / matmul, seconds_per_60k_epoch=60000 / rate
            )
        entry.update(
            image_size=training_config(model_name, device).data.image_size,
            flops_per_image=flops,
            steps_per_measurement=plan[model_name][0],
            repeats=repeats,
            framework_over_raw=entry["framework"]["images_per_s"] / entry["raw"]["images_per_s"],
            framework_over_classic=entry["framework"]["images_per_s"] / entry["classic"]["images_per_s"],
        )
    return {"matmul_gflops": matmul, **results, "iwae": iwae_rates(device, iwae_images)}


def speed_options(model_name: str, gpu: bool, chosen: Sequence[str]) -> dict[str, list[str]]:
    """fp32 eager (no override), each chosen option that applies to the model and device, and all of them."""
    skip = ({"channels_last"} if model_name != "dcgan" else set()) | (set() if gpu else {"cudnn_benchmark"})
    options = {"fp32 eager": [], **{name: SPEED_OPTIONS[name] for name in chosen if name not in skip}}
    if len(options) > 2:
        options["all of these"] = [override for overrides in options.values() for override in overrides]
    return options


def measure_speed_options(device: torch.device, plan: dict, repeats: int, chosen: Sequence[str]) -> dict:
    """Framework images/s with each speed option, and its speed-up over fp32 eager."""

    def jobs(spec: dict) -> dict[str, dict]:  # the same longer warm-up for all: torch.compile compiles first
        spec = {**spec, "what": "framework", "warmup": max(spec["warmup"], 10)}
        options = speed_options(spec["model"], device.type == "cuda", chosen)
        return {name: {"spec": {**spec, "overrides": overrides}} for name, overrides in options.items()}

    results = interleaved(jobs, plan, device, repeats)
    for model_name, runs in results.items():
        for name, overrides in speed_options(model_name, device.type == "cuda", chosen).items():
            speedup = runs[name]["images_per_s"] / runs["fp32 eager"]["images_per_s"]
            runs[name].update(overrides=overrides, speedup_over_fp32_eager=speedup)
    return results


def thread_jobs(spec: dict) -> dict[str, dict]:
    """Each thread setting on the CPU, alone and beside a busy process."""
    jobs = {}
    for (name, (threads, policy)), load in itertools.product(THREAD_SETTINGS.items(), LOADS):
        env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
        env.update({"OMP_WAIT_POLICY": policy} if policy else {})
        job_spec = {**spec, "what": "framework", "device": "cpu", "overrides": [f"speed.num_threads={threads}"]}
        jobs[f"{name}, {load}"] = {"spec": job_spec, "env": env, "busy": load == "busy"}
    return jobs


def print_table(title: str, header: str, rows: Iterable[str]) -> None:
    """A title, the column names underlined, and the rows."""
    print("\n".join([f"\n{title}", header, "-" * len(header), *rows]))


def print_comparison(results: dict) -> None:
    rows = []
    for model_name in MODELS:
        entry = results[model_name]
        for path in PATHS:
            p = entry[path]
            rows.append(
                f"{model_name + str(entry['image_size']):<9}{path:<11}{p['images_per_s']:>10.0f}"
                f"{p['seconds_per_60k_epoch']:>8.1f}{p['gflops']:>9.1f}{p['fraction_of_matmul_rate']:>10.0%}"
                f"{p['peak_memory_mb']:>9.0f}"
            )
        rows.append(
            f"{'':<9}framework/raw {entry['framework_over_raw']:.2f}x, framework/classic "
            f"{entry['framework_over_classic']:.2f}x; {entry['flops_per_image'] / 1e6:.1f} MFLOP per image "
            "per training step (forward + backward)"
        )
    matmul = f"float32 matmul rate {results['matmul_gflops']:.0f} GFLOP/s"
    header = f"{'model':<9}{'path':<11}{'images/s':>10}{'s/60k':>8}{'GFLOP/s':>9}{'of matmul':>11}{'peak MB':>9}"
    print_table(f"Device: {results['device']}; {matmul}; batch {results['batch_size']}", header, rows)
    print_iwae(results)


def print_iwae(results: dict) -> None:
    rows = [
        f"{model_name:<10}{entry['images_per_s']:>10.2f}{10000 / entry['images_per_s'] / 60:>8.1f}"
        f"{entry['flops_per_image'] / 1e9:>8.1f}{entry['gflops']:>9.1f}{entry['matmul_gflops']:>9.0f}"
        f"{entry['fraction_of_matmul_rate']:>9.0%}{entry['load_average']:>7.1f}"
        for model_name, entry in results["iwae"].items()
    ]
    images = next(iter(results["iwae"].values()))["images"]
    title = f"IWAE evaluation, k = {IWAE_K}, {images} test images per model; matmul: float32 GFLOP/s in the same "
    header = f"{'model':<10}{'images/s':>10}{'10k min':>8}{'GFLOP':>8}{'GFLOP/s':>9}{'matmul':>9}{'share':>9}"
    print_table(title + "process; load: 1-minute load average", header + f"{'load':>7}", rows)


def print_speed_options(results: dict) -> None:
    rows = [
        f"{model_name:<7}{name:<16}{entry['images_per_s']:>10.0f}{entry['speedup_over_fp32_eager']:>9.2f}x"
        f"  {' '.join(entry['overrides'])}"
        for model_name, options in results["speed_options"].items()
        for name, entry in options.items()
    ]
    title = f"Device: {results['device']}; batch {results['batch_size']}; framework path, median images/s"
    print_table(title, f"{'model':<7}{'option':<16}{'images/s':>10}{'speed-up':>10}  overrides", rows)


def print_threads(results: dict) -> None:
    rows = []
    for model_name, name in itertools.product(results["threads"], THREAD_SETTINGS):
        alone, busy = (results["threads"][model_name][f"{name}, {load}"]["images_per_s"] for load in LOADS)
        rows.append(f"{model_name:<7}{name:<20}{alone:>9.0f}{busy:>9.0f}{busy / alone:>11.2f}x")
    title = f"CPU, {os.cpu_count()} cores; batch {results['batch_size']}; framework path, median images/s"
    print_table(title, f"{'model':<7}{'threads':<20}{'alone':>9}{'busy':>9}{'busy/alone':>12}", rows)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (about 5 minutes on 2 cores)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--repeats", type=int, help="repeats per path (median reported)")
    parser.add_argument(
        "--speed-options", action="store_true", help="instead: the framework path with each speed option"
    )
    parser.add_argument(
        "--options",
        nargs="+",
        choices=sorted(SPEED_OPTIONS),
        default=sorted(SPEED_OPTIONS),
        help="with --speed-options: which options to time (default: all that apply to the device)",
    )
    parser.add_argument("--threads", action="store_true", help="instead: the framework path with 1 and 2 CPU threads")
    parser.add_argument("--iwae", action="store_true", help="instead: only the IWAE evaluation rates")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # in a child process: measure(**json.loads(...))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.measure:
        print(json.dumps(measure(**json.loads(args.measure))))
        return 0
    device = pick_device("cpu" if args.threads else args.device)
    gpu = device.type == "cuda"
    repeats = args.repeats or (3 if args.quick else 5)
    # Timed and warm-up batches per model, together within one epoch (429 full batches of 128).
    iwae_images = 100 if gpu else (4 if args.quick else 20)
    plan = {"vae": (150 if args.quick else 400, 20), "dcgan": (300, 20) if gpu else (15 if args.quick else 60, 3)}
    results: dict = {
        "device": torch.cuda.get_device_name(device) if gpu else f"cpu ({torch.get_num_threads()} threads)",
        "batch_size": training_config("vae", device).data.batch_size,
    }
    if args.threads:
        results["threads"] = interleaved(thread_jobs, plan, device, repeats)
        print_threads(results)
    elif args.iwae:
        results["iwae"] = iwae_rates(device, iwae_images)
        print_iwae(results)
    elif args.speed_options:
        results["speed_options"] = measure_speed_options(device, plan, repeats, args.options)
        print_speed_options(results)
    else:
        results.update(compare_paths(device, plan, repeats, iwae_images))
        print_comparison(results)
    if args.json:
        write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
