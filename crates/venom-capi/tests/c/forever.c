/* Waits without limit on a channel whose daemon never answers; the test kills the daemon:
 * both forever-waits must return VENOM_STATUS_DISCONNECTED. usage: forever NAME */
#include "check.h"

int main(int argc, char **argv) {
  CHECK(argc == 2);
  VenomShellHandle *s = venom_shell_connect(argv[1]);
  CHECK(s != NULL);
  printf("waiting\n");
  fflush(stdout);
  uint8_t resp[16];
  size_t len = 0;
  CHECK_STATUS(venom_shell_request(s, (const uint8_t *)"hello?", 6, resp, sizeof resp,
                                   VENOM_WAIT_FOREVER, &len),
               VENOM_STATUS_DISCONNECTED);
  uint64_t v = 0;
  CHECK_STATUS(venom_shell_wait_for_data(s, venom_shell_data_version(s), VENOM_WAIT_FOREVER, &v),
               VENOM_STATUS_DISCONNECTED);
  CHECK(venom_last_error_code() == VENOM_STATUS_DISCONNECTED);
  venom_shell_destroy(s);
  printf("disconnected\n");
  return 0;
}
