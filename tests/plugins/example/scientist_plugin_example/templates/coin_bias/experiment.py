"""Estimate a coin's bias from flips: python experiment.py --out_dir DIR [--config config.json] [--seed N].

Writes DIR/final_info.json (metrics). Standard library only.
"""

import argparse
import json
import random
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out_dir", required=True, type=Path)
    parser.add_argument("--config", type=Path, default=Path(__file__).resolve().parent / "config.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = json.loads(args.config.read_text(encoding="utf-8"))
    rng = random.Random(args.seed)
    heads = sum(rng.random() < config["bias"] for _ in range(config["flips"]))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    metrics = {"abs_error": abs(heads / config["flips"] - config["bias"])}
    final_info = {"metrics": metrics, "config": config, "seed": args.seed}
    (args.out_dir / "final_info.json").write_text(json.dumps(final_info, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    main()
