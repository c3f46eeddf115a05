"""Alembic migrations of the run store, run programmatically by `scientist.store.engine.open_store`."""
