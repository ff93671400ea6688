"""The warehouse: SQLAlchemy tables, engine set-up and migrations, queries."""
