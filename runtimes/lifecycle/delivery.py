"""The delivery guard: a lifecycle task that kills its worker again and again ends ``failed``.

With late acks a task whose worker dies is delivered again; one that kills its worker every
time (e.g. a runtime that takes the machine's memory) would loop forever. Each delivery is
counted in Redis under the task's id; past ``HUB_TASK_MAX_DELIVERIES`` the asset is given up.
"""

from __future__ import annotations

import core.redis
from runtimes.lifecycle import config, outcomes

DELIVERIES_KEY = "hub:lifecycle:deliveries:"


def begin_delivery(task_id: str, asset_id: str) -> bool:
    """Count one delivery of a lifecycle task; False (and the asset ``failed``) past the limit.

    Call ``end_delivery`` when the task returns or raises.
    """
    client = core.redis.client()
    key = DELIVERIES_KEY + task_id
    count = int(client.incr(key))
    client.expire(key, 86400)
    limit = config.task_max_deliveries()
    if count <= limit:
        return True
    outcomes.give_up(asset_id, f"its lifecycle task killed the worker {count - 1} times")
    end_delivery(task_id)
    return False


def end_delivery(task_id: str) -> None:
    core.redis.client().delete(DELIVERIES_KEY + task_id)
