/* A C daemon: creates channel argv[1], publishes "hello from C", and serves with
 * venom_daemon_run: a request "x" is answered "C:x"; the command "quit" stops the loop.
 * Prints "served <n>" and exits 0. */
#include <string.h>
#include "check.h"

struct state {
  VenomDaemonHandle *daemon;
  int served;
};

static int32_t handle(void *user_data, const VenomCommand *cmd, const uint8_t *bytes,
                      uint8_t *reply, size_t reply_cap, size_t *reply_len) {
  struct state *s = (struct state *)user_data;
  if (cmd->request_id == VENOM_NO_REQUEST) {
    if (cmd->len == 4 && memcmp(bytes, "quit", 4) == 0) venom_daemon_stop(s->daemon);
    return VENOM_STATUS_OK;
  }
  if (cmd->len + 2 > reply_cap) return VENOM_STATUS_TOO_LARGE;
  memcpy(reply, "C:", 2);
  memcpy(reply + 2, bytes, cmd->len);
  *reply_len = cmd->len + 2;
  s->served++;
  return VENOM_STATUS_OK;
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  VenomConfig config = {64, 16, 8};
  struct state s = {NULL, 0};
  s.daemon = venom_daemon_create(argv[1], config);
  CHECK(s.daemon != NULL);
  CHECK(venom_daemon_data_size(s.daemon) == 64);
  venom_daemon_write_data(s.daemon, (const uint8_t *)"hello from C", 12);
  CHECK(venom_daemon_data_version(s.daemon) == 1);
  printf("ready\n");
  fflush(stdout);
  CHECK_STATUS(venom_daemon_run(s.daemon, handle, &s), VENOM_STATUS_OK);
  VenomStats stats;
  CHECK_STATUS(venom_daemon_stats(s.daemon, &stats), VENOM_STATUS_OK);
  CHECK(stats.requests == (uint64_t)s.served);
  printf("served %d\n", s.served);
  venom_daemon_destroy(s.daemon);
  return 0;
}
