"""A settlement day is a Paris calendar day: its bounds are computed in Paris time, then
converted to UTC, so the 23- and 25-hour days of the DST changes are right. The nightly run, the
operations filters and the exports' dates all count days this way."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")


def paris_day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a Paris calendar day, in UTC."""
    start = datetime.combine(day, time(0), PARIS)
    end = datetime.combine(day + timedelta(days=1), time(0), PARIS)
    return start.astimezone(UTC), end.astimezone(UTC)


def paris_day(moment: datetime) -> date:
    return moment.astimezone(PARIS).date()
