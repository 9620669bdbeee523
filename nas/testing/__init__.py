"""Helpers for tests and benchmarks that need real services (a throw-away PostgreSQL server)."""

from nas.testing.pg_server import PgServer, find_bin, start_server

__all__ = ["PgServer", "find_bin", "start_server"]
