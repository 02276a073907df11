"""Who is calling: the authenticated person in one workspace, with their role."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

ROLE_RANK = {"agent": 1, "admin": 2, "owner": 3}


@dataclass(frozen=True)
class Principal:
    user_id: uuid.UUID
    workspace_id: uuid.UUID
    membership_id: uuid.UUID
    role: str
    name: str
    email: str
    via: str  # "session" | "token"
    session_hash: str | None = None
    token_id: uuid.UUID | None = None
    csrf_token: str | None = None
    # What an API token may do (auth/scopes.py); sessions are not scoped and keep ("*",).
    scopes: tuple[str, ...] = ("*",)

    def has_role(self, minimum: str) -> bool:
        return ROLE_RANK.get(self.role, 0) >= ROLE_RANK[minimum]
