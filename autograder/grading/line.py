"""The referee's line to the student's kernel: opened for one test cell, closed after it.

:meth:`KernelLine.open` asks the kernel (through its Jupyter shell channel) to run the
kernel-side server, and accepts its connection on the sandbox's socket, from the kernel's
own user only, after a hello carrying a fresh nonce. :meth:`KernelLine.close` ends the
conversation and makes sure the kernel is back, idle, for the next cell: a kernel still
inside student code is interrupted; one that does not come back, or that died, is said so
by a :class:`~.verdict.Halt`.
"""
from __future__ import annotations

import secrets
import socket
import struct
import time

from ..referee.session import ChannelError, Session
from .verdict import Halt, HaltReason


class KernelLine:
    """Conversations with the kernel behind ``km`` (a started sandboxed kernel manager)."""

    def __init__(self, km, devices: tuple[str, ...], accept_timeout: float):
        from jupyter_client.blocking import BlockingKernelClient

        self.km, self.devices, self.accept_timeout = km, devices, accept_timeout
        self.client = BlockingKernelClient()
        self.client.load_connection_info(km.get_connection_info())
        self.client.start_channels(shell=True, iopub=False, stdin=False, hb=False, control=False)

    def stop(self) -> None:
        self.client.stop_channels()

    def open(self, deadline: float) -> tuple[Session, str]:
        """A session with the kernel's server, and the id of the request that runs it.
        Raises :class:`ChannelError` when the kernel does not answer."""
        from autograder_kernel import codec

        nonce = secrets.token_hex(16)
        code = f"__import__('autograder_kernel.server').server.serve({self.km.referee_path!r}, {nonce!r})"
        msg_id = self.client.execute(code, silent=True, store_history=False, allow_stdin=False, stop_on_error=False)
        listener = self.km.referee_listener
        end = min(deadline, time.monotonic() + self.accept_timeout)
        while True:
            left = end - time.monotonic()
            if left <= 0:
                raise ChannelError("your kernel did not answer (it is busy, stuck or broken)")
            listener.settimeout(min(left, 0.5))
            try:
                conn, _ = listener.accept()
            except (socket.timeout, TimeoutError):
                if self._replied(msg_id):
                    raise ChannelError("your kernel could not start answering the tests (your code may have "
                                       "replaced something it needs)") from None
                continue
            if self.km.kernel_uid is not None and _peer_uid(conn) != self.km.kernel_uid:
                conn.close()
                continue
            session = Session(conn, lambda: deadline, self.devices)
            try:
                hello, _ = codec.recv_frame(conn, min(deadline, time.monotonic() + 10))
            except (TimeoutError, EOFError, codec.WireError):
                conn.close()
                continue
            if isinstance(hello, dict) and hello.get("hello") == nonce:
                return session, msg_id
            conn.close()

    def close(self, session: Session, msg_id: str, troubled: bool) -> Halt | None:
        """End the conversation; the :class:`Halt` when the kernel is dead or does not come back."""
        session.close()
        try:
            session.sock.close()
        except OSError:
            pass
        halt = self.halt()
        if halt is not None:
            return halt
        if self._wait_reply(msg_id, 2.0 if troubled else 10.0):
            return None
        from jupyter_core.utils import run_sync

        run_sync(self.km.interrupt_kernel)()  # still inside student code: stop it
        if self._wait_reply(msg_id, 20.0):
            return None
        return Halt(HaltReason.KERNEL_STUCK,
                    "the kernel did not come back after a test ran out of time; the later cells were not run")

    def halt(self) -> Halt | None:
        """A :class:`Halt` when the kernel has died."""
        from jupyter_core.utils import run_sync

        if run_sync(self.km.is_alive)():
            return None
        return Halt(HaltReason.KERNEL_DIED, "the kernel died while a test was calling your code (a crash or a "
                                            "resource limit)")

    def _replied(self, msg_id: str) -> bool:
        try:
            reply = self.client.get_shell_msg(timeout=0)
        except Exception:  # noqa: BLE001 - queue.Empty: no reply yet
            return False
        return reply.get("parent_header", {}).get("msg_id") == msg_id

    def _wait_reply(self, msg_id: str, seconds: float) -> bool:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                reply = self.client.get_shell_msg(timeout=max(0.05, end - time.monotonic()))
            except Exception:  # noqa: BLE001 - queue.Empty
                return False
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                return True
        return False


def _peer_uid(conn: socket.socket) -> int | None:
    try:
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    except OSError:
        return None
    return struct.unpack("3i", creds)[1]
