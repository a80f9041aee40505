"""Training-step time of each generator family's CPU preset (random weights, random batch).

How many steps fit in the budget (60 CPU minutes = 2 cores x 30 min) decides what the benchmark
models can learn; this measures wall and CPU (process) time per step without any data or
weights (the text encoder is the hashing one). On a loaded machine the CPU time is the number
to read.

    python benchmarks/generator_steps.py --size 64 --batch-size 32 --threads 1
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RESULTS, summarise_times, timeit, write_results

if TYPE_CHECKING:
    from productstudio.models.generators import ConditionalGenerator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=8)
    ap.add_argument(
        "--families",
        default="gan,vae,diffusion,ldm:autoencoder,ldm:autoencoder-adv,ldm:diffusion",
        help="family[:phase] list (ldm phases: autoencoder, autoencoder-adv, diffusion)",
    )
    ap.add_argument("--json", type=Path, default=RESULTS / "generator_steps.json")
    args = ap.parse_args()

    import numpy as np
    import torch

    from productstudio.models.conditioning.audience import audience_sizes
    from productstudio.models.conditioning.fusion import CondBatch, ConditionConfig
    from productstudio.models.data import ATTRIBUTES, Vocab
    from productstudio.models.generators import GENERATORS, default_config

    torch.set_num_threads(args.threads)
    # a vocabulary as large as the products data set's (133 categories)
    vocab = Vocab.build([{a: f"{a}{i}" for a in ATTRIBUTES} for i in range(133)], ATTRIBUTES)
    cc = ConditionConfig.from_vocab(vocab, text_encoder="hashing")
    b, s = args.batch_size, args.size
    g = torch.Generator().manual_seed(0)
    x = torch.rand(b, 3, s, s, generator=g) * 2 - 1
    cond = CondBatch(
        torch.randn(b, cc.text_dim, generator=g),
        torch.ones(b),
        torch.randint(1, 100, (b, len(ATTRIBUTES)), generator=g),
        torch.zeros(b, len(audience_sizes()), dtype=torch.long),
    )
    results = []
    # the latent model is timed in both of its phases (autoencoder, then UNet on latents)
    for case in args.families.split(","):
        family, _, phase = case.partition(":")
        m = GENERATORS.get(family).from_config(default_config(family, s), cc, vocab, seed=0)
        opts = m.make_optimizers()
        counter = iter(range(10**9))
        if phase == "diffusion":
            m.on_budget(1.0, 0)
        elif phase == "autoencoder-adv":
            m.on_budget(0.99 * m.config.ae_fraction, 0)

        cpu: list[float] = []

        def one_step(
            m: ConditionalGenerator = m,
            o: dict[str, Any] = opts,
            it: Iterator[int] = counter,
            cpu: list[float] = cpu,
        ) -> None:
            c = time.process_time()
            m.train_step(x, cond, next(it), o, g)
            cpu.append(time.process_time() - c)

        times = timeit(one_step, args.repeat, 2)
        st = summarise_times(times)
        cpu_median = float(np.median(cpu[2:]))  # without the warm-up calls
        results.append(
            {
                "case": f"train step {s}px, batch {b}, {args.threads} thread(s)",
                "backend": case,
                "n": args.repeat,
                **st,
                "cpu_median_s": cpu_median,
                "steps_in_60_cpu_min": int(3600 / cpu_median),
                "parameters_M": round(sum(p.numel() for p in m.parameters()) / 1e6, 3),
            }
        )
        print(results[-1])
    write_results("generator_steps", results, args.json, threads=args.threads)


if __name__ == "__main__":
    main()
