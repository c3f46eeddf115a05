"""The ASGI app behind `scientist serve`: runs, pending approvals (ideas, diffs, results), decisions, progress.

Everything shown comes from the run folders (run.json, audit log, approvals store), so the page needs no state of
its own and can be restarted at will. Approving from the page starts `scientist resume RUN` as a detached process:
the run goes on without the page.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Collection
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

from scientist.approvals.errors import ApprovalError
from scientist.approvals.store import Decision, all_approvals, find_approval
from scientist.display import clean
from scientist.errors import ScientistError
from scientist.runs import RUN_FILE, list_runs
from scientist.web.files import SAFE_HEADERS, file_response, link_for
from scientist.web.runread import is_regular_file, read_page, safe_relative
from scientist.web.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    LIVE_CSP,
    NO_SCRIPT_CSP,
    TOKEN_COOKIE,
    csrf_field,
    csrf_ok,
    csrf_token,
    host_ok,
    token_ok,
)

RUN_PAGE_HEADERS = {"Content-Security-Policy": NO_SCRIPT_CSP, "X-Content-Type-Options": "nosniff"}
# The run page runs one script, the live view, served by this app (`script-src 'self'`, nothing inline).
LIVE_PAGE_HEADERS = {"Content-Security-Policy": LIVE_CSP, "X-Content-Type-Options": "nosniff"}
_LIVE_JS = (resources.files("scientist.web") / "templates" / "live.js").read_text(encoding="utf-8")
_templates = Environment(loader=PackageLoader("scientist.web", "templates"), autoescape=select_autoescape(default=True))


def current_stage(run_dir: Path) -> str:
    """The node the run is in (or last ran), from the tail of its audit log (read bounded: a FIFO or a huge log in
    a run folder cannot stall the page)."""
    from scientist.web.events import live_status

    stage = live_status(run_dir.resolve())["stage"]
    return stage if isinstance(stage, str) else ""


def _run_rows(runs_dir: Path) -> list[dict[str, Any]]:
    rows = []
    for info in sorted(list_runs(runs_dir), key=lambda i: i.created, reverse=True):
        rows.append({**info.model_dump(), "stage": current_stage(runs_dir / info.id)})
    return rows


def _resume_detached(runs_dir: Path, run_id: str) -> None:
    log = (runs_dir / run_id / "serve-resume.log").open("ab")
    subprocess.Popen(
        [sys.executable, "-m", "scientist.cli", "resume", run_id, "--runs-dir", str(runs_dir)],
        stdout=log,
        stderr=log,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )


def _run_folder(runs_dir: Path, run_id: str) -> Path | None:
    """The folder of run `run_id` (a plain name directly in the runs folder holding a run.json), else None."""
    if safe_relative(run_id) != run_id or "/" in run_id:
        return None
    candidates = [runs_dir / run_id, *sorted(runs_dir.glob(f"studies/*/*/sample-*/{run_id}"))]  # a study's runs
    for candidate in candidates:
        folder = candidate.resolve()
        if folder.is_dir() and is_regular_file(folder, RUN_FILE):
            return folder
    return None


def _int_param(request: Request, name: str) -> int:
    try:
        return max(0, int(request.query_params.get(name, "0")))
    except ValueError:
        return 0


def run_page_context(runs_dir: Path, run_id: str, kind: str, stage: str, page: int) -> dict[str, Any] | None:
    """Everything the run page shows (None when there is no such run): its sections and one timeline page."""
    from scientist.web import runview
    from scientist.web.events import TIMELINE_PAGE, blob_preview, filtered, live_status, load_events

    run_dir = _run_folder(runs_dir, run_id)
    if run_dir is None:
        return None
    audit = load_events(run_dir)
    info = runview.load_info(run_dir)
    shown = filtered(audit.events, kind, stage)
    pages = max(1, -(-len(shown) // TIMELINE_PAGE))
    page = min(page, pages - 1)
    window = shown[page * TIMELINE_PAGE : (page + 1) * TIMELINE_PAGE]
    previews = {sha: blob_preview(run_dir, sha) for event in window for _, sha in event.blobs}
    paper = runview.paper(run_dir)
    experiments = runview.experiments(run_dir, audit.events)
    return {
        "run_id": run_id,
        "live": live_status(run_dir),
        "summary": runview.summary(run_dir, info, audit),
        "ideas": runview.ideas(run_dir, audit.events),
        "experiments": experiments,
        "paper": paper,
        "paper_links": {}
        if paper is None or "damaged" in paper
        else {key: link_for(runs_dir, run_dir / paper[key]) for key in ("pdf", "figure") if paper[key]},
        "plot_links": {path: link_for(runs_dir, run_dir / path) for path in experiments["plots"]},
        "reviews": runview.reviews(run_dir),
        "approvals": runview.approvals(run_dir),
        "audit": audit,
        "timeline": window,
        "previews": previews,
        "kinds": sorted({event.kind for event in audit.events}),
        "stages": sorted({event.stage for event in audit.events if event.stage}),
        "filter": {"kind": kind, "stage": stage, "page": page, "pages": pages, "matching": len(shown)},
    }


def leaderboard_page(runs_dir: Path, db: str | None, by: str, metric: str, score: str = "judge") -> Response:
    """The leaderboard (scientist.leaderboard, same entries and page as `scientist leaderboard --html`: the judge's
    scores by default, `?score=self` for the runs' own), with its paper/review links served by this app from the
    runs folder only."""
    from scientist.leaderboard.board import build, scored_by
    from scientist.leaderboard.html import page_html
    from scientist.store import open_store

    try:
        store = open_store(db)
        try:
            judge_hash, note = scored_by(store, score)
            board = build(store, by=by, metric=metric, judge_hash=judge_hash).model_copy(update={"note": note})
        finally:
            store.close()
    except ScientistError as err:
        return PlainTextResponse(str(err), status_code=400)

    def href(path: Path) -> str | None:
        """A run's `run` link opens its run page; its paper and review are served as files."""
        if path.name == RUN_FILE and _run_folder(runs_dir, path.parent.name) == path.parent.resolve():
            return f"/runs/{quote(path.parent.name)}"
        return link_for(runs_dir, path)

    html = page_html(board, href, where=store.where, home="/")
    return HTMLResponse(html)


def create_app(
    runs_dir: Path,
    token: str | None = None,
    resume_after_decision: bool = True,
    db: str | None = None,
    allowed_hosts: Collection[str] | None = None,
) -> Starlette:
    """`token`: required on every request when given (`scientist serve` always gives one); `allowed_hosts`: the
    Host names answered (others get 403, against DNS rebinding; `serve` always gives them); `db`: the run store
    the leaderboard reads (default: the user's)."""
    allowed = None if allowed_hosts is None else {host.lower() for host in allowed_hosts}

    def render(request: Request, template: str, headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
        csrf = csrf_token(request)
        html = _templates.get_template(template).render(csrf=csrf_field(csrf, token), csrf_field=CSRF_FIELD, **context)
        response = HTMLResponse(html, headers=headers)
        response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict")
        return response

    async def index(request: Request) -> Response:
        pending = [(a, d) for a, d in all_approvals(runs_dir) if a.status == "pending"]
        return render(request, "index.html", runs=_run_rows(runs_dir), pending=[a for a, _ in pending])

    async def approval(request: Request) -> Response:
        try:
            found, _ = find_approval(runs_dir, request.path_params["approval_id"])
        except ApprovalError as err:
            return PlainTextResponse(str(err), status_code=404)
        return render(request, "approval.html", approval=found)

    async def status(request: Request) -> Response:
        runs = [{key: row[key] for key in ("id", "status", "status_detail", "stage")} for row in _run_rows(runs_dir)]
        pending = [a.id for a, _ in all_approvals(runs_dir) if a.status == "pending"]
        return JSONResponse({"runs": runs, "pending": pending})

    async def decide_view(request: Request) -> Response:
        from scientist.approvals.decide import STUDY_BUDGET_KIND, decide

        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        if not csrf_ok(request, form, token, allowed):
            return PlainTextResponse("cross-site or CSRF-less request refused", status_code=403)
        action = request.path_params["action"]
        if action not in ("approve", "reject"):
            return PlainTextResponse("unknown decision", status_code=404)
        decision = Decision(action="reject" if action == "reject" else "approve", reason=form.get("reason", ""))
        client = request.client.host if request.client else "unknown"
        try:
            decided, run_dir = decide(runs_dir, request.path_params["approval_id"], decision, f"web:{client}")
        except ScientistError as err:
            return PlainTextResponse(str(err), status_code=409)
        if resume_after_decision and decided.kind != STUDY_BUDGET_KIND:  # a study goes on by `study run`
            _resume_detached(runs_dir, run_dir.name)
        return RedirectResponse("/", status_code=303)

    def leaderboard(request: Request) -> Response:
        query = request.query_params
        return leaderboard_page(
            runs_dir, db, query.get("by", "model"), query.get("metric", "overall"), query.get("score", "judge")
        )

    def run_page(request: Request) -> Response:
        query = request.query_params
        context = run_page_context(
            runs_dir, request.path_params["run_id"], query.get("kind", ""), query.get("stage", ""),
            _int_param(request, "page"),
        )  # fmt: skip
        if context is None:
            return PlainTextResponse("no such run", status_code=404)
        return render(request, "run.html", headers=LIVE_PAGE_HEADERS, **context)

    def run_status(request: Request) -> Response:
        """What the run page's live view polls: status, stage and how many audit records there are."""
        from scientist.web.events import live_status
        from scientist.web.runview import load_info

        run_dir = _run_folder(runs_dir, request.path_params["run_id"])
        if run_dir is None:
            return JSONResponse({"error": "no such run"}, status_code=404)
        info = load_info(run_dir)
        status = {"status": "unknown", "status_detail": ""} if info is None else {
            "status": clean(info.status), "status_detail": clean(info.status_detail)
        }  # fmt: skip
        return JSONResponse({**status, **live_status(run_dir)})

    def live_script(request: Request) -> Response:
        return Response(_LIVE_JS, media_type="text/javascript", headers={"X-Content-Type-Options": "nosniff"})

    def run_text(request: Request) -> Response:
        """One page of a text file of the run (a log, a blob, the paper's text), never the whole file."""
        run_id = request.path_params["run_id"]
        run_dir = _run_folder(runs_dir, run_id)
        relative = safe_relative(request.path_params["path"])
        offset = _int_param(request, "offset")
        page = None if run_dir is None or relative is None else read_page(run_dir, relative, offset)
        if page is None:
            return PlainTextResponse("no such file in the run folder", status_code=404, headers=SAFE_HEADERS)
        return render(request, "text.html", headers=RUN_PAGE_HEADERS, run_id=run_id, path=relative, page=page)

    def studies(request: Request) -> Response:
        from scientist.web.studyview import studies as study_list

        try:
            names, where = study_list(db)
        except ScientistError as err:
            return PlainTextResponse(str(err), status_code=400)
        return render(request, "studies.html", names=names, where=where)

    def study(request: Request) -> Response:
        from scientist.web.studyview import study_context

        query = request.query_params
        try:
            context = study_context(
                db, request.path_params["name"], query.get("metric", "overall"), query.get("score", "judge")
            )
        except ScientistError as err:
            return PlainTextResponse(str(err), status_code=404)
        return render(request, "study.html", headers=RUN_PAGE_HEADERS, **context)

    def run_file(request: Request) -> Response:
        return file_response(runs_dir, request.path_params["path"])

    async def require_token(request: Request, call_next: Any) -> Response:
        if not host_ok(request, allowed):
            return PlainTextResponse("unknown Host: open the URL `scientist serve` printed", 403)
        if token is not None and not token_ok(request, token):
            return PlainTextResponse("a token is required: open the URL `scientist serve` printed", 401)
        response: Response = await call_next(request)
        if token is not None and request.query_params.get("token"):  # the URL `serve` printed: remember it
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
        return response

    return Starlette(
        middleware=[Middleware(BaseHTTPMiddleware, dispatch=require_token)],
        routes=[
            Route("/", index),
            Route("/approvals/{approval_id}", approval),
            Route("/api/status", status),
            Route("/leaderboard", leaderboard),
            Route("/runs/{run_id}", run_page),
            Route("/api/runs/{run_id}", run_status),
            Route("/static/live.js", live_script),
            Route("/studies", studies),
            Route("/studies/{name}", study),
            Route("/runs/{run_id}/text/{path:path}", run_text),
            Route("/files/{path:path}", run_file),
            Route("/approvals/{approval_id}/{action:str}", decide_view, methods=["POST"]),
        ],
    )
