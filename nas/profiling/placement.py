"""Where timings run: in this process, or on a Ray node that holds a custom resource.

A *measurer* is a callable ``measure(items, protocol, rounds=1, seed=0) -> [LatencyResult]``
with a ``fingerprint()`` of the machine that runs it. :class:`LocalMeasurer` times here.
:class:`RayMeasurer` ships the modules to a Ray task scheduled with ``resources={RES: 1}`` and
``num_cpus=0`` (so it never waits for a CPU that evaluation workers hold, and two timings on
one device never overlap: the device's single unit of ``RES`` serialises them); every result
carries the node that measured it. Before the first task it checks, with a bounded wait, that
some alive node holds ``RES``, and fails with a clear message otherwise instead of queueing a
task that would never run. Both are picklable: they travel inside evaluators to Ray workers.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from nas.errors import ConfigError, EvaluationError
from nas.profiling.backends import Item, measure_items
from nas.profiling.devices import DeviceProfile, fingerprint
from nas.profiling.measure import LatencyProtocol, LatencyResult

__all__ = ["LocalMeasurer", "RayMeasurer", "make_measurer", "require_resource", "node_label"]

RESOURCE_WAIT_S = 30.0
RESULT_TIMEOUT_S = 900.0


class LocalMeasurer:
    """Times in this process on ``profile``'s backend.

    Args:
        profile: The device (placement ignored).
    """

    node = ""

    def __init__(self, profile: DeviceProfile) -> None:
        self.profile = profile.local

    def __call__(self, items: Sequence[Item], protocol: LatencyProtocol, rounds: int = 1,
                 seed: int = 0) -> list[LatencyResult]:
        """Times ``items`` here (see :func:`measure_items`)."""
        return measure_items(items, self.profile, protocol, rounds, seed)

    def fingerprint(self) -> dict[str, str]:
        """This machine's fingerprint."""
        return fingerprint()


def node_label() -> str:
    """``<node-id[:8]>@<ip>`` of the Ray node running the caller (``""`` outside Ray)."""
    import ray

    if not ray.is_initialized():
        return ""
    ctx = ray.get_runtime_context()
    try:
        ip = ray.util.get_node_ip_address()
    except Exception:  # noqa: BLE001 - the id alone still identifies the node
        ip = "?"
    return f"{ctx.get_node_id()[:8]}@{ip}"


def _measure_here(items: Sequence[Item], profile: DeviceProfile, protocol: LatencyProtocol, rounds: int,
                  seed: int) -> tuple[list[LatencyResult], str]:
    return measure_items(items, profile, protocol, rounds, seed), node_label()


def _fingerprint_here() -> tuple[dict[str, str], str]:
    return fingerprint(), node_label()


def require_resource(resource: str, wait_s: float = RESOURCE_WAIT_S, poll_s: float = 0.5) -> list[str]:
    """Waits (at most ``wait_s``) until an alive Ray node holds ``resource``.

    Returns:
        Labels (``node-id[:8]``) of the nodes holding it.

    Raises:
        ConfigError: when no node holds it by the deadline (names the resource and the nodes).
    """
    import ray

    deadline = time.monotonic() + max(0.0, wait_s)
    nodes: list[dict[str, Any]] = []
    for _ in range(int(max(0.0, wait_s) / max(poll_s, 1e-3)) + 2):  # bounded; the deadline ends it earlier
        nodes = [n for n in ray.nodes() if n.get("Alive")]
        holders = [n["NodeID"][:8] for n in nodes if float(n.get("Resources", {}).get(resource, 0)) >= 1]
        if holders:
            return holders
        if time.monotonic() >= deadline:
            break
        time.sleep(poll_s)
    have = sorted({k for n in nodes for k in n.get("Resources", {}) if not k.startswith("node:")})
    raise ConfigError(
        f"`device` ray:{resource} must name a resource that an alive Ray node holds, got none of {len(nodes)} "
        f"node(s) holding {resource!r} after waiting {wait_s:.0f}s (resources seen: {have}); start one with "
        f"`ray start --address=<head> --resources='{{\"{resource}\": 1}}'`")


class RayMeasurer:
    """Times on a Ray node that holds ``profile.resource``.

    Args:
        profile: A device with ``resource`` set (``ray:RES[:BASE]``).
        ray_address: Cluster to join when Ray is not yet initialised in this process.
        wait_s: Bounded wait for a node holding the resource.
        timeout_s: Bounded wait for one measurement task's result.
    """

    def __init__(self, profile: DeviceProfile, ray_address: str | None = None, wait_s: float = RESOURCE_WAIT_S,
                 timeout_s: float = RESULT_TIMEOUT_S) -> None:
        if profile.resource is None:
            raise ConfigError(f"`device` must be a ray:<resource> device for RayMeasurer, got {profile.name!r}")
        self.profile, self.ray_address = profile, ray_address
        self.wait_s, self.timeout_s = wait_s, timeout_s
        self.node = ""
        self._checked = False

    def __getstate__(self) -> dict[str, Any]:
        return self.__dict__ | {"_checked": False}

    def ensure(self) -> None:
        """Connects to Ray if needed and checks (bounded) that a node holds the resource."""
        import ray

        if not ray.is_initialized():
            from nas.execution.ray_executor import ensure_ray

            ensure_ray(self.ray_address)
        if not self._checked:
            require_resource(str(self.profile.resource), self.wait_s)
            self._checked = True

    def _run(self, fn: Any, *args: Any) -> Any:
        import ray
        from ray.exceptions import GetTimeoutError

        self.ensure()
        task = ray.remote(fn).options(num_cpus=0, resources={str(self.profile.resource): 1}, max_retries=1)
        ref = task.remote(*args)
        try:
            return ray.get(ref, timeout=self.timeout_s)
        except GetTimeoutError as e:
            ray.cancel(ref, force=True)
            raise EvaluationError(f"`device` {self.profile.name}: no result from the node holding "
                                  f"{self.profile.resource!r} within {self.timeout_s:.0f}s") from e

    def __call__(self, items: Sequence[Item], protocol: LatencyProtocol, rounds: int = 1,
                 seed: int = 0) -> list[LatencyResult]:
        """Times ``items`` on the device's node; each result names the node."""
        results, node = self._run(_measure_here, list(items), self.profile.local, protocol, rounds, seed)
        self.node = node
        return [replace(r, node=node) for r in results]

    def fingerprint(self) -> dict[str, str]:
        """The fingerprint of the node holding the resource."""
        fp, node = self._run(_fingerprint_here)
        self.node = node
        return fp


def make_measurer(profile: DeviceProfile, ray_address: str | None = None,
                  wait_s: float = RESOURCE_WAIT_S) -> LocalMeasurer | RayMeasurer:
    """The measurer of ``profile``: here, or on the Ray node holding its resource."""
    if profile.is_table:
        raise ConfigError(f"`device` {profile.name!r} is a table column: its latencies are looked up, not timed")
    if profile.is_remote:
        return RayMeasurer(profile, ray_address, wait_s)
    return LocalMeasurer(profile)
