"""Measure the reviewer's injection defence on a labelled case folder: detection and false alarm rates, with Wilson
95 % CIs, for the pattern filter alone and for patterns + the model check (`review_injection_check`).

A case folder holds paper files and a `cases.toml` with one `[[case]]` per paper: `id`, `file`, `injected`
(whether the paper carries an instruction aimed at the reviewer) and `style` (e.g. paraphrase, translation,
hidden, clean-discussion, clean). A paper counts as detected (injected) or as a false alarm (clean) when the
defence raises any `InjectionFlag` on it. The numbers come from the cases every time; nothing is stored.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scientist.errors import ScientistError
from scientist.llm.gateway import LLMGateway
from scientist.measure.stats import wilson
from scientist.reviews.injection_check import screen
from scientist.reviews.paper import load_paper, sanitize

CASES_FILE = "cases.toml"
Arm = Literal["patterns", "patterns+model"]


class CaseSetError(ScientistError):
    """A case folder for `calibrate injection` is missing, malformed or names a paper that is not there."""


class InjectionCase(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    file: str = Field(min_length=1)
    injected: bool
    style: str = "unspecified"


class CaseResult(BaseModel):
    id: str
    style: str
    injected: bool
    patterns: bool  # any flag from the pattern filter (and the readers' hidden-text defences)
    model: bool | None  # any flag from patterns + model check (None: the model arm was not run)
    model_flags: list[str] = Field(default_factory=list)  # excerpts the model check flagged


class Rate(BaseModel):
    k: int
    n: int
    ci: tuple[float, float] | None

    @property
    def value(self) -> float | None:
        return self.k / self.n if self.n else None


class ArmReport(BaseModel):
    arm: Arm
    detection: Rate  # injected cases flagged
    false_alarm: Rate  # clean cases flagged
    by_style: dict[str, Rate]  # flagged per style (detection for injected styles, false alarms for clean ones)


class InjectionEvalReport(BaseModel):
    cases_dir: str
    model: str | None
    check_role: str | None
    cases: list[CaseResult]
    arms: list[ArmReport]


def load_cases(folder: Path) -> list[InjectionCase]:
    path = folder / CASES_FILE
    if not path.is_file():
        raise CaseSetError(f"no {CASES_FILE} in {folder}", hint="pass a folder with cases.toml and its paper files")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        cases = [InjectionCase.model_validate(item) for item in raw.get("case", [])]
    except (tomllib.TOMLDecodeError, ValidationError) as err:
        raise CaseSetError(f"{path} is not a valid case list: {err}", hint="see docs/security.md") from err
    if not cases:
        raise CaseSetError(f"{path} lists no [[case]]", hint="add [[case]] entries with id, file, injected")
    for case in cases:
        if not (folder / case.file).is_file():
            raise CaseSetError(f"case {case.id}: no file {folder / case.file}", hint="fix the file name in cases.toml")
    if len({case.id for case in cases}) != len(cases):
        raise CaseSetError(f"{path} repeats a case id", hint="give every case its own id")
    return cases


def run_case(folder: Path, case: InjectionCase, gateway: LLMGateway | None) -> CaseResult:
    paper = load_paper(folder / case.file)
    patterns = bool(sanitize(paper).flags)
    model = None
    model_flags: list[str] = []
    if gateway is not None:
        screened = screen(gateway, paper)
        model = bool(screened.flags)
        model_flags = [flag.excerpt for flag in screened.flags if flag.kind == "model_judged"]
    return CaseResult(
        id=case.id, style=case.style, injected=case.injected, patterns=patterns, model=model, model_flags=model_flags
    )


def _rate(hits: list[bool]) -> Rate:
    return Rate(k=sum(hits), n=len(hits), ci=wilson(sum(hits), len(hits)))


def arm_report(results: list[CaseResult], arm: Arm) -> ArmReport:
    flagged = {result.id: bool(result.patterns if arm == "patterns" else result.model) for result in results}
    styles = sorted({result.style for result in results})
    return ArmReport(
        arm=arm,
        detection=_rate([flagged[result.id] for result in results if result.injected]),
        false_alarm=_rate([flagged[result.id] for result in results if not result.injected]),
        by_style={style: _rate([flagged[r.id] for r in results if r.style == style]) for style in styles},
    )


def evaluate_cases(folder: Path, gateway: LLMGateway | None) -> InjectionEvalReport:
    """Run every case through the pattern filter and (with a gateway whose settings turn the check on) the model
    check; a gateway with `review_injection_check = off` is refused (its arm would silently equal patterns)."""
    if gateway is not None and gateway.settings.review_injection_check == "off":
        raise CaseSetError(
            "the model arm needs review_injection_check = review or judge",
            hint="pass --check-role review (or judge), or --patterns-only",
        )
    cases = load_cases(folder)
    results = [run_case(folder, case, gateway) for case in cases]
    arms = [arm_report(results, "patterns")]
    if gateway is not None:
        arms.append(arm_report(results, "patterns+model"))
    model = role = None
    if gateway is not None and gateway.settings.review_injection_check != "off":
        role = gateway.settings.review_injection_check
        model = gateway.settings.model_for(role)
    return InjectionEvalReport(
        cases_dir=str(folder),
        model=model,
        check_role=role,
        cases=results,
        arms=arms,
    )


def fmt_rate(rate: Rate) -> str:
    """`0.67 [0.21, 0.94] (2/3)`: the rate, its Wilson 95 % CI and the counts (the docs table uses this too)."""
    if rate.value is None or rate.ci is None:
        return "n/a (0 cases)"
    return f"{rate.value:.2f} [{rate.ci[0]:.2f}, {rate.ci[1]:.2f}] ({rate.k}/{rate.n})"


def table_rows(name: str, report: InjectionEvalReport) -> list[str]:
    """docs/security.md's table rows for one case set (tests/test_reviews_injection_check.py checks the page)."""
    return [
        f"| {name} ({len(report.cases)} papers) | {arm.arm} | {fmt_rate(arm.detection)} | {fmt_rate(arm.false_alarm)} |"
        for arm in report.arms
    ]


def format_report(report: InjectionEvalReport) -> str:
    """Plain-text report: one line per arm, then the per-style breakdown (Wilson 95 % CIs)."""
    lines = [f"cases: {report.cases_dir} ({len(report.cases)} papers)"]
    if report.model:
        lines.append(f"model check: {report.model} (role {report.check_role})")
    for arm in report.arms:
        lines.append(f"{arm.arm:<15} detection {fmt_rate(arm.detection)}   false alarms {fmt_rate(arm.false_alarm)}")
    for arm in report.arms:
        parts = [f"{style} {fmt_rate(rate)}" for style, rate in arm.by_style.items()]
        lines.append(f"  {arm.arm} flagged by style: " + "; ".join(parts))
    return "\n".join(lines)
