"""Paper-index performance: upsert cost, query latency at 10k and 100k papers, and embedding throughput.

Each number is printed beside a baseline measured in the same run:
- embedding: `scientist.tools.index.embed` (and chromadb's view of it) vs calling the sentence-transformers model
  directly on the same texts (goal: ≥ 0.9x);
- query latency: chromadb's HNSW query (which also reads documents and metadata) vs an exact numpy scan of the same
  vectors (ids only), with HNSW recall@10 against that exact answer, and with the query-embedding cost added
  (goal: p50 < 10 ms at 100k);
- upserts: seconds per 1,000 papers (vector, document and metadata), as the index grows;
- `index build`: papers/s through `build_index` (a source answering from memory, the known-id check, embedding and
  chromadb writes) vs the sentence-transformers model alone on the same texts (goal: ≥ 0.9x).

Embedding 100k texts takes ~20 min on 2 cores, so the large indexes are filled with *cached* vectors: a few hundred
synthetic abstracts are embedded for real, and the index vectors are those embeddings plus small noise
(renormalised), which keeps the clustered geometry of real embeddings. Nothing here touches the network.

Usage: .venv/bin/python benchmarks/novelty.py [--quick] [--build-only] [--sizes 10000 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

WORDS = (  # noqa: SIM905 - word lists read better as strings
    "reward hacking proxy objective agent policy gridworld coin respawn specification gaming oversight debate"
    " interpretability probe activation feature circuit sparse autoencoder deception honesty sycophancy jailbreak"
    " adversarial robustness distribution shift goal misgeneralization corrigibility shutdown power seeking"
    " monitoring evaluation benchmark language model reinforcement learning preference feedback constitution"
    " red teaming backdoor trigger unlearning watermark calibration uncertainty ensemble side effect impact"
    " penalty safe exploration constraint tampering situational awareness chain of thought faithfulness"
).split()
FILLER = "we study show that the a of in and for with under when whether measure propose find results".split()  # noqa: SIM905


def synthetic_abstracts(count: int, seed: int) -> list[str]:
    """Abstract-like texts (~60 words) from an AI-safety vocabulary; synthetic, for timing only."""
    rng = np.random.default_rng(seed)
    texts = []
    for _ in range(count):
        title = " ".join(rng.choice(WORDS, size=6)).capitalize()
        body = " ".join(rng.choice(WORDS + FILLER, size=60))
        texts.append(f"{title}\n\n{body.capitalize()}.")
    return texts


def best_times(calls: dict[str, Any], argument: Any, repeats: int) -> dict[str, float]:
    """Best wall time of each call over `repeats` rounds, the calls interleaved within a round so that load from
    other processes on a shared machine hits them alike."""
    best = dict.fromkeys(calls, float("inf"))
    for _ in range(repeats):
        for name, function in calls.items():
            started = time.perf_counter()
            function(argument)
            best[name] = min(best[name], time.perf_counter() - started)
    return best


def bench_embedding(texts: list[str], repeats: int) -> np.ndarray[Any, Any]:
    from scientist.tools.index import EMBED_BATCH, MiniLMEmbeddingFunction, embed, load_model

    model = load_model()

    def direct(batch: list[str]) -> Any:
        return model.encode(batch, batch_size=EMBED_BATCH, normalize_embeddings=True, convert_to_numpy=True)

    chroma_view = MiniLMEmbeddingFunction()
    direct(texts[:8])  # warm-up
    results = best_times(
        {
            "sentence-transformers, direct": direct,
            "scientist embed()": embed,
            "chromadb EmbeddingFunction": chroma_view,
        },
        texts,
        repeats,
    )
    baseline = len(texts) / results["sentence-transformers, direct"]
    setup = f"{len(texts)} synthetic abstracts, batch {EMBED_BATCH}, best of {repeats} interleaved rounds"
    print(f"\n## Embedding throughput ({setup})")
    print(f"{'path':<32} {'docs/s':>9} {'vs direct':>10}")
    for name, seconds in results.items():
        rate = len(texts) / seconds
        print(f"{name:<32} {rate:>9.1f} {rate / baseline:>9.2f}x")
    print("goal: scientist embed() ≥ 0.9x direct")
    vectors: np.ndarray[Any, Any] = np.asarray(embed(texts), dtype=np.float32)
    return vectors


def bench_build(texts: list[str], repeats: int, folder: Path) -> float:
    """`index build` throughput (search answered from memory, then known-id check, embedding and chromadb writes)
    vs the sentence-transformers model alone on the same texts; each round builds into a fresh collection."""
    from scientist.tools.build import build_index
    from scientist.tools.index import EMBED_BATCH, PaperIndex, load_model
    from scientist.tools.scholarly import Record, Sources, make_record

    class Memory:
        """A Source that answers from memory, so the benchmark measures the build, not the network."""

        name = "memory"

        def __init__(self, records: list[Record]) -> None:
            self.records = records

        def search(self, query: str, max_results: int, since: int | None = None) -> list[Record]:
            return self.records[:max_results]

    records = []
    for number, text in enumerate(texts):
        title, _, abstract = text.partition("\n\n")
        record = make_record("memory", native_id=f"p{number}", title=f"{title} {number}", abstract=abstract)
        assert record is not None
        records.append(record)
    model = load_model()
    rounds = iter(range(10_000))

    def build(_: Any) -> Any:
        index = PaperIndex(folder / "build", collection=f"build-{next(rounds)}")
        return build_index(index, ["q"], sources=Sources([Memory(records)]), max_results=len(records))

    def direct(batch: list[str]) -> Any:
        return model.encode(batch, batch_size=EMBED_BATCH, normalize_embeddings=True, convert_to_numpy=True)

    texts_built = [record.paper.text() for record in records]
    results = best_times(
        {"sentence-transformers, direct": direct, "scientist index build": build}, texts_built, repeats
    )
    baseline = len(texts) / results["sentence-transformers, direct"]
    rate = len(texts) / results["scientist index build"]
    print(f"\n## index build throughput ({len(texts)} papers, fresh collection each round, best of {repeats})")
    print(f"{'path':<32} {'papers/s':>9} {'vs direct':>10}")
    print(f"{'sentence-transformers, direct':<32} {baseline:>9.1f} {1.0:>9.2f}x")
    print(f"{'scientist index build':<32} {rate:>9.1f} {rate / baseline:>9.2f}x")
    print("goal: index build ≥ 0.9x direct embedding")
    return rate / baseline


def cached_vectors(base: np.ndarray[Any, Any], count: int, seed: int, noise: float = 0.06) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(base), size=count)
    vectors = base[picks] + rng.normal(scale=noise, size=(count, base.shape[1])).astype(np.float32)
    unit: np.ndarray[Any, Any] = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    return unit


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def bench_size(size: int, base: np.ndarray[Any, Any], texts: list[str], queries: int, folder: Path) -> dict[str, float]:
    from scientist.tools.index import PaperIndex, embed

    index = PaperIndex(folder / f"index-{size}", collection=f"bench-{size}")
    vectors = cached_vectors(base, size, seed=size)
    batch = 1000
    batch_times: list[float] = []
    for start in range(0, size, batch):
        ids = [f"bench-{i:07d}" for i in range(start, min(start + batch, size))]
        docs = [texts[i % len(texts)] for i in range(start, start + len(ids))]
        metas = [{"title": doc.split("\n\n", 1)[0], "source": "synthetic-benchmark"} for doc in docs]
        started = time.perf_counter()
        index.upsert_vectors(ids, vectors[start : start + len(ids)], docs, metas)
        batch_times.append(time.perf_counter() - started)
    assert index.count() == size

    query_vectors = cached_vectors(base, queries, seed=size + 1)
    for vector in query_vectors[:10]:  # warm-up: load the segment
        index.search_vector(vector, k=10)
    hnsw_ms, exact_ms, recalls = [], [], []
    for vector in query_vectors:
        started = time.perf_counter()
        hits = index.search_vector(vector, k=10)
        hnsw_ms.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        exact = np.argpartition(-(vectors @ vector), 10)[:10]
        exact_ms.append((time.perf_counter() - started) * 1000)
        wanted = {f"bench-{i:07d}" for i in exact}
        recalls.append(len(wanted & {hit.paper.id for hit in hits}) / 10)
    text_ms = []
    for text in texts[: max(10, queries // 4)]:
        started = time.perf_counter()
        index.search_vector(embed([text])[0], k=10)
        text_ms.append((time.perf_counter() - started) * 1000)
    return {
        "size": size,
        "per_1k_first": statistics.mean(batch_times[:5]),
        "per_1k_last": statistics.mean(batch_times[-5:]),
        "per_1k_mean": statistics.mean(batch_times),
        "hnsw_p50": percentile(hnsw_ms, 50),
        "hnsw_p95": percentile(hnsw_ms, 95),
        "exact_p50": percentile(exact_ms, 50),
        "exact_p95": percentile(exact_ms, 95),
        "recall10": statistics.mean(recalls),
        "text_p50": percentile(text_ms, 50),
        "text_p95": percentile(text_ms, 95),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="10k papers only, fewer texts and queries")
    parser.add_argument("--sizes", type=int, nargs="+", help="index sizes (default 10000 100000; --quick: 10000)")
    parser.add_argument("--queries", type=int, help="vector queries per size (default 200; --quick: 100)")
    parser.add_argument("--texts", type=int, help="abstracts embedded for real (default 512; --quick: 256)")
    parser.add_argument("--build-only", action="store_true", help="only embedding and `index build` throughput")
    args = parser.parse_args()
    sizes = args.sizes or ([10_000] if args.quick else [10_000, 100_000])
    queries = args.queries or (100 if args.quick else 200)
    count = args.texts or (256 if args.quick else 512)

    started = time.perf_counter()
    texts = synthetic_abstracts(count, seed=7)
    base = bench_embedding(texts, repeats=2 if args.quick else 3)
    with tempfile.TemporaryDirectory(prefix="scientist-bench-build-") as folder:
        bench_build(texts, repeats=2 if args.quick else 3, folder=Path(folder))
    if args.build_only:
        return
    rows = []
    with tempfile.TemporaryDirectory(prefix="scientist-bench-index-") as folder:
        for size in sizes:
            print(f"\n(filling an index of {size:,} papers ...)", flush=True)
            rows.append(bench_size(size, base, texts, queries, Path(folder)))

    print("\n## Upserts (vector + document + metadata, batches of 1,000; seconds per 1k)")
    print(f"{'papers':>8} {'first 5k':>9} {'last 5k':>9} {'mean':>9}")
    for row in rows:
        print(f"{row['size']:>8,} {row['per_1k_first']:>9.3f} {row['per_1k_last']:>9.3f} {row['per_1k_mean']:>9.3f}")
    print(f"\n## Query latency, k=10, ms ({queries} queries; baseline: exact numpy scan of the same vectors)")
    print(
        f"{'papers':>8} {'hnsw p50':>9} {'hnsw p95':>9} {'exact p50':>10} {'exact/hnsw':>11} {'recall@10':>10}"
        f" {'+embed p50':>11} {'+embed p95':>11}"
    )
    for row in rows:
        print(
            f"{row['size']:>8,} {row['hnsw_p50']:>9.2f} {row['hnsw_p95']:>9.2f} {row['exact_p50']:>10.2f}"
            f" {row['exact_p50'] / row['hnsw_p50']:>10.2f}x {row['recall10']:>10.3f}"
            f" {row['text_p50']:>11.2f} {row['text_p95']:>11.2f}"
        )
    largest = rows[-1]
    verdict = "met" if largest["hnsw_p50"] < 10 else "NOT met"
    print(f"goal: p50 < 10 ms at {largest['size']:,} papers: {verdict} ({largest['hnsw_p50']:.2f} ms)")
    print(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
