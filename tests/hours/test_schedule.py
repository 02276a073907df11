"""Business hours as a schedule: validation with clear errors, `is_open` and `next_opening` on both sides of
daylight-saving changes, holidays, ranges across midnight."""

from __future__ import annotations

import datetime as dt

import pytest

from relaydesk.actions import business_hours as bh
from relaydesk.errors import InvalidInput

UTC = dt.UTC


def hours(**doc):  # type: ignore[no-untyped-def]
    base = {"timezone": "Europe/Berlin", "weekly": {d: ["09:00-17:00"] for d in bh.DAYS[:5]}}
    schedule = bh.from_settings({"business_hours": bh.validate({**base, **doc})})
    assert schedule is not None
    return schedule


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(UTC)


def test_validate_normalises_and_refuses_with_the_field_named() -> None:
    clean = bh.validate(
        {
            "timezone": " America/New_York ",
            "weekly": {"mon": "13:00-17:00, 9:00-12:00", "sun": []},
            "closed_dates": "2026-12-25\n2026-01-01 2026-12-25",
            "away_message": "  Back soon.  ",
        }
    )
    assert clean == {
        "enabled": True,
        "timezone": "America/New_York",
        "weekly": {"mon": ["09:00-12:00", "13:00-17:00"]},
        "closed_dates": ["2026-01-01", "2026-12-25"],
        "away_message": "Back soon.",
    }
    assert bh.validate(None) is None and bh.validate({}) is None
    cases = {
        "weekly.mon": {"timezone": "UTC", "weekly": {"mon": ["17:00-09:00"]}},
        "timezone": {"timezone": "Mars/Olympus_Mons"},
        "weekly.fri": {"timezone": "UTC", "weekly": {"fri": ["09:00-12:00", "11:00-13:00"]}},
        "weekly.funday": {"timezone": "UTC", "weekly": {"funday": ["09:00-12:00"]}},
        "closed_dates": {"timezone": "UTC", "closed_dates": ["25/12/2026"]},
        "colour": {"timezone": "UTC", "colour": "red"},
        "away_message": {"timezone": "UTC", "away_message": "x" * (bh.MAX_AWAY_CHARS + 1)},
    }
    for field, doc in cases.items():
        with pytest.raises(InvalidInput) as caught:
            bh.validate(doc)
        assert caught.value.details["field"] == f"settings.business_hours.{field}", caught.value
    for bad in ("25:00-26:00", "09:60-10:00", "24:00-24:00", "9-5", "00:00-24:01"):
        with pytest.raises(InvalidInput):
            bh.validate({"timezone": "UTC", "weekly": {"tue": [bad]}})


def test_is_open_in_local_wall_time_across_both_daylight_saving_changes() -> None:
    schedule = hours()
    # Winter (CET, UTC+1): 09:00 local is 08:00 UTC.
    assert not schedule.is_open(at("2026-03-27T07:59:59+00:00"))
    assert schedule.is_open(at("2026-03-27T08:00:00+00:00"))
    # Berlin moves to CEST (UTC+2) on Sunday 29 March 2026: on Monday 09:00 local is 07:00 UTC.
    assert schedule.is_open(at("2026-03-30T07:00:00+00:00"))
    assert not schedule.is_open(at("2026-03-30T06:59:00+00:00"))
    assert schedule.is_open(at("2026-03-30T14:59:00+00:00")) and not schedule.is_open(
        at("2026-03-30T15:00:00+00:00")
    )
    # Back to CET on Sunday 25 October 2026: Monday 09:00 local is 08:00 UTC again.
    assert not schedule.is_open(at("2026-10-26T07:30:00+00:00"))
    assert schedule.is_open(at("2026-10-26T08:00:00+00:00"))
    # The weekend is closed.
    assert not schedule.is_open(at("2026-03-28T12:00:00+00:00"))


def test_next_opening_skips_weekends_and_holidays_and_follows_the_offset() -> None:
    schedule = hours(closed_dates=["2026-03-30"])
    # Friday evening before the change -> Tuesday 09:00 CEST (Monday is a holiday).
    assert schedule.next_opening(at("2026-03-27T18:00:00+00:00")) == at("2026-03-31T07:00:00+00:00")
    # Open now: now itself.
    now = at("2026-03-31T10:00:00+00:00")
    assert schedule.next_opening(now) == now
    # Same day, before opening.
    assert schedule.next_opening(at("2026-10-26T05:00:00+00:00")) == at("2026-10-26T08:00:00+00:00")
    status = schedule.status(at("2026-03-28T12:00:00+00:00"))
    assert status["open"] is False and status["next_opening"] == "2026-03-31T07:00:00Z"
    assert status["away_message"] == bh.DEFAULT_AWAY_MESSAGE and status["timezone"] == "Europe/Berlin"
    assert schedule.status(now) | {"next_opening": None} == {
        "open": True,
        "next_opening": None,
        "timezone": "Europe/Berlin",
        "away_message": "",
    }


def test_an_opening_inside_the_spring_forward_gap_opens_at_the_jump() -> None:
    # Berlin jumps from 02:00 CET to 03:00 CEST at 01:00 UTC on 29 March 2026; 02:30 never shows.
    schedule = hours(weekly={"sun": ["02:30-05:00"]})
    opening = schedule.next_opening(at("2026-03-28T12:00:00+00:00"))
    assert opening == at("2026-03-29T01:00:00+00:00")
    assert schedule.is_open(opening) and not schedule.is_open(opening - dt.timedelta(seconds=1))


def test_an_opening_inside_the_repeated_fall_back_hour_opens_at_its_first_occurrence() -> None:
    # New York repeats 01:00-02:00 on 1 November 2026 (EDT UTC-4, then EST UTC-5).
    schedule = hours(timezone="America/New_York", weekly={"sun": ["01:30-03:00"]})
    assert schedule.next_opening(at("2026-10-31T12:00:00+00:00")) == at("2026-11-01T05:30:00+00:00")
    # Both passes of 01:30-02:00 count as open; 03:00 EST closes.
    assert schedule.is_open(at("2026-11-01T06:45:00+00:00"))
    assert not schedule.is_open(at("2026-11-01T08:00:00+00:00"))


def test_ranges_meet_across_midnight_and_a_closed_date_closes_the_whole_local_day() -> None:
    schedule = hours(
        timezone="Asia/Tokyo",
        weekly={"mon": ["22:00-24:00"], "tue": ["00:00-02:00"]},
        closed_dates=["2026-06-09"],
    )
    assert schedule.is_open(at("2026-06-01T23:59:59+09:00")) and schedule.is_open(
        at("2026-06-02T00:00:00+09:00")
    )
    assert not schedule.is_open(at("2026-06-02T02:00:00+09:00"))
    # Tuesday 9 June is a holiday: Monday's late range still opens, Tuesday's early one does not.
    assert schedule.is_open(at("2026-06-08T23:00:00+09:00"))
    assert not schedule.is_open(at("2026-06-09T01:00:00+09:00"))
    assert schedule.next_opening(at("2026-06-09T01:00:00+09:00")) == at("2026-06-15T22:00:00+09:00")


def test_no_hours_means_always_open_and_an_empty_week_never_opens() -> None:
    assert bh.from_settings({}) is None
    assert (
        bh.from_settings({"business_hours": {**bh.validate({"timezone": "UTC"}), "enabled": False}}) is None
    )
    never = bh.from_settings({"business_hours": bh.validate({"timezone": "UTC"})})
    assert never is not None and never.next_opening(at("2026-01-01T00:00:00+00:00")) is None
    assert bh.away_job_key(__import__("uuid").UUID(int=1), None).endswith(":none")
