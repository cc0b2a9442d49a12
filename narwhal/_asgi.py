"""The asgi worker's calls into asyncio (the worker itself is C++: src/workers/asgi_worker.cpp).

The asyncio (or uvloop) event loop runs the worker: the C++ engine (accept, parse, write) takes
a turn whenever its epoll descriptor is readable (a reader callback) and on a periodic tick.
Only the application's coroutines and the lifespan protocol run here.
"""

from __future__ import annotations

import asyncio
import traceback
from typing import Any, Callable

TICK_SECONDS = 0.5  # the C++ loop's turn at least this often (heartbeat, signals, deadlines)


def new_loop(kind: str) -> asyncio.AbstractEventLoop:
    """asgi_loop: ``auto`` takes uvloop when importable, else asyncio's loop."""
    if kind in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if kind == "uvloop":
                raise
        else:
            loop = uvloop.new_event_loop()
            asyncio.set_event_loop(loop)
            return loop
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    return loop


class Runner:
    def __init__(self, epoll_fd: int, kind: str) -> None:
        self.loop = new_loop(kind)
        self.kind = type(self.loop).__module__.split(".")[0]  # "uvloop" or "asyncio"
        self.epoll_fd = epoll_fd

    def run(self, step: Callable[[], None]) -> None:
        """Serves until ``step`` stops the loop: the C++ engine takes a turn whenever its epoll
        descriptor is readable, and at least every TICK_SECONDS."""
        loop = self.loop

        def tick() -> None:
            step()
            loop.call_later(TICK_SECONDS, tick)

        loop.add_reader(self.epoll_fd, step)
        loop.call_later(TICK_SECONDS, tick)
        try:
            loop.run_forever()
        finally:
            loop.remove_reader(self.epoll_fd)


class Lifespan:
    """The ASGI lifespan protocol (spec 2.0) for one worker: startup before it accepts
    connections, shutdown when it stops; ``state`` is copied into every request's scope."""

    def __init__(self, app: Callable[..., Any], loop: asyncio.AbstractEventLoop) -> None:
        self.app = app
        self.loop = loop
        self.state: dict[str, Any] = {}
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()
        self.startup_complete = False
        self.failed_message: str | None = None
        self.error: str | None = None
        self.task: asyncio.Task[None] | None = None

    async def _main(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": self.state}
        try:
            await self.app(scope, self._receive, self._send)
        except BaseException:  # noqa: BLE001 - reported by startup()/shutdown()
            self.error = traceback.format_exc().rstrip()
        finally:
            self.started.set()
            self.stopped.set()

    async def _receive(self) -> dict[str, Any]:
        return await self.queue.get()

    async def _send(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            self.startup_complete = True
            self.started.set()
        elif kind == "lifespan.startup.failed":
            self.failed_message = str(message.get("message", ""))
            self.started.set()
        elif kind == "lifespan.shutdown.complete":
            self.stopped.set()
        elif kind == "lifespan.shutdown.failed":
            self.failed_message = str(message.get("message", ""))
            self.stopped.set()
        else:
            raise RuntimeError(f"Unexpected ASGI lifespan message {kind!r}")

    def startup(self, mode: str) -> tuple[str, str] | None:
        """None when the app started; else (level, text): level "info" (auto mode, the app does
        not support lifespan: serve anyway) or "error" (the worker must stop)."""
        self.task = self.loop.create_task(self._main())
        self.queue.put_nowait({"type": "lifespan.startup"})
        self.loop.run_until_complete(self.started.wait())
        if self.failed_message is not None:
            text = "Application startup failed. Exiting."
            if self.failed_message:
                text = self.failed_message + "\n" + text
            return ("error", text)
        if not self.startup_complete:
            if mode == "auto" and self.error is not None:
                self.task = None
                return ("info", "ASGI 'lifespan' protocol appears unsupported.")
            if self.error is not None:
                return ("error", "Exception in 'lifespan' protocol\n" + self.error)
            return ("error", "ASGI lifespan: the application returned without completing startup")
        return None

    def shutdown(self, timeout: float) -> tuple[str, str] | None:
        if self.task is None or self.task.done():
            return None
        self.failed_message = None
        self.queue.put_nowait({"type": "lifespan.shutdown"})
        try:
            self.loop.run_until_complete(asyncio.wait_for(self.stopped.wait(), timeout))
        except asyncio.TimeoutError:
            return ("warning", f"ASGI lifespan shutdown did not complete within {timeout:g} s")
        if self.failed_message is not None:
            return ("error", "Application shutdown failed. " + self.failed_message)
        if self.error is not None:
            return ("error", "Exception in 'lifespan' protocol\n" + self.error)
        return None
