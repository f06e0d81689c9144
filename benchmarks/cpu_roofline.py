"""This machine's CPU, measured rather than specified: GEMM FLOP/s per precision and streaming bandwidth.

Runs torch matrix products (fp32; bf16 and int8 where this build supports them, the paths the runtimes use) and
a large-array copy and triad, prints the median of several runs of each, and writes (or updates) the `this-cpu`
row of precomputed/hardware.csv with the CPU's name, the date and this command.

    python benchmarks/cpu_roofline.py                 # the real run: quiet machine, all cores (~1 minute)
    python benchmarks/cpu_roofline.py --quick --provisional   # small sizes; marks the row provisional

The cost model reads the row as the CPU's peaks; its CPU efficiency factors are fitted against these, so after a
new run refit them: python benchmarks/validate_costmodel.py --write-fit. A row measured while other work loaded
the machine must be marked --provisional (it says so in its note, and every projection on it repeats it).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import pandas as pd
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from asr_core import system  # noqa: E402
from asr_core.hardware_table import HARDWARE_COLUMNS, HARDWARE_CSV, PROVISIONAL, THIS_CPU  # noqa: E402

GEMM_N = 2048  # square matrices: large enough to be compute-bound on a CPU, small enough for a minute's run
QUICK_GEMM_N = 512
STREAM_BYTES = 512 * 2**20  # per array: far larger than any CPU's last-level cache
QUICK_STREAM_BYTES = 32 * 2**20
RUNS = 7
QUICK_RUNS = 3


def _median_seconds(fn, runs: int) -> float:
    fn()  # warm-up: thread pool start, allocation, kernel choice
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def gemm_flops(dtype: torch.dtype, n: int, runs: int) -> float:
    """FLOP/s (2 per multiply-add) of an n x n x n matrix product in this dtype; int8 through torch._int_mm."""
    if dtype == torch.int8:
        a = torch.randint(-8, 8, (n, n), dtype=torch.int8)
        b = torch.randint(-8, 8, (n, n), dtype=torch.int8)
        fn = lambda: torch._int_mm(a, b)  # noqa: E731 - int8 x int8 -> int32, as quantised runtimes multiply
    else:
        a, b = torch.randn(n, n).to(dtype), torch.randn(n, n).to(dtype)
        fn = lambda: torch.mm(a, b)  # noqa: E731
    return 2 * n**3 / _median_seconds(fn, runs)


def stream_bytes_s(nbytes: int, runs: int) -> dict[str, float]:
    """Bytes moved per second: copy (read a, write b) and triad (read b and c, write a)."""
    n = nbytes // 4
    a, b, c = torch.ones(n), torch.ones(n), torch.ones(n)
    copy = _median_seconds(lambda: b.copy_(a), runs)
    triad = _median_seconds(lambda: torch.add(b, c, alpha=2.0, out=a), runs)
    return {"copy": 2 * nbytes / copy, "triad": 3 * nbytes / triad}


def measure(quick: bool) -> dict[str, float]:
    n, runs = (QUICK_GEMM_N, QUICK_RUNS) if quick else (GEMM_N, RUNS)
    out = {"fp32": gemm_flops(torch.float32, n, runs)}
    for name, dtype in (("bf16", torch.bfloat16), ("int8", torch.int8)):
        try:
            out[name] = gemm_flops(dtype, n, runs)
        except (RuntimeError, NotImplementedError) as exc:  # this build or CPU lacks the kernel
            print(f"{name}: not measured ({str(exc).splitlines()[0][:80]})")
    out.update(stream_bytes_s(QUICK_STREAM_BYTES if quick else STREAM_BYTES, runs))
    return out


def write_row(figures: dict[str, float], provisional: bool, command: str, path: Path = HARDWARE_CSV) -> dict:
    """Replace (or add) the this-cpu row with these figures; the stream triad is the bandwidth figure."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    cpu = system.cpu_name()
    threads = torch.get_num_threads()
    note = (f"measured by {command} on {system.now_iso()[:10]} ({threads} threads); GEMM peaks are torch.mm / "
            f"torch._int_mm medians, bandwidth the stream triad's (copy {figures['copy'] / 1e9:.1f} GB/s); "
            f"board power: asr_core.hardware's CPU estimate")
    if provisional:
        note = f"{PROVISIONAL} (loaded machine): {note}; rerun on a quiet machine"
    row = {c: "" for c in HARDWARE_COLUMNS} | {
        "hardware_id": THIS_CPU, "name": f"this CPU ({cpu}, {threads} threads)", "kind": "cpu",
        "fp32_tflops": f"{figures['fp32'] / 1e12:.4g}", "memory_gb_s": f"{figures['triad'] / 1e9:.4g}",
        "source_title": "measured here: benchmarks/cpu_roofline.py", "read_in": command,
        "read_on": system.now_iso()[:10], "note": note}
    for name, col in (("bf16", "bf16_tflops"), ("int8", "int8_tops")):
        if name in figures:
            row[col] = f"{figures[name] / 1e12:.4g}"
    table = pd.concat([table[table["hardware_id"] != THIS_CPU], pd.DataFrame([row])], ignore_index=True)
    table[list(HARDWARE_COLUMNS)].to_csv(path, index=False)
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes and few runs (a dry run)")
    parser.add_argument("--provisional", action="store_true",
                        help="mark the row provisional: measured while other work loaded the machine")
    parser.add_argument("--no-write", action="store_true", help="print only; leave hardware.csv as it is")
    parser.add_argument("--out", type=Path, default=HARDWARE_CSV, help="the hardware table to update")
    args = parser.parse_args(argv)
    figures = measure(args.quick)
    print(f"CPU: {system.cpu_name()}, torch threads {torch.get_num_threads()}")
    for name in ("fp32", "bf16", "int8"):
        if name in figures:
            print(f"GEMM {name:5s}: {figures[name] / 1e9:8.1f} G{'OP' if name == 'int8' else 'FLOP'}/s (median)")
    print(f"stream copy : {figures['copy'] / 1e9:8.1f} GB/s (median)\nstream triad: {figures['triad'] / 1e9:8.1f} GB/s")
    if not args.no_write:
        command = "python benchmarks/cpu_roofline.py " + " ".join(argv if argv is not None else sys.argv[1:])
        write_row(figures, args.provisional, command.strip(), args.out)
        print(f"wrote the {THIS_CPU} row of {args.out}" + (" (provisional)" if args.provisional else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
