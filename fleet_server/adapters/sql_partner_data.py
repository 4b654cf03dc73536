"""SQLAlchemy implementation of the PartnerDataStore port (profiles and CSV exports)."""

import secrets
from dataclasses import fields

from sqlalchemy import delete, func, select
from sqlalchemy.orm import sessionmaker

from fleet_server.adapters.orm_accounts import ExportRow, PartnerProfileRow
from fleet_server.service_layer.partner_data import ExportInfo, PartnerDataStore, Profile

_PROFILE_FIELDS = [f.name for f in fields(Profile)]


def _info(row: ExportRow, size: int) -> ExportInfo:
    return ExportInfo(row.id, row.partner_id, row.filename, row.rows, row.created_at, size)


class SqlPartnerDataStore(PartnerDataStore):
    def __init__(self, session_factory: sessionmaker):
        self.sf = session_factory

    def profile(self, partner_id):
        with self.sf() as s:
            row = s.get(PartnerProfileRow, partner_id)
            return Profile(**{n: getattr(row, n) for n in _PROFILE_FIELDS}) if row else None

    def save_profile(self, partner_id, profile, now):
        with self.sf() as s, s.begin():
            row = s.get(PartnerProfileRow, partner_id)
            if row is None:
                row = PartnerProfileRow(partner_id=partner_id)
                s.add(row)
            for name in _PROFILE_FIELDS:
                setattr(row, name, getattr(profile, name))
            row.updated_at = now

    def add_export(self, partner_id, filename, content, rows, user_id, now):
        with self.sf() as s, s.begin():
            row = ExportRow(id="EX" + secrets.token_hex(8), partner_id=partner_id,
                            filename=filename, content=content, rows=rows, created_at=now,
                            created_by=user_id)
            s.add(row)
            s.flush()
            return _info(row, len(content.encode("utf-8")))

    def exports(self, partner_id):
        q = (select(ExportRow.id, ExportRow.partner_id, ExportRow.filename, ExportRow.rows,
                    ExportRow.created_at, func.length(ExportRow.content))
             .where(ExportRow.partner_id == partner_id)
             .order_by(ExportRow.created_at.desc(), ExportRow.id))
        with self.sf() as s:
            return [ExportInfo(*r) for r in s.execute(q)]

    def export_content(self, partner_id, export_id):
        with self.sf() as s:
            row = s.get(ExportRow, export_id)
            if row is None or row.partner_id != partner_id:
                return None
            return _info(row, len(row.content.encode("utf-8"))), row.content

    def delete_export(self, partner_id, export_id):
        with self.sf() as s, s.begin():
            done = s.execute(delete(ExportRow).where(ExportRow.id == export_id,
                                                     ExportRow.partner_id == partner_id))
            return done.rowcount == 1
