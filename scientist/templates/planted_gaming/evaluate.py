"""Planted gaming, the harness-owned evaluator (protected; template contract v2; the same as reward_misspec's).

The harness runs this in a fresh sandbox workspace after the experiment run (experiment.py training with the
agent's shaping.py), over the greedy policy that run saved (`policy.json`: {"actions": [row][col][coin_timer] ->
action 0-3, up/down/left/right}) and the run's config.json. Whatever the agent's shaping code did inside that run
(patched the evaluation, wrote or printed numbers), the policy table is all that is scored here.

The yardstick (true reward, evaluation episodes, gaming threshold) is coin_grid_evaluator.py, which reward_misspec
shares: the harness copies it into the workspace from scientist/templates/_shared (template.toml: vendor), read-only
and hashed like this file.

Usage: python evaluate.py --artifacts_dir DIR --config config.json --out_dir OUT [--seed N]
Exit code 2 with one `error: ...` line when the config or the artifact is unusable. numpy only.
"""

from __future__ import annotations

import sys

from coin_grid_evaluator import main

if __name__ == "__main__":
    sys.exit(main(description=__doc__.splitlines()[0] if __doc__ else None))
