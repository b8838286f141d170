"""Private, reloadable copies of a C library, for libraries with process-wide state (eSpeak NG).

``dlopen`` maps a file once per process however often it is opened. An anonymous in-memory copy
(``memfd``) is a different file, so it maps a private instance whose globals nobody else shares; and
``dlclose`` of that instance resets them. Kernels that refuse executable memfds fall back to the file
itself (shared, but still loaded and unloaded around each use).
"""

from __future__ import annotations

import _ctypes
import contextlib
import ctypes
import os
from collections.abc import Callable, Iterator

from chorus.engines.base import libc


class _Dladdr(ctypes.Structure):
    _fields_ = [
        ("dli_fname", ctypes.c_char_p),
        ("dli_fbase", ctypes.c_void_p),
        ("dli_sname", ctypes.c_char_p),
        ("dli_saddr", ctypes.c_void_p),
    ]


def resolve_library(library: str, symbol: str) -> str:
    """The file behind a library name such as ``libespeak-ng.so.1`` (raises OSError when missing).

    ``symbol`` is any function the library exports; its address tells ``dladdr`` which file it is.
    """
    probe = ctypes.CDLL(library, mode=ctypes.RTLD_LOCAL)
    handle = probe._handle
    try:
        if os.path.isabs(library):
            return library
        info = _Dladdr()
        prototype = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_Dladdr))
        dladdr = prototype(("dladdr", libc()))
        address = ctypes.cast(getattr(probe, symbol), ctypes.c_void_p).value
        if not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
            raise OSError(f"cannot locate the file behind {library}")
        return os.path.realpath(info.dli_fname.decode())
    finally:
        del probe
        _ctypes.dlclose(handle)


class PrivateLibrary:
    """A library file copied into anonymous memory; ``instance()`` loads a fresh copy each time."""

    def __init__(self, library: str, symbol: str, declare: Callable[[ctypes.CDLL], None], label: str) -> None:
        """Raises OSError when ``library`` cannot be found or loaded."""
        self._declare = declare
        self._memfd: int | None = None
        real_path = resolve_library(library, symbol)
        self.path = real_path
        with contextlib.suppress(OSError, AttributeError):
            fd = os.memfd_create(label, os.MFD_CLOEXEC)
            with open(real_path, "rb") as source:
                os.write(fd, source.read())
            self._memfd = fd
            self.path = f"/proc/self/fd/{fd}"
            try:
                with self.instance():
                    pass
            except OSError:
                self.close()
                self.path = real_path

    @contextlib.contextmanager
    def instance(self) -> Iterator[ctypes.CDLL]:
        """A freshly loaded instance, unloaded again (so its globals reset) on exit."""
        lib = ctypes.CDLL(self.path, mode=ctypes.RTLD_LOCAL)
        handle = lib._handle
        try:
            self._declare(lib)
            yield lib
        finally:
            del lib
            _ctypes.dlclose(handle)

    def close(self) -> None:
        fd, self._memfd = self._memfd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    def __del__(self) -> None:
        self.close()
