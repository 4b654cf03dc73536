"""Column types shared by every table of the server's database: the fleet's (orm*.py,
api_tokens.py) and the reference ledger's (fleet_server/reference_ledger/tables.py), and the
migrations that create them."""

from datetime import UTC

from sqlalchemy import DateTime
from sqlalchemy.types import TypeDecorator


class UTCDateTime(TypeDecorator):
    """Aware UTC in, aware UTC out. SQLite keeps no time zone, so values are stored as naive UTC
    there; refusing naive input stops a local time from slipping in unnoticed."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
