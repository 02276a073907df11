"""Row-level security as a second line of defence on PostgreSQL (docs/privacy.md, checklist item 35).

Application code already filters every tenant query on `workspace_id` (db/scoping.py). When a request
is known to act for one workspace, every transaction it opens additionally switches to the restricted role
`relaydesk_app` and sets `relaydesk.workspace_id` for that transaction only (`set_config(..., true)`, the
same as `SET LOCAL`). The policies in `db/schema.py` then hide other workspaces' rows in the most
sensitive tables even from a query that forgot its filter, and refuse writes into another workspace.

Work with no workspace in context — the job dispatcher, the inbound webhook door (which finds its
workspace from the inbox), CLI and admin tasks — keeps the connecting role, which owns the tables and so
bypasses the policies (RLS is ENABLEd, not FORCEd). That is the bypass for system work: it never has to
remember to turn anything off. SQLite has no row-level security; there the filters are the only line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

APP_ROLE = "relaydesk_app"
SETTING = "relaydesk.workspace_id"

# Tables with a row-level security policy. Every one holds personal data or keys; the schema test checks
# each has its policy. Others still rely on the application's filters (see docs/encryption.md §8).
RLS_TABLES = (
    "contacts",
    "contact_identities",
    "contact_keys",
    "conversations",
    "messages",
    "attachments",
    "search_tokens",
    "inbound_events",
    "audit_events",
)

current_workspace: ContextVar[uuid.UUID | None] = ContextVar("relaydesk_tenant", default=None)


@contextmanager
def tenant(workspace_id: uuid.UUID) -> Iterator[None]:
    """Run the enclosed database work under the policies of one workspace."""
    token = current_workspace.set(workspace_id)
    try:
        yield
    finally:
        current_workspace.reset(token)


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, transaction: Any, connection: sa.Connection) -> None:
    workspace_id = current_workspace.get()
    if workspace_id is None or connection.dialect.name != "postgresql":
        return
    # One round trip; both settings end with the transaction, so a pooled connection carries nothing over.
    connection.execute(
        sa.text("SELECT set_config('role', :role, true), set_config(:setting, :ws, true)"),
        {"role": APP_ROLE, "setting": SETTING, "ws": str(workspace_id)},
    )
