"""One lock for every use of scalecodec in the process.

scalecodec (under substrate-interface) is not safe for two threads at once, even with a
`RuntimeConfigurationObject` each: looking a type up sets that configuration on the type
class it returns (`decoder_class.runtime_config = self`), and the base classes (`Compact`,
`U32`, the `Struct` of every inner struct...) are shared by the whole process. A decode in one
thread then goes on with another thread's configuration, one that may be half-built or being
cleared (`'Decoder class for "Compact<u32>" not found'`, seen when the server's chain clients
start together). So scalecodec work holds `SCALECODEC`; a thread waiting for the network lets
it go (`released`), so that a devnet in the same process can decode what it is sent.
"""

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class ScalecodecLock:
    """Reentrant within a thread; `released` lets it go for a blocking wait and takes it back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local = threading.local()

    def _depth(self) -> int:
        depth: int = getattr(self._local, "depth", 0)
        return depth

    @contextmanager
    def held(self) -> Iterator[None]:
        depth = self._depth()
        if depth == 0:
            self._lock.acquire()
        self._local.depth = depth + 1
        try:
            yield
        finally:
            self._local.depth = depth
            if depth == 0:
                self._lock.release()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let the lock go, if this thread holds it, for the length of a wait on the network."""
        depth = self._depth()
        if depth:
            self._local.depth = 0
            self._lock.release()
        try:
            yield
        finally:
            if depth:
                self._lock.acquire()
                self._local.depth = depth


SCALECODEC = ScalecodecLock()
