"""REDIS_CLUSTER, REPLICA_ACKS and REPLICA_ACKS_TIMEOUT_MS from the environment, and the settings
that cannot work refused at start rather than at the first movement."""

from __future__ import annotations

import pytest

from finance.settings import Settings

URL = "redis://127.0.0.1:7000/0"


def test_cluster_and_acks_are_read_from_the_environment() -> None:
    settings = Settings.from_env({"REDIS_URL": URL, "REDIS_CLUSTER": "1", "REPLICA_ACKS": "2",
                                  "REPLICA_ACKS_TIMEOUT_MS": "250"})
    assert (settings.redis_cluster, settings.replica_acks, settings.replica_acks_timeout_ms) == (True, 2, 250)
    default = Settings.from_env({"REDIS_URL": URL})
    assert (default.redis_cluster, default.replica_acks, default.replica_acks_timeout_ms) == (False, 0, 1_000)


@pytest.mark.parametrize(("env", "message"), [
    ({"REDIS_CLUSTER": "maybe", "REDIS_URL": URL}, "REDIS_CLUSTER must be 1 or 0"),
    ({"REDIS_CLUSTER": "1"}, "REDIS_CLUSTER=1 needs REDIS_URL"),
    ({"REPLICA_ACKS": "1"}, "REPLICA_ACKS needs a real Redis"),
    ({"REPLICA_ACKS": "-1", "REDIS_URL": URL}, "REPLICA_ACKS must be 0 or more"),
    ({"REPLICA_ACKS": "1", "REDIS_URL": URL, "REPLICA_ACKS_TIMEOUT_MS": "2000"}, "below the Redis timeout"),
    ({"REPLICA_ACKS": "1", "REDIS_URL": URL, "REPLICA_ACKS_TIMEOUT_MS": "0"}, "REPLICA_ACKS_TIMEOUT_MS must be"),
])
def test_settings_that_cannot_work_refuse_to_start(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)
