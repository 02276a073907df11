"""Statements whose spelling differs between SQLite and PostgreSQL."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite


def insert_ignoring_conflicts(table: sa.Table, dialect: str) -> sa.Insert:
    """`INSERT … ON CONFLICT DO NOTHING`: both databases support it, with `RETURNING` telling which rows
    went in. Used where a unique index, not a prior SELECT, decides whether a row is new."""
    module = postgresql if dialect == "postgresql" else sqlite
    return module.insert(table).on_conflict_do_nothing()  # type: ignore[no-any-return]
