"""The plugin host: pluggy's PluginManager, failure-isolated discovery, and the typed hook facade.

Built-in command families and third-party packages are found the same way, through the entry-point
group ``crashcompat.plugins``.  ``CRASHCOMPAT_PLUGINS`` adds plugins (``name=module`` or
``name=/path/file.py``, comma separated) and ``CRASHCOMPAT_DISABLE_PLUGINS`` blocks names by glob
(``*`` disables every plugin not named in ``CRASHCOMPAT_PLUGINS``).  A plugin that fails to import,
validate or answer a hook is reported once and skipped; the session goes on.

Hooks are called through pluggy's own hook calling, so hook wrappers and ``firstresult`` work; the
isolation comes from a guard around each implementation, put there when the plugin is registered.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import importlib
import importlib.metadata
import importlib.util
import os
import sys
import types
from collections.abc import Callable, Generator, Iterable, Iterator
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
    """The typed facade: one method per hookspec, so every call site is type-checked.

    Each method calls the hook through pluggy (``manager.hook.crashcompat_*``), so hook wrappers,
    ``tryfirst``/``trylast`` and ``firstresult`` specs behave as pluggy documents; the failure isolation
    lives in the guards :class:`PluginHost` puts around every implementation when it registers it.
    """

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def commands(self) -> list[tuple[str, Command]]:
        """(plugin name, command) for every command every plugin provides, in pluggy's call order."""
        host = self._host
        with host.answers() as answered_by:
            results = host.manager.hook.crashcompat_commands()
        out: list[tuple[str, Command]] = []
        for result in results:
            name = answered_by.get(id(result), UNKNOWN_PLUGIN)
            if isinstance(result, (str, bytes)) or not isinstance(result, Iterable):
                host.fail(name, f"crashcompat_commands returned {result!r}, not a list of commands")
                continue
            out.extend((name, cmd) for cmd in result)
        return out

    def session_opened(self, session: Session) -> None:
        self._host.manager.hook.crashcompat_session_opened(session=session)

    def session_closed(self, session: Session) -> None:
        self._host.manager.hook.crashcompat_session_closed(session=session)

    def target_resumed(self, session: Session) -> None:
        self._host.manager.hook.crashcompat_target_resumed(session=session)


class PluginHost:
    """Owns ``pluggy.PluginManager("crashcompat")`` and the record of what loaded and what failed.

    A plugin is not registered with pluggy as it is: :meth:`_register` registers a stand-in module whose
    attributes are the plugin's hook implementations, each behind a guard (:func:`_guard`) that keeps
    pluggy's marker and the implementation's signature.  A guard turns what the plugin raises into one
    ``WARNING: plugin NAME: ...`` line and answers as if the plugin had not been there, so pluggy's own
    call path runs everything else.
    """

    def __init__(self) -> None:
        self.manager = pluggy.PluginManager(PROJECT)
        self.manager.add_hookspecs(hookspecs)
        self.records: dict[str, PluginRecord] = {}
        self.hooks = Hooks(self)
        self.warnings: list[str] = []
        self._originals: dict[str, object] = {}
        self._answered_by: dict[int, str] | None = None

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
        packages: dict[int, tuple[str, str]] = {}  # a distribution's name and version: its metadata read once
        for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
            if ep.name in seen or is_disabled(ep.name):
                continue
            seen.add(ep.name)
            dist = ep.dist
            if dist is not None and id(dist) not in packages:
                metadata = dist.metadata
                packages[id(dist)] = (metadata["Name"], metadata["Version"])
            name, version = packages[id(dist)] if dist is not None else ("", "")
            self._register(PluginRecord(ep.name, ep.value, name, version), ep.load)
        for name, target in enabled.items():
            if name in seen or not target:
                continue
            seen.add(name)
            self._register(PluginRecord(name, target), functools.partial(_import_target, target))
        for name, plugin in extra:
            record = PluginRecord(name, getattr(plugin, "__name__", repr(plugin)))
            self._register(record, functools.partial(_identity, plugin))

    def _register(self, record: PluginRecord, loader: Callable[[], object]) -> None:
        self.records[record.name] = record
        try:
            plugin = loader()
            if any(original is plugin for original in self._originals.values()):
                raise ValueError(f"already registered as {self.plugin_name(plugin)}")
            self.manager.register(self._guarded(plugin, record.name), name=record.name)
        except PLUGIN_ERRORS as e:
            self.fail(record.name, _describe(e))
            return
        self._originals[record.name] = plugin
        try:
            self.manager.check_pending()
        except pluggy.PluginValidationError as e:
            self.manager.unregister(name=record.name)
            del self._originals[record.name]
            self.fail(record.name, str(e))

    def _guarded(self, plugin: object, name: str) -> types.ModuleType:
        """A stand-in for *plugin*: a module holding its hook implementations, each behind a guard."""
        stand_in = types.ModuleType(f"{PROJECT}.guarded.{name}", getattr(plugin, "__doc__", None))
        for attr in dir(plugin):
            opts = self.manager.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                continue
            hook_name = opts.get("specname") or attr
            setattr(stand_in, attr, _guard(self, name, hook_name, getattr(plugin, attr), dict(opts)))
        return stand_in

    def plugin(self, name: str) -> object | None:
        """The plugin object (module or instance) registered as *name*, or ``None``."""
        return self._originals.get(name)

    def plugin_name(self, plugin: object) -> str | None:
        """The name *plugin* (the object that was loaded) is registered under, or ``None``."""
        return next((name for name, original in self._originals.items() if original is plugin), None)

    def fail(self, name: str, message: str) -> None:
        """Record *name*'s first failure and queue its ``WARNING: plugin NAME: ... (skipped)`` line."""
        record = self.records.setdefault(name, PluginRecord(name, ""))
        if not record.error:
            record.error = message
            self.warnings.append(f"WARNING: plugin {name}: {message} (skipped)")

    @contextlib.contextmanager
    def answers(self) -> Iterator[dict[int, str]]:
        """While in effect, the guards note which plugin answered: ``id(result)`` → plugin name."""
        saved, self._answered_by = self._answered_by, {}
        try:
            yield self._answered_by
        finally:
            self._answered_by = saved

    def _answered(self, plugin_name: str, result: object) -> None:
        if self._answered_by is not None and result is not None:
            self._answered_by[id(result)] = plugin_name


#: What plugin code may raise that the host catches, reports and survives: any error, and also
#: ``sys.exit()`` or an interrupt raised inside a plugin's import or hook.
PLUGIN_ERRORS: tuple[type[BaseException], ...] = (Exception, SystemExit, KeyboardInterrupt)

#: The plugin name given to results no guard answered for (a hook wrapper's own results).
UNKNOWN_PLUGIN = "?"


def _guard(
    host: PluginHost, plugin_name: str, hook_name: str, function: Callable[..., Any], opts: dict[str, Any]
) -> Callable[..., Any]:
    """*function* (a hook implementation of plugin *plugin_name*) behind a guard: what it raises is
    reported once (:meth:`PluginHost.fail`) and the call goes on as if the plugin had no implementation —
    ``None`` for a plain one, the inner result passed through for a wrapper.

    The guard keeps pluggy's view of *function*: ``functools.wraps`` gives it ``__wrapped__`` (pluggy
    reads the argument names through it), and the marker options *opts* are set on it; a wrapper's
    guard is itself a generator function, as pluggy requires.
    """

    def report(e: BaseException | str) -> None:
        text = e if isinstance(e, str) else _describe(e)
        host.fail(plugin_name, f"{hook_name} failed: {text}")

    guarded: Callable[..., Any]
    if opts.get("wrapper"):  # new style: ``result = yield``, returns the result

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Generator[None, Any, Any]:
            try:
                gen = function(*args, **kwargs)
                next(gen)
            except StopIteration:
                report("the wrapper did not yield")
                return (yield)
            except PLUGIN_ERRORS as e:
                report(e)
                return (yield)
            try:
                result = yield
            except BaseException as inner:  # the inner call failed: the wrapper may handle it
                try:
                    gen.throw(inner)
                except StopIteration as stop:
                    return stop.value
                except BaseException as e:
                    if e is not inner and isinstance(e, PLUGIN_ERRORS):
                        report(e)
                        raise inner from None
                    raise
                gen.close()
                report("the wrapper yielded more than once")
                raise
            try:
                gen.send(result)
            except StopIteration as stop:
                return stop.value
            except PLUGIN_ERRORS as e:
                report(e)
                return result
            gen.close()
            report("the wrapper yielded more than once")
            return result

    elif opts.get("hookwrapper"):  # old style: ``outcome = yield``, the outcome object carries the result

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Generator[None, Any, None]:
            try:
                gen = function(*args, **kwargs)
                next(gen)
            except StopIteration:
                report("the hookwrapper did not yield")
                yield
                return
            except PLUGIN_ERRORS as e:
                report(e)
                yield
                return
            outcome = yield
            try:
                gen.send(outcome)
            except StopIteration:
                return
            except PLUGIN_ERRORS as e:
                report(e)
                return
            gen.close()
            report("the hookwrapper yielded more than once")

    else:

        @functools.wraps(function)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                result = function(*args, **kwargs)
            except PLUGIN_ERRORS as e:
                report(e)
                return None
            host._answered(plugin_name, result)
            return result

    setattr(guarded, f"{PROJECT}_impl", opts)
    return guarded


def _describe(e: BaseException) -> str:
    """``Type: message``, or ``Type`` alone for an exception without a message."""
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


def _identity(plugin: object) -> object:
    return plugin


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
