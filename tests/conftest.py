"""Test settings shared by the engine suite."""

from hypothesis import HealthCheck, settings

# Deterministic examples (the same on every run and in CI), no example database written to disk,
# and no per-example deadline: the machine running the suite may be busy.
settings.register_profile(
    "course", derandomize=True, database=None, deadline=None, max_examples=20,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("course")


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "million: builds a graph of 1,000,000 nodes (a few seconds; run by default)")
