"""`final_info.json`, the file every template's experiment writes and every result number comes from, as a
validated model read through the bounded workspace reader.

The experiment code wrote it, so it is hostile input: read with the reader's size/depth/digit limits, then
validated here (metrics are named finite-or-NaN numbers, never bools, strings or nested objects). Anything else
is a `RunOutputError`: the run is recorded as failed, the harness carries on.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, ValidationError

from scientist.sandbox import reader

FINAL_INFO = "final_info.json"
MAX_METRICS = 256

MetricName = Annotated[str, Field(min_length=1, max_length=200)]
Number = StrictInt | StrictFloat  # strict: `true` or "0.9" is not a measurement


class FinalInfo(BaseModel):
    """What the harness relies on in final_info.json; other keys the template writes are kept as they are."""

    model_config = ConfigDict(extra="allow", frozen=True)

    metrics: dict[MetricName, Number] = Field(max_length=MAX_METRICS)
    config: dict[str, Any] = Field(default_factory=dict)
    seed: StrictInt | None = None
    train_episodes: Annotated[StrictInt, Field(ge=0)] | None = None

    def as_dict(self) -> dict[str, Any]:
        """The validated content as plain JSON-like data (what the monitors and the writer compare numbers in)."""
        return self.model_dump(mode="python")


def parse_final_info(data: Any, what: str = FINAL_INFO) -> FinalInfo:
    """Validate already-parsed JSON as final_info (one line per problem, in a `RunOutputError`)."""
    try:
        return FinalInfo.model_validate(data)
    except ValidationError as err:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in item['loc']) or 'top level'}: {item['msg']}" for item in err.errors()[:5]
        )
        raise reader.RunOutputError(
            f"{what} is not a valid final_info: {problems}",
            hint='write {"metrics": {"name": number, ...}} as the template does',
        ) from err


def load_final_info(root: Path, rel: str | PurePosixPath) -> FinalInfo:
    """Read and validate `root/rel` (no link followed, size- and depth-capped); `RunOutputError` if it is unsafe
    or invalid."""
    return parse_final_info(reader.read_json(root, rel), str(rel))


def try_load_final_info(root: Path, rel: str | PurePosixPath) -> FinalInfo | None:
    """`load_final_info`, or None when it cannot be used (for readers of runs already judged by the pipeline)."""
    try:
        return load_final_info(root, rel)
    except reader.RunOutputError:
        return None


def record_final_info(run_dir: Path, record: dict[str, Any]) -> FinalInfo | None:
    """The final_info of an experiment record the pipeline judged ok (None for a failed run or an unusable file)."""
    rel = record.get("final_info_path")
    if not record.get("ok") or not isinstance(rel, str) or not rel:
        return None
    return try_load_final_info(run_dir, rel)


def ok_final_infos(run_dir: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ok runs' final_info contents: what a number in the prose may be traced to."""
    return [info.as_dict() for record in records if (info := record_final_info(run_dir, record)) is not None]


def record_metrics(run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """An ok run's metrics ({} when it failed or its final_info is unusable)."""
    info = record_final_info(run_dir, record)
    return dict(info.metrics) if info is not None else {}
