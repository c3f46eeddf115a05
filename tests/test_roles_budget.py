"""Role models (each role's calls go to its own model, audited with the role) and priced budgets (dollars from the
profile; a USD cap on an unpriced model refused before any call; a priced cap stops cleanly and resumes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scientist.audit.log import AuditLog
from scientist.cli import main
from scientist.config import ModelOverride, Settings, parse_role_models, role_summary
from scientist.errors import BudgetExceededError, ConfigError, PricingUnknownError
from scientist.llm.gateway import LLMGateway, check_pricing
from scientist.prompts import render
from tests.openai_stub import OpenAIStub, ScriptedReply, serve

KEY = "sk-test-not-a-real-key-0000"


def run_main(args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, str]:
    """The CLI entry point in-process (its error handling included): (exit code, stdout + stderr)."""
    monkeypatch.setattr("sys.argv", ["scientist", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    return int(exited.value.code or 0), captured.out + captured.err


def run_main_ok(
    args: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> tuple[int, str]:
    """As run_main, for a command that returns normally (typer's app exits 0 through SystemExit)."""
    monkeypatch.setattr("sys.argv", ["scientist", *args])
    try:
        main()
        code = 0
    except SystemExit as exited:
        code = int(exited.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    yield from serve(OpenAIStub())


def test_role_model_flags_parse_and_refuse_unknown_roles() -> None:
    assert parse_role_models(None) is None
    assert parse_role_models(["review=openai/gpt-4o", "judge = anthropic/claude-x"]) == {
        "review": "openai/gpt-4o", "judge": "anthropic/claude-x",
    }
    for bad in ("reviewer=openai/gpt-4o", "review", "review="):
        with pytest.raises(ConfigError, match="ROLE=MODEL"):
            parse_role_models([bad])
    with pytest.raises(Exception, match="provider/name"):
        Settings(role_models={"review": "gpt-4o"})


def test_bad_role_flag_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = tmp_path / "runs"
    code, output = run_main(["run", "topic", "--role-model", "critic=openai/x", "--runs-dir", str(runs)],
                            capsys, monkeypatch)
    assert code == 2 and "ROLE=MODEL" in output and "Traceback" not in output
    assert output.strip().startswith("error:") and not runs.exists()


def test_summary_says_when_a_role_shares_the_agents_model(tmp_path: Path) -> None:
    settings = Settings(model="openai/a", role_models={"review": "openai/b"}, llm_cache_dir=tmp_path)
    line = role_summary(settings)
    assert "agent openai/a" in line and "review openai/b;" in line and "writeup openai/a (same as agent)" in line
    assert "judge openai/a (same as agent)" in line
    assert settings.model_for("judge") == "openai/a"
    judged = Settings(model="openai/a", role_models={"agent": "openai/c", "judge": "openai/j"}, llm_cache_dir=tmp_path)
    assert judged.model_for("writeup") == "openai/c" and judged.model_for("judge") == "openai/j"


def _answer(request: dict[str, Any]) -> ScriptedReply:
    return ScriptedReply(content=json.dumps({"text": f"answer from {request['model']}"}))


def test_each_role_calls_its_own_model_and_the_audit_says_which(tmp_path: Path, stub: OpenAIStub) -> None:
    from scientist.stages.writing import section_schema

    stub.responder = _answer
    roles = {"review": "openai/review-model", "judge": "openai/judge-model", "ideation": "openai/ideas-model"}
    settings = Settings(model="openai/agent-model", role_models=roles, api_base=stub.base_url, api_key=KEY,
                        llm_cache_dir=tmp_path / "s", transient_retries=0, repair_retries=0, budget_usd=None)
    audit = AuditLog(tmp_path / "run")
    gateway = LLMGateway(settings, audit)
    schema = section_schema(600)
    variables = {"section": "method", "section_title": "method", "text": "t", "errors": []}
    for stage in ("review", "review.meta", "judge", "ideate", "write", "experiment"):
        gateway.structured("write_fix", variables, schema, stage=stage)
    sent = [request["model"] for request in stub.requests]
    assert sent == ["review-model", "review-model", "judge-model", "ideas-model", "agent-model", "agent-model"]
    records = [(r.payload["stage"], r.payload["role"], r.payload["model"]) for r in audit.find(kind="llm_call")]
    assert records[0] == ("review", "review", "openai/review-model")
    assert records[2] == ("judge", "judge", "openai/judge-model")
    assert records[4] == ("write", "writeup", "openai/agent-model")


# -- priced budgets ---------------------------------------------------------------------------------------------------
def test_usd_cap_on_an_unpriced_model_is_refused_before_any_call(tmp_path: Path) -> None:
    settings = Settings(model="openai/unpriced-model", budget_usd=1.0, llm_cache_dir=tmp_path)
    with pytest.raises(PricingUnknownError, match="input_usd_per_mtok") as caught:
        check_pricing(settings, explicit_cap=True)
    assert "--budget-tokens" in str(caught.value)
    assert check_pricing(settings, explicit_cap=False) == ["openai/unpriced-model"]  # default cap: a warning
    priced = settings.model_copy(update={"models": {"openai/unpriced-model": ModelOverride(
        input_usd_per_mtok=1.0, output_usd_per_mtok=2.0)}})
    assert check_pricing(priced, explicit_cap=True) == []
    assert check_pricing(Settings(model="openai/gpt-4o-mini", llm_cache_dir=tmp_path), explicit_cap=True) == []


def test_cli_refuses_the_unpriced_cap_with_exit_2_and_no_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub: OpenAIStub, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    code, output = run_main([
        "run", "reward hacking", "--model", "openai/unpriced-model", "--api-base", stub.base_url,
        "--budget-usd", "2", "--sandbox", "unsafe-subprocess", "--runs-dir", str(tmp_path / "runs"),
    ], capsys, monkeypatch)
    assert code == 2, output
    assert "cannot be enforced" in " ".join(output.split()) and "Traceback" not in output
    assert stub.requests == [] and not (tmp_path / "runs").exists()


def test_priced_budget_stops_cleanly_and_resumes(tmp_path: Path, stub: OpenAIStub) -> None:
    """$100/M prompt and $250/M completion tokens: each stub call (50 + 20 tokens) costs exactly $0.01."""
    stub.replies = [ScriptedReply(content="ok", prompt_tokens=50, completion_tokens=20)] * 20
    prices = {"openai/priced-model": ModelOverride(input_usd_per_mtok=100.0, output_usd_per_mtok=250.0)}

    def gateway(cap: float) -> LLMGateway:
        settings = Settings(model="openai/priced-model", models=prices, api_base=stub.base_url, api_key=KEY,
                            llm_cache_dir=tmp_path / "s", budget_usd=cap, transient_retries=0, max_tokens=20)
        return LLMGateway(settings, AuditLog(tmp_path / "run"))

    prompt = render("write_fix", {"section": "method", "section_title": "method", "text": "t", "errors": []})
    first = gateway(0.05)
    calls = 0
    with pytest.raises(BudgetExceededError, match="USD budget reached"):
        for index in range(20):
            first.complete(prompt, sample_index=index)
            calls += 1
    assert 1 <= calls < 5 and first.spend.usd == pytest.approx(0.01 * calls)
    costs = [r.payload["cost_usd"] for r in AuditLog(tmp_path / "run").find(kind="llm_call")]
    assert costs == [pytest.approx(0.01)] * calls
    resumed = gateway(1.0)  # a resumed run re-reads its spend from the audit log and goes on under the new cap
    assert resumed.spend.usd == pytest.approx(0.01 * calls)
    resumed.complete(prompt, sample_index=99)
    assert resumed.spend.calls == calls + 1


# -- dry run ----------------------------------------------------------------------------------------------------------
def test_dry_run_plans_every_stage_and_calls_nothing(
    tmp_path: Path, stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from rich.console import Console

    monkeypatch.setattr("scientist.cli.console", Console(width=400))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    config = tmp_path / "scientist.toml"
    config.write_text('[models."openai/priced-model"]\ninput_usd_per_mtok = 1.0\noutput_usd_per_mtok = 2.0\n'
                      'context_window = 131072\nmax_output_tokens = 16384\n')
    monkeypatch.setenv("SCIENTIST_CONFIG", str(config))
    runs = tmp_path / "runs"
    code, output = run_main_ok([
        "run", "reward hacking", "--dry-run", "--model", "openai/priced-model", "--api-base", stub.base_url,
        "--budget-usd", "3", "--role-model", "review=local/smollm2-135m", "--runs-dir", str(runs),
    ], capsys, monkeypatch)
    assert code == 0 and stub.requests == [] and not runs.exists()
    lines = {line.split("│")[1].strip(): line for line in output.splitlines() if line.count("│") > 5}
    assert {"ideation", "novelty", "experiment", "writeup", "review", "total"} <= set(lines)
    assert "local/smollm2-135m" in lines["review"] and "$0.0000" in lines["review"]  # the embedded model is free
    assert "openai/priced-model" in lines["writeup"] and "$0.0000" not in lines["writeup"]
    assert "no model was called" in output


def test_dry_run_writeup_estimate_follows_the_profile(tmp_path: Path) -> None:
    from scientist.commands.dryrun import plan
    from scientist.llm.gateway import resolve_profile

    small = Settings(llm_cache_dir=tmp_path)
    big = Settings(model="openai/gpt-4o-mini", llm_cache_dir=tmp_path)
    small_plan = {stage.stage: stage for stage in plan(small, lambda m: resolve_profile(m, small))}
    big_plan = {stage.stage: stage for stage in plan(big, lambda m: resolve_profile(m, big))}
    assert small_plan["writeup"].calls == big_plan["writeup"].calls == 7 * 2 + 7 * 2
    assert small_plan["writeup"].completion_tokens == 28 * 650 and small_plan["writeup"].usd == 0.0
    assert big_plan["writeup"].completion_tokens > 4 * small_plan["writeup"].completion_tokens
    assert big_plan["writeup"].usd is not None and big_plan["writeup"].usd > 0


def test_dry_run_follows_the_users_max_tokens_where_the_gateway_does(tmp_path: Path) -> None:
    from scientist.commands.dryrun import plan
    from scientist.llm.gateway import resolve_profile

    settings = Settings(llm_cache_dir=tmp_path, max_tokens=123)
    stages = {stage.stage: stage for stage in plan(settings, lambda m: resolve_profile(m, settings))}
    own = {"experiment", "writeup", "review"}  # stages with their own profile-derived cap keep it, as the gateway
    assert all(stage.completion_tokens == 123 * stage.calls for name, stage in stages.items() if name not in own)
    assert stages["review"].completion_tokens != 123 * stages["review"].calls


def test_resume_takes_the_current_configs_model_profiles_per_field_and_keeps_the_rest(tmp_path: Path) -> None:
    """A profile fix (how to talk to a provider) reaches a resumed run; what the current config does not name keeps
    its recorded value, and every other recorded setting stays as it was."""
    from scientist.runner import resume_settings
    from scientist.runs import CONFIG_SNAPSHOT

    recorded = Settings(model="openai/mine", temperature=0.3, models={
        "openai/mine": ModelOverride(context_window=32768, structured_output="grammar"),
        "openai/other": ModelOverride(input_usd_per_mtok=1.0, output_usd_per_mtok=2.0),
    })
    (tmp_path / CONFIG_SNAPSHOT).write_text(recorded.model_dump_json())
    resumed = resume_settings(tmp_path, models={"openai/mine": {"structured_output": "json_object"}})
    assert resumed.models["openai/mine"] == ModelOverride(context_window=32768, structured_output="json_object")
    assert resumed.models["openai/other"] == recorded.models["openai/other"] and resumed.temperature == 0.3
    assert resume_settings(tmp_path).models == recorded.models
