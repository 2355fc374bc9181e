"""Training throughput of genmodels against a raw PyTorch loop and the classic example-script pipeline.

    python benchmarks/throughput.py [--quick] [--json PATH] [--device auto|cpu|cuda]
    python benchmarks/throughput.py --speed-options [--quick]   # bf16, torch.compile, channels_last, cuDNN
    python benchmarks/throughput.py --threads [--quick]         # CPU threads, alone and beside a busy process

For the VAE (latent 20, batch 128) and the DCGAN (32x32 on CPU, 64x64 on GPU), it measures images per
second of a training epoch along three paths, each in a fresh process (so peak memory is its own) and
repeated in interleaved order (so a noisy machine slows all paths alike):

1. framework: the real ``genmodels.train`` code path (composed config, LightningModule, in-memory
   DataModule, Trainer, TensorBoard logging and progress bar on, figure callbacks off);
2. raw: a hand-written loop over the same in-memory uint8 tensor with the same model and loss;
3. classic: torchvision's MNIST dataset with per-sample PIL transforms through a DataLoader, as the
   pytorch/examples scripts do, feeding the same model and loss.

It also measures the machine's float32 matmul rate, counts the FLOPs of one training step with
``torch.utils.flop_counter`` (forward and backward matmuls/convolutions), prints every path as a
fraction of the matmul rate, and measures the IWAE evaluation (images per second at k=5000).

``--speed-options`` instead times the framework path with each speed option (``trainer.precision=
bf16-mixed``, ``speed.compile=true``, ``speed.channels_last=true``, on a GPU ``trainer.benchmark=true``)
and all of them together, as speed-ups over fp32 eager.

``--threads`` times the framework path on the CPU with 1 and 2 threads (``speed.num_threads``), each with
OpenMP's default wait policy (idle threads spin a while) and the passive one (they sleep), once alone and
once beside a busy process (a Python loop spinning on one core, like another job on a shared machine).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("GENMODELS_DATA_DIR", REPO / "data"))
BATCH = 128


# ----------------------------------------------------------------------------------------------
# One measurement (runs in a child process)


def device_of(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_memory_mb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def matmul_gflops(device: torch.device, seconds: float = 1.0) -> float:
    """Sustained float32 matmul rate of this device (2048x2048 products)."""
    a, b = torch.randn(2048, 2048, device=device), torch.randn(2048, 2048, device=device)
    for _ in range(3):
        a @ b
    synchronize(device)
    count, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        a @ b
        count += 1
    synchronize(device)
    return 2 * 2048**3 * count / (time.perf_counter() - started) / 1e9


def image_size_for(model: str, device: torch.device) -> int:
    return 28 if model == "vae" else (64 if device.type == "cuda" else 32)


def make_model(model: str, image_size: int):
    if model == "vae":
        from genmodels.models.vae import VAE

        return VAE(latent_dim=20, hidden_dims=[500], image_size=image_size)
    from genmodels.models.dcgan import DCGAN

    return DCGAN(latent_dim=100, image_size=image_size)


def raw_step_fn(model, device: torch.device):
    """One hand-written training step of ``model`` on a batch x already in the model's range."""
    if hasattr(model, "loss_terms"):  # VAE
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step(x: torch.Tensor) -> None:
            terms = model.loss_terms(x)
            loss = (terms["recon"] + terms["kl"]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return step

    from genmodels.models.gan import real_labels
    from genmodels.models.losses import discriminator_loss, generator_loss

    d_opt = torch.optim.Adam(model.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g_opt = torch.optim.Adam(model.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))

    def step(x: torch.Tensor) -> None:
        z = torch.randn(len(x), model.latent_dim, device=device)
        fake = model.generator(z)
        targets = real_labels(len(x), smoothing=True, device=device)
        d_loss = discriminator_loss(model.discriminator(x), model.discriminator(fake.detach()), targets).mean()
        d_opt.zero_grad(set_to_none=True)
        d_loss.backward()
        d_opt.step()
        g_loss = generator_loss(model.discriminator(fake)).mean()
        g_opt.zero_grad(set_to_none=True)
        g_loss.backward()
        g_opt.step()

    return step


def flops_per_image(model_name: str, device: torch.device) -> float:
    """FLOPs of one training step per image, counted by torch's FLOP counter on a fresh model."""
    from torch.utils.flop_counter import FlopCounterMode

    size = image_size_for(model_name, device)
    model = make_model(model_name, size).to(device)
    x = torch.rand(BATCH, 1, size, size, device=device)
    step = raw_step_fn(model, device)
    with FlopCounterMode(display=False) as counter:
        step(x if model_name == "vae" else x * 2 - 1)
    return counter.get_total_flops() / BATCH


def measure_raw(model_name: str, steps: int, warmup: int, device: torch.device) -> float:
    from genmodels.data import MNISTDataModule

    size = image_size_for(model_name, device)
    datamodule = MNISTDataModule(
        data_dir=str(DATA_DIR), image_size=size, pixel_range="unit" if model_name == "vae" else "symmetric"
    )
    datamodule.setup()
    images = datamodule.splits["train"].images.to(device)  # resident on the device, like the framework's batches
    model = make_model(model_name, size).to(device).train()
    step = raw_step_fn(model, device)
    order = torch.randperm(len(images), device=device)
    started = 0.0
    for index in range(warmup + steps):
        if index == warmup:
            synchronize(device)
            started = time.perf_counter()
        batch = order[(index * BATCH) % (len(images) - BATCH) :][:BATCH]
        step(datamodule.transform(images[batch]))
    synchronize(device)
    return steps * BATCH / (time.perf_counter() - started)


def measure_classic(model_name: str, steps: int, warmup: int, device: torch.device) -> float:
    from torchvision import datasets, transforms

    size = image_size_for(model_name, device)
    pipeline = [transforms.ToTensor()]
    if model_name != "vae":
        pipeline = [transforms.Resize(size), transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))]
    with tempfile.TemporaryDirectory() as root:
        raw = Path(root) / "MNIST" / "raw"
        raw.mkdir(parents=True)
        for path in (DATA_DIR / "mnist" / "raw").iterdir():
            (raw / path.name).symlink_to(path.resolve())
        dataset = datasets.MNIST(root, train=True, download=False, transform=transforms.Compose(pipeline))
        loader = torch.utils.data.DataLoader(
            dataset,
            batch_size=BATCH,
            shuffle=True,
            **({"num_workers": 1, "pin_memory": True} if device.type == "cuda" else {}),
        )
        model = make_model(model_name, size).to(device).train()
        step = raw_step_fn(model, device)
        started, done = 0.0, 0
        while done < warmup + steps:
            for x, _ in loader:
                if done == warmup:
                    synchronize(device)
                    started = time.perf_counter()
                step(x.to(device))
                done += 1
                if done == warmup + steps:
                    break
        synchronize(device)
    return steps * BATCH / (time.perf_counter() - started)


class StepTimer:
    """Times the training steps after ``warmup`` until the end of the epoch (a Lightning callback)."""

    def __new__(cls, warmup: int, device: str):
        import lightning as L

        class _StepTimer(L.Callback):
            timed_steps = 0

            def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
                if batch_idx == warmup:
                    synchronize(torch.device(device))
                    self.started = time.perf_counter()

            def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
                self.timed_steps = batch_idx + 1 - warmup

            def on_train_epoch_end(self, trainer, pl_module):
                synchronize(torch.device(device))
                self.elapsed = time.perf_counter() - self.started

        return _StepTimer()


def measure_framework(
    model_name: str, steps: int, warmup: int, device: torch.device, overrides: Sequence[str] = ()
) -> float:
    from hydra import compose, initialize_config_dir

    from genmodels.train import train

    figure_callbacks = ["curves", "samples", "reconstructions", "manifold", "latent_scatter", "interpolation"]
    configs = str(REPO / "configs")
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as out,
        initialize_config_dir(configs, version_base="1.3"),
    ):
        cfg = compose(
            "train",
            overrides=[
                f"model={model_name}",
                "latent=20" if model_name == "vae" else "latent=100",
                f"data.image_size={image_size_for(model_name, device)}",
                f"paths.data_dir={DATA_DIR}",
                f"paths.output_dir={out}",
                "trainer.max_epochs=1",
                f"trainer.limit_train_batches={warmup + steps}",
                "trainer.limit_val_batches=0",
                "trainer.enable_model_summary=false",
                "test=false",
                f"trainer.accelerator={device.type}",
                "figures.sample_epochs=[]",
                *[f"~callbacks.{name}" for name in figure_callbacks],
                f"+callbacks.timer._target_={__name__}.StepTimer",
                f"+callbacks.timer.warmup={warmup}",
                f"+callbacks.timer.device={device}",
                *overrides,
            ],
        )
        _, objects = train(cfg)
    timer = next(c for c in objects["trainer"].callbacks if hasattr(c, "elapsed"))
    if timer.timed_steps != steps:
        raise RuntimeError(
            f"timed {timer.timed_steps} steps instead of {steps}: an epoch is shorter than warmup + steps"
        )
    return steps * BATCH / timer.elapsed


def measure_iwae(k: int, images: int, device: torch.device) -> float:
    from genmodels.metrics.likelihood import dataset_iwae_nll

    model = make_model("vae", 28).to(device).eval()
    x = torch.rand(images, 1, 28, 28, device=device).bernoulli()
    synchronize(device)
    started = time.perf_counter()
    dataset_iwae_nll(x, model, k=k, batch_size=min(images, 20), progress=False)
    synchronize(device)
    return images / (time.perf_counter() - started)


def measure(args: argparse.Namespace) -> dict:
    torch.manual_seed(0)
    device = device_of(args.device)
    if args.measure == "matmul":
        rate = matmul_gflops(device)
    elif args.measure == "iwae":
        rate = measure_iwae(args.k, args.steps, device)
    elif args.measure.startswith("flops."):
        rate = flops_per_image(args.measure.split(".")[1], device)
    else:
        model_name, path = args.measure.split(".")
        if path == "framework":
            rate = measure_framework(model_name, args.steps, args.warmup, device, args.override)
        else:
            rate = {"raw": measure_raw, "classic": measure_classic}[path](model_name, args.steps, args.warmup, device)
    return {"rate": rate, "peak_memory_mb": peak_memory_mb(device)}


# ----------------------------------------------------------------------------------------------
# The driver


def run_child(
    name: str,
    device: str,
    steps: int,
    warmup: int = 0,
    k: int = 0,
    overrides: Sequence[str] = (),
    env: dict[str, str] | None = None,
) -> dict:
    command = [
        sys.executable,
        __file__,
        "--measure",
        name,
        "--device",
        device,
        "--steps",
        str(steps),
        "--warmup",
        str(warmup),
        "--k",
        str(k),
        *[f"--override={override}" for override in overrides],
    ]
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, check=False, env=env)
    if result.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats (about 3 minutes on 2 cores)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--json", type=Path, help="also write the results as JSON here")
    parser.add_argument("--repeats", type=int, help="repeats per path (median reported)")
    parser.add_argument(
        "--speed-options",
        action="store_true",
        help="instead of the comparison: the framework path with each speed option (bf16 autocast, torch.compile, "
        "channels_last, cuDNN benchmark) against fp32 eager",
    )
    parser.add_argument(
        "--options",
        nargs="+",
        choices=sorted(SPEED_OPTIONS),
        default=sorted(SPEED_OPTIONS),
        help="with --speed-options: which options to time (default: all that apply to the device)",
    )
    parser.add_argument(
        "--threads",
        action="store_true",
        help="instead of the comparison: the framework path on the CPU with 1 and 2 threads, OpenMP's default and "
        "passive wait policy, alone and beside a busy process",
    )
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--override", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--steps", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--warmup", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--k", type=int, default=5000, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args)))
        return 0

    device = device_of(args.device)
    gpu = device.type == "cuda"
    repeats = args.repeats or (3 if args.quick else 5)
    # Warm-up + steps must fit in one epoch (430 batches of 128).
    steps = {"vae": (150 if args.quick else 400), "dcgan": (300 if gpu else (15 if args.quick else 60))}
    warmup = {"vae": 20, "dcgan": 20 if gpu else 3}
    iwae_images = 100 if gpu else (8 if args.quick else 40)

    results: dict = {
        "device": torch.cuda.get_device_name() if gpu else f"cpu ({torch.get_num_threads()} threads)",
        "batch_size": BATCH,
    }
    if args.threads:
        results["threads"] = measure_threads(repeats, steps, warmup)
        print_threads(results)
        write_json(results, args.json)
        return 0
    if args.speed_options:
        results["speed_options"] = measure_speed_options(args.device, gpu, repeats, steps, warmup, args.options)
        print_speed_options(results)
        write_json(results, args.json)
        return 0
    # The best of three: the machine's limit, less disturbed by other load than a median.
    matmul = max(run_child("matmul", args.device, 0)["rate"] for _ in range(3))
    results["matmul_gflops"] = matmul
    for model_name in ("vae", "dcgan"):
        runs: dict[str, list[dict]] = {"framework": [], "raw": [], "classic": []}
        for repeat in range(repeats):
            for path in runs:
                runs[path].append(run_child(f"{model_name}.{path}", args.device, steps[model_name], warmup[model_name]))
                print(f"{model_name} {path} #{repeat + 1}: {runs[path][-1]['rate']:.0f} images/s", file=sys.stderr)
        flops = run_child(f"flops.{model_name}", args.device, 0)["rate"]
        entry = {
            "image_size": image_size_for(model_name, device),
            "flops_per_image": flops,
            "steps_per_measurement": steps[model_name],
            "repeats": repeats,
        }
        for path, values in runs.items():
            rate = statistics.median(v["rate"] for v in values)
            entry[path] = {
                "images_per_s": rate,
                "all_images_per_s": [round(v["rate"], 1) for v in values],
                "peak_memory_mb": max(v["peak_memory_mb"] for v in values),
                "gflops": rate * flops / 1e9,
                "fraction_of_matmul_rate": rate * flops / 1e9 / matmul,
                "seconds_per_60k_epoch": 60000 / rate,
            }
        entry["framework_over_raw"] = entry["framework"]["images_per_s"] / entry["raw"]["images_per_s"]
        entry["framework_over_classic"] = entry["framework"]["images_per_s"] / entry["classic"]["images_per_s"]
        results[model_name] = entry
    iwae = run_child("iwae", args.device, iwae_images, k=5000)
    results["iwae"] = {
        "k": 5000,
        "images": iwae_images,
        "images_per_s": iwae["rate"],
        "peak_memory_mb": iwae["peak_memory_mb"],
    }

    print_table(results)
    write_json(results, args.json)
    return 0


def write_json(results: dict, path: Path | None) -> None:
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(results, indent=2) + "\n")


SPEED_OPTIONS = {
    "bf16": ["trainer.precision=bf16-mixed"],
    "compile": ["speed.compile=true"],
    "channels_last": ["speed.channels_last=true"],  # convolutions only: the DCGAN
    "cudnn_benchmark": ["trainer.benchmark=true"],  # GPU only
}


def speed_option_overrides(model_name: str, gpu: bool, chosen: Sequence[str]) -> dict[str, list[str]]:
    """The chosen options that apply to this model and device, as training overrides, with the
    ``fp32 eager`` reference first and ``all of these`` last."""
    options: dict[str, list[str]] = {"fp32 eager": []}
    for name in chosen:
        if (name == "channels_last" and model_name != "dcgan") or (name == "cudnn_benchmark" and not gpu):
            continue
        options[name] = SPEED_OPTIONS[name]
    if len(options) > 2:
        options["all of these"] = [override for overrides in options.values() for override in overrides]
    return options


def measure_speed_options(
    device: str, gpu: bool, repeats: int, steps: dict, warmup: dict, chosen: Sequence[str]
) -> dict:
    """Framework images/s per speed option (median of interleaved repeats) and its speed-up over fp32 eager."""
    results: dict = {}
    for model_name in ("vae", "dcgan"):
        options = speed_option_overrides(model_name, gpu, chosen)
        # torch.compile compiles during the first steps: give every option the same longer warm-up.
        warm = max(warmup[model_name], 10)
        runs: dict[str, list[float]] = {name: [] for name in options}
        for repeat in range(repeats):
            for name, overrides in options.items():
                rate = run_child(f"{model_name}.framework", device, steps[model_name], warm, overrides=overrides)
                runs[name].append(rate["rate"])
                print(f"{model_name} {name} #{repeat + 1}: {rate['rate']:.0f} images/s", file=sys.stderr)
        reference = statistics.median(runs["fp32 eager"])
        results[model_name] = {
            name: {
                "overrides": options[name],
                "images_per_s": statistics.median(values),
                "all_images_per_s": [round(v, 1) for v in values],
                "speedup_over_fp32_eager": statistics.median(values) / reference,
            }
            for name, values in runs.items()
        }
    return results


# name -> (speed.num_threads, OMP_WAIT_POLICY; None: OpenMP's default, spinning a while before sleeping)
THREAD_SETTINGS = {
    "1 thread": (1, None),
    "1 thread, passive": (1, "PASSIVE"),
    "2 threads": (2, None),
    "2 threads, passive": (2, "PASSIVE"),
}
LOADS = ("alone", "busy")


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


def measure_threads(repeats: int, steps: dict, warmup: dict) -> dict:
    """CPU images/s per thread setting (median of interleaved repeats), alone and beside a busy process."""
    results: dict = {}
    for model_name in ("vae", "dcgan"):
        runs: dict[str, dict[str, list[float]]] = {name: {load: [] for load in LOADS} for name in THREAD_SETTINGS}
        for repeat in range(repeats):
            for load in LOADS:
                for name, (threads, policy) in THREAD_SETTINGS.items():
                    env = {key: value for key, value in os.environ.items() if key != "OMP_WAIT_POLICY"}
                    env.update({"OMP_WAIT_POLICY": policy} if policy else {})
                    with busy_process() if load == "busy" else nullcontext():
                        rate = run_child(
                            f"{model_name}.framework",
                            "cpu",
                            steps[model_name],
                            warmup[model_name],
                            overrides=[f"speed.num_threads={threads}"],
                            env=env,
                        )["rate"]
                    runs[name][load].append(rate)
                    print(f"{model_name} {name} {load} #{repeat + 1}: {rate:.0f} images/s", file=sys.stderr)
        results[model_name] = {
            name: {
                **{f"{load}_images_per_s": statistics.median(values[load]) for load in LOADS},
                **{f"all_{load}_images_per_s": [round(v, 1) for v in values[load]] for load in LOADS},
            }
            for name, values in runs.items()
        }
    return results


def print_header(header: str) -> None:
    """A table's column names, underlined."""
    print(header)
    print("-" * len(header))


def print_threads(results: dict) -> None:
    print(f"\nCPU, {os.cpu_count()} cores; batch {results['batch_size']}; framework path, median images/s")
    print_header(f"{'model':<7}{'threads':<20}{'alone':>9}{'busy':>9}{'busy/alone':>12}")
    for model_name, settings in results["threads"].items():
        for name, entry in settings.items():
            alone, busy = entry["alone_images_per_s"], entry["busy_images_per_s"]
            print(f"{model_name:<7}{name:<20}{alone:>9.0f}{busy:>9.0f}{busy / alone:>11.2f}x")


def print_speed_options(results: dict) -> None:
    print(f"\nDevice: {results['device']}; batch {results['batch_size']}; framework path, median images/s")
    print_header(f"{'model':<7}{'option':<16}{'images/s':>10}{'speed-up':>10}  overrides")
    for model_name, options in results["speed_options"].items():
        for name, entry in options.items():
            print(
                f"{model_name:<7}{name:<16}{entry['images_per_s']:>10.0f}{entry['speedup_over_fp32_eager']:>9.2f}x"
                f"  {' '.join(entry['overrides'])}"
            )


def print_table(results: dict) -> None:
    print(
        f"\nDevice: {results['device']}; float32 matmul rate {results['matmul_gflops']:.0f} GFLOP/s; "
        f"batch {results['batch_size']}"
    )
    print_header(f"{'model':<7}{'path':<11}{'images/s':>10}{'s/60k':>8}{'GFLOP/s':>9}{'of matmul':>11}{'peak MB':>9}")
    for model_name in ("vae", "dcgan"):
        entry = results[model_name]
        for path in ("framework", "raw", "classic"):
            p = entry[path]
            print(
                f"{model_name + str(entry['image_size']):<7}{path:<11}{p['images_per_s']:>10.0f}"
                f"{p['seconds_per_60k_epoch']:>8.1f}{p['gflops']:>9.1f}{p['fraction_of_matmul_rate']:>10.0%}"
                f"{p['peak_memory_mb']:>9.0f}"
            )
        print(
            f"{'':<7}framework/raw {entry['framework_over_raw']:.2f}x, framework/classic "
            f"{entry['framework_over_classic']:.2f}x; {entry['flops_per_image'] / 1e6:.1f} MFLOP per image "
            "per training step (forward + backward)"
        )
    iwae = results["iwae"]
    print(
        f"IWAE evaluation, k={iwae['k']}: {iwae['images_per_s']:.1f} test images/s "
        f"(10,000 images: {10000 / iwae['images_per_s'] / 60:.1f} min)"
    )


if __name__ == "__main__":
    sys.exit(main())
