"""The Python side of perf's Python rows, on CPU 0: times ROUNDS round trips of 64 bytes with
time.perf_counter_ns and prints "p50 p99 p999 rate".

usage: bench_py.py venom NAME ROUNDS WARMUP   (Shell.request against perf's Rust daemon)
       bench_py.py pipe - ROUNDS WARMUP       (multiprocessing.Pipe to an echoing process)
       bench_py.py unix PATH ROUNDS WARMUP    (a Unix socket to an echoing Python process)"""
import multiprocessing
import os
import socket
import sys
import time

MSG = b"\xa5" * 64


def measure(rounds, warmup, once):
    for _ in range(warmup):
        once()
    ns = []
    clock = time.perf_counter_ns
    t0 = clock()
    for _ in range(rounds):
        t = clock()
        once()
        ns.append(clock() - t)
    secs = (clock() - t0) / 1e9
    ns.sort()
    at = lambda q: ns[min(int(len(ns) * q), len(ns) - 1)]
    print(f"{at(0.5)} {at(0.99)} {at(0.999)} {rounds / secs:.1f}", flush=True)


def pipe_echo(conn):
    os.sched_setaffinity(0, {1})
    while True:
        m = conn.recv_bytes()
        if m == b"quit":
            return
        conn.send_bytes(m)


def unix_echo(path):
    os.sched_setaffinity(0, {1})
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    c, _ = srv.accept()
    while True:
        m = c.recv(64, socket.MSG_WAITALL)
        if len(m) < 64:
            return
        c.sendall(m)


def main():
    kind, name, rounds, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    os.sched_setaffinity(0, {0})
    if kind == "venom":
        import venom_memory as vm
        deadline = time.monotonic() + 10
        while True:
            try:
                shell = vm.Shell(name)
                break
            except vm.VenomError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)  # waiting for the daemon process to create the channel
        measure(rounds, warmup, lambda: shell.request(MSG))
        shell.request(b"quit")
        shell.close()
    elif kind == "pipe":
        a, b = multiprocessing.Pipe()
        p = multiprocessing.Process(target=pipe_echo, args=(b,))
        p.start()

        def once():
            a.send_bytes(MSG)
            a.recv_bytes()

        measure(rounds, warmup, once)
        a.send_bytes(b"quit")
        p.join()
    else:
        p = multiprocessing.Process(target=unix_echo, args=(name,))
        p.start()
        deadline = time.monotonic() + 10
        while not os.path.exists(name):
            if time.monotonic() > deadline:
                raise SystemExit("echo server did not start")
            time.sleep(0.001)  # waiting for the server process to bind
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        while True:
            try:
                s.connect(name)
                break
            except ConnectionRefusedError:  # bound, not listening yet
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.001)

        def once():
            s.sendall(MSG)
            s.recv(64, socket.MSG_WAITALL)

        measure(rounds, warmup, once)
        s.close()
        p.join()
        os.unlink(name)


if __name__ == "__main__":
    main()
