"""VenomMemory from Python: ctypes over ``libvenom_memory.so`` (standard library only).

    from venom_memory import Daemon, Shell, SharedBytes

    with Daemon("sensors", data_size=4096) as daemon:       # the serving process
        daemon.write(b"temperature=21.5")
        cmd = daemon.recv(timeout=1.0)                       # a Command, or None
        if cmd and cmd.request_id is not None:
            daemon.reply(cmd, b"pong")

    with Shell("sensors") as shell:                          # any other process
        print(shell.read())                                  # the latest data, never torn
        shell.send(b"calibrate")
        print(shell.request(b"ping", timeout=5.0))           # the daemon's reply

Errors raise :class:`VenomError` (``.status``, ``.name``, ``.message``); timeouts raise
:class:`Timeout`, a gone daemon :class:`Disconnected`. Blocking calls wait in slices of at
most 100 ms, so Ctrl-C (``KeyboardInterrupt``) is seen within that time; ctypes releases the
GIL during every call. The library is found through ``$VENOM_LIB``, then the system's library
path (``libvenom_memory.so``).
"""

import ctypes
import ctypes.util
import os
import time
from ctypes import (POINTER, Structure, byref, c_bool, c_char, c_char_p, c_int32, c_int64,
                    c_size_t,
                    c_uint8, c_uint32, c_uint64, c_void_p)

__all__ = ["Daemon", "Shell", "SharedBytes", "Command", "Stats", "VenomError", "Timeout",
           "Disconnected", "WAIT_FOREVER", "status_name"]

WAIT_FOREVER = 2**64 - 1
NO_REQUEST = 2**64 - 1
_SLICE = 0.1  # seconds: the longest native wait between two checks for Ctrl-C

OK, EMPTY, UNCHANGED = 0, 1, 2
_TIMEOUT, _DISCONNECTED, _BUFFER_TOO_SMALL = -16, -17, -15


def _load():
    path = os.environ.get("VENOM_LIB") or ctypes.util.find_library("venom_memory")
    return ctypes.CDLL(path or "libvenom_memory.so")


_lib = _load()


def _fn(name, restype, *argtypes):
    """Declares one function: every export used here has its argtypes and restype."""
    f = getattr(_lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


class _Config(Structure):
    _fields_ = [("data_size", c_size_t), ("cmd_slots", c_size_t), ("max_clients", c_size_t)]


class _ChannelOptions(Structure):
    _fields_ = [("config", _Config), ("response_size", c_size_t),
                ("command_slot_size", c_uint32), ("data_slots", c_uint32), ("mode", c_uint32),
                ("spin", c_uint32)]


class _Command(Structure):
    _fields_ = [("request_id", c_uint64), ("len", c_size_t), ("client_id", c_uint32)]


class _Stats(Structure):
    _fields_ = [("writes", c_uint64), ("commands", c_uint64), ("requests", c_uint64),
                ("dropped", c_uint64), ("abandoned", c_uint64)]


class _ShellOptions(Structure):
    _fields_ = [("spin", c_uint32), ("trust_root", c_bool), ("trusted_uid", c_int64)]


class _SharedOptions(Structure):
    _fields_ = [("tag", c_char_p), ("mode", c_uint32), ("unlink_on_drop", c_bool),
                ("trust_root", c_bool), ("trusted_uid", c_int64)]


_H = c_void_p
_U8P = POINTER(c_uint8)
_status_str = _fn("venom_status_str", c_char_p, c_int32)
_last_code = _fn("venom_last_error_code", c_int32)
_last_message = _fn("venom_last_error_message", c_size_t, POINTER(c_char), c_size_t)
_version = _fn("venom_version", c_char_p)
_version_number = _fn("venom_version_number", c_uint32)

_options_default = _fn("venom_channel_options_default", None, POINTER(_ChannelOptions))
_daemon_create_with = _fn("venom_daemon_create_with", c_int32, c_char_p,
                          POINTER(_ChannelOptions), POINTER(_H))
_daemon_destroy = _fn("venom_daemon_destroy", None, _H)
_daemon_try_write = _fn("venom_daemon_try_write_data", c_int32, _H, c_char_p, c_size_t)
_daemon_data_version = _fn("venom_daemon_data_version", c_uint64, _H)
_daemon_data_size = _fn("venom_daemon_data_size", c_size_t, _H)
_daemon_max_command_len = _fn("venom_daemon_max_command_len", c_size_t, _H)
_daemon_response_size = _fn("venom_daemon_response_size", c_size_t, _H)
_daemon_recv = _fn("venom_daemon_recv_command", c_int32, _H, _U8P, c_size_t, c_uint64,
                   POINTER(_Command))
_daemon_try_recv_many = _fn("venom_daemon_try_recv_commands", c_int32, _H, _U8P, c_size_t,
                            c_size_t, POINTER(_Command), POINTER(c_size_t))
_daemon_reply = _fn("venom_daemon_reply", c_int32, _H, c_uint32, c_uint64, c_char_p, c_size_t)
_daemon_stop = _fn("venom_daemon_stop", None, _H)
_daemon_stats = _fn("venom_daemon_stats", c_int32, _H, POINTER(_Stats))

_shell_options_default = _fn("venom_shell_options_default", None, POINTER(_ShellOptions))
_shell_connect_with = _fn("venom_shell_connect_with", c_int32, c_char_p,
                          POINTER(_ShellOptions), POINTER(_H))
_shell_destroy = _fn("venom_shell_destroy", None, _H)
_shell_id = _fn("venom_shell_id", c_uint32, _H)
_shell_try_read = _fn("venom_shell_try_read_data", c_int32, _H, _U8P, c_size_t,
                      POINTER(c_size_t))
_shell_read_if_changed = _fn("venom_shell_read_data_if_changed", c_int32, _H, c_uint64, _U8P,
                             c_size_t, POINTER(c_size_t), POINTER(c_uint64))
_shell_data_version = _fn("venom_shell_data_version", c_uint64, _H)
_shell_wait = _fn("venom_shell_wait_for_data", c_int32, _H, c_uint64, c_uint64,
                  POINTER(c_uint64))
_shell_try_send = _fn("venom_shell_try_send_command", c_int32, _H, c_char_p, c_size_t)
_shell_try_send_many = _fn("venom_shell_try_send_commands", c_int32, _H, POINTER(c_char_p),
                           POINTER(c_size_t), c_size_t, POINTER(c_size_t))
_shell_request = _fn("venom_shell_request", c_int32, _H, c_char_p, c_size_t, _U8P, c_size_t,
                     c_uint64, POINTER(c_size_t))
_shell_wait_reply = _fn("venom_shell_wait_reply", c_int32, _H, _U8P, c_size_t, c_uint64,
                        POINTER(c_size_t))
_shell_data_size = _fn("venom_shell_data_size", c_size_t, _H)
_shell_max_command_len = _fn("venom_shell_max_command_len", c_size_t, _H)
_shell_response_size = _fn("venom_shell_response_size", c_size_t, _H)

_shared_options_default = _fn("venom_shared_options_default", None, POINTER(_SharedOptions))
_shared_open = {
    how: _fn(f"venom_shared_{how}", c_int32, c_char_p, c_size_t, c_size_t,
             POINTER(_SharedOptions), POINTER(_H))
    for how in ("create", "open", "open_or_create")
}
_shared_destroy = _fn("venom_shared_destroy", None, _H)
_shared_unlink = _fn("venom_shared_unlink", c_int32, c_char_p)
_shared_write = _fn("venom_shared_write", c_int32, _H, c_char_p, c_size_t, c_uint64)
_shared_read = _fn("venom_shared_read", c_int32, _H, _U8P, c_size_t, c_uint64)
_shared_write_at = _fn("venom_shared_write_at", c_int32, _H, c_size_t, c_char_p, c_size_t)
_shared_read_at = _fn("venom_shared_read_at", c_int32, _H, c_size_t, _U8P, c_size_t)
_shared_clear = _fn("venom_shared_clear", c_int32, _H)
_shared_is_occupied = _fn("venom_shared_is_occupied", c_bool, _H)
_shared_version = _fn("venom_shared_version", c_uint64, _H)
_shared_wait = _fn("venom_shared_wait_for_change", c_int32, _H, c_uint64, c_uint64,
                   POINTER(c_uint64))
_shared_size = _fn("venom_shared_size", c_size_t, _H)
_shared_is_creator = _fn("venom_shared_is_creator", c_bool, _H)


def version():
    """The library's version string."""
    return _version().decode()


def status_name(status):
    """The library's description of a status number."""
    return _status_str(status).decode()


class VenomError(Exception):
    """A call failed: ``status`` (the C status number), ``name`` (its description) and
    ``message`` (the library's own words: names, lengths, pids, OS errors)."""

    def __init__(self, status, message):
        self.status, self.name, self.message = status, status_name(status), message
        super().__init__(f"{self.name} ({status}): {message}")


class Timeout(VenomError):
    """Nothing came in the time allowed."""


class Disconnected(VenomError):
    """The daemon closed the channel or died."""


def _error(status):
    n = _last_message(None, 0)
    buf = ctypes.create_string_buffer(n + 1)
    _last_message(buf, n + 1)
    cls = {_TIMEOUT: Timeout, _DISCONNECTED: Disconnected}.get(status, VenomError)
    return cls(status, buf.value.decode(errors="replace"))


def _check(status):
    if status < 0:
        raise _error(status)
    return status


def _ns(seconds):
    return int(seconds * 1e9)


def _sliced(timeout, attempt):
    """Calls ``attempt(slice_ns)`` in slices of at most 100 ms until it returns something
    other than ``None`` or ``timeout`` seconds (``None``: no limit) have passed; Python
    sees Ctrl-C between slices. Returns ``None`` on timeout."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        left = _SLICE if deadline is None else max(0.0, min(_SLICE, deadline - time.monotonic()))
        got = attempt(_ns(left))
        if got is not None:
            return got
        if deadline is not None and time.monotonic() >= deadline:
            return None


def _wait_version(wait, handle, since, timeout, what):
    """Waits in slices with ``wait(handle, since, ns, &version)`` until the version differs
    from ``since``; returns it, or raises :class:`Timeout`."""
    v = c_uint64()

    def attempt(ns):
        st = wait(handle, since, ns, byref(v))
        if st == _TIMEOUT:
            return None
        _check(st)
        return v.value

    got = _sliced(timeout, attempt)
    if got is None:
        raise Timeout(_TIMEOUT, f"{what} unchanged for {timeout} s")
    return got


class Command:
    """A received command: ``client_id``, ``data`` (bytes) and ``request_id`` (``None`` for a
    fire-and-forget command, else pass the command to :meth:`Daemon.reply`)."""

    __slots__ = ("client_id", "request_id", "data")

    def __init__(self, client_id, request_id, data):
        self.client_id, self.request_id, self.data = client_id, request_id, data

    def __repr__(self):
        return f"Command(client_id={self.client_id}, request_id={self.request_id}, data={self.data!r})"


class Stats:
    """What a daemon has done: writes, commands, requests, dropped, abandoned."""

    def __init__(self, s):
        self.writes, self.commands, self.requests = s.writes, s.commands, s.requests
        self.dropped, self.abandoned = s.dropped, s.abandoned


class _Handle:
    _destroy = None

    def close(self):
        """Frees the handle (idempotent)."""
        h, self._h = getattr(self, "_h", None), None
        if h:
            type(self)._destroy(h)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def _handle(self):
        if not self._h:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._h


class Daemon(_Handle):
    """The serving side of channel ``name``: publishes data, receives commands, replies."""

    _destroy = staticmethod(_daemon_destroy)

    def __init__(self, name, *, data_size=4096, cmd_slots=64, max_clients=16,
                 response_size=4096, command_slot_size=256, data_slots=3, mode=0o600,
                 spin=2000):
        self._h = None
        o = _ChannelOptions()
        _options_default(byref(o))
        o.config = _Config(data_size, cmd_slots, max_clients)
        o.response_size, o.command_slot_size, o.data_slots = response_size, command_slot_size, data_slots
        o.mode, o.spin = mode, spin
        h = _H()
        _check(_daemon_create_with(name.encode(), byref(o), byref(h)))
        self._h = h.value
        self._buf = (c_uint8 * _daemon_max_command_len(self._h))()

    def write(self, data):
        """Publishes ``data`` (bytes) as the latest value."""
        _check(_daemon_try_write(self._handle(), data, len(data)))

    @property
    def version(self):
        return _daemon_data_version(self._handle())

    @property
    def data_size(self):
        return _daemon_data_size(self._handle())

    @property
    def max_command_len(self):
        return _daemon_max_command_len(self._handle())

    @property
    def response_size(self):
        return _daemon_response_size(self._handle())

    def recv(self, timeout=None):
        """The next command or request (a :class:`Command`), waiting at most ``timeout``
        seconds (``None``: no limit; 0: do not wait); ``None`` if nothing came."""
        h, out = self._handle(), _Command()

        def attempt(ns):
            st = _check(_daemon_recv(h, self._buf, len(self._buf), ns, byref(out)))
            return out if st == OK else None

        got = attempt(0) if timeout == 0 else _sliced(timeout, attempt)
        if got is None:
            return None
        rid = None if got.request_id == NO_REQUEST else got.request_id
        return Command(got.client_id, rid, bytes(self._buf[:got.len]))

    def recv_many(self, max_count):
        """Up to ``max_count`` commands and requests (:class:`Command`), without waiting, with
        one lock of the receiver for all of them; an empty list if nothing is there."""
        stride = len(self._buf)
        if max_count <= 0:
            return []
        buf, out, n = (c_uint8 * (stride * max_count))(), (_Command * max_count)(), c_size_t()
        _check(_daemon_try_recv_many(self._handle(), buf, stride, max_count, out, byref(n)))
        got = []
        for i in range(n.value):
            c = out[i]
            rid = None if c.request_id == NO_REQUEST else c.request_id
            got.append(Command(c.client_id, rid, bytes(buf[i * stride:i * stride + c.len])))
        return got

    def reply(self, command, data):
        """Answers ``command`` (a request) with ``data``."""
        if command.request_id is None:
            raise ValueError("not a request: a fire-and-forget command gets no reply")
        _check(_daemon_reply(self._handle(), command.client_id, command.request_id, data,
                             len(data)))

    def serve(self, handler, *, until=None):
        """Calls ``handler(command) -> bytes | None`` for each command and replies to requests
        with what it returns, until :meth:`stop` is called or ``until()`` is true."""
        self._stopped = False
        while not self._stopped and not (until and until()):
            cmd = self.recv(timeout=_SLICE)
            if cmd is None:
                continue
            answer = handler(cmd)
            if cmd.request_id is not None:
                self.reply(cmd, answer or b"")

    def stop(self):
        """Makes :meth:`serve` return."""
        self._stopped = True
        _daemon_stop(self._handle())

    def stats(self):
        s = _Stats()
        _check(_daemon_stats(self._handle(), byref(s)))
        return Stats(s)


class Shell(_Handle):
    """A client of channel ``name``."""

    _destroy = staticmethod(_shell_destroy)

    def __init__(self, name, *, spin=2000, trust_root=False, trusted_uid=None):
        """Connects to ``name``. Only channels of this process's user are accepted unless
        ``trust_root`` (a system daemon's) or ``trusted_uid`` names another owner."""
        self._h = None
        o = _ShellOptions()
        _shell_options_default(byref(o))
        o.spin, o.trust_root = spin, trust_root
        o.trusted_uid = -1 if trusted_uid is None else trusted_uid
        h = _H()
        _check(_shell_connect_with(name.encode(), byref(o), byref(h)))
        self._h = h.value
        self._data = (c_uint8 * max(1, _shell_data_size(self._h)))()
        self._resp = (c_uint8 * max(1, _shell_response_size(self._h)))()
        self._len, self._ver = c_size_t(), c_uint64()

    @property
    def id(self):
        """This shell's client id."""
        return _shell_id(self._handle())

    @property
    def version(self):
        """The version of the latest data (0: none yet)."""
        return _shell_data_version(self._handle())

    @property
    def data_size(self):
        return _shell_data_size(self._handle())

    @property
    def max_command_len(self):
        return _shell_max_command_len(self._handle())

    @property
    def response_size(self):
        return _shell_response_size(self._handle())

    def read(self):
        """A consistent snapshot of the latest data (bytes; empty before the first write)."""
        _check(_shell_try_read(self._handle(), self._data, len(self._data), byref(self._len)))
        return bytes(self._data[:self._len.value])

    def read_if_changed(self, since):
        """``(version, data)`` if the data's version differs from ``since``, else ``None``."""
        st = _check(_shell_read_if_changed(self._handle(), since, self._data, len(self._data),
                                           byref(self._len), byref(self._ver)))
        if st == UNCHANGED:
            return None
        return self._ver.value, bytes(self._data[:self._len.value])

    def wait_for_data(self, since, timeout=None):
        """Waits until the version differs from ``since``; returns the new version. Raises
        :class:`Timeout` after ``timeout`` seconds (``None``: no limit)."""
        return _wait_version(_shell_wait, self._handle(), since, timeout, "data")

    def send(self, command):
        """Queues a fire-and-forget command (bytes)."""
        _check(_shell_try_send(self._handle(), command, len(command)))

    def send_many(self, commands):
        """Queues a burst of commands (a sequence of bytes), in order, with one claim of the
        queue; returns how many went (from the first: send the rest again). Raises
        :class:`VenomError` ``queue full`` if not even the first fits."""
        n = len(commands)
        if n == 0:
            return 0
        cmds, lens, sent = (c_char_p * n)(*commands), (c_size_t * n)(*map(len, commands)), c_size_t()
        _check(_shell_try_send_many(self._handle(), cmds, lens, n, byref(sent)))
        return sent.value

    def request(self, command, timeout=5.0):
        """Sends ``command`` as a request and returns the daemon's reply (bytes), waiting at
        most ``timeout`` seconds (``None``: no limit) in slices: the request is sent once."""
        h, n = self._handle(), self._len
        deadline = None if timeout is None else time.monotonic() + timeout
        first = _SLICE if timeout is None else min(_SLICE, timeout)
        st = _shell_request(h, command, len(command), self._resp, len(self._resp), _ns(first),
                            byref(n))
        while st == _TIMEOUT and (deadline is None or time.monotonic() < deadline):
            left = _SLICE if deadline is None else max(0.0, min(_SLICE, deadline - time.monotonic()))
            st = _shell_wait_reply(h, self._resp, len(self._resp), _ns(left), byref(n))
        _check(st)
        return bytes(self._resp[:n.value])


class SharedBytes(_Handle):
    """One named shared value of ``size`` bytes (alignment ``align``, tag ``tag``), the same
    value as a Rust ``SharedMemory<T>`` or a C struct with that fingerprint. ``how`` is
    ``"create"``, ``"open"`` or ``"open_or_create"``."""

    _destroy = staticmethod(_shared_destroy)

    def __init__(self, name, size, *, align=8, tag="", how="open_or_create", mode=0o600,
                 unlink_on_drop=True):
        self._h = None
        o = _SharedOptions()
        _shared_options_default(byref(o))
        o.tag, o.mode, o.unlink_on_drop = tag.encode() or None, mode, unlink_on_drop
        h = _H()
        _check(_shared_open[how](name.encode(), size, align, byref(o), byref(h)))
        self._h = h.value
        self._buf = (c_uint8 * size)()

    @staticmethod
    def unlink(name):
        """Removes the name (handles that exist keep working)."""
        _check(_shared_unlink(name.encode()))

    @property
    def size(self):
        return _shared_size(self._handle())

    @property
    def version(self):
        return _shared_version(self._handle())

    @property
    def is_creator(self):
        return _shared_is_creator(self._handle())

    @property
    def is_occupied(self):
        return _shared_is_occupied(self._handle())

    def write(self, data, timeout=10.0):
        """Writes the whole value (``data`` must be ``size`` bytes)."""
        _check(_shared_write(self._handle(), data, len(data), _ns(timeout)))

    def read(self, timeout=1.0):
        """A consistent snapshot of the whole value (bytes); never torn."""
        _check(_shared_read(self._handle(), self._buf, len(self._buf), _ns(timeout)))
        return bytes(self._buf)

    def write_at(self, offset, data):
        _check(_shared_write_at(self._handle(), offset, data, len(data)))

    def read_at(self, offset, length):
        buf = (c_uint8 * length)()
        _check(_shared_read_at(self._handle(), offset, buf, length))
        return bytes(buf)

    def clear(self):
        _check(_shared_clear(self._handle()))

    def wait_for_change(self, since, timeout=None):
        """Waits until the version differs from ``since``; returns the new version."""
        return _wait_version(_shared_wait, self._handle(), since, timeout, "value")
