"""The run folder's result records as pydantic models: a planned run's `experiments/<label>/result.json`
(`ExperimentResult`) and the paper's `paper.json` (`Paper`).

Why here, below the stages: the files are written by the experiment and write stages but read by the monitors, the
store importer, the web page and the CLI, which sit in other layers; one model each at the boundary keeps them
agreeing on what a field is. Both models are backward compatible on purpose: every field a run folder may lack has
a default (a folder written before the field existed still reads), and keys the model does not name are kept
(`extra="allow"`: a contract-v2 run's per-seed fields, or a later version's, round-trip unchanged). A file that is
not JSON, not an object or has a field of the wrong type is damage: `CorruptRunError` naming the file and what to
do, never a traceback.

The writers validate the record they built before writing it, and write that record itself (not a re-dump of the
model), so the bytes of result.json and paper.json, and the records the stages pass on to the prompts, stay what
they were.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scientist.errors import CorruptRunError

Number = int | float  # smart-mode union: an int stays an int (a re-dumped record keeps its bytes)
R = TypeVar("R", bound="StoredRecord")


class StoredRecord(BaseModel):
    """A stored record: unknown keys kept, every later field defaulted (also the base of records other layers own,
    e.g. the run's review.json: `scientist.reviews.form.RunReview`)."""

    model_config = ConfigDict(extra="allow")

    @classmethod
    def checked(cls: type[R], data: Any, where: Path | str) -> R:
        """`data` (a parsed file, or a record about to be written) as this model; damage is a `CorruptRunError`
        naming `where`."""
        if not isinstance(data, dict):
            raise CorruptRunError(
                f"{where} is damaged: a JSON object was expected, not {type(data).__name__}", hint=cls._hint()
            )
        try:
            return cls.model_validate(data)
        except ValidationError as err:
            first = err.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "(the record)"
            raise CorruptRunError(f"{where} is damaged: {field}: {first['msg']}", hint=cls._hint()) from err

    @classmethod
    def read(cls: type[R], path: Path) -> R:
        """The file at `path` as this model (missing, unreadable, not JSON or invalid: `CorruptRunError`)."""
        return cls.checked(read_record_json(path, cls._hint()), path)

    @classmethod
    def read_dict(cls, path: Path) -> dict[str, Any]:
        """The file at `path` as written (a plain dict, key order kept), once this model accepts it: for a caller
        that passes the record on (a resumed stage hands it to the prompts exactly as the first run did)."""
        data = read_record_json(path, cls._hint())
        cls.checked(data, path)
        return dict(data)

    @classmethod
    def _hint(cls) -> str:
        return "the run folder was edited or damaged"


def read_record_json(path: Path, hint: str) -> Any:
    """The JSON value of a record file; anything that stops it being read is a `CorruptRunError` naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise CorruptRunError(f"{path} is missing", hint=hint) from err
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptRunError(f"{path} cannot be read: {type(err).__name__}: {err}", hint=hint) from err


class SandboxOutcome(StoredRecord):
    """What a run of the agent's code in the sandbox came to: each attempt's own, and on the planned run's record
    the last attempt that ran (`stages.experiment._finish` copies these keys; absent there when no attempt ran)."""

    final_info_path: str | None = None  # run-relative
    exit_code: int | None = None
    timed_out: bool = False
    oom_killed: bool = False
    wall_time_s: Number | None = None
    peak_memory_mb: Number | None = None
    outputs: list[dict[str, Any]] = Field(default_factory=list)
    protected_violations: list[Any] = Field(default_factory=list)
    stderr_tail: str = ""


class Attempt(SandboxOutcome):
    """One try of a planned run (an item of result.json's `attempts`, `stages.experiment._agent_run`): the edit the
    model asked for, whether it ran, and the sandbox's outcome. A try whose edits never applied holds only
    `attempt`, `edit`, `ran` and `ok`; under contract v2 or several seeds `stages.evaluation` adds `seeds`,
    `agent_out` and `failed_seed`, kept as extra keys (as is anything a later version adds)."""

    attempt: int = 0
    ran: bool = False
    ok: bool = False
    edit: dict[str, Any] | None = None  # the model's edits (stages.experiment; absent for the baseline's one run)
    output_error: str | None = None
    stdout_path: str | None = None  # run-relative (older runs: absolute, see runs.stored_run_path)


class ExperimentResult(SandboxOutcome):
    """One planned sandbox run's record (`experiments/<label>/result.json`, `stages.experiment._finish`): the
    plan it followed, whether its last attempt ran cleanly and, when it did, the primary metric the harness read
    from its final_info.json (`final_info_path`, run-relative). A failed run keeps its failure and attempts: the
    paper says what did not work. Under contract v2 or several seeds the record also holds `seeds`, `agent_out`
    and `failed_seed` (stages.evaluation), kept as extra keys."""

    label: str = Field(min_length=1)
    mode: str = ""  # baseline | edit | config (stages.search.PlannedRun)
    parent: str | None = None
    depth: int = 0
    ok: bool = False
    failure: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Any] = Field(default_factory=dict)
    code_diff_blob: str | None = None
    files_changed: list[str] = Field(default_factory=list)
    attempts: list[Attempt] = Field(default_factory=list)
    metric: Number | None = None

    @classmethod
    def _hint(cls) -> str:
        return "delete experiments/<label>/result.json and resume the run to redo that experiment"


class LatexStatus(StoredRecord):
    """How the paper's LaTeX went: compiled, failed (after `fix_rounds` repairs) or absent (no TeX engine)."""

    status: str = "absent"
    engine: str | None = None
    fix_rounds: int = 0
    errors: list[str] = Field(default_factory=list)
    notice: str | None = None  # shown above paper.md and by the CLI when the PDF is missing


class Paper(StoredRecord):
    """What the write stage records about the paper (`paper.json`, `stages.writing.write_paper`): its files
    (run-relative), the numbers and citations the harness removed from the model's prose, and the LaTeX status."""

    title: str = ""
    tex: str | None = None
    md: str | None = None
    html: str | None = None
    bib: str | None = None
    pdf: str | None = None
    tex_blob: str | None = None
    figure: str | None = None
    references: list[str] = Field(default_factory=list)
    removed_citations: list[dict[str, Any]] = Field(default_factory=list)
    citation_checks: list[dict[str, Any]] | None = None  # None: the references were not checked (citation_check off)
    removed_numbers: list[dict[str, Any]] = Field(default_factory=list)
    failed_sections: list[str] = Field(default_factory=list)
    operator_feedback: str | None = None
    write_reflections: int = 0
    latex: LatexStatus = Field(default_factory=LatexStatus)

    @classmethod
    def _hint(cls) -> str:
        return "write the paper again: `scientist write <run>`"
