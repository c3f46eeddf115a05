"""The run store: runs, candidates, reviews, scores, experiments and monitor flags in SQL (SQLite or PostgreSQL).

`open_store(db)` connects and migrates; `import_runs(store, runs_dir)` (idempotent) fills it from run folders;
`sync_run(run_dir)` is the runner's never-failing hook; `scientist.store.queries` reads it back.
Heavy imports (sqlalchemy, alembic) happen when this package is imported, so import it lazily from commands.
"""

from __future__ import annotations

from scientist.store.engine import Store, StoreError, open_store, resolve_url
from scientist.store.importer import ImportReport, import_run, import_runs, sync_run

__all__ = ["ImportReport", "Store", "StoreError", "import_run", "import_runs", "open_store", "resolve_url", "sync_run"]
