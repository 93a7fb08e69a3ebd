"""Storage: the tables (SQLAlchemy Core), the database engine and its transactions, the
Alembic migrations, and the outbox rows other layers write inside their transactions."""
