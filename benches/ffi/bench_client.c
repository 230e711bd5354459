/* The C side of perf's C rows: a shell on CPU 0 timing ROUNDS requests of 64 bytes (each
 * with CLOCK_MONOTONIC, as the Rust harness times each with Instant). Prints
 * "p50 p99 p999 rate" in ns and requests per second. usage: bench_client NAME SPIN ROUNDS
 * WARMUP. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "venom_memory_rs.h"

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc != 5) return 2;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(0, &set);
  sched_setaffinity(0, sizeof set, &set);
  VenomShellOptions o;
  venom_shell_options_default(&o);
  o.spin = (uint32_t)strtoul(argv[2], NULL, 10);
  size_t rounds = strtoul(argv[3], NULL, 10), warmup = strtoul(argv[4], NULL, 10);
  VenomShellHandle *s = NULL;
  uint64_t start = now_ns();
  while (venom_shell_connect_with(argv[1], &o, &s) != VENOM_STATUS_OK) {
    if (now_ns() - start > 10000000000ull) return 1;
    sched_yield();
  }
  uint8_t req[64], resp[64];
  memset(req, 0xa5, sizeof req);
  size_t len;
  const uint64_t timeout = 5000000000ull;
  for (size_t i = 0; i < warmup; i++)
    if (venom_shell_request(s, req, 64, resp, 64, timeout, &len) != VENOM_STATUS_OK) return 1;
  uint64_t *ns = malloc(rounds * sizeof *ns);
  if (!ns) return 1;
  uint64_t t0 = now_ns();
  for (size_t i = 0; i < rounds; i++) {
    uint64_t t = now_ns();
    if (venom_shell_request(s, req, 64, resp, 64, timeout, &len) != VENOM_STATUS_OK) return 1;
    ns[i] = now_ns() - t;
  }
  double secs = (double)(now_ns() - t0) / 1e9;
  qsort(ns, rounds, sizeof *ns, cmp);
#define AT(q) ((double)ns[(size_t)((double)rounds * (q)) < rounds ? (size_t)((double)rounds * (q)) : rounds - 1])
  printf("%.0f %.0f %.0f %.1f\n", AT(0.50), AT(0.99), AT(0.999), (double)rounds / secs);
  venom_shell_request(s, (const uint8_t *)"quit", 4, resp, 64, timeout, &len);
  free(ns);
  venom_shell_destroy(s);
  return 0;
}
