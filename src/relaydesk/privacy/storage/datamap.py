"""The vocabulary of the map of personal data: a data class names the tables and columns it covers and
declares how it is exported, erased and retained, and which retention class it belongs to.

Each module of the storage package declares its own data classes next to the code that reads and writes
them; `catalogue.py` gathers them, and tests/privacy/test_data_map.py fails when a table or column that
can hold personal data is declared nowhere (the same guard as the row-level-security sweep).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum


class Retention(StrEnum):
    """How long a class of data lives. The policy of each is in docs/privacy.md ("Retention classes")."""

    CONVERSATION = "conversation"  # a contact and their conversations: until erased (policy 6–36 months)
    RAW_INBOUND = "raw_inbound"  # raw provider requests: `inbound_body_retention_days` after processing
    EVENTS = "events"  # realtime/webhook event rows (ids only)
    JOBS = "jobs"  # background job rows and their payloads
    LOGS = "logs"  # audit log and sign-in traces: `audit_retention_days`, at most a year by default
    ACCOUNT = "account"  # agents' accounts and what authenticates them: while the account exists
    CONFIGURATION = "configuration"  # a workspace's settings and secrets: while the thing configured exists
    KEYS = "keys"  # key material: as long as what it seals; a contact key is tombstoned at erasure
    EXPORT = "export"  # data-subject export archives: until downloaded once or expired


@dataclass(frozen=True)
class DataClass:
    """One class of personal (or secret) data and the promises made about it.

    `tables` maps each table to the columns of it that hold the data (sealed or not); `subject` says how a
    row is tied to the person it is about, which is how export and erasure find it."""

    name: str
    about: str
    tables: Mapping[str, tuple[str, ...]]
    subject: str
    export: str
    erase: str
    retention: Retention
    enforced: str

    def columns(self) -> set[tuple[str, str]]:
        return {(table, column) for table, columns in self.tables.items() for column in columns}
