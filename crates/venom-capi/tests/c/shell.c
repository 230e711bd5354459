/* A C shell: connects to argv[1], expects the data "hello from <argv[2]>", makes argv[3]
 * requests "r<i>" expecting "<argv[4]>r<i>", then sends the command "quit". */
#include <string.h>
#include "check.h"

int main(int argc, char **argv) {
  CHECK(argc == 5);
  VenomShellHandle *shell = NULL;
  VenomShellOptions options;
  venom_shell_options_default(&options);
  CHECK_STATUS(venom_shell_connect_with(argv[1], &options, &shell), VENOM_STATUS_OK);
  CHECK(venom_shell_id(shell) >= 1);
  uint8_t buf[64];
  char want[64];
  snprintf(want, sizeof want, "hello from %s", argv[2]);
  uint64_t version = 0;
  CHECK_STATUS(venom_shell_wait_for_data(shell, 0, VENOM_WAIT_FOREVER, &version), VENOM_STATUS_OK);
  size_t n = venom_shell_read_data(shell, buf, sizeof buf);
  CHECK(n == strlen(want) && memcmp(buf, want, n) == 0);
  size_t len = 0;
  uint64_t seen = 0;
  CHECK_STATUS(venom_shell_read_data_if_changed(shell, 0, buf, sizeof buf, &len, &seen),
               VENOM_STATUS_OK);
  CHECK_STATUS(venom_shell_read_data_if_changed(shell, seen, buf, sizeof buf, &len, &seen),
               VENOM_STATUS_UNCHANGED);
  int rounds = atoi(argv[3]);
  for (int i = 0; i < rounds; i++) {
    char req[16], expect[80];
    snprintf(req, sizeof req, "r%d", i);
    snprintf(expect, sizeof expect, "%s%s", argv[4], req);
    uint8_t resp[80];
    size_t got = 0;
    CHECK_STATUS(venom_shell_request(shell, (const uint8_t *)req, strlen(req), resp, sizeof resp,
                                     10ull * 1000 * 1000 * 1000, &got),
                 VENOM_STATUS_OK);
    CHECK(got == strlen(expect) && memcmp(resp, expect, got) == 0);
  }
  CHECK(venom_shell_send_command(shell, (const uint8_t *)"quit", 4));
  venom_shell_destroy(shell);
  printf("ok\n");
  return 0;
}
