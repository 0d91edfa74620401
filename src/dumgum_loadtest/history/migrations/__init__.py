"""Alembic migrations of the history database, applied by ``open_history`` (no alembic.ini)."""
