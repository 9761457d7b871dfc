"""NTM training against this machine's arithmetic limit: one epoch at 50,000 and 200,000 documents x 50,000 words.

The epoch's arithmetic is dominated by the decoder: per mini-batch, ``theta @ W.T`` ((rows, K) x (K, V)) and its two
gradients (``g.T @ theta`` for W, ``g @ W`` for theta), 2 x 3 x rows x K x V floating-point operations; everything
else (the sparse encoder, 30-wide hidden layers) is under 1% of that. So the epoch must do at least
``6 x documents x K x V`` FLOPs, and the roofline's time is that divided by this machine's float32 GFLOP/s for those
three products, measured here with torch under the settings training uses (``ntm_container.runtime``'s process
settings, and the thread count training picks from feature_dim x mini_batch_size, see
``ntm_container.train.SMALL_STEP``; at these sizes torch's default, one thread per core).

Every case runs ``ntm-container train`` (30 topics, one epoch, mini_batch_size 256, sparse RecordIO of ~100-word
Zipf documents) as a child process, timed from its start to its exit (interpreter start, reading the corpus, the
background pass, the epoch, the topic report, the artifact) and by the epoch's own log line, and takes the child's
peak RSS (``os.wait4``, started by a fresh launcher, see ``bench/scale.py``). Corpus modes: 'cached' (the default
in-memory CSR) and 'streamed' (``NTM_CORPUS_CACHE_MB=0``, every pass reads the files). The roofline is measured
again right before each case, so both see the same machine load; the load average is printed with each row.

    .venv/bin/python bench/ntm_roofline.py [--docs 50000,200000] [--corpus cached,streamed] [--no-write]
"""

from __future__ import annotations

import argparse
import io
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from results import markdown, write_section  # noqa: E402
from scale import NTM_MODES, measured  # noqa: E402
from serving import BIN, env_for, sparse_counts, write_tree  # noqa: E402

TOPICS = 30
BATCH = 256
EPOCH_LINE = re.compile(r"Finished training epoch 1 on (\d+) examples in ([0-9.]+) s")


def decoder_step_seconds(vocabulary: int, rows: int = BATCH, topics: int = TOPICS, repeats: int = 30) -> float:
    """Median seconds of one mini-batch's three decoder products (forward, grad W, grad theta), float32, torch with
    training's thread settings."""
    import torch

    from ntm_container.train import SMALL_STEP

    threads = torch.get_num_threads()
    if vocabulary * rows <= SMALL_STEP:
        torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(0)
    theta = torch.rand(rows, topics, generator=generator)
    weight = torch.randn(vocabulary, topics, generator=generator)
    grad = torch.randn(rows, vocabulary, generator=generator)
    out = torch.empty(rows, vocabulary)
    grad_weight = torch.empty(vocabulary, topics)
    grad_theta = torch.empty(rows, topics)
    times = []
    for _ in range(repeats + 3):
        started = time.perf_counter()
        torch.mm(theta, weight.T, out=out)
        torch.mm(grad.T, theta, out=grad_weight)
        torch.mm(grad, weight, out=grad_theta)
        times.append(time.perf_counter() - started)
    torch.set_num_threads(threads)
    times = sorted(times[3:])
    return times[len(times) // 2]


def square_gflops(size: int = 1024, repeats: int = 10) -> float:
    """Best float32 GFLOP/s of a square product: the machine's peak for the shape BLAS likes best."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    best = min(_timed(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def corpus_tree(work: Path, documents: int, vocabulary: int) -> Path:
    from container_core import recordio

    matrix = sparse_counts(documents, vocabulary, seed=documents, length=100)
    buffer = io.BytesIO()
    recordio.write_sparse(buffer, matrix)
    root = work / f"ntm-{documents}"
    write_tree(root, {"feature_dim": vocabulary, "num_topics": TOPICS, "epochs": 1, "mini_batch_size": BATCH},
               {"train": buffer.getvalue()})
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", default="50000,200000")
    parser.add_argument("--vocabulary", type=int, default=50_000)
    parser.add_argument("--corpus", default="streamed,cached", help="corpus modes: streamed and/or cached")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    modes = [m for m in args.corpus.split(",") if m]
    if unknown := set(modes) - set(NTM_MODES):
        parser.error(f"--corpus: unknown mode(s) {sorted(unknown)}; use {', '.join(NTM_MODES)}")
    vocabulary = args.vocabulary
    from ntm_container.runtime import configure_training_process

    configure_training_process()  # training's process settings, before this process loads torch
    peak = square_gflops()
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench_roofline_") as folder:
        for documents in (int(d) for d in args.docs.split(",") if d):
            root = corpus_tree(Path(folder), documents, vocabulary)
            batches = -(-documents // BATCH)
            flops = 6 * documents * TOPICS * vocabulary
            for mode in modes:
                step = decoder_step_seconds(vocabulary)
                gflops = 6 * BATCH * TOPICS * vocabulary / step / 1e9
                roofline_s = flops / (gflops * 1e9)
                env = env_for(root)
                env.pop("NTM_CORPUS_CACHE_MB", None)
                if NTM_MODES[mode] is not None:
                    env["NTM_CORPUS_CACHE_MB"] = NTM_MODES[mode]
                for leftover in ("checkpoints", "model", "output"):
                    shutil.rmtree(root / leftover, ignore_errors=True)
                load = os.getloadavg()[0]
                seconds, peak_mb, log, _ = measured([str(BIN / "ntm-container"), "train"], env)
                match = EPOCH_LINE.search(log)
                if match is None:
                    raise RuntimeError(f"no epoch line in the training log:\n{log[-2000:]}")
                epoch_s = float(match.group(2))
                rows.append([f"{documents:,}", mode, f"{flops:.3g}", f"{gflops:.1f}", f"{roofline_s:.1f}",
                             f"{epoch_s:.1f}", f"{epoch_s / roofline_s:.2f}x", f"{seconds:.1f}",
                             f"{seconds / roofline_s:.2f}x", f"{peak_mb:,.0f}", f"{load:.1f}"])
                print("NTM", rows[-1], f"({batches} batches)", file=sys.stderr)
            shutil.rmtree(root)
    load_after = os.getloadavg()
    table = [["documents", "corpus", "epoch FLOPs (6 N K V)", "roofline GFLOP/s (decoder products)",
              "roofline s", "epoch s (log line)", "epoch / roofline", "process s (start to exit)",
              "process / roofline", "peak RSS MB", "load (1-min) at start"], *rows]
    import torch

    note = (f"`bench/ntm_roofline.py`: `ntm-container train`, {vocabulary:,}-word vocabulary, {TOPICS} topics, one "
            f"epoch, mini_batch_size {BATCH}, sparse RecordIO of ~100-word Zipf documents. Roofline: the median time "
            f"of one mini-batch's three decoder products (({BATCH} x {TOPICS}) @ ({TOPICS} x {vocabulary:,}) and its two "
            f"gradients), float32, torch {torch.__version__} with {torch.get_num_threads()} threads (training's "
            f"setting at this size), measured just before each row; the epoch must do 6 N K V FLOPs, so the "
            f"roofline's time is those FLOPs at that rate. For reference, a 1024^3 float32 product runs at "
            f"{peak:.1f} GFLOP/s here. 'process s' is the whole training process (interpreter start, reading, "
            f"background pass, epoch, topic report, artifact). {os.cpu_count()} CPU cores shared with other "
            f"engineers; load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (1-minute).")
    if args.no_write:
        print(note + "\n\n" + markdown(table))
    else:
        write_section("NTM training against the roofline", table, note)


if __name__ == "__main__":
    main()
