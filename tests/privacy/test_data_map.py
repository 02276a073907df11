"""The map of personal data is complete: every table and every column that can hold personal data is
declared in a data class of `relaydesk.privacy.storage` (with how it is exported, erased and retained) or
declared as holding none, with the reason. Walks the SQLAlchemy metadata like the row-level-security
sweep (tests/tenancy), so a table or column added tomorrow fails here until someone classifies it.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

import relaydesk.models  # noqa: F401  (registers every table)
from relaydesk.db.base import Base
from relaydesk.privacy import storage
from relaydesk.privacy.storage import catalogue
from relaydesk.privacy.storage.datamap import Retention

SRC = Path(storage.__file__).resolve().parents[3]
DOCS = SRC.parent / "docs" / "privacy.md"
# Tables that hold a person (or point at one): a row of any table referencing them is about that person.
SUBJECT_TABLES = {"contacts", "conversations", "messages", "attachments", "users"}


def _can_hold_text(column: sa.Column) -> bool:  # type: ignore[type-arg]
    """Strings, texts, bytes and JSON can carry personal data; ids, numbers, flags and times cannot."""
    col_type = column.type
    if isinstance(col_type, sa.TypeDecorator):
        col_type = col_type.impl_instance
    return isinstance(col_type, sa.String | sa.LargeBinary | sa.JSON)


def _tables() -> dict[str, sa.Table]:
    return {t.name: t for t in Base.metadata.sorted_tables}


def test_every_text_capable_column_is_declared_personal_or_not():
    declared = catalogue.declared_columns()
    undeclared = []
    for name, table in _tables().items():
        plain = set(catalogue.NOT_PERSONAL.get(name, ((), ""))[0])
        for column in table.c:
            if _can_hold_text(column) and (name, column.name) not in declared and column.name not in plain:
                undeclared.append(f"{name}.{column.name}")
    assert undeclared == [], (
        "columns that can hold personal data but are in no data class of relaydesk.privacy.storage and not "
        f"in catalogue.NOT_PERSONAL: {undeclared}"
    )


def test_every_table_is_on_the_map():
    tables = set(_tables())
    on_map = catalogue.declared_tables() | set(catalogue.NOT_PERSONAL)
    assert sorted(tables - on_map) == [], "tables neither in a data class nor in catalogue.NOT_PERSONAL"


def test_a_table_pointing_at_a_person_belongs_to_a_data_class():
    """Rows referencing a contact, conversation, message, attachment or agent are about that person:
    export and erasure must know them, so the table is in a data class, not just declared harmless."""
    in_classes = catalogue.declared_tables()
    offenders = sorted(
        name
        for name, table in _tables().items()
        if name not in SUBJECT_TABLES
        and {fk.column.table.name for fk in table.foreign_keys} & SUBJECT_TABLES
        and name not in in_classes
    )
    assert offenders == []


def test_declarations_name_real_columns_and_do_not_contradict():
    tables = _tables()
    stale = [
        f"{table}.{column}"
        for table, column in catalogue.declared_columns()
        if table not in tables or column not in tables[table].c
    ]
    stale += [
        f"{table}.{column}"
        for table, (columns, _reason) in catalogue.NOT_PERSONAL.items()
        for column in columns
        if table not in tables or column not in tables[table].c
    ]
    both = sorted(
        f"{table}.{column}"
        for table, (columns, _reason) in catalogue.NOT_PERSONAL.items()
        for column in columns
        if (table, column) in catalogue.declared_columns()
    )
    assert stale == [], "declared columns that no longer exist"
    assert both == [], "columns declared both personal and not personal"
    assert all(reason for _columns, reason in catalogue.NOT_PERSONAL.values())


def test_every_data_class_says_how_it_is_exported_erased_and_retained():
    names = [dc.name for dc in storage.DATA_MAP]
    assert len(names) == len(set(names))
    for dc in storage.DATA_MAP:
        assert dc.about and dc.subject and dc.export and dc.erase and dc.enforced, dc.name
        assert isinstance(dc.retention, Retention)
    # The stores the privacy checklist names are all on the map.
    for table in ("search_tokens", "ai_decisions", "events", "jobs", "inbound_events", "contact_keys"):
        assert table in catalogue.declared_tables(), table
    assert "knowledge_chunks" in catalogue.NOT_PERSONAL  # the only embeddings: help articles


def test_every_sealed_column_is_on_the_map():
    declared = catalogue.declared_columns()
    for model, columns in storage.SEALED_COLUMNS.items():
        for column in columns:
            assert (model.__tablename__, column) in declared


_FILE_WRITE = re.compile(
    r"\.write_(text|bytes)\(|\bopen\([^)]*['\"][wax]b?\+?['\"]|mkstemp|NamedTemporaryFile|TemporaryDirectory"
    r"|\.mkdir\(|shutil\.(copy|move)|\bos\.(open|fdopen)\("
)


def test_nothing_is_written_outside_the_database_unless_declared():
    """Exports, caches or dumps on disk would be a store erasure cannot see: every module that writes a
    file is listed in catalogue.OUTSIDE_DATABASE with what it writes."""
    writers = set()
    for path in (SRC / "relaydesk").rglob("*.py"):
        rel = path.relative_to(SRC / "relaydesk")
        if "tests" in rel.parts:
            continue
        code = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        if _FILE_WRITE.search(code):
            writers.add(rel.as_posix())
    assert sorted(writers - set(catalogue.OUTSIDE_DATABASE)) == []
    assert sorted(set(catalogue.OUTSIDE_DATABASE) - writers) == [], "listed modules no longer write files"


def test_docs_carry_the_generated_map():
    assert catalogue.with_docs_table(DOCS.read_text()) == DOCS.read_text(), (
        "docs/privacy.md's map of personal data is stale: run python -m relaydesk.privacy.storage"
    )
