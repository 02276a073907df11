"""Agents (users of Relaydesk) and what authenticates them: their own personal data, distinct from the
contacts they serve. Written by auth/ and actions/members.py."""

from __future__ import annotations

from relaydesk.privacy.storage.datamap import DataClass, Retention

DATA_CLASSES = (
    DataClass(
        name="agent accounts",
        about="an agent's e-mail, name, password hash, memberships, teams, invitations, API tokens, "
        "recovery codes",
        tables={
            "users": ("email", "name", "password_hash"),
            "memberships": (),
            "team_members": (),
            "invitations": ("email", "token_hash"),
            "api_tokens": ("name", "token_hash", "prefix"),
            "recovery_codes": ("code_hash",),
        },
        subject="users.id",
        export="not part of a contact export",
        erase="deactivation ends sessions and tokens and keeps the name on old messages; deleting an "
        "agent is not built yet",
        retention=Retention.ACCOUNT,
        enforced="while the account exists",
    ),
    DataClass(
        name="agent sessions",
        about="signed-in browser sessions: IP address, user agent, CSRF token",
        tables={"user_sessions": ("id_hash", "csrf_token", "ip", "user_agent")},
        subject="user_sessions.user_id",
        export="not part of a contact export",
        erase="deleted at sign-out; a deactivated member's sessions stop working at once",
        retention=Retention.ACCOUNT,
        enforced="deleted at sign-out; expired rows are not swept yet",
    ),
)
