/* venom_daemon_run on the main thread, venom_daemon_stop from another: run returns OK. */
#include <pthread.h>
#include "check.h"

static void *stopper(void *daemon) {
  venom_daemon_stop((VenomDaemonHandle *)daemon);
  return NULL;
}

static int32_t never(void *u, const VenomCommand *c, const uint8_t *b, uint8_t *r, size_t cap,
                     size_t *len) {
  (void)u; (void)c; (void)b; (void)r; (void)cap; (void)len;
  return VENOM_STATUS_OK;
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  VenomChannelOptions options;
  venom_channel_options_default(&options);
  options.spin = 0; /* the loop sleeps at once: the stop must wake it */
  VenomDaemonHandle *d = NULL;
  CHECK_STATUS(venom_daemon_create_with(argv[1], &options, &d), VENOM_STATUS_OK);
  pthread_t t;
  CHECK(pthread_create(&t, NULL, stopper, d) == 0);
  CHECK_STATUS(venom_daemon_run(d, never, NULL), VENOM_STATUS_OK);
  CHECK(pthread_join(t, NULL) == 0);
  venom_daemon_destroy(d);
  printf("stopped\n");
  return 0;
}
