"""Re-record only what changed: run the real CLI with every stored answer reused and only new requests sent live.

Seeded generation on the embedded model is deterministic (the provider resets llama's prompt cache per call), so a
stored answer is exactly what a live call with the same request would return; after a change to one prompt (say the
review form) only the requests downstream of it need the model, which turns a 35-minute re-recording into minutes.

In-process: `reuse_recorded_answers()` patches the gateway while a block runs. As a program,
`python tests/recording.py USED_FILE CLI-ARGS...` runs `scientist CLI-ARGS` that way (the environment must say
SCIENTIST_LLM_MODE=record) and writes the request keys it used to USED_FILE; `prune_unused` then deletes the answers no
request used any more, so the store holds exactly what the replay needs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


@dataclass
class Reuse:
    used: set[str] = field(default_factory=set)
    live: int = 0


@contextmanager
def reuse_recorded_answers() -> Iterator[Reuse]:
    """While inside: a request already in the store is answered from it; any other goes to the model (and, in
    record mode, is stored). `Reuse` counts both."""
    from scientist.llm.gateway import Completion, LLMGateway

    reuse = Reuse()
    original = LLMGateway._answer

    def answer(self: LLMGateway, prompt: Any, request: Any, key: str, sample_index: int) -> Completion:
        reuse.used.add(key)
        entry = self.store.get(key)
        if entry is not None:
            return self._completion_from_entry(entry, key, replayed=True)
        reuse.live += 1
        return original(self, prompt, request, key, sample_index)

    LLMGateway._answer = answer  # type: ignore[method-assign]
    try:
        yield reuse
    finally:
        LLMGateway._answer = original  # type: ignore[method-assign]


def prune_unused(store: Path, used: set[str]) -> int:
    """Delete stored answers whose request no longer occurs; returns how many were deleted."""
    stale = [path for path in store.rglob("*.json") if path.stem not in used]
    for path in stale:
        path.unlink()
    return len(stale)


def keep_command(used_file: Path, *cli_args: str) -> list[str]:
    """The command line that runs `scientist *cli_args` reusing stored answers (see the module docstring)."""
    return [sys.executable, str(Path(__file__).resolve()), str(used_file), *cli_args]


def main(argv: list[str]) -> int:
    from scientist import cli

    used_file, cli_args = Path(argv[0]), argv[1:]
    sys.argv = ["scientist", *cli_args]
    code = 0
    with reuse_recorded_answers() as reuse:
        try:
            cli.main()  # the real entry point, with its exit codes (4: a run waits on an approval)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    used_file.write_text(json.dumps(sorted(reuse.used)), encoding="utf-8")
    print(f"{reuse.live} new live calls recorded; {len(reuse.used) - reuse.live} reused", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
