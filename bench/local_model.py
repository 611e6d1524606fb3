"""Benchmark the embedded offline model: load time, time to first token, tokens per second.

Run from the repository root: ``.venv/bin/python bench/local_model.py [--max-tokens N]``.
Every prompt is bounded by ``--max-tokens``; nothing is downloaded.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from pathlib import Path

from threadline.core.settings import DEFAULT_BASE_INSTRUCTIONS
from threadline.model.base import ModelRequest, OutputTextDelta, ResponseCompleted
from threadline.model.local import DEFAULT_LOCAL_MODEL, LocalModelClient
from threadline.protocol.items import user_text_message

PROMPTS = (
    "What is the capital of France?",
    "Write one sentence about the sea.",
    "List three colours.",
    "Explain in two sentences what a unit test is.",
)


async def run(max_tokens: int, n_threads: int | None, model_path: Path | None) -> None:
    client = LocalModelClient(model_path=model_path, max_tokens=max_tokens, n_threads=n_threads)
    try:
        started = time.perf_counter()
        await client.load()
        load_s = time.perf_counter() - started
        print(f"model: {client.model_path.name}")
        print(f"load: {load_s:.2f} s, n_ctx={client.context_window(DEFAULT_LOCAL_MODEL)}")
        print(f"{'prompt tok':>10} {'output tok':>10} {'ttft ms':>8} {'tok/s':>7}  answer")
        rates: list[float] = []
        ttfts: list[float] = []
        # Bare prompts, then the same prompts under threadline's agent instructions
        # (what a `threadline exec` turn sends).
        cases = [(p, None) for p in PROMPTS] + [(p, DEFAULT_BASE_INSTRUCTIONS) for p in PROMPTS]
        for prompt, instructions in cases:
            request = ModelRequest(
                model=DEFAULT_LOCAL_MODEL,
                input=[user_text_message(prompt)],
                instructions=instructions,
            )
            began = time.perf_counter()
            first: float | None = None
            text = ""
            usage = None
            async for event in client.stream(request):
                if isinstance(event, OutputTextDelta):
                    first = first if first is not None else time.perf_counter()
                    text += event.delta
                elif isinstance(event, ResponseCompleted):
                    usage = event.usage
            ended = time.perf_counter()
            assert usage is not None
            ttft = (first or ended) - began
            decode_s = ended - (first or began)
            rate = (usage.output_tokens - 1) / decode_s if decode_s > 0 else 0.0
            rates.append(rate)
            ttfts.append(ttft)
            answer = " ".join(text.split())[:60]
            print(
                f"{usage.input_tokens:>10} {usage.output_tokens:>10} {ttft * 1000:>8.0f} "
                f"{rate:>7.1f}  {answer}"
            )
        print(f"decode rate: median {statistics.median(rates):.1f} tokens/s")
        print(f"time to first token: median {statistics.median(ttfts) * 1000:.0f} ms")
    finally:
        await client.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--model-path", type=Path, default=None)
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, threads: {args.threads or 'llama.cpp default'}")
    asyncio.run(run(args.max_tokens, args.threads, args.model_path))


if __name__ == "__main__":
    main()
