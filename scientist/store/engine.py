"""Where the store lives and how it is opened: URL resolution, engine, migrations on open.

Default: one SQLite file per user (`$XDG_DATA_HOME/scientist/store.sqlite`), so every run on this machine lands in
one leaderboard. `--db postgresql://user:pass@host/db` (or `SCIENTIST_DB`) points a team at a shared PostgreSQL
server; the `postgresql://` scheme is mapped to psycopg 3. Opening a store upgrades its schema to the newest
revision (alembic, shipped in `migrations/`), so an older store never needs a manual step.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from scientist.errors import ScientistError

DB_ENV = "SCIENTIST_DB"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
SCHEMES = ("sqlite", "postgresql")


class StoreError(ScientistError):
    """The run store cannot be opened, reached or written."""


def default_db_path() -> Path:
    data_home = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return data_home / "scientist" / "store.sqlite"


def resolve_url(db: str | None = None) -> URL:
    """`--db` > `SCIENTIST_DB` > the per-user SQLite file. A bare path means a SQLite file."""
    raw = db or os.environ.get(DB_ENV) or str(default_db_path())
    if "://" not in raw:
        path = Path(raw).expanduser().resolve()
        return URL.create("sqlite", database=str(path))
    try:
        url = make_url(raw)
    except ArgumentError as err:
        raise StoreError(f"cannot parse the database URL {raw!r}", hint=_URL_HINT) from err
    backend = url.get_backend_name()
    if backend not in SCHEMES:
        raise StoreError(f"unsupported database {backend!r} in {safe_url(url)}", hint=_URL_HINT)
    if backend == "postgresql":
        if importlib.util.find_spec("psycopg") is None:  # an optional extra: SQLite needs no driver
            raise StoreError("PostgreSQL needs the psycopg driver, which is not installed",
                             hint="pip install 'scientist[postgres]'")
        url = url.set(drivername="postgresql+psycopg")
    return url


_URL_HINT = "use sqlite:///path/store.sqlite, a file path, or postgresql://user:password@host:5432/dbname"


def safe_url(url: URL) -> str:
    """The URL without its password, for messages."""
    return url.render_as_string(hide_password=True)


PASSWORD_ENV = "SCIENTIST_STORE_PASSWORD"


def shareable_url(url: URL) -> str:
    """The URL another process or machine opens the store by, without its password.

    Executors ship it in task arguments, which Ray keeps and shows (`ray list tasks`, the dashboard, logs); the
    password reaches a worker through its own environment instead (`with_local_password`)."""
    return _without_password(url).render_as_string(hide_password=False)


def _without_password(url: URL) -> URL:
    # URL.set(password=None) means "unchanged", so the URL is built again without it.
    return URL.create(url.drivername, url.username, None, url.host, url.port, url.database, url.query)


def export_password(url: URL) -> None:
    """Put the store's password where `with_local_password` finds it, for workers this process starts (a local
    Ray instance inherits the environment it was started with); cluster nodes need it set on them (docs/ray.md)."""
    if url.password is not None:
        os.environ.setdefault(PASSWORD_ENV, str(url.password))


def with_local_password(db: str) -> str:
    """A password-less URL completed on this machine: SCIENTIST_DB's password when it names the same database,
    else SCIENTIST_STORE_PASSWORD; with neither, libpq's own PGPASSWORD and ~/.pgpass still apply."""
    url = resolve_url(db)
    if url.password is not None or url.get_backend_name() != "postgresql":
        return db
    configured = os.environ.get(DB_ENV, "")
    if "://" in configured:
        with contextlib.suppress(StoreError):
            known = resolve_url(configured)
            if known.password is not None and _without_password(known) == url:
                return known.render_as_string(hide_password=False)
    password = os.environ.get(PASSWORD_ENV)
    return url.set(password=password).render_as_string(hide_password=False) if password else db


def make_engine(url: URL) -> Engine:
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        # Several runs may finish at once: wait for the write lock instead of failing.
        engine = create_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine, "connect")
        def _foreign_keys(dbapi_connection, _record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return create_engine(url, connect_args={"connect_timeout": 5}, pool_pre_ping=True)


def migrate(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to `revision` (idempotent; a no-op when already there)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migration_lock(engine), engine.begin() as connection:
        if connection.dialect.name == "postgresql":  # held to the end of this transaction
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


# Several processes open one store at once (a study's cells on Ray, two runs started together): the first migrates,
# the others wait and then find the schema current. Without the lock both saw an empty database and the second
# failed with "table runs already exists".
_MIGRATION_LOCK_KEY = 0x5C1E_7157  # any fixed bigint: one advisory lock for this project's schema


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """A lock file beside a SQLite database (its DDL does not take the database lock until it writes)."""
    database = engine.url.database if engine.url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    from filelock import FileLock  # (locked already; a dependency of torch and the embedding stack)

    with FileLock(f"{database}.migrate.lock", timeout=120):
        yield


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


class Store:
    """An open store: an engine whose schema is current, and sessions on it."""

    def __init__(self, engine: Engine, url: URL) -> None:
        self.engine = engine
        self.url = url
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @property
    def where(self) -> str:
        return safe_url(self.url)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def close(self) -> None:
        self.engine.dispose()


def existing_store(db: str | None = None) -> Store | None:
    """The store when there is one to read; None for a SQLite file that does not exist yet (a read must not
    create it). A server that does not answer is open_store's clear error."""
    url = resolve_url(db)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        return None
    return open_store(db)


def open_store(db: str | None = None, *, upgrade: bool = True) -> Store:
    """Connect, check the server answers, and migrate; unreachable or broken databases are one clear error."""
    url = resolve_url(db)
    engine = make_engine(url)
    try:
        with engine.connect():
            pass
        if upgrade:
            migrate(engine)
    except (OperationalError, DBAPIError) as err:
        engine.dispose()
        reason = str(getattr(err, "orig", err)).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise StoreError(
            f"cannot open the run store at {safe_url(url)}: {reason}",
            hint="check that the server runs and the URL, user and password are right, or omit --db for the"
            " local SQLite store",
        ) from err
    return Store(engine, url)
