"""The plugin host: pluggy's PluginManager, failure-isolated discovery, and the typed hook facade.

Built-in command families and third-party packages are found the same way, through the entry-point
group ``crashcompat.plugins``.  ``CRASHCOMPAT_PLUGINS`` adds plugins (``name=module`` or
``name=/path/file.py``, comma separated) and ``CRASHCOMPAT_DISABLE_PLUGINS`` blocks names by glob
(``*`` disables every plugin not named in ``CRASHCOMPAT_PLUGINS``).  A plugin that fails to import,
validate or answer a hook is reported once and skipped; the session goes on.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import types
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pluggy

from crashcompat import PROJECT
from crashcompat.core import hookspecs

if TYPE_CHECKING:
    from crashcompat.core.command import Command
    from crashcompat.core.session import Session

ENTRY_POINT_GROUP = "crashcompat.plugins"


@dataclass
class PluginRecord:
    """One plugin as ``plugins`` lists it."""

    name: str
    module: str
    distribution: str = ""
    version: str = ""
    commands: list[str] = field(default_factory=list)
    error: str = ""


class Hooks:
    """The typed facade: one method per hookspec, so every call site is type-checked."""

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def commands(self) -> list[tuple[str, Command]]:
        """(plugin name, command) for every command every plugin provides."""
        out: list[tuple[str, Command]] = []
        for name, result in self._host.call_each("crashcompat_commands"):
            out.extend((name, cmd) for cmd in result)
        return out

    def session_opened(self, session: Session) -> None:
        self._host.call_each("crashcompat_session_opened", session=session)

    def session_closed(self, session: Session) -> None:
        self._host.call_each("crashcompat_session_closed", session=session)

    def target_resumed(self, session: Session) -> None:
        self._host.call_each("crashcompat_target_resumed", session=session)


class PluginHost:
    """Owns ``pluggy.PluginManager("crashcompat")`` and the record of what loaded and what failed."""

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.hooks = Hooks(self)
        self.warnings: list[str] = []

    # ---- loading ------------------------------------------------------------------------------------------

    def load(self, extra: Iterable[tuple[str, object]] = ()) -> None:
        """Load entry points and ``CRASHCOMPAT_PLUGINS``, honour the disable globs, validate each plugin.

        :param extra: (name, plugin object) pairs registered directly (tests, embedding programs).
        """
        enabled = _parse_plugin_env(os.environ.get("CRASHCOMPAT_PLUGINS", ""))
        disabled = [
            g.strip() for g in os.environ.get("CRASHCOMPAT_DISABLE_PLUGINS", "").split(",") if g.strip()
        ]

        def is_disabled(name: str) -> bool:
            return name not in enabled and any(fnmatch.fnmatchcase(name, glob) for glob in disabled)

        seen: set[str] = set()
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen or is_disabled(ep.name):
                continue
            seen.add(ep.name)
            dist = ep.dist
            record = PluginRecord(
                ep.name, ep.value, dist.metadata["Name"] if dist else "", dist.version if dist else ""
            )
            self._register(record, lambda ep=ep: ep.load())
        for name, target in enabled.items():
            if name in seen or not target:
                continue
            seen.add(name)
            self._register(PluginRecord(name, target), lambda target=target: _import_target(target))
        for name, plugin in extra:
            self._register(PluginRecord(name, getattr(plugin, "__name__", repr(plugin))), lambda p=plugin: p)

    def _register(self, record: PluginRecord, loader: object) -> None:
        self.records[record.name] = record
        try:
            plugin = loader()  # type: ignore[operator]
            self.manager.register(plugin, name=record.name)
        except Exception as e:
            self.fail(record.name, f"{type(e).__name__}: {e}")
            return
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as e:
            self.manager.unregister(name=record.name)
            self.fail(record.name, str(e))

    def fail(self, name: str, message: str) -> None:
        record = self.records.setdefault(name, PluginRecord(name, ""))
        if not record.error:
            record.error = message
            self.warnings.append(f"WARNING: plugin {name}: {message} (skipped)")

    def call_each(self, hook_name: str, **kwargs: object) -> list[tuple[str, Any]]:
        """Call every implementation of *hook_name* (pluggy's order), isolating failures per plugin.

        :returns: (plugin name, result) for each implementation that returned without raising.
        """
        results: list[tuple[str, Any]] = []
        caller = getattr(self.manager.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):  # pluggy calls the last registered first
            try:
                results.append((impl.plugin_name, impl.function(*[kwargs[a] for a in impl.argnames])))
            except Exception as e:  # a plugin's failure must not end the session
                self.fail(impl.plugin_name, f"{hook_name} failed: {type(e).__name__}: {e}")
        return results


def _parse_plugin_env(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in text.split(","):
        item = item.strip()
        if item:
            name, _, target = item.partition("=")
            out[name.strip()] = target.strip()
    return out


def _import_target(target: str) -> types.ModuleType:
    """``some.module`` or ``/path/to/file.py``."""
    if target.endswith(".py") or os.sep in target:
        name = "crashcompat_plugin_" + os.path.splitext(os.path.basename(target))[0]
        spec = importlib.util.spec_from_file_location(name, target)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {target}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        return module
    return importlib.import_module(target)
