"""Alembic environment: the engine comes from the caller (config.attributes["engine"])."""

from alembic import context

from fleet_server.adapters import api_tokens, orm, orm_accounts  # noqa: F401  (fleet tables)
from fleet_server.adapters.db import Base
from fleet_server.reference_ledger import tables  # noqa: F401  (registers the ledger tables)

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=Base.metadata,
                      render_as_batch=connection.dialect.name == "sqlite",
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
