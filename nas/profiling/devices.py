"""Device profiles: what a latency figure was measured on, and how.

A :class:`DeviceProfile` names a backend (torch eager, TorchScript, ONNX Runtime on CPU, CUDA),
the thread count, the batch size and the placement: ``here`` (this process) or a Ray node that
holds a custom resource. Names users type (``--device``) resolve through :func:`parse_device`:

===================  =====================================================================
``cpu``              alias of ``cpu-torch``
``cpu-torch``        torch eager on this machine's CPU
``cpu-ts``           TorchScript (traced, frozen) on CPU
``cpu-ort``          ONNX Runtime, CPUExecutionProvider
``cuda``             torch eager on the GPU, timed with CUDA events (only when a GPU is present)
``ray:RES``          ``cpu-torch`` on a Ray node holding resource ``RES``
``ray:RES:BASE``     device ``BASE`` (e.g. ``cpu-ort``) on a Ray node holding ``RES``
``table:COLUMN``     a latency column of a table-backed space (looked up, never timed)
===================  =====================================================================

Suffixes ``@tN`` and ``@bN`` set threads and batch size (``cpu-ort@t2@b8``); ``@min`` makes the
device's figure the fastest of the timed calls instead of their median (DESIGN §5). On a shared
machine the median mixes the model's own time with the neighbours' load (two 2-vCPU passes of the
same subnets agreed within ±10% for only 3-78% of mbconv subnets, depending on the load), while
the fastest call is the uncontended time, what a device running only this model sees; it agreed
for 100% in the same passes.
:func:`fingerprint` describes the machine and library versions; it is stored with every device
table so that a table measured elsewhere is never reused here.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from typing import Any

from nas.errors import ConfigError

__all__ = ["BACKENDS", "DEVICE_NAMES", "DeviceProfile", "parse_device", "known_devices", "fingerprint",
           "fingerprint_id", "cuda_available"]

BACKENDS = ("torch", "torchscript", "onnxruntime", "cuda", "table")
STATISTICS = ("median", "min")

# name -> (backend, description)
DEVICE_NAMES: dict[str, tuple[str, str]] = {
    "cpu-torch": ("torch", "torch eager on this CPU"),
    "cpu-ts": ("torchscript", "TorchScript (traced, frozen) on this CPU"),
    "cpu-ort": ("onnxruntime", "ONNX Runtime CPUExecutionProvider on this CPU"),
    "cuda": ("cuda", "torch eager on the GPU, CUDA-event timing"),
}
ALIASES = {"cpu": "cpu-torch"}
_RESOURCE = re.compile(r"^[A-Za-z0-9_.\-]+$")
_SUFFIX = re.compile(r"@([tb])(\d+)$")


@dataclass(frozen=True)
class DeviceProfile:
    """A target device.

    Attributes:
        name: The name it was parsed from (``cpu-ort``, ``ray:testdevice``, ...).
        backend: One of :data:`BACKENDS`.
        threads: Intra-op threads while timing (DESIGN §5: 1 unless the device says otherwise).
        batch_size: Batch size of the timed input.
        resource: Ray custom resource of the node that must run the timing; ``None``: here.
        column: For ``table`` devices, the latency column of the table.
        statistic: What a timing reports: ``median`` of the timed calls (DESIGN §5) or ``min``.
    """

    name: str
    backend: str = "torch"
    threads: int = 1
    batch_size: int = 1
    resource: str | None = None
    column: str | None = None
    statistic: str = "median"

    def __post_init__(self) -> None:
        if self.statistic not in STATISTICS:
            raise ConfigError(f"`device.statistic` must be one of {list(STATISTICS)}, got {self.statistic!r}")
        if self.backend not in BACKENDS:
            raise ConfigError(f"`device.backend` must be one of {list(BACKENDS)}, got {self.backend!r}")
        if self.threads <= 0:
            raise ConfigError(f"`device` threads must be positive, got {self.threads}")
        if self.batch_size <= 0:
            raise ConfigError(f"`device` batch size must be positive, got {self.batch_size}")

    @property
    def placement(self) -> str:
        """``here`` or ``ray:<resource>``."""
        return f"ray:{self.resource}" if self.resource else "here"

    @property
    def is_remote(self) -> bool:
        """Whether timings run on a Ray node holding :attr:`resource`."""
        return self.resource is not None

    @property
    def is_table(self) -> bool:
        """Whether latencies are looked up in a table instead of timed."""
        return self.backend == "table"

    @property
    def local(self) -> DeviceProfile:
        """The same device placed here (what a remote node runs)."""
        return replace(self, resource=None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (JSON-ready)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeviceProfile:
        """Inverse of :meth:`to_dict`."""
        return cls(**{k: data[k] for k in ("name", "backend", "threads", "batch_size", "resource", "column", "statistic")
                      if k in data})


def cuda_available() -> bool:
    """Whether torch sees a CUDA device."""
    import torch

    return bool(torch.cuda.is_available())


def known_devices() -> list[str]:
    """Device names valid on this machine (``ray:`` and ``table:`` names are parsed dynamically)."""
    names = ["cpu", *DEVICE_NAMES]
    return [n for n in names if n != "cuda" or cuda_available()]


def _bad(value: str, rule: str) -> ConfigError:
    return ConfigError(f"`device` must {rule}, got {value!r}")


def parse_device(name: str) -> DeviceProfile:
    """Resolves a device name into a :class:`DeviceProfile`.

    Raises:
        ConfigError: one line naming ``device``, the rule and the value.
    """
    if not isinstance(name, str) or not name.strip():
        raise _bad(str(name), "be a non-empty device name")
    text = name.strip()
    threads, batch = 1, 1
    statistic = "median"
    if text.endswith("@min"):
        statistic, text = "min", text[: -len("@min")]
    for _ in range(2):  # at most one @t and one @b suffix
        m = _SUFFIX.search(text)
        if not m:
            break
        value = int(m.group(2))
        if value <= 0:
            raise _bad(name, f"have a positive @{m.group(1)} suffix")
        if m.group(1) == "t":
            threads = value
        else:
            batch = value
        text = text[: m.start()]
    if text.startswith("table:"):
        column = text[len("table:"):]
        if not column:
            raise _bad(name, "name a table column after `table:`")
        return DeviceProfile(name=name, backend="table", column=column)
    resource = None
    if text.startswith("ray:"):
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[1] or not _RESOURCE.match(parts[1]):
            raise _bad(name, "look like ray:<resource> or ray:<resource>:<device> with a resource name of "
                             "letters, digits, `_`, `.` or `-`")
        resource = parts[1]
        text = parts[2] if len(parts) == 3 else "cpu-torch"
        if text.startswith(("ray:", "table:")):
            raise _bad(name, "name a local device after ray:<resource>:")
    text = ALIASES.get(text, text)
    if text not in DEVICE_NAMES:
        known = sorted([*ALIASES, *DEVICE_NAMES, "ray:<resource>", "table:<column>"])
        raise _bad(name, f"be one of {known}")
    backend = DEVICE_NAMES[text][0]
    if backend == "cuda" and resource is None and not cuda_available():
        raise _bad(name, "name an available device (no CUDA GPU is visible here)")
    return DeviceProfile(name=name, backend=backend, threads=threads, batch_size=batch, resource=resource,
                         statistic=statistic)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def _fingerprint_cached() -> tuple[tuple[str, str], ...]:
    import numpy
    import torch

    info = {
        "cpu": _cpu_model(),
        "machine": platform.machine(),
        "cpu_count": str(os.cpu_count()),
        "system": platform.system(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": numpy.__version__,
    }
    try:
        import onnxruntime

        info["onnxruntime"] = onnxruntime.__version__
    except ImportError:  # pragma: no cover - a declared dependency
        info["onnxruntime"] = "absent"
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = str(torch.version.cuda)
    return tuple(sorted(info.items()))


def fingerprint() -> dict[str, str]:
    """This machine: CPU model, core count, OS, Python and library versions, GPU if any."""
    return dict(_fingerprint_cached())


def fingerprint_id(fp: dict[str, str], profile: DeviceProfile | None = None) -> str:
    """A 10-hex-digit id of a fingerprint (and of the timing settings of ``profile``)."""
    data: dict[str, Any] = dict(fp)
    if profile is not None:
        data |= {"backend": profile.backend, "threads": profile.threads, "batch_size": profile.batch_size}
        if profile.statistic != "median":  # ids of median devices are unchanged
            data["statistic"] = profile.statistic
    return hashlib.sha1(json.dumps(data, sort_keys=True).encode()).hexdigest()[:10]
