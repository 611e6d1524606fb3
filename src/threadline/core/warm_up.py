"""A process's first thread and first turn, without their first-use costs in the way.

Wire, event and item models are built on first use (``defer_build``). A model built
before the models its fields name generates their schemas inline and keeps none of
them, so a model named by many others (the thread item union: ``Turn``, ``Thread``,
``item/started``, ``item/completed``) is generated again for each of them.
:func:`build_bottom_up` builds the named models first, so each schema is generated
once and reused; :func:`build_thread_models` does it for ``Thread`` when a process
starts its first thread (the first turn then finds ``Turn`` and the items ready).

The server's warm-up thread (``cli.serve.warm_up_later``) builds the first turn's models
and imports the model SDK ahead of time. It must not slow the requests it runs beside:
the interpreter lock is shared, so a request handled while it imports runs at about
half speed. :class:`Yielder` makes it wait, before each model and each module, while
the event loop's thread is handling something.
"""

from __future__ import annotations

import asyncio.runners
import contextlib
import importlib
import os
import selectors
import sys
import threading
import time
import typing
from collections.abc import Callable, Iterable, Iterator, Sequence
from importlib.machinery import ModuleSpec
from types import CodeType, ModuleType
from typing import Any

from pydantic import BaseModel

__all__ = [
    "FIRST_ANSWER_MODELS",
    "FIRST_TURN_MODELS",
    "Yielder",
    "build_bottom_up",
    "build_thread_models",
    "import_in_idle_steps",
    "import_yielding",
    "model_client_awaited",
    "model_client_wanted",
    "models_named",
    "waiting_for_model_client",
]

FIRST_TURN_MODELS: Sequence[str] = (
    # thread/start
    "threadline.protocol.v2.thread_ops:ThreadStartParams",
    "threadline.protocol.v2.thread:Thread",
    "threadline.protocol.v2.thread_ops:ThreadStartedNotification",
    "threadline.protocol.v2.thread_ops:ThreadStartResponse",
    # turn/start -> turn/started
    "threadline.protocol.v2.turn:TurnStartParams",
    "threadline.protocol.v2.turn:TurnStartResponse",
    "threadline.protocol.events:StatusChanged",
    "threadline.protocol.v2.thread:ThreadStatusChangedNotification",
    "threadline.protocol.events:TaskStarted",
    "threadline.protocol.events:TurnStartedEvent",
    "threadline.protocol.v2.turn:TurnStartedNotification",
)
"""``module:class`` of the models a process's first ``thread/start`` and its first turn build
before ``turn/started``, in the order they need them (measured: what a fresh server builds)."""

FIRST_ANSWER_MODELS: Sequence[str] = (
    "threadline.protocol.items:MessageItem",
    "threadline.protocol.events:ItemStarted",
    "threadline.protocol.v2.item:ItemStartedNotification",
    "threadline.protocol.events:UserMessage",
    "threadline.protocol.events:ItemCompleted",
    "threadline.protocol.v2.item:ItemCompletedNotification",
    "threadline.protocol.events:AgentMessage",
    "threadline.protocol.events:TokenCount",
    "threadline.protocol.events:TokenUsageUpdated",
    "threadline.protocol.v2.usage:ThreadTokenUsageUpdatedNotification",
    "threadline.protocol.v2.misc:RateLimitSnapshot",
    "threadline.protocol.v2.misc:AccountRateLimitsUpdatedNotification",
    "threadline.protocol.events:TaskComplete",
    "threadline.protocol.events:ReadStateChanged",
    "threadline.protocol.v2.thread_ops:ThreadReadStateChangedNotification",
    "threadline.protocol.events:TurnCompletedEvent",
    "threadline.protocol.v2.turn:TurnCompletedNotification",
)
"""The same for the rest of a first turn: its items, the answer, usage and its end."""

THREAD_MODEL = "threadline.protocol.v2.thread:Thread"
TURN_MODEL = "threadline.protocol.v2.turn:Turn"

_client_wanted = threading.Event()
_clients_waited = 0
_clients_lock = threading.Lock()


@contextlib.contextmanager
def waiting_for_model_client() -> Iterator[None]:
    """A turn waits for its model client while this block runs: from now on the warm-up's
    imports (the very modules the client needs, whose locks it may hold) stop yielding,
    and meanwhile its model builds hold back (:func:`model_client_awaited`): the client's
    own build (its HTTP stack, the TLS context) is on the turn's path."""
    global _clients_waited
    _client_wanted.set()
    with _clients_lock:
        _clients_waited += 1
    try:
        yield
    finally:
        with _clients_lock:
            _clients_waited -= 1


def model_client_wanted() -> bool:
    """Whether a turn has ever waited for its model client in this process."""
    return _client_wanted.is_set()


def model_client_awaited() -> bool:
    """Whether a turn waits for its model client now."""
    return _clients_waited > 0


def models_named(names: Iterable[str]) -> list[type[BaseModel]]:
    """The model classes ``names`` (``module:class``) name; modules not yet imported are
    imported, names that are not models are left out."""
    out: list[type[BaseModel]] = []
    for name in names:
        module_name, _, attr = name.partition(":")
        try:
            value = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            continue
        if isinstance(value, type) and issubclass(value, BaseModel):
            out.append(value)
    return out


def _named_models(annotation: Any, out: list[type[BaseModel]]) -> None:
    """The model classes an annotation names (through unions, ``Annotated``, containers)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        out.append(annotation)
        return
    for arg in typing.get_args(annotation):
        _named_models(arg, out)


def _fields_models(cls: type[BaseModel]) -> list[type[BaseModel]]:
    named: list[type[BaseModel]] = []
    for info in cls.__pydantic_fields__.values():
        _named_models(info.annotation, named)
    return list(dict.fromkeys(named))


def shared_models(roots: Iterable[type[BaseModel]]) -> set[type[BaseModel]]:
    """The not yet built models that two or more not yet built models of the ``roots``'
    closure name: the ones whose schema a top-down build would generate more than once."""
    parents: dict[type[BaseModel], set[type[BaseModel]]] = {}
    seen: set[type[BaseModel]] = set()
    stack = list(roots)
    while stack:
        cls = stack.pop()
        if cls in seen or cls.__pydantic_complete__:
            continue
        seen.add(cls)
        for child in _fields_models(cls):
            if not child.__pydantic_complete__:
                parents.setdefault(child, set()).add(cls)
                stack.append(child)
    return {cls for cls, named_by in parents.items() if len(named_by) >= 2}


def _deferred_fields_first(
    cls: type[BaseModel], seen: set[type[BaseModel]]
) -> Iterator[type[BaseModel]]:
    """``cls`` and the not yet built models its fields name, each after those it names."""
    if cls in seen:
        return
    seen.add(cls)
    if cls.__pydantic_complete__:
        return
    for child in _fields_models(cls):
        yield from _deferred_fields_first(child, seen)
    yield cls


def build_bottom_up(
    models: Iterable[type[BaseModel]],
    before_each: Callable[[], object] | None = None,
    *,
    shared_with: Iterable[type[BaseModel]] | None = None,
) -> int:
    """Build the validator and serializer of each of ``models`` not built yet, each after
    the models its fields name (so every schema is generated once); returns how many were
    built. ``before_each`` runs before each build (the warm-up waits there).

    With ``shared_with``, of the models ``models`` name only those that two or more models
    of the closure of ``models`` and ``shared_with`` name are built on their own (the others'
    schemas are generated inside the one model that names them: a build costs a fixed
    share besides its schema, so a hundred small builds cost more than one big one).

    pydantic builds under one process-wide lock: a request that needs a model being
    built here waits for it instead of building it a second time."""
    roots = list(models)
    alone = None
    if shared_with is not None:
        alone = shared_models([*roots, *shared_with]) | set(roots)
    built = 0
    seen: set[type[BaseModel]] = set()
    for model in roots:
        for cls in _deferred_fields_first(model, seen):
            if cls.__pydantic_complete__ or (alone is not None and cls not in alone):
                continue
            if before_each is not None:
                before_each()
            with contextlib.suppress(Exception):  # left for its first use to report
                cls.model_rebuild()
                built += 1
    return built


_thread_models_built = False


def build_thread_models() -> None:
    """Build the wire ``Thread`` bottom-up, once per process: a ``thread/start`` builds it
    anyway, and built this way its turn and item models are left built for the first turn
    (about 10 ms less before ``turn/started``, 20 ms less before its items are sent)."""
    global _thread_models_built
    if _thread_models_built:
        return
    _thread_models_built = True
    build_bottom_up(
        # ``Thread.turns`` does not name ``Turn`` (protocol/v2/lazy_fields.py), so the
        # turn is a root of its own: built here, not by the first turn's first note.
        models_named([THREAD_MODEL, TURN_MODEL]),
        shared_with=models_named([*FIRST_TURN_MODELS, *FIRST_ANSWER_MODELS]),
    )


def _loop_wait_codes() -> frozenset[CodeType]:
    """The code of the innermost Python frame of a thread whose event loop waits for
    events: ``Runner.run`` under uvloop (its loop is native code), the selector's
    ``select`` under asyncio's own loop."""
    codes = {asyncio.runners.Runner.run.__code__}
    for name in ("EpollSelector", "PollSelector", "SelectSelector", "KqueueSelector",
                 "DevpollSelector"):
        selector = getattr(selectors, name, None)
        if selector is not None:
            codes.add(selector.select.__code__)
    return frozenset(codes)


BUSY_CPU_SHARE = 0.2
""":class:`Yielder`: the share of the time between two polls that the loop's thread may
spend on the CPU and still count as idle (its own reactions to this thread's polls, a
timer's callback)."""


class Yielder:
    """Holds a background thread back while the event loop's thread is busy.

    The loop's thread is idle when its innermost Python frame is the loop waiting for
    events, or the import system waiting for a module's lock (which this thread may hold
    while it imports that module). A request that awaits (a store write in a worker
    thread) leaves the loop idle for a moment between its steps, so after seeing the loop
    busy :meth:`wait` wants it idle for ``settle_s`` in a row before it returns: every
    poll from the first idle one on must find it idle, and those polls come every
    ``poll_s``. It returns after ``max_wait_s`` at the most, so background work always
    moves on; it polls less often (up to ``max_poll_s``) while the loop stays busy.
    A poll's look at the frame is biased towards idle: this thread gets the interpreter
    lock mostly when the loop's thread lets it go, which is when it waits for events,
    and the loop's thread looks idle too while, back from that wait, it waits for the
    lock this thread holds. So a poll also counts the loop busy when the loop's thread
    used more than :data:`BUSY_CPU_SHARE` of the time since the previous poll on the CPU
    (its thread CPU clock), which covers what it did in between, while this thread
    worked too: a request that came during a step holds the next one back.

    ``hold()``, when given, counts as busy too (other work on a turn's path), and so does
    a big history being loaded or answered (``core.stored.loading``): its load runs in a
    worker thread and leaves the loop idle, but shares the interpreter with this thread.

    With ``step_switch_interval_s`` the interpreter lock changes hands that often while
    the background thread works (a request arriving meanwhile waits that long, not the
    default 5 ms, each time it needs the lock back) and at the default rate while it
    waits (its polls then barely interrupt the loop's thread); :meth:`close` puts the
    default back.
    """

    def __init__(
        self, loop_thread_id: int | None = None, *, poll_s: float = 0.001,
        max_poll_s: float = 0.01, settle_s: float = 0.002, max_wait_s: float = 1.0,
        step_switch_interval_s: float | None = None, hold: Callable[[], bool] | None = None,
    ) -> None:
        from threadline.core.stored import loading  # loaded with the server's handlers

        self._loop_thread = loop_thread_id or threading.main_thread().ident
        self._hold = hold
        self._loading = loading
        self._idle = _loop_wait_codes()
        self.poll_s = poll_s
        self.max_poll_s = max(poll_s, max_poll_s)
        self.settle_s = settle_s
        self.max_wait_s = max_wait_s
        self._default_interval = sys.getswitchinterval()
        self._step_interval = step_switch_interval_s
        self._idle_since: float | None = None
        """Since when every poll found the loop idle (None: none has yet, or the last one
        found it busy): even a first wait sees the loop idle for ``settle_s``."""
        try:
            self._loop_clock: int | None = time.pthread_getcpuclockid(self._loop_thread or 0)
        except (AttributeError, OSError):
            self._loop_clock = None  # no thread CPU clocks here: the frame alone decides
        self._polled = (time.monotonic(), self._loop_cpu())
        self.waited_s = 0.0
        """Time spent waiting so far (for measurements)."""
        if step_switch_interval_s is not None:
            sys.setswitchinterval(min(self._default_interval, step_switch_interval_s))

    def loop_idle(self) -> bool:
        frame = sys._current_frames().get(self._loop_thread or 0)
        if frame is None:
            return True
        code = frame.f_code
        if code.co_name == "acquire" and code.co_filename == "<frozen importlib._bootstrap>":
            return True  # it waits for a module's lock this thread may hold: go on, even mid-load
        return code in self._idle and not self._loading()

    def _loop_cpu(self) -> float:
        if self._loop_clock is None:
            return 0.0
        try:
            return time.clock_gettime(self._loop_clock)
        except OSError:
            self._loop_clock = None  # the loop's thread is gone
            return 0.0

    def _loop_ran(self, now: float) -> bool:
        """Whether the loop's thread was on the CPU for more than its share since the
        previous poll."""
        cpu = self._loop_cpu()
        at, before = self._polled
        self._polled = (now, cpu)
        return cpu - before > BUSY_CPU_SHARE * max(now - at, 0.0)

    def wait(self, stop: Callable[[], bool] | None = None, *, use_hold: bool = True) -> None:
        """Return once the loop has been idle for ``settle_s`` (and ``hold()`` is false,
        unless ``use_hold`` is false), after ``max_wait_s`` at the most, or at once when
        ``stop()`` is true."""
        hold = self._hold if use_hold else None
        now = started = time.monotonic()
        deadline = started + self.max_wait_s
        busy_poll = self.poll_s
        slowed = False
        while now < deadline:
            if stop is not None and stop():
                break
            ran = self._loop_ran(now)
            if ran or not self.loop_idle() or (hold is not None and hold()):
                self._idle_since = None
                pause = busy_poll
                busy_poll = min(busy_poll * 2, self.max_poll_s)
            else:
                if self._idle_since is None:
                    self._idle_since = now
                if now - self._idle_since >= self.settle_s:
                    break
                pause = self.poll_s  # idle polls come close together: a busy moment is seen
            if not slowed and self._step_interval is not None:
                sys.setswitchinterval(self._default_interval)
                slowed = True
            time.sleep(pause)
            now = time.monotonic()
        if slowed and self._step_interval is not None:
            sys.setswitchinterval(min(self._default_interval, self._step_interval))
        self.waited_s += now - started

    def close(self) -> None:
        """Put the interpreter's default switch interval back."""
        if self._step_interval is not None:
            sys.setswitchinterval(self._default_interval)


class _GatedLoader:
    """Stands in for a module's loader until the module runs: waits (``before_each``), puts
    the real loader back and runs the module with it. The import system calls finders
    under its global lock but runs a module under that module's lock alone, so the wait
    happens here, never in ``find_spec``: another thread's imports go on meanwhile."""

    def __init__(
        self, loader: Any, spec: ModuleSpec, before_each: Callable[[], object],
        until: Callable[[], bool] | None,
    ) -> None:
        self._loader = loader
        self._spec = spec
        self._before_each = before_each
        self._until = until

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        create = getattr(self._loader, "create_module", None)
        return create(spec) if create is not None else None

    def exec_module(self, module: ModuleType) -> None:
        self._spec.loader = self._loader
        with contextlib.suppress(AttributeError, TypeError):
            module.__loader__ = self._loader
        if self._until is None or not self._until():
            self._before_each()
        self._loader.exec_module(module)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loader, name)


class _ImportGate:
    """A finder placed first on ``sys.meta_path`` while the warm-up imports: for the
    warm-up thread it finds each module's spec with the finders after it and has the
    module wait (:class:`_GatedLoader`) before it runs, for every module the imports
    load, not only the top-level ones. Other threads' imports pass through untouched."""

    def __init__(
        self, thread_id: int, before_each: Callable[[], object],
        until: Callable[[], bool] | None,
    ) -> None:
        self._thread = thread_id
        self._before_each = before_each
        self._until = until

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if threading.get_ident() != self._thread or (self._until is not None and self._until()):
            return None
        for finder in list(sys.meta_path):
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec = find(name, path, target)
            if spec is None:
                continue
            loader = spec.loader
            if loader is not None and hasattr(loader, "exec_module"):
                spec.loader = _GatedLoader(  # type: ignore[assignment]
                    loader, spec, self._before_each, self._until
                )
            return spec  # type: ignore[no-any-return]
        return None


def import_yielding(
    module_names: Iterable[str], before_each: Callable[[], object],
    until: Callable[[], bool] | None = None,
) -> None:
    """Import ``module_names`` on this thread, calling ``before_each`` before each module
    the imports run (theirs included), outside the import system's global lock; once
    ``until()`` is true the imports go on as usual (the gate costs about 6 % of the SDK's
    import time). A module that fails to import is left for the code that needs it to
    report.

    The gate goes on and off ``sys.meta_path`` by replacing the list, never by changing
    it in place: an import in another thread (the event loop's) walks the list it found,
    and removing the first finder under that walk would make it skip one, the path
    finder included, so that a module that exists is not found."""
    gate = _ImportGate(threading.get_ident(), before_each, until)
    sys.meta_path = [gate, *sys.meta_path]
    try:
        for name in module_names:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
    finally:
        sys.meta_path = [finder for finder in sys.meta_path if finder is not gate]


IDLE_STEPS_DELAY_S = 0.25
"""How long after it is asked for :func:`import_in_idle_steps` takes its first step (the
request that asked for it, a resume, has been answered by then as a rule)."""

IDLE_STEP_INTERVAL_S = 0.005
"""The pause between two of its steps, in which the loop serves whatever came meanwhile."""

IDLE_STEP_LATE_S = 0.003
"""A step that runs this much after it was due found the loop busy: it waits another
interval (at most :data:`IDLE_STEP_MAX_DEFERRALS` times in a row, then runs anyway)."""

IDLE_STEP_MAX_DEFERRALS = 20


def import_in_idle_steps(
    module_names: Sequence[str],
    *,
    hold: Callable[[], bool] | None = None,
    done: Callable[[], None] | None = None,
    delay_s: float = IDLE_STEPS_DELAY_S,
    interval_s: float = IDLE_STEP_INTERVAL_S,
) -> bool:
    """Import ``module_names`` on the running event loop's own thread, one module a step,
    when the loop has nothing else to do; ``done`` runs after the last. Returns whether
    the steps were scheduled (not without a running loop or with ``THREADLINE_WARM_UP=0``).

    For code a request left out and the next one needs (a resumed thread's turn code):
    imported here it is ready when that request comes, and no request pays for it.
    ``module_names`` are listed leaves first (each after the modules it imports), so a
    step runs one module's body, a millisecond or two: a request that comes meanwhile
    waits at most that long. Unlike the warm-up thread's imports, the steps never hold a
    module's import lock that the loop's thread may want: they run on that thread.

    A step waits (another interval) when it runs late, which means the loop was busy
    handling something, or while ``hold()`` is true (a big load under way). The
    collector is paused while a module runs (its objects live as long as the process).
    A module already imported is skipped, and one that fails to import is left for the
    code that needs it to report."""
    if os.environ.get("THREADLINE_WARM_UP", "1") == "0":
        return False
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return False
    from threadline.store.gc_pause import gc_paused  # loaded with any thread

    pending = list(reversed(module_names))
    deferred = 0

    def schedule(after_s: float) -> None:
        loop.call_later(after_s, step, loop.time() + after_s)

    def step(due: float) -> None:
        nonlocal deferred
        busy = loop.time() - due > IDLE_STEP_LATE_S or (hold is not None and hold())
        if busy and deferred < IDLE_STEP_MAX_DEFERRALS:
            deferred += 1
            schedule(interval_s)
            return
        deferred = 0
        while pending:
            name = pending.pop()
            if name in sys.modules:
                continue
            with gc_paused(), contextlib.suppress(Exception):
                importlib.import_module(name)
            break
        if any(name not in sys.modules for name in pending):
            schedule(interval_s)
        elif done is not None:
            done()

    schedule(delay_s)
    return True
