"""The suite's fixtures, for the benches' tests that need a portal app."""

from tests.conftest import app, clock, gateway, redis_url, template_db  # noqa: F401
