"""Inception features per second against this machine's matmul rate, measured in the same run.

    python benchmarks/inception.py [--images 50] [--batch-size 50] [--repeats 3] [--bf16] [--fid-images 0]

Needs the FID weights (``make setup-inception``). Each repeat times, in turn, every network path on the same
``--images`` MNIST test images, each right after a 1-second float32 matmul measurement (2048x2048 products), so a
shared machine's load weighs on both alike; the best repeat of each path is shown with the ratio of its FLOP rate
to the matmul rate measured just before it (FLOPs per image counted by ``torch.utils.flop_counter``). Paths:
the wheel's TorchScript file as it is (the reference), its eager copy with batch norms folded (NCHW, then
channels-last: ``genmodels.metrics.inception_network``) and that copy compiled by inductor (what ``genmodels.evaluate``
runs). ``--bf16`` adds bfloat16 autocast paths and ``--fid-images N`` the FID of N training against N test images
along the reference and each other path, with its relative difference (the bar for a faster path: 0.5 %).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from functools import partial
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as every genmodels command: idle threads sleep

import torch  # noqa: E402
from measurements import matmul_gflops  # noqa: E402  (this folder's measurement module)
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from genmodels.data.idx import read_idx  # noqa: E402
from genmodels.data.provision import TEST_IMAGES, TRAIN_IMAGES, raw_dir  # noqa: E402
from genmodels.metrics.frechet import frechet_distance  # noqa: E402
from genmodels.metrics.inception import resolve_weights, to_inception_input  # noqa: E402
from genmodels.metrics.inception_network import eager_copy  # noqa: E402

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")


def cpu_flags() -> list[str]:
    """The vector-unit flags of /proc/cpuinfo that matter for float32 and bfloat16 convolutions."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    present = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return [flag for flag in FLAGS if flag in present]


def network_paths(bf16: bool) -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    """name -> function from NCHW Inception inputs (B, 3, 299, 299) to features (B, 2048)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        scripted = torch.jit.load(str(resolve_weights())).eval()
    eager = eager_copy(scripted).eval().requires_grad_(False)
    last = eager_copy(scripted).eval().requires_grad_(False).to(memory_format=torch.channels_last)
    compiled = torch.compile(last.forward, options={"freezing": True})

    def channels_last(network: Callable, dtype: torch.dtype | None = None) -> Callable:
        def run(x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=dtype) if dtype else nullcontext():
                return network(x.contiguous(memory_format=torch.channels_last)).float()

        return run

    paths = {
        "TorchScript file (reference)": scripted,
        "eager copy, NCHW": eager,
        "eager copy, channels-last": channels_last(last),
        "compiled, channels-last": channels_last(compiled),
    }
    if bf16:
        paths["eager copy, channels-last, bf16 autocast"] = channels_last(last, torch.bfloat16)
        paths["compiled, channels-last, bf16 autocast"] = channels_last(
            torch.compile(last.forward, options={"freezing": True}), torch.bfloat16
        )
    return paths


def flops_per_image(network: Callable, x: torch.Tensor) -> float:
    counter = FlopCounterMode(display=False)
    with counter:
        network(x[:1])
    return counter.get_total_flops()


def features_of(network: Callable, images: torch.Tensor, batch_size: int) -> torch.Tensor:
    parts = [network(to_inception_input(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    return torch.cat(parts)


def wall_and_cpu_seconds(work: Callable[[], object]) -> tuple[float, float, object]:
    """Wall seconds and CPU-seconds of this process (all its threads) spent on ``work()``, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def resize_seconds(images: torch.Tensor, antialias: bool, repeats: int) -> float:
    """Best time of the 28 -> 299 bilinear resize of ``images`` (the rest of ``to_inception_input`` included)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        torch.nn.functional.interpolate(images, size=(299, 299), mode="bilinear", antialias=antialias)
        best = min(best, time.perf_counter() - started)
    return best


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=50, help="images per timing (one batch by default)")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--bf16", action="store_true", help="also bfloat16 autocast (native on avx512_bf16/AMX)")
    parser.add_argument("--fid-images", type=int, default=0, help="also the FID agreement on N train/test images")
    parser.add_argument("--data-dir", default=os.environ.get("GENMODELS_DATA_DIR", "data"))
    args = parser.parse_args(argv)

    folder = raw_dir(args.data_dir, "mnist")
    test = read_idx(folder / TEST_IMAGES).unsqueeze(1).float().div(255.0)
    images = test[: args.images]
    print(
        f"CPU flags: {' '.join(cpu_flags()) or 'none of ' + ', '.join(FLAGS)}; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; load average {os.getloadavg()[0]:.1f}"
    )
    paths = network_paths(args.bf16)
    reference = next(iter(paths.values()))
    with torch.inference_mode():
        flops = flops_per_image(reference, to_inception_input(images[:1]))
        reference_features = features_of(reference, images, args.batch_size)
        deviation = {}
        for name, network in paths.items():  # also the warm-up (and the compilation) of every path
            features = features_of(network, images, args.batch_size)
            deviation[name] = ((features - reference_features).abs().max() / reference_features.abs().max()).item()
        best: dict[str, tuple[float, float, float]] = {}
        best_cpu: dict[str, float] = {}
        for _ in range(args.repeats):
            for name, network in paths.items():
                wall, cpu, matmul = wall_and_cpu_seconds(lambda: matmul_gflops(torch.device("cpu")))
                matmul_cpu_share = cpu / wall  # both rates per CPU-second: other jobs' share of the cores drops out
                wall, cpu, _ = wall_and_cpu_seconds(partial(features_of, network, images, args.batch_size))
                rate = len(images) / wall
                share = rate * flops / 1e9 / matmul
                best[name] = max(best.get(name, (0.0, 0.0, 0.0)), (share, rate, matmul))
                best_cpu[name] = max(best_cpu.get(name, 0.0), share * matmul_cpu_share / (cpu / wall))
    if args.bf16:
        print(f"bfloat16 matmul: {matmul_gflops(torch.device('cpu'), dtype=torch.bfloat16):.0f} GFLOP/s")
    print(
        f"{flops / 1e9:.2f} GFLOP per image; batches of {args.batch_size}, {len(images)} images per timing, "
        f"best of {args.repeats} interleaved repeats"
    )
    print(
        "| path | images/s | GFLOP/s | float32 matmul GFLOP/s (just before) | share of matmul rate | "
        "share per CPU-second | max feature deviation |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (share, rate, matmul) in best.items():
        cells = [f"{rate:.2f}", f"{rate * flops / 1e9:.1f}", f"{matmul:.1f}", f"{share:.0%}", f"{best_cpu[name]:.0%}"]
        print(f"| {name} | {' | '.join(cells)} | {deviation[name]:.1e} |")
    grey = images[: args.batch_size]
    on, off = resize_seconds(grey, True, args.repeats), resize_seconds(grey, False, args.repeats)
    print(f"resize 28 -> 299 of {len(grey)} images: antialias on {on * 1e3:.1f} ms, off {off * 1e3:.1f} ms")
    if args.fid_images:
        train = read_idx(folder / TRAIN_IMAGES)[: args.fid_images].unsqueeze(1).float().div(255.0)
        with torch.inference_mode():
            fids = {
                name: frechet_distance(
                    features_of(network, train, args.batch_size),
                    features_of(network, test[: args.fid_images], args.batch_size),
                )
                for name, network in paths.items()
            }
        base = next(iter(fids.values()))
        for name, fid in fids.items():
            print(f"FID of {args.fid_images} training vs test images, {name}: {fid:.4f} ({fid / base - 1:+.3%})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
