"""`reaper.Engine`: compile or load a policy once, then decide in process.
The native class does the work; this adds reading sources and bundles
from disk, the rate-limit result type, store handles, async variants and
the policy scope."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union

from . import _reaper
from ._common import AsyncVariants, Store
from ._results import RateLimitResult

#: A policy: a `.reaper` file, a package directory, policy text, or
#: `{file name: text}`.
Source = Union[str, "os.PathLike[str]", Mapping[str, str]]


def _policy_files(root: Path) -> list[Path]:
    """The `*.reaper` files below `root`, as `reaper check` reads a
    directory: sorted, hidden directories and `target/` skipped."""
    found: list[Path] = []
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith(".") and d != "target")
        found.extend(Path(directory, f) for f in files if f.endswith(".reaper"))
    return sorted(found)


def _sources(source: Source) -> list[tuple[str, str]]:
    if isinstance(source, Mapping):
        return [(str(name), text) for name, text in source.items()]
    looks_like_path = isinstance(source, os.PathLike) or (
        isinstance(source, str) and "\n" not in source and len(source) < 4096 and os.path.exists(source)
    )
    if not looks_like_path:
        if not isinstance(source, str):
            raise TypeError(f"a policy is a path, text or {{name: text}}, not {type(source).__name__}")
        return [("<policy>", source)]
    path = Path(source)
    files = _policy_files(path) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"{path}: no .reaper files")
    return [(str(f), f.read_text(encoding="utf-8")) for f in files]


def compile_policy(source: Source) -> bytes:
    """Compiles a policy to bundle bytes (what `reaper compile` writes), or
    raises `PolicyError` with its diagnostics."""
    return _reaper.compile_sources(_sources(source))


class Engine(_reaper.Engine, AsyncVariants):
    """A compiled policy, ready to decide in process: authorization, rate
    limits with in-memory counters, and TTL stores. Thread-safe: share one
    engine between threads; decisions run with the GIL released."""

    @classmethod
    def from_source(
        cls,
        source: Source,
        *,
        entities: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> Engine:
        """Compiles a policy: a `.reaper` file, a package directory, policy
        text, or `{file name: text}`. `entities` is entity data the engine
        holds (a list, JSON text, or the path of a JSON file, as `reaper
        serve --entities` takes); `clock` returns seconds since the
        epoch (default: the system clock), for rate limits and TTLs.
        Raises `PolicyError` with the diagnostics."""
        return cls(compile_policy(source), entities=_entities(entities), clock=clock)

    @classmethod
    def from_bundle(
        cls,
        bundle: bytes | str | os.PathLike[str],
        *,
        entities: Any = None,
        clock: Callable[[], float] | None = None,
    ) -> Engine:
        """Loads a compiled bundle (bytes, or the path of a file `reaper
        compile` wrote); it is verified before use. Raises `PolicyError`
        when it does not load."""
        if not isinstance(bundle, (bytes, bytearray, memoryview)):
            bundle = Path(bundle).read_bytes()
        return cls(bytes(bundle), entities=_entities(entities), clock=clock)

    def rate_limit(self, domain: str, descriptors: Any, hits: int = 1) -> RateLimitResult:
        """Counts `hits` for each descriptor (a dict of entries, in order,
        or a list of `(key, value)` pairs) and decides, as Envoy's
        rate-limit service does."""
        return RateLimitResult._from_json(self._rate_limit(domain, descriptors, hits))

    def store(self, namespace: str, *, principal: Any = None, context: Mapping[str, Any] | None = None) -> Store:
        """A handle on the TTL store `namespace`, accessed as `principal`
        with `context` (each may also be given per call, or by
        `reaper.acting_as`)."""
        return Store(self, namespace, principal, context)

    def replace(self, policy: Engine | Source | bytes) -> None:
        """Replaces the policy for every thread, atomically, as `reaper
        serve` reloads: counters, stores and held entities stay."""
        self._replace(_bundle_of(policy))

    @contextlib.contextmanager
    def using(self, policy: Engine | Source | bytes) -> Iterator[Engine]:
        """Within this `with` block the engine decides by `policy` (an
        engine, a bundle, or a source); the previous policy is back when
        the block ends, even by an exception. The swap is atomic and seen
        by every thread using the engine."""
        previous = self._replace(_bundle_of(policy))
        try:
            yield self
        finally:
            self._replace(previous)


def _entities(entities: Any) -> Any:
    if isinstance(entities, os.PathLike):
        return Path(entities).read_text(encoding="utf-8")
    return entities


def _bundle_of(policy: Engine | Source | bytes) -> bytes:
    if isinstance(policy, _reaper.Engine):
        return bytes(policy.bundle)
    if isinstance(policy, (bytes, bytearray, memoryview)):
        return bytes(policy)
    return compile_policy(policy)
