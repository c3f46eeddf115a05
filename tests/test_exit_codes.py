"""Exit codes: one meaning each ("waiting for a human" is not "stopped by a monitor"), mapped by the CLI, documented."""

from __future__ import annotations

import re

import pytest

import scientist.cli as cli
from scientist.approvals.errors import ApprovalPendingError
from scientist.errors import BudgetExceededError, ConfigError, ExitCode, ScientistError
from scientist.monitors.policy import MonitorStopError
from scientist.study.budget import StudyBudgetError, StudyStoppedError
from tests.conftest import REPO


def test_every_code_has_one_meaning() -> None:
    assert len({int(code) for code in ExitCode}) == len(ExitCode)
    assert ApprovalPendingError.exit_code == ExitCode.WAITING_FOR_HUMAN == 4
    assert MonitorStopError.exit_code == ExitCode.MONITOR_STOPPED == 5
    assert MonitorStopError.exit_code != ApprovalPendingError.exit_code
    assert BudgetExceededError.exit_code == StudyBudgetError.exit_code == ExitCode.BUDGET_PAUSED == 3
    assert ScientistError.exit_code == ConfigError.exit_code == ExitCode.ERROR == 2
    assert StudyStoppedError.exit_code == ExitCode.OK  # a human chose to stop the study: a deliberate end


@pytest.mark.parametrize(
    ("error", "code", "prefix"),
    [
        (ApprovalPendingError("run r waits for approval a1"), 4, "waiting:"),
        (MonitorStopError("monitor eval_gaming stopped the run"), 5, "error:"),
        (BudgetExceededError("the token budget is spent", hint="raise it"), 3, "paused:"),
        (ConfigError("bad flag", hint="use --x"), 2, "error:"),
        (KeyboardInterrupt(), 130, "interrupted"),
    ],
)
def test_the_cli_exits_with_the_code_of_what_happened(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], error: BaseException, code: int, prefix: str
) -> None:
    def app() -> None:
        raise error

    monkeypatch.setattr(cli, "app", app)
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code == code
    err = capsys.readouterr().err
    assert err.startswith(prefix) and "Traceback" not in err, err


def test_the_readme_documents_every_code() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", section, flags=re.MULTILINE)}
    assert documented == {int(code) for code in ExitCode}
