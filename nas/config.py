"""The run configuration: typed dataclasses from YAML plus CLI overrides, validated up front.

Every value is checked before any work starts: unknown keys, wrong types, out-of-range numbers,
unknown names. A problem raises :class:`~nas.errors.ConfigError` with one line naming the key,
the rule and the value; the CLI turns it into exit code 2 and creates no run folder.
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from nas.errors import ConfigError, invalid
from nas.evaluate import EvalConfig
from nas.profiling.profiler import ProfileSettings
from nas.search.budget import Budget, parse_budget
from nas.search.claims import check_storage_url
from nas.search.objectives import Constraint, Objective, parse_constraint, parse_objectives
from nas.sharing.config import SharingConfig
from nas.train import TrainConfig

__all__ = ["ExecutionConfig", "SearchConfig", "load_config", "config_to_dict", "DEFAULT_CONFIG"]

DEFAULT_CONFIG = Path(__file__).with_name("default_config.yaml")
EXECUTORS = ("ray", "local")


@dataclass(frozen=True)
class ExecutionConfig:
    """Where evaluations run.

    Attributes:
        executor: ``ray`` (default) or ``local`` (in-process).
        workers: Ray evaluation workers.
        ray_address: Existing cluster to join (``None`` starts a local one).
    """

    executor: str = "ray"
    workers: int = 2
    ray_address: str | None = None

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise invalid("execution.executor", f"be one of {list(EXECUTORS)}", self.executor)
        if self.workers <= 0:
            raise invalid("execution.workers", "be positive", self.workers)


@dataclass(frozen=True)
class SearchConfig:
    """A whole run.

    Attributes:
        space: Registered space name.
        task: Registered task name (``None``: the space's default).
        budget: Evaluations (``300``) or time (``10m``).
        objectives: Objectives, e.g. ``accuracy:max,latency_ms:min``.
        constraints: Constraints, e.g. ``["latency_ms<=2.5"]``.
        strategy: Registered strategy name.
        population_size: Population of genetic strategies (``None``: from the budget).
        device: Where latency comes from: ``cpu`` (measured here), a named device (``cpu-torch``,
            ``cpu-ts``, ``cpu-ort``, ``cuda``, ``ray:<resource>[:<device>]``) or a device the space lists.
        latency_mode: ``auto`` (``measure`` for ``cpu``, else ``model``), ``measure`` (time every
            subnet on the device) or ``model`` (the device's latency model: LUT + correction).
        latency_cache: Folder of the device cache (``None``: ``$SHARENAS_CACHE/latency``).
        profile: How a device's latency model is built when the cache has none.
        seed: Run seed; every other seed derives from it.
        runs_dir: Folder holding run folders.
        name: Optional prefix of the run id.
        storage: SQLAlchemy URL of a study shared by several drivers (``None``: the run folder's
            SQLite ``study.db``). With a shared storage the evaluation budget counts every driver.
        study: Study name inside ``storage`` (drivers that pass the same name share the study).
        train: Supernet training recipe.
        eval: Subnet scoring settings (``eval.latency``: the timing protocol).
        execution: Executor settings.
        sharing: Where and how layers share parameters (``sharing.kind``: ``none``, ``npas``,
            ``ensemble``, ``branching``, ``gm-split``; see :class:`~nas.sharing.SharingConfig`).
    """

    space: str = "cnn1d"
    task: str | None = None
    budget: str = "100"
    objectives: str = "accuracy:max,latency_ms:min"
    constraints: list[str] = field(default_factory=list)
    strategy: str = "predictor"
    population_size: int | None = None
    device: str = "cpu"
    latency_mode: str = "auto"
    latency_cache: str | None = None
    seed: int = 0
    runs_dir: str = "runs"
    name: str | None = None
    storage: str | None = None
    study: str | None = None
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)
    profile: ProfileSettings = field(default_factory=ProfileSettings)
    sharing: SharingConfig = field(default_factory=SharingConfig)

    def __post_init__(self) -> None:
        if self.latency_mode not in ("auto", "measure", "model"):
            raise invalid("latency_mode", "be one of ['auto', 'measure', 'model']", self.latency_mode)
        self.parsed_budget()
        self.parsed_objectives()
        self.parsed_constraints()
        if self.population_size is not None and self.population_size < 2:
            raise invalid("population_size", "be at least 2", self.population_size)
        if self.seed < 0:
            raise invalid("seed", "be >= 0", self.seed)
        if self.storage is not None:
            check_storage_url(self.storage)
        if self.study is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}", self.study):
            raise invalid("study", "be letters, digits, '.', '_' or '-'", self.study)

    def parsed_budget(self) -> Budget:
        """The budget as a :class:`Budget`."""
        return parse_budget(self.budget)

    def parsed_objectives(self) -> tuple[Objective, ...]:
        """The objectives, parsed."""
        return parse_objectives(self.objectives)

    def parsed_constraints(self) -> tuple[Constraint, ...]:
        """The constraints, parsed."""
        return tuple(parse_constraint(c) for c in self.constraints)

    def pop_size(self) -> int:
        """Population of genetic strategies: configured, or a fifth of the evaluation budget in [8, 50]."""
        if self.population_size is not None:
            return self.population_size
        evals = self.parsed_budget().evaluations or 250
        return int(min(50, max(8, evals // 5)))


def _check_type(key: str, value: Any, hint: Any) -> Any:
    """Checks ``value`` against a simple type hint; returns it (ints widened to floats)."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(hint)
        if value is None and type(None) in args:
            return None
        errors: list[ConfigError] = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _check_type(key, value, a)
            except ConfigError as e:
                errors.append(e)
        if len(errors) == 1:
            raise errors[0]
        raise invalid(key, f"be of type {hint}", value)
    if origin is list:
        if not isinstance(value, list):
            raise invalid(key, "be a list", value)
        (inner,) = typing.get_args(hint)
        return [_check_type(f"{key}[{i}]", v, inner) for i, v in enumerate(value)]
    if hint is bool:
        if not isinstance(value, bool):
            raise invalid(key, "be true or false", value)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise invalid(key, "be an integer", value)
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise invalid(key, "be a number", value)
        return float(value)
    if hint is str:
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise invalid(key, "be a string", value)
        return str(value)
    raise invalid(key, f"be of type {hint}", value)


def _build(cls: type, data: Any, prefix: str) -> Any:
    if not isinstance(data, Mapping):
        raise invalid(prefix or "config", "be a mapping of keys to values", data)
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for key, value in data.items():
        full = f"{prefix}.{key}" if prefix else str(key)
        if key not in fields:
            raise ConfigError(f"unknown key `{full}` in config (allowed: {', '.join(sorted(fields))})")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            kwargs[key] = _build(hint, value, full)
        else:
            kwargs[key] = _check_type(full, value, hint)
    try:
        return cls(**kwargs)
    except TypeError as e:  # defensive: dataclass signature mismatch
        raise ConfigError(f"config section `{prefix or 'config'}` is invalid: {e}") from e


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> SearchConfig:
    """Loads a config: the built-in defaults, then the YAML file, then dotted CLI overrides.

    Args:
        path: YAML file (``None``: the built-in default config).
        overrides: ``{"budget": "40", "train.epochs": 5}`` style values (``None`` values skipped).

    Raises:
        ConfigError: on unreadable YAML, unknown keys, wrong types or invalid values.
    """
    data = _read_yaml(DEFAULT_CONFIG)
    if path is not None:
        _merge(data, _read_yaml(Path(path)))
    for dotted, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        *parents, leaf = dotted.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return _build(SearchConfig, data, "")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"`config` must be a readable file, got {str(path)!r} ({e.strerror})") from e
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise ConfigError(f"`config` must be valid YAML, got an error in {str(path)!r}: {str(e).splitlines()[0]}") from e
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise invalid("config", "be a YAML mapping", type(data).__name__)
    return data


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(base.get(k), dict):
            _merge(base[k], v)
        else:
            base[k] = v


def config_to_dict(cfg: SearchConfig) -> dict[str, Any]:
    """The resolved config as plain data (what ``config.yaml`` stores)."""
    return dataclasses.asdict(cfg)
