"""Business hours and the away message of an inbox, for every channel: the one place that validates them,
answers "open now?" and "when do we open next?", and sends the away message.

An inbox's hours live in its settings under `business_hours` (docs/api.md, docs/widget.md):

    {"enabled": true, "timezone": "Europe/Berlin",
     "weekly": {"mon": ["09:00-12:30", "13:30-17:00"], "tue": ["09:00-17:00"], ...},
     "closed_dates": ["2026-12-24", "2026-12-25"],
     "away_message": "We are closed right now; we answer on the next working day."}

Times are wall-clock times in the inbox's IANA time zone (zoneinfo), so an inbox that opens at 09:00
opens at 09:00 local time on both sides of a daylight-saving change. A day missing from `weekly` is
closed; `24:00` ends a range at midnight, so `22:00-24:00` on Monday and `00:00-02:00` on Tuesday make
one opening across midnight. `closed_dates` are local dates on which the inbox stays closed all day
(holidays). Without the key, or with `enabled` false, an inbox is always open and never sends an away
message.

When a customer writes while the inbox is closed, the receiving path (actions/incoming.py) enqueues one
`hours.away_message` job per conversation keyed by the conversation and the next opening, so a customer
gets the away message once per closed spell however many messages they send, and again after the next
opening passes. Messages marked `no_auto_reply` (an out-of-office or list mail, RFC 3834) never trigger
it, and the away message itself is marked automatic so the e-mail channel stamps it `Auto-Submitted`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
import zoneinfo
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.db.base import utcnow
from relaydesk.errors import InvalidInput
from relaydesk.models.conversations import Conversation
from relaydesk.models.inboxes import Inbox
from relaydesk.models.messages import Message

SETTING = "business_hours"
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
DAY_LABELS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DEFAULT_AWAY_MESSAGE = "Thanks for your message. We are away right now and will answer when we are back."
MAX_AWAY_CHARS = 2000
MAX_RANGES_PER_DAY = 6
MAX_CLOSED_DATES = 400
# How far ahead `next_opening` looks: a year of holidays plus a margin.
HORIZON_DAYS = 400
# content_attributes["automatic"] of the away message: automatic paths and the e-mail channel read it.
AUTOMATIC_KIND = "away_message"
# The job that sends it (jobs/handlers/hours.py); named here because actions never import job handlers.
AWAY_MESSAGE_JOB = "hours.away_message"

_RANGE = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


def _error(path: str, message: str) -> InvalidInput:
    field = f"settings.{SETTING}" + (f".{path}" if path else "")
    return InvalidInput(f"{field}: {message}", details={"field": field})


def _minutes(hours: str, minutes: str, *, end: bool) -> int | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and (m or not end)):
        return None
    return h * 60 + m


def _fmt(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_ranges(value: Any, day: str) -> list[tuple[int, int]]:
    """A day's opening ranges as minutes since local midnight, sorted; `value` is a list of
    `HH:MM-HH:MM` strings or one string with ranges separated by commas (the admin form's spelling)."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error(f"weekly.{day}", 'must be a list of ranges like "09:00-17:00"')
    if len(value) > MAX_RANGES_PER_DAY:
        raise _error(f"weekly.{day}", f"at most {MAX_RANGES_PER_DAY} ranges a day")
    ranges = []
    for text in value:
        match = _RANGE.match(text)
        start = _minutes(match[1], match[2], end=False) if match else None
        stop = _minutes(match[3], match[4], end=True) if match else None
        if start is None or stop is None:
            raise _error(f"weekly.{day}", f'{text.strip()[:40]!r} is not a range like "09:00-17:00"')
        if stop <= start:
            raise _error(
                f"weekly.{day}",
                f"{text.strip()!r} ends before it starts (end a range at 24:00 and continue the next day)",
            )
        ranges.append((start, stop))
    ranges.sort()
    for (a_start, a_stop), (b_start, _b_stop) in itertools.pairwise(ranges):
        if b_start < a_stop:
            raise _error(
                f"weekly.{day}", f"ranges {_fmt(a_start)}-{_fmt(a_stop)} and {_fmt(b_start)}… overlap"
            )
    return ranges


def parse_timezone(value: Any) -> zoneinfo.ZoneInfo:
    if not isinstance(value, str) or not value.strip():
        raise _error("timezone", 'is required, an IANA time zone such as "Europe/Berlin"')
    try:
        return zoneinfo.ZoneInfo(value.strip())
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise _error(
            "timezone", f'{value.strip()[:60]!r} is not an IANA time zone such as "Europe/Berlin"'
        ) from None


def parse_closed_dates(value: Any) -> list[dt.date]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _error("closed_dates", 'must be a list of dates like "2026-12-25"')
    if len(value) > MAX_CLOSED_DATES:
        raise _error("closed_dates", f"at most {MAX_CLOSED_DATES} dates")
    dates = set()
    for text in value:
        try:
            dates.add(dt.date.fromisoformat(text.strip()))
        except ValueError:
            raise _error("closed_dates", f'{text.strip()[:20]!r} is not a date like "2026-12-25"') from None
    return sorted(dates)


def validate(value: Any) -> dict[str, Any] | None:
    """The stored form of a `business_hours` setting, or `InvalidInput` naming the wrong part. `None`
    (or an empty object) removes the hours: the inbox is always open."""
    if value is None or value == {}:
        return None
    if not isinstance(value, dict):
        raise _error("", "must be an object with timezone, weekly, closed_dates and away_message")
    known = {"enabled", "timezone", "weekly", "closed_dates", "away_message"}
    unknown = sorted(set(value) - known)
    if unknown:
        raise _error(unknown[0], f"is not a field of business hours (known: {', '.join(sorted(known))})")
    enabled = value.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _error("enabled", "must be true or false")
    tz = parse_timezone(value.get("timezone"))
    weekly_in = value.get("weekly") or {}
    if not isinstance(weekly_in, dict):
        raise _error("weekly", "must be an object of days (mon … sun) to lists of ranges")
    for day in weekly_in:
        if day not in DAYS:
            raise _error(f"weekly.{day}"[:80], f"is not a day; use {', '.join(DAYS)}")
    weekly = {
        day: [f"{_fmt(a)}-{_fmt(b)}" for a, b in parse_ranges(weekly_in[day], day)]
        for day in DAYS
        if day in weekly_in
    }
    away = value.get("away_message", DEFAULT_AWAY_MESSAGE)
    if away is None:
        away = ""
    if not isinstance(away, str):
        raise _error("away_message", "must be a string (empty: no away message)")
    away = away.strip()
    if len(away) > MAX_AWAY_CHARS:
        raise _error("away_message", f"is longer than {MAX_AWAY_CHARS} characters")
    return {
        "enabled": enabled,
        "timezone": tz.key,
        "weekly": {day: ranges for day, ranges in weekly.items() if ranges},
        "closed_dates": [d.isoformat() for d in parse_closed_dates(value.get("closed_dates") or [])],
        "away_message": away,
    }


def split_settings(given: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Split settings given to an inbox create or update into the channel's own and the channel-neutral
    ones (business hours), validated here; the channel's spec checks the rest."""
    if SETTING not in given:
        return given, {}
    rest = {k: v for k, v in given.items() if k != SETTING}
    return rest, {SETTING: validate(given[SETTING])}


def apply_settings(settings: dict[str, Any], common: dict[str, Any]) -> dict[str, Any]:
    """`settings` with the validated channel-neutral ones of `split_settings` set (None removes one)."""
    if not common:
        return settings
    out = dict(settings)
    for key, value in common.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


@dataclass(frozen=True)
class BusinessHours:
    """A validated schedule, ready to answer questions about instants (aware datetimes)."""

    tz: zoneinfo.ZoneInfo
    weekly: tuple[tuple[tuple[int, int], ...], ...]  # per weekday (Monday first): (start, end) minutes
    closed_dates: frozenset[dt.date]
    away_message: str

    def _open_at_wall(self, local: dt.datetime) -> bool:
        if local.date() in self.closed_dates:
            return False
        seconds = local.hour * 3600 + local.minute * 60 + local.second
        return any(start * 60 <= seconds < end * 60 for start, end in self.weekly[local.weekday()])

    def is_open(self, now: dt.datetime) -> bool:
        """Whether the inbox is open at the instant `now` (its wall-clock time in the inbox's zone)."""
        return self._open_at_wall(now.astimezone(self.tz))

    def next_opening(self, now: dt.datetime) -> dt.datetime | None:
        """The first instant at or after `now` at which the inbox is open (`now` itself when open; None
        when no opening lies within HORIZON_DAYS). Aware, in UTC.

        A range that starts in a spring-forward gap (02:30 on the night clocks jump from 02:00 to 03:00)
        opens at the jump itself, the first instant whose wall time is past 02:30; one that starts in the
        repeated hour of a fall-back night opens at its first occurrence."""
        if self.is_open(now):
            return now.astimezone(dt.UTC)
        local = now.astimezone(self.tz)
        wall_now = local.replace(tzinfo=None)
        for offset in range(HORIZON_DAYS):
            day = local.date() + dt.timedelta(days=offset)
            if day in self.closed_dates:
                continue
            for start, _end in self.weekly[day.weekday()]:
                wall = dt.datetime.combine(day, dt.time(start // 60, start % 60))
                if wall < wall_now:
                    continue
                found = self._instant(wall, now)
                if found is not None:
                    return found.astimezone(dt.UTC)
        return None

    def _instant(self, wall: dt.datetime, now: dt.datetime) -> dt.datetime | None:
        """The first instant after `now` at which the local clock shows `wall` or, inside a gap, has just
        jumped past it."""
        first, second = wall.replace(tzinfo=self.tz, fold=0), wall.replace(tzinfo=self.tz, fold=1)
        if first.astimezone(dt.UTC).astimezone(self.tz).replace(tzinfo=None) != wall:
            # A wall time that does not exist: fold=1 reads it with the offset after the jump (an instant
            # before the gap), fold=0 with the one before (after it). The opening is the jump between them.
            low, high = second.astimezone(dt.UTC), first.astimezone(dt.UTC)
            while high - low > dt.timedelta(seconds=1):
                mid = low + (high - low) / 2
                if mid.astimezone(self.tz).replace(tzinfo=None) >= wall:
                    high = mid
                else:
                    low = mid
            return high if high > now else None
        for candidate in sorted({first.astimezone(dt.UTC), second.astimezone(dt.UTC)}):
            if candidate > now:
                return candidate
        return None

    def status(self, now: dt.datetime) -> dict[str, Any]:
        """What a customer-facing surface (the widget) is told: open or not, and when we open next."""
        is_open = self.is_open(now)
        opening = None if is_open else self.next_opening(now)
        return {
            "open": is_open,
            "next_opening": opening.isoformat().replace("+00:00", "Z") if opening else None,
            "timezone": self.tz.key,
            "away_message": "" if is_open else self.away_message,
        }


def from_settings(settings: dict[str, Any] | None) -> BusinessHours | None:
    """The inbox's hours, or None when it has none (or they are switched off): always open. Reads the
    stored (validated) document; a document that does not validate any more counts as no hours."""
    doc = (settings or {}).get(SETTING)
    if not doc or not doc.get("enabled", True):
        return None
    try:
        clean = validate(doc)
    except InvalidInput:
        return None
    assert clean is not None
    weekly = tuple(tuple(parse_ranges(clean["weekly"].get(day, []), day)) for day in DAYS)
    return BusinessHours(
        tz=zoneinfo.ZoneInfo(clean["timezone"]),
        weekly=weekly,
        closed_dates=frozenset(dt.date.fromisoformat(d) for d in clean["closed_dates"]),
        away_message=clean["away_message"],
    )


def away_job_key(conversation_id: uuid.UUID, opening: dt.datetime | None) -> str:
    """The idempotency key of a conversation's away message in one closed spell (named by the opening
    that ends it): the jobs table's unique key makes it one message per conversation per spell."""
    until = opening.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ") if opening else "none"
    return f"away:{conversation_id}:{until}"


async def send_away_message(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    conversation_id: uuid.UUID,
    *,
    opening: dt.datetime | None,
    now: dt.datetime | None = None,
) -> Message | None:
    """Post the inbox's away message into the conversation as an automatic message, unless the inbox has
    opened (or lost its hours or its away text) since the customer wrote, or the conversation is resolved.
    Returns the message, or None when nothing was due."""
    from relaydesk.actions.messages import post_message
    from relaydesk.db.scoping import get_scoped

    now = now or utcnow()
    conv = await get_scoped(session, Conversation, workspace_id, conversation_id)
    inbox = await get_scoped(session, Inbox, workspace_id, conv.inbox_id)
    hours = from_settings(inbox.settings)
    if hours is None or not hours.away_message or not inbox.is_active or conv.status == "resolved":
        return None
    from relaydesk.actions.subject_rights import is_restricted

    if await is_restricted(session, workspace_id, conv.contact_id):
        return None  # an automation: a restricted contact gets none (actions/subject_rights.py)
    if (opening is not None and now >= opening) or hours.is_open(now):
        return None
    return await post_message(
        session,
        workspace_id,
        conversation_id,
        text=hours.away_message,
        sender_kind="system",
        automatic=AUTOMATIC_KIND,
    )
