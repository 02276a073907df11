"""The business-hours section of an inbox's admin form: form fields <-> the `business_hours` setting.

The values are checked by actions/business_hours.py (the one validator the API uses too); this module only
spells the form's fields (one text field per weekday, `09:00-12:00, 13:00-17:00`) as that setting and back.
"""

from __future__ import annotations

import zoneinfo
from functools import cache
from typing import Any

from relaydesk.actions import business_hours
from relaydesk.actions import inboxes as inbox_actions
from relaydesk.errors import InvalidInput


@cache
def timezones() -> list[str]:
    """Every IANA zone name, for the form's suggestion list."""
    return sorted(z for z in zoneinfo.available_timezones() if "/" in z or z == "UTC")


def form_values(settings: dict[str, Any]) -> dict[str, Any]:
    """What the form shows for an inbox's stored hours (empty fields when it has none)."""
    doc = settings.get(business_hours.SETTING) or {}
    weekly = doc.get("weekly") or {}
    return {
        "enabled": bool(doc) and doc.get("enabled", True),
        "timezone": doc.get("timezone", ""),
        "days": [
            (day, label, ", ".join(weekly.get(day, [])))
            for day, label in zip(business_hours.DAYS, business_hours.DAY_LABELS, strict=True)
        ],
        "closed_dates": "\n".join(doc.get("closed_dates") or []),
        "away_message": doc.get("away_message", business_hours.DEFAULT_AWAY_MESSAGE),
        "default_away": business_hours.DEFAULT_AWAY_MESSAGE,
    }


def doc_from_form(form: dict[str, Any]) -> dict[str, Any] | None:
    """The setting the form describes: None (no hours, always open) when it names no time zone and is
    not switched on; otherwise the document for the validator, which names any wrong field."""
    enabled = form.get("hours_enabled") == "on"
    tz = form.get("hours_timezone", "").strip()
    if not enabled and not tz:
        return None
    if enabled and not tz:
        raise InvalidInput(
            "business hours: choose the time zone the opening times are in",
            details={"field": "settings.business_hours.timezone"},
        )
    return {
        "enabled": enabled,
        "timezone": tz,
        "weekly": {day: form.get(f"hours_{day}", "") for day in business_hours.DAYS},
        "closed_dates": form.get("hours_closed", ""),
        "away_message": form.get("hours_away", ""),
    }


async def save_from_form(
    session: Any, workspace_id: Any, inbox_id: Any, form: dict[str, Any], actor_id: Any
) -> None:
    await inbox_actions.update_inbox(
        session,
        workspace_id,
        inbox_id,
        settings={business_hours.SETTING: doc_from_form(form)},
        actor_id=actor_id,
    )
