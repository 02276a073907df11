"""Row-level security as a second line of defence on PostgreSQL (docs/privacy.md, checklist item 35).

Application code already filters every tenant query on `workspace_id` (db/scoping.py). When work is known
to act for one workspace — an API request, a server-rendered page, the realtime socket — every transaction
it opens additionally switches to the restricted role `relaydesk_app` and sets `relaydesk.workspace_id`
(and `relaydesk.user_id`, the person acting) for that transaction only (`set_config(..., true)`, the same
as `SET LOCAL`). The policies created by `db/schema.py` then hide other workspaces' rows in **every**
tenant table even from a query that forgot its filter, and refuse writes into another workspace.

Which tables: every table of the metadata with a `workspace_id` column (`tenant_tables`), so a new table
is covered without anyone remembering; the global tables have no `workspace_id` and are listed in
`GLOBAL_TABLES` with the reason each is global. `POLICIES` names the few tenant tables whose rule is
wider than "same workspace", with the reason.

Work with no workspace in context — the job dispatcher, the inbound webhook door (which finds its
workspace from the inbox), CLI and admin tasks, and a person's account pages (password, 2FA, switching
workspace), which act for the person across all their workspaces — keeps the connecting role, which owns
the tables and so bypasses the policies (RLS is ENABLEd, not FORCEd). That is the bypass for system work:
it never has to remember to turn anything off. SQLite has no row-level security; there the filters are
the only line.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session

APP_ROLE = "relaydesk_app"
SETTING = "relaydesk.workspace_id"
USER_SETTING = "relaydesk.user_id"
POLICY = "workspace_isolation"

# Tables that belong to no single workspace (no `workspace_id` column), each with its reason. The schema
# guard (tests/tenancy/test_schema_guard.py) fails on a table that is neither scoped nor listed here.
GLOBAL_TABLES: dict[str, str] = {
    "workspaces": "the tenants themselves; a request reads only its own by id, and bumps its counters",
    "users": "a person can belong to several workspaces (memberships carry workspace_id)",
    "recovery_codes": "2FA recovery codes belong to a user, who is global; only account pages touch them",
    "alembic_version": "migration bookkeeping",
    "master_key_check": "one row proving which master key the whole database is keyed with; read at start",
}

_SAME_WORKSPACE = f"workspace_id = NULLIF(current_setting('{SETTING}', true), '')::uuid"
_SAME_USER = f"user_id = NULLIF(current_setting('{USER_SETTING}', true), '')::uuid"
# Workspaces the acting person is an active member of. A SECURITY DEFINER function (db/schema.py) reads
# memberships as the owner: a policy on memberships cannot query memberships itself (infinite recursion).
MEMBER_WORKSPACES_FN = "relaydesk_member_workspaces"
_MY_WORKSPACES = f"workspace_id IN (SELECT {MEMBER_WORKSPACES_FN}())"

# Tenant tables whose policy is wider than "same workspace" (USING, WITH CHECK), with the reason.
# Every other table with a workspace_id gets (_SAME_WORKSPACE, _SAME_WORKSPACE). A row with a NULL
# workspace_id (platform jobs) never matches, so only system work (the owner role) reaches it.
POLICIES: dict[str, tuple[str, str, str]] = {
    "memberships": (
        f"({_SAME_WORKSPACE}) OR ({_SAME_USER}) OR ({_MY_WORKSPACES})",
        _SAME_WORKSPACE,
        "a person sees their own memberships (GET /me, the workspace switcher) and those of the workspaces "
        "they are an active member of (adding a colleague from another workspace, POST /members), which "
        "they could read by switching workspace anyway; writes stay inside the current workspace",
    ),
    "user_sessions": (
        f"({_SAME_WORKSPACE}) OR ({_SAME_USER})",
        f"({_SAME_WORKSPACE}) OR ({_SAME_USER})",
        "a session belongs to a person and names the workspace they have selected: the person reaches "
        "all their sessions (logout everywhere), an admin the sessions open on their workspace "
        "(deactivation ends them)",
    ),
}


def tenant_tables(metadata: sa.MetaData) -> list[str]:
    """Every table holding one workspace's rows: the tables that get a row-level security policy."""
    return sorted(t.name for t in metadata.sorted_tables if "workspace_id" in t.c)


def policy_for(table: str) -> tuple[str, str]:
    """(USING, WITH CHECK) expressions of `table`'s policy."""
    using, check, _reason = POLICIES.get(table, (_SAME_WORKSPACE, _SAME_WORKSPACE, ""))
    return using, check


@dataclass(frozen=True)
class TenantScope:
    workspace_id: uuid.UUID
    user_id: uuid.UUID | None = None


current_scope: ContextVar[TenantScope | None] = ContextVar("relaydesk_tenant", default=None)


def current_workspace() -> uuid.UUID | None:
    scope = current_scope.get()
    return scope.workspace_id if scope else None


@contextmanager
def tenant(workspace_id: uuid.UUID, user_id: uuid.UUID | None = None) -> Iterator[None]:
    """Run the enclosed database work under the policies of one workspace (acting for `user_id`)."""
    token = current_scope.set(TenantScope(workspace_id, user_id))
    try:
        yield
    finally:
        current_scope.reset(token)


@contextmanager
def outside_tenant() -> Iterator[None]:
    """Run the enclosed work as system work (owner role, no policies): only for work that must span
    workspaces by design, such as resolving which workspaces a signed-in person belongs to."""
    token = current_scope.set(None)
    try:
        yield
    finally:
        current_scope.reset(token)


def enter(workspace_id: uuid.UUID, user_id: uuid.UUID | None = None) -> None:
    """Put the rest of the current request under one workspace's policies.

    For code that learns its workspace part-way through a request (web pages resolve their own session).
    Only valid inside `server.tenancy.TenantBoundaryMiddleware`, which restores the previous value when
    the request ends, so nothing leaks into the next request served by the same task."""
    current_scope.set(TenantScope(workspace_id, user_id))


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, transaction: Any, connection: sa.Connection) -> None:
    scope = current_scope.get()
    if scope is None or connection.dialect.name != "postgresql":
        return
    # One round trip; the settings end with the transaction, so a pooled connection carries nothing over.
    connection.execute(
        sa.text(
            "SELECT set_config('role', :role, true), set_config(:setting, :ws, true), "
            "set_config(:user_setting, :user, true)"
        ),
        {
            "role": APP_ROLE,
            "setting": SETTING,
            "ws": str(scope.workspace_id),
            "user_setting": USER_SETTING,
            "user": str(scope.user_id) if scope.user_id else "",
        },
    )
