/* The C side of perf's C rows: a daemon on CPU 1 answering every request with 64 bytes
 * through venom_daemon_run. usage: bench_daemon NAME SPIN. A request "quit" stops it. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "venom_memory_rs.h"

struct state {
  VenomDaemonHandle *d;
};

static int32_t echo(void *u, const VenomCommand *cmd, const uint8_t *bytes, uint8_t *reply,
                    size_t cap, size_t *len) {
  struct state *s = (struct state *)u;
  if (cmd->len == 4 && memcmp(bytes, "quit", 4) == 0) venom_daemon_stop(s->d);
  if (cap < 64) return VENOM_STATUS_TOO_LARGE;
  memset(reply, 0x5a, 64);
  *len = 64;
  return VENOM_STATUS_OK;
}

int main(int argc, char **argv) {
  if (argc != 3) return 2;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(1, &set);
  sched_setaffinity(0, sizeof set, &set);
  VenomChannelOptions o;
  venom_channel_options_default(&o);
  o.config.data_size = 64;
  o.config.cmd_slots = 64;
  o.config.max_clients = 4;
  o.spin = (uint32_t)strtoul(argv[2], NULL, 10);
  struct state s = {NULL};
  if (venom_daemon_create_with(argv[1], &o, &s.d) != VENOM_STATUS_OK) return 1;
  int rc = venom_daemon_run(s.d, echo, &s) == VENOM_STATUS_OK ? 0 : 1;
  venom_daemon_destroy(s.d);
  return rc;
}
