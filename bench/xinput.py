"""Real input for the browser benches: an X server of their own (Xvfb) and the X server's
XTest extension, which sends pointer moves, button presses and wheel clicks as a mouse does.

A browser bench drives Chromium through the DevTools protocol (Playwright's ``mouse``), and
Chromium holds a protocol wheel until the renderer's next frame before the page gets it
(docs/measurements.md, "where the wheel's page clock goes"); a wheel click through XTest
reaches the page like a reader's wheel. Headed Chromium on :class:`Xvfb` gets these events
from :class:`XTest` (``libXtst`` through ``ctypes``: the call returns in microseconds, where
``xdotool`` would add a process start to every step).

Needs the ``Xvfb`` program and the ``libX11``/``libXtst`` libraries (Debian: ``apt-get
install xvfb xdotool``; xdotool brings libxtst6); :func:`missing` says what is absent.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess
from types import TracebackType

#: X button numbers: right (W/L in the viewer), wheel up (zoom in), wheel down.
RIGHT, WHEEL_UP, WHEEL_DOWN = 3, 4, 5


def missing() -> list[str]:
    """What real input needs and this machine lacks ([] when it can run)."""
    out = [] if shutil.which("Xvfb") else ["Xvfb"]
    out += [f"lib{name}" for name in ("X11", "Xtst") if ctypes.util.find_library(name) is None]
    return out


class Xvfb:
    """An Xvfb server on a free display number (``-displayfd``), stopped on exit.

    >>> with Xvfb(1700, 2200) as display:  # doctest: +SKIP
    ...     os.environ["DISPLAY"] = display
    """

    def __init__(self, width: int, height: int) -> None:
        self.size = f"{width}x{height}x24"
        self.proc: subprocess.Popen[bytes] | None = None
        self.display = ""

    def __enter__(self) -> str:
        if shutil.which("Xvfb") is None:
            raise RuntimeError("Xvfb is not installed: apt-get install xvfb")
        read, write = os.pipe()
        try:
            self.proc = subprocess.Popen(
                ["Xvfb", "-displayfd", str(write), "-screen", "0", self.size, "-nolisten", "tcp"],
                pass_fds=(write,),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            os.close(write)
            write = -1
            got = b""
            while not got.endswith(b"\n"):  # the display number, once it accepts clients
                chunk = os.read(read, 16)
                if not chunk:
                    raise RuntimeError(
                        f"Xvfb exited with {self.proc.wait()} before giving a display number"
                    )
                got += chunk
        except BaseException:
            self.__exit__(None, None, None)  # no server left behind
            raise
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)
        self.display = f":{got.decode().strip()}"
        return self.display

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class XTest:
    """Pointer and button events through the XTest extension of ``display``: what the X
    server does with a real mouse's, to the window under the pointer."""

    def __init__(self, display: str) -> None:
        x11 = ctypes.util.find_library("X11")
        xtst = ctypes.util.find_library("Xtst")
        if x11 is None or xtst is None:
            raise RuntimeError(
                "libX11 and libXtst are needed for XTest input: apt-get install xdotool"
            )
        self._x = ctypes.CDLL(x11)
        self._t = ctypes.CDLL(xtst)
        self._x.XOpenDisplay.restype = ctypes.c_void_p
        self._x.XOpenDisplay.argtypes = [ctypes.c_char_p]
        for name in ("XFlush", "XCloseDisplay"):
            getattr(self._x, name).argtypes = [ctypes.c_void_p]
        self._t.XTestFakeMotionEvent.argtypes = (
            [ctypes.c_void_p] + [ctypes.c_int] * 3 + [ctypes.c_ulong]
        )
        self._t.XTestFakeButtonEvent.argtypes = [
            ctypes.c_void_p,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_ulong,
        ]
        self._dpy = self._x.XOpenDisplay(display.encode())
        if not self._dpy:
            raise RuntimeError(f"cannot open X display {display!r} (is its Xvfb running?)")

    def move(self, x: float, y: float) -> None:
        """The pointer to screen pixel (x, y)."""
        self._t.XTestFakeMotionEvent(self._dpy, 0, round(x), round(y), 0)
        self._x.XFlush(self._dpy)

    def button(self, number: int, down: bool) -> None:
        """Press (``down``) or release button ``number``."""
        self._t.XTestFakeButtonEvent(self._dpy, number, 1 if down else 0, 0)
        self._x.XFlush(self._dpy)

    def click(self, number: int) -> None:
        """Press and release ``number`` (4 and 5: one wheel click up and down)."""
        self._t.XTestFakeButtonEvent(self._dpy, number, 1, 0)
        self._t.XTestFakeButtonEvent(self._dpy, number, 0, 0)
        self._x.XFlush(self._dpy)

    def close(self) -> None:
        if self._dpy:
            self._x.XCloseDisplay(self._dpy)
            self._dpy = None
