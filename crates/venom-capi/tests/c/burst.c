/* Bursts from C: `burst daemon NAME` creates channel NAME and receives with
 * venom_daemon_try_recv_commands until it has the 2000 commands "c<k>", k = 0, 1, ..., in
 * order, then prints "received 2000"; `burst shell NAME` sends them in bursts of 40 (more than
 * the library sends at once: 32) with
 * venom_shell_try_send_commands (sending the rest of a burst again when the queue is full).
 * Both check the bad inputs of their call first. */
#include <string.h>
#include "check.h"

#define TOTAL 2000
#define BURST 40
#define MAX 8

static int daemon_role(const char *name) {
  VenomConfig config = {64, 64, 8};
  VenomDaemonHandle *daemon = venom_daemon_create(name, config);
  CHECK(daemon != NULL);
  size_t stride = venom_daemon_max_command_len(daemon);
  static uint8_t buf[MAX * 4096];
  CHECK(stride * MAX <= sizeof buf);
  VenomCommand out[MAX];
  size_t n = 99;
  CHECK_STATUS(venom_daemon_try_recv_commands(daemon, buf, stride - 1, MAX, out, &n),
               VENOM_STATUS_INVALID_ARGUMENT);
  CHECK(n == 0);
  CHECK_STATUS(venom_daemon_try_recv_commands(daemon, buf, stride, MAX, out, NULL),
               VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_try_recv_commands(daemon, buf, stride, MAX, NULL, &n),
               VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_try_recv_commands(NULL, buf, stride, MAX, out, &n),
               VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_try_recv_commands(daemon, NULL, 0, 0, NULL, &n), VENOM_STATUS_OK);
  CHECK(n == 0);
  printf("ready\n");
  fflush(stdout);
  int next = 0;
  while (next < TOTAL) {
    CHECK_STATUS(venom_daemon_try_recv_commands(daemon, buf, stride, MAX, out, &n),
                 VENOM_STATUS_OK);
    CHECK(n <= MAX);
    for (size_t i = 0; i < n; i++) {
      char want[16];
      int len = snprintf(want, sizeof want, "c%d", next);
      CHECK(out[i].request_id == VENOM_NO_REQUEST && out[i].client_id >= 1);
      CHECK(out[i].len == (size_t)len && memcmp(buf + i * stride, want, (size_t)len) == 0);
      next++;
    }
  }
  VenomStats stats;
  CHECK_STATUS(venom_daemon_stats(daemon, &stats), VENOM_STATUS_OK);
  CHECK(stats.commands == TOTAL);
  printf("received %d\n", next);
  venom_daemon_destroy(daemon);
  return 0;
}

static int shell_role(const char *name) {
  VenomShellHandle *shell = venom_shell_connect(name);
  CHECK(shell != NULL);
  size_t sent = 99;
  size_t max = venom_shell_max_command_len(shell);
  static uint8_t big[1 << 16];
  CHECK(max < sizeof big);
  const uint8_t *with_big[2] = {(const uint8_t *)"x", big};
  size_t big_lens[2] = {1, max + 1};
  CHECK_STATUS(venom_shell_try_send_commands(shell, with_big, big_lens, 2, &sent),
               VENOM_STATUS_TOO_LARGE);
  CHECK(sent == 0);
  CHECK_STATUS(venom_shell_try_send_commands(shell, NULL, big_lens, 2, &sent),
               VENOM_STATUS_NULL_ARGUMENT);
  const uint8_t *with_null[1] = {NULL};
  CHECK_STATUS(venom_shell_try_send_commands(shell, with_null, big_lens, 1, &sent),
               VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_try_send_commands(shell, with_big, big_lens, 2, NULL),
               VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_try_send_commands(shell, NULL, NULL, 0, &sent), VENOM_STATUS_OK);
  CHECK(sent == 0);
  char text[TOTAL][8];
  const uint8_t *cmds[TOTAL];
  size_t lens[TOTAL];
  for (int k = 0; k < TOTAL; k++) {
    lens[k] = (size_t)snprintf(text[k], sizeof text[k], "c%d", k);
    cmds[k] = (const uint8_t *)text[k];
  }
  int next = 0;
  while (next < TOTAL) {
    size_t want = TOTAL - next < BURST ? (size_t)(TOTAL - next) : BURST;
    VenomStatus st = venom_shell_try_send_commands(shell, cmds + next, lens + next, want, &sent);
    CHECK(st == VENOM_STATUS_OK || st == VENOM_STATUS_QUEUE_FULL);
    CHECK(st == VENOM_STATUS_OK ? sent >= 1 && sent <= want : sent == 0);
    next += (int)sent;
  }
  venom_shell_destroy(shell);
  printf("ok\n");
  return 0;
}

int main(int argc, char **argv) {
  CHECK(argc == 3);
  if (strcmp(argv[1], "daemon") == 0) return daemon_role(argv[2]);
  return shell_role(argv[2]);
}
