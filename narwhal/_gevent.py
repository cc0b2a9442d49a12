"""The gevent worker's calls into gevent (the worker itself is C++: src/workers/gevent_worker.cpp).

The C++ loop runs in the main greenlet and waits for its epoll descriptor through the hub, so
the hub runs the requests' greenlets meanwhile. Each request runs in a pooled greenlet that
calls back into C++ (``serve``); every wait on a client socket there yields to the hub through
``wait_fd``. Only what must speak gevent's API is here.
"""

from __future__ import annotations

from typing import Any, Callable


def setup() -> None:
    """In the worker, before the app is imported: what gunicorn's GeventWorker.init_process does."""
    from gevent import monkey

    monkey.patch_all()
    import gevent

    gevent.reinit()  # a hub the master created (preloaded app) is reset for this process


class Hub:
    def __init__(self, epoll_fd: int, serve: Callable[[int], None]) -> None:
        from gevent import get_hub
        from gevent.hub import Waiter
        from greenlet import getcurrent, greenlet

        self._hub = get_hub()
        self._loop = self._hub.loop
        self._waiter_type = Waiter
        self._greenlet_type = greenlet
        self._getcurrent = getcurrent
        self._epoll_io = self._loop.io(epoll_fd, 1)
        self._serve = serve
        self._idle: list[Any] = []
        self._loop_waiter: Any = None

    # ---- the C++ loop (main greenlet) ----
    def wait_loop(self, timeout: float) -> None:
        """Until the loop's epoll descriptor is readable, wake() is called, or `timeout` s."""
        waiter = self._waiter_type(self._hub)
        timer = self._loop.timer(timeout)
        self._loop_waiter = waiter
        self._epoll_io.start(waiter.switch, None)
        timer.start(waiter.switch, None)
        try:
            waiter.get()
        finally:
            self._loop_waiter = None
            self._epoll_io.stop()
            timer.close()

    def wake(self) -> None:
        """A request finished: the loop (if waiting) resumes to take it back."""
        waiter = self._loop_waiter
        if waiter is not None:
            self._loop_waiter = None
            self._loop.run_callback(waiter.switch, None)

    def dispatch(self, token: int) -> None:
        """Runs serve(token) in a pooled greenlet (reused: creating one costs ~20 µs)."""
        green = self._idle.pop() if self._idle else self._greenlet_type(self._run, self._hub)
        self._loop.run_callback(green.switch, token)

    def _run(self, token: int) -> None:
        serve, idle, switch = self._serve, self._idle, self._hub.switch
        me = self._getcurrent()
        while True:
            serve(token)
            idle.append(me)
            token = switch()

    def idle_count(self) -> int:
        return len(self._idle)

    # ---- request greenlets ----
    def wait_fd(self, fd: int, write: bool, timeout: float) -> bool:
        """True when `fd` is readable (writable), False after `timeout` s."""
        waiter = self._waiter_type(self._hub)
        io = self._loop.io(fd, 2 if write else 1)
        timer = self._loop.timer(timeout)
        io.start(waiter.switch, True)
        timer.start(waiter.switch, False)
        try:
            return waiter.get()
        finally:
            io.close()
            timer.close()

    def sleep(self, seconds: float) -> None:
        import gevent

        gevent.sleep(seconds)
