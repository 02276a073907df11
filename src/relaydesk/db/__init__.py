"""Database plumbing: engine, declarative base, schema and migrations."""
