"""Tests of venom_memory.py (stdlib unittest), run by crates/venom-capi/tests/python.rs with:
VENOM_LIB (the library), VENOM_TEST_PREFIX (unique names), VENOM_TEST_RUST_CHANNEL (a channel
whose Rust daemon answers a request "x" with "R:x" and stops on the command "quit") and
VENOM_TEST_C_SHELL (the C test shell, see tests/c/shell.c)."""

import os
import subprocess
import sys
import time
import unittest

import venom_memory as vm

PREFIX = os.environ.get("VENOM_TEST_PREFIX", f"vt_py_{os.getpid()}")


def name(tag):
    return f"{PREFIX}_{tag}"


class ErrorsTest(unittest.TestCase):
    def test_statuses_and_messages(self):
        self.assertEqual(vm.status_name(0), "ok")
        self.assertEqual(vm.status_name(12345), "unknown status")
        with self.assertRaises(vm.VenomError) as e:
            vm.Shell(name("missing"))
        self.assertEqual(e.exception.status, -5)
        self.assertIn(name("missing"), e.exception.message)
        with self.assertRaises(vm.VenomError) as e:
            vm.Daemon("a/b")
        self.assertEqual(e.exception.name, "invalid name")
        with self.assertRaises(vm.VenomError) as e:
            vm.Daemon(name("cfg"), max_clients=0)
        self.assertEqual(e.exception.status, -22)  # INVALID_CONFIG
        self.assertIn("max_clients", e.exception.message)
        self.assertTrue(vm.version())


class InProcessTest(unittest.TestCase):
    def test_daemon_and_shell(self):
        with vm.Daemon(name("inproc"), data_size=64, response_size=32) as d:
            with vm.Shell(name("inproc")) as s:
                self.assertEqual(s.read(), b"")
                d.write(b"hello")
                self.assertEqual(s.read(), b"hello")
                v = s.version
                self.assertIsNone(s.read_if_changed(v))
                d.write(b"again")
                self.assertEqual(s.read_if_changed(v), (v + 1, b"again"))
                self.assertEqual(s.wait_for_data(v, timeout=1.0), v + 1)
                with self.assertRaises(vm.Timeout):
                    s.wait_for_data(v + 1, timeout=0.05)
                s.send(b"cmd")
                cmd = d.recv(timeout=1.0)
                self.assertEqual((cmd.client_id, cmd.request_id, cmd.data), (s.id, None, b"cmd"))
                self.assertIsNone(d.recv(timeout=0))
                with self.assertRaises(vm.VenomError) as e:
                    s.send(b"x" * (s.max_command_len + 1))
                self.assertEqual(e.exception.name, "too large")
                with self.assertRaises(vm.VenomError):
                    d.write(b"x" * 65)
                # A request nobody answers times out; answered late, the next one is fresh.
                with self.assertRaises(vm.Timeout):
                    s.request(b"q1", timeout=0.05)
                late = d.recv(timeout=1.0)
                self.assertEqual(late.data, b"q1")
                d.reply(late, b"late")
                self.assertEqual(d.stats().commands, 2)
        with self.assertRaises(ValueError):
            s.read()  # closed

    def test_bursts(self):
        with vm.Daemon(name("burst"), data_size=64, cmd_slots=8) as d:
            with vm.Shell(name("burst")) as s:
                self.assertEqual(s.send_many([]), 0)
                self.assertEqual(d.recv_many(4), [])
                burst = [b"c%d" % k for k in range(12)]
                sent = s.send_many(burst)  # eight slots: the first eight go
                self.assertEqual(sent, 8)
                with self.assertRaises(vm.VenomError) as e:
                    s.send_many(burst[sent:])
                self.assertEqual(e.exception.name, "command queue full")
                got = d.recv_many(5) + d.recv_many(5)
                self.assertEqual([c.data for c in got], burst[:8])
                self.assertTrue(all(c.client_id == s.id and c.request_id is None for c in got))
                self.assertEqual(s.send_many(burst[sent:]), 4)
                self.assertEqual([c.data for c in d.recv_many(8)], burst[8:])
                with self.assertRaises(vm.VenomError) as e:
                    s.send_many([b"ok", b"x" * (s.max_command_len + 1)])
                self.assertEqual(e.exception.name, "too large")
                self.assertEqual(d.recv_many(8), [])

    def test_shared_bytes(self):
        with vm.SharedBytes(name("sb"), 16, align=8, tag="quad", how="create") as a:
            with vm.SharedBytes(name("sb"), 16, align=8, tag="quad", how="open") as b:
                self.assertTrue(a.is_creator and not b.is_creator)
                v = a.version
                a.write(bytes(range(16)))
                self.assertEqual(b.wait_for_change(v, timeout=1.0), v + 1)
                self.assertEqual(b.read(), bytes(range(16)))
                b.write_at(4, b"\xff\xff")
                self.assertEqual(a.read_at(4, 2), b"\xff\xff")
                with self.assertRaises(vm.VenomError) as e:
                    a.write_at(15, b"ab")
                self.assertEqual(e.exception.name, "out of bounds")
                with self.assertRaises(vm.VenomError) as e:
                    vm.SharedBytes(name("sb"), 32, tag="quad", how="open")
                self.assertEqual(e.exception.name, "type mismatch")
                a.clear()
                self.assertEqual(b.read(), bytes(16))


@unittest.skipUnless(os.environ.get("VENOM_TEST_RUST_CHANNEL"), "needs the Rust daemon")
class RustDaemonTest(unittest.TestCase):
    def test_python_shell_against_rust_daemon(self):
        with vm.Shell(os.environ["VENOM_TEST_RUST_CHANNEL"], spin=0) as s:
            self.assertEqual(s.read(), b"hello from Rust")
            for i in range(200):
                self.assertEqual(s.request(f"r{i}".encode()), f"R:r{i}".encode())
            s.send(b"quit")


@unittest.skipUnless(os.environ.get("VENOM_TEST_C_SHELL"), "needs the C shell")
class CShellTest(unittest.TestCase):
    def test_python_daemon_against_c_shell(self):
        with vm.Daemon(name("pyd"), data_size=64) as d:
            d.write(b"hello from Python")
            shell = subprocess.Popen(
                [os.environ["VENOM_TEST_C_SHELL"], name("pyd"), "Python", "50", "P:"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            served = 0
            deadline = time.monotonic() + 60

            def handle(cmd):
                nonlocal served
                if cmd.data == b"quit":
                    d.stop()
                    return None
                served += 1
                return b"P:" + cmd.data

            d.serve(handle, until=lambda: time.monotonic() > deadline)
            out, err = shell.communicate(timeout=60)
            self.assertEqual(shell.returncode, 0, err.decode())
            self.assertEqual(out, b"ok\n")
            self.assertEqual(served, 50)
            self.assertEqual(d.stats().requests, 50)


if __name__ == "__main__":
    sys.exit(unittest.main())
