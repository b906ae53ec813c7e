"""Suite-wide settings: a CI hypothesis profile that never uses deadlines (subprocess-bound tests
would be flaky with them) and prints reproduction blobs."""

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ppikit",
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("ppikit")
