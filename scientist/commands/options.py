"""Options shared by commands: the model knobs every command that calls a model has, and the batch policy's.

Why one place: an error hint may name `--repair-retries`, `--max-tokens` or `--model` from deep inside the gateway,
so every command that calls a model must have them (tests/test_cli_hints.py walks every hint and every command).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from scientist.batch import BatchPolicy

ModelOption = Annotated[str | None, typer.Option("--model", "-m", help="litellm model, e.g. local/smollm2-135m")]
TemperatureOption = Annotated[
    float | None, typer.Option("--temperature", min=0.0, max=2.0, help="Sampling temperature (default: config)")
]
RepairRetriesOption = Annotated[
    int | None,
    typer.Option(
        "--repair-retries", min=0, max=10, help="Re-asks after an invalid structured answer (default: config)"
    ),
]
MaxTokensOption = Annotated[
    int | None,
    typer.Option("--max-tokens", min=1, max=200_000,
                 help="Completion cap for calls without a stage's own cap (default: the model's profile)"),
]
BudgetTokensOption = Annotated[
    int | None, typer.Option("--budget-tokens", min=0, help="Hard token cap for this command")
]
MaxFailuresOption = Annotated[
    str | None,
    typer.Option(
        "--max-failures",
        help="Stop the batch once more than N items (or a FRACTION like 0.2 of them) failed (default: never)",
    ),
]
RetryFailedOption = Annotated[
    bool, typer.Option("--retry-failed", help="On resume, retry the items that failed (default: keep their failure)")
]
ReseedOption = Annotated[bool, typer.Option("--reseed", help="With --retry-failed: a fresh seed for each retry")]


def batch_policy(max_failures: str | None, retry_failed: bool, reseed: bool) -> BatchPolicy:
    """The scientist.batch policy from the three batch options."""
    from scientist.batch import BatchPolicy, FailureLimit

    return BatchPolicy(max_failures=FailureLimit.parse(max_failures), retry_failed=retry_failed, reseed=reseed)
