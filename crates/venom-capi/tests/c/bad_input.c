/* Every call with bad input returns its documented status; nothing crashes, nothing leaks
 * (run under AddressSanitizer's leak check). argv[1] is a unique name prefix. */
#include <limits.h>
#include <pthread.h>
#include <string.h>
#include "check.h"

static char names[4][128];

static void null_handles(void) {
  uint8_t buf[8];
  size_t len = 7;
  uint64_t v = 9;
  VenomCommand cmd;
  VenomStats stats;
  venom_daemon_destroy(NULL);
  venom_daemon_destroy(NULL);
  venom_shell_destroy(NULL);
  venom_shared_destroy(NULL);
  venom_daemon_write_data(NULL, buf, 1);
  venom_daemon_stop(NULL);
  CHECK(venom_shell_read_data(NULL, buf, sizeof buf) == 0);
  CHECK(venom_shell_id(NULL) == 0);
  CHECK(!venom_shell_send_command(NULL, buf, 1));
  CHECK(venom_last_error_code() == VENOM_STATUS_NULL_ARGUMENT);
  CHECK(venom_daemon_data_version(NULL) == 0 && venom_daemon_data_size(NULL) == 0);
  CHECK(venom_daemon_max_command_len(NULL) == 0 && venom_daemon_response_size(NULL) == 0);
  CHECK(venom_shell_data_version(NULL) == 0 && venom_shell_data_size(NULL) == 0);
  CHECK(venom_shell_max_command_len(NULL) == 0 && venom_shell_response_size(NULL) == 0);
  CHECK(!venom_shared_is_occupied(NULL) && !venom_shared_is_creator(NULL));
  CHECK(venom_shared_size(NULL) == 0 && venom_shared_version(NULL) == 0);
  CHECK_STATUS(venom_daemon_try_write_data(NULL, buf, 1), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_recv_command(NULL, buf, 8, 0, &cmd), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_reply(NULL, 1, 1, buf, 1), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_run(NULL, NULL, NULL), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_stats(NULL, &stats), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_try_read_data(NULL, buf, 8, &len), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_read_data_if_changed(NULL, 0, buf, 8, &len, &v),
               VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_wait_for_data(NULL, 0, 0, &v), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_try_send_command(NULL, buf, 1), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_request(NULL, buf, 1, buf, 8, 0, &len), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shared_write(NULL, buf, 1, 0), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shared_read(NULL, buf, 8, 0), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shared_write_at(NULL, 0, buf, 1), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shared_read_at(NULL, 0, buf, 1), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shared_clear(NULL), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shared_wait_for_change(NULL, 0, 0, &v), VENOM_STATUS_NULL_ARGUMENT);
  CHECK(len == 7 && v == 9); /* outputs untouched on failure */
  /* NULL options and out-pointers. */
  VenomDaemonHandle *d = NULL;
  VenomShellHandle *s = NULL;
  VenomSharedHandle *h = NULL;
  CHECK_STATUS(venom_daemon_create_with(names[0], NULL, &d), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shell_connect_with(names[0], NULL, &s), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_shared_create(names[0], 8, 8, NULL, &h), VENOM_STATUS_NULL_ARGUMENT);
  VenomChannelOptions options;
  venom_channel_options_default(&options);
  CHECK_STATUS(venom_daemon_create_with(names[0], &options, NULL), VENOM_STATUS_NULL_ARGUMENT);
  CHECK(d == NULL && s == NULL && h == NULL);
  venom_channel_options_default(NULL);
  venom_shell_options_default(NULL);
  venom_shared_options_default(NULL);
}

static void bad_names(void) {
  VenomConfig config = {64, 4, 2};
  char long_name[301];
  memset(long_name, 'n', 300);
  long_name[300] = 0;
  CHECK(venom_daemon_create(NULL, config) == NULL);
  CHECK(venom_last_error_code() == VENOM_STATUS_NULL_ARGUMENT);
  CHECK(venom_daemon_create("a/b", config) == NULL);
  CHECK(venom_last_error_code() == VENOM_STATUS_INVALID_NAME);
  CHECK(venom_daemon_create(long_name, config) == NULL);
  CHECK(venom_last_error_code() == VENOM_STATUS_INVALID_NAME);
  CHECK(venom_daemon_create("\xff\xfe", config) == NULL);
  CHECK(venom_last_error_code() == VENOM_STATUS_INVALID_NAME);
  CHECK(venom_shell_connect(NULL) == NULL);
  CHECK(venom_shell_connect("a/b") == NULL);
  CHECK(venom_last_error_code() == VENOM_STATUS_INVALID_NAME);
  CHECK(venom_shell_connect(names[1]) == NULL); /* missing */
  CHECK(venom_last_error_code() == VENOM_STATUS_NOT_FOUND);
  CHECK_STATUS(venom_shared_unlink(names[1]), VENOM_STATUS_NOT_FOUND);
  CHECK_STATUS(venom_shared_unlink(NULL), VENOM_STATUS_NULL_ARGUMENT);
  VenomChannelOptions options;
  venom_channel_options_default(&options);
  VenomDaemonHandle *d = NULL;
  options.config.max_clients = 0;
  CHECK_STATUS(venom_daemon_create_with(names[1], &options, &d), VENOM_STATUS_INVALID_CONFIG);
  venom_channel_options_default(&options);
  options.command_slot_size = 100;
  CHECK_STATUS(venom_daemon_create_with(names[1], &options, &d), VENOM_STATUS_INVALID_CONFIG);
  CHECK(d == NULL);
}

static void messages(void) {
  CHECK(strcmp(venom_status_str(VENOM_STATUS_OK), "ok") == 0);
  CHECK(strcmp(venom_status_str(12345), "unknown status") == 0);
  CHECK(strcmp(venom_status_str(INT32_MIN), "unknown status") == 0);
  CHECK(strcmp(venom_status_str(VENOM_STATUS_TIMEOUT), "timed out") == 0);
  CHECK(venom_shell_connect("a/b") == NULL);
  size_t need = venom_last_error_message(NULL, 0);
  CHECK(need > 10);
  char one[1] = {'x'};
  CHECK(venom_last_error_message(one, 1) == need && one[0] == 0);
  char small[8];
  CHECK(venom_last_error_message(small, sizeof small) == need && strlen(small) == 7);
  char *full = malloc(need + 1);
  CHECK(full != NULL);
  CHECK(venom_last_error_message(full, need + 1) == need && strlen(full) == need);
  CHECK(strstr(full, "a/b") != NULL);
  free(full);
  CHECK(strlen(venom_version()) >= 5);
  CHECK(venom_version_number() == VENOM_VERSION_NUMBER);
}

struct served {
  VenomDaemonHandle *d;
  int32_t recv_inside;
};

static int32_t answer(void *u, const VenomCommand *c, const uint8_t *b, uint8_t *reply,
                      size_t cap, size_t *len) {
  struct served *s = (struct served *)u;
  uint8_t buf[8];
  VenomCommand inner;
  s->recv_inside = venom_daemon_recv_command(s->d, buf, sizeof buf, 0, &inner);
  if (c->request_id == VENOM_NO_REQUEST) {
    venom_daemon_stop(s->d);
    return VENOM_STATUS_OK;
  }
  /* The reply is as long as the request says (first byte), up to one beyond the limit. */
  size_t want = b[0] == 0xff ? cap + 1 : b[0];
  if (want <= cap) memset(reply, 'y', want);
  *len = want;
  return VENOM_STATUS_OK;
}

static void *serve(void *u) {
  struct served *s = (struct served *)u;
  CHECK_STATUS(venom_daemon_run(s->d, answer, s), VENOM_STATUS_OK);
  return NULL;
}

static void channel_misuse(void) {
  VenomConfig config = {16, 4, 2};
  VenomDaemonHandle *d = venom_daemon_create(names[2], config);
  CHECK(d != NULL);
  CHECK(venom_daemon_create(names[2], config) == NULL);
  CHECK(venom_last_error_code() == VENOM_STATUS_ALREADY_EXISTS);
  uint8_t big[64] = {0};
  uint8_t buf[64];
  size_t len = 0;
  CHECK_STATUS(venom_daemon_try_write_data(d, big, sizeof big), VENOM_STATUS_TOO_LARGE);
  venom_daemon_write_data(d, big, sizeof big); /* seed: nothing written, error recorded */
  CHECK(venom_daemon_data_version(d) == 0);
  CHECK(venom_last_error_code() == VENOM_STATUS_TOO_LARGE);
  CHECK_STATUS(venom_daemon_try_write_data(d, NULL, 0), VENOM_STATUS_OK);
  CHECK_STATUS(venom_daemon_try_write_data(d, NULL, 1), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_try_write_data(d, big, SIZE_MAX), VENOM_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(venom_daemon_try_write_data(d, big, (size_t)PTRDIFF_MAX + 1),
               VENOM_STATUS_INVALID_ARGUMENT);
  VenomCommand cmd;
  CHECK_STATUS(venom_daemon_recv_command(d, buf, sizeof buf, 0, &cmd), VENOM_STATUS_EMPTY);
  CHECK_STATUS(venom_daemon_recv_command(d, buf, sizeof buf, 1000, &cmd), VENOM_STATUS_EMPTY);
  CHECK_STATUS(venom_daemon_recv_command(d, NULL, 8, 0, &cmd), VENOM_STATUS_NULL_ARGUMENT);
  CHECK_STATUS(venom_daemon_reply(d, 0, 1, buf, 1), VENOM_STATUS_UNKNOWN_CLIENT);
  CHECK_STATUS(venom_daemon_reply(d, 99, 1, buf, 1), VENOM_STATUS_UNKNOWN_CLIENT);
  CHECK_STATUS(venom_daemon_reply(d, 1, VENOM_NO_REQUEST, buf, 1), VENOM_STATUS_INVALID_ARGUMENT);
  CHECK_STATUS(venom_daemon_run(d, NULL, NULL), VENOM_STATUS_NULL_ARGUMENT);

  VenomShellHandle *s = venom_shell_connect(names[2]);
  CHECK(s != NULL);
  /* No data yet: 0, and a 0-byte buffer is fine. */
  CHECK(venom_shell_read_data(s, buf, sizeof buf) == 0);
  CHECK(venom_shell_read_data(s, NULL, 0) == 0);
  venom_daemon_write_data(d, (const uint8_t *)"12345678", 8);
  CHECK(venom_shell_read_data(s, buf, 4) == 0); /* too small: 0, never a sentinel */
  CHECK_STATUS(venom_shell_try_read_data(s, buf, 4, &len), VENOM_STATUS_BUFFER_TOO_SMALL);
  CHECK(len == 8);
  CHECK_STATUS(venom_shell_try_read_data(s, NULL, 0, &len), VENOM_STATUS_BUFFER_TOO_SMALL);
  uint64_t v = 0;
  CHECK_STATUS(venom_shell_wait_for_data(s, venom_shell_data_version(s), 0, &v),
               VENOM_STATUS_TIMEOUT);
  CHECK_STATUS(venom_shell_try_send_command(s, big, venom_shell_max_command_len(s) + 1),
               VENOM_STATUS_TOO_LARGE);
  CHECK(!venom_shell_send_command(s, NULL, 3));
  CHECK_STATUS(venom_shell_request(s, (const uint8_t *)"x", 1, buf, sizeof buf, 0, &len),
               VENOM_STATUS_TIMEOUT);
  CHECK_STATUS(venom_shell_request(s, buf, 4, buf + 2, 8, 0, &len),
               VENOM_STATUS_INVALID_ARGUMENT); /* overlapping buffers */
  /* A command longer than the receive buffer: too small, stays queued. */
  CHECK(venom_shell_send_command(s, (const uint8_t *)"longer", 6));
  CHECK_STATUS(venom_daemon_recv_command(d, buf, 2, 0, &cmd), VENOM_STATUS_BUFFER_TOO_SMALL);
  CHECK(cmd.len == 6);
  CHECK_STATUS(venom_daemon_recv_command(d, buf, sizeof buf, 0, &cmd), VENOM_STATUS_OK);
  CHECK(cmd.len == 6 && cmd.request_id == VENOM_NO_REQUEST && memcmp(buf, "longer", 6) == 0);
  /* The request that timed out above is still pending: the daemon answers it late, and the
   * shell takes the reply with venom_shell_wait_reply (never sending it twice). */
  CHECK_STATUS(venom_daemon_recv_command(d, buf, sizeof buf, 0, &cmd), VENOM_STATUS_OK);
  CHECK(cmd.request_id != VENOM_NO_REQUEST && cmd.len == 1 && buf[0] == 'x');
  CHECK_STATUS(venom_daemon_reply(d, cmd.client_id, cmd.request_id, (const uint8_t *)"late", 4),
               VENOM_STATUS_OK);
  uint8_t late[8];
  CHECK_STATUS(venom_shell_wait_reply(s, late, 2, VENOM_WAIT_FOREVER, &len),
               VENOM_STATUS_BUFFER_TOO_SMALL); /* kept for a larger buffer */
  CHECK(len == 4);
  CHECK_STATUS(venom_shell_wait_reply(s, late, sizeof late, 0, &len), VENOM_STATUS_OK);
  CHECK(len == 4 && memcmp(late, "late", 4) == 0);
  CHECK_STATUS(venom_shell_wait_reply(s, late, sizeof late, 0, &len),
               VENOM_STATUS_NO_PENDING_REQUEST);
  CHECK_STATUS(venom_shell_wait_reply(NULL, late, sizeof late, 0, &len),
               VENOM_STATUS_NULL_ARGUMENT);

  /* Replies through the serve loop: a too-small buffer, one beyond the response size. */
  struct served sv = {d, 0};
  pthread_t t;
  CHECK(pthread_create(&t, NULL, serve, &sv) == 0);
  uint8_t one = 5;
  uint8_t resp[64];
  CHECK_STATUS(venom_shell_request(s, &one, 1, resp, 2, VENOM_WAIT_FOREVER, &len),
               VENOM_STATUS_BUFFER_TOO_SMALL);
  CHECK(len == 5);
  CHECK_STATUS(venom_shell_request(s, &one, 1, resp, sizeof resp, VENOM_WAIT_FOREVER, &len),
               VENOM_STATUS_OK);
  CHECK(len == 5 && resp[0] == 'y');
  uint8_t over = 0xff;
  CHECK_STATUS(venom_shell_request(s, &over, 1, resp, sizeof resp, VENOM_WAIT_FOREVER, &len),
               VENOM_STATUS_TOO_LARGE);
  CHECK(sv.recv_inside == VENOM_STATUS_BUSY); /* receiving inside run */
  CHECK_STATUS(venom_daemon_run(d, answer, &sv), VENOM_STATUS_BUSY); /* a second loop */
  CHECK(venom_shell_send_command(s, (const uint8_t *)"stop", 4));
  CHECK(pthread_join(t, NULL) == 0);
  VenomStats stats;
  CHECK_STATUS(venom_daemon_stats(d, &stats), VENOM_STATUS_OK);
  CHECK(stats.requests >= 3);

  /* Destroying twice in sequence is detected, not a double free. */
  venom_shell_destroy(s);
  venom_shell_destroy(s);
  CHECK(venom_last_error_code() == VENOM_STATUS_INVALID_ARGUMENT);
  venom_daemon_destroy(d);
  venom_daemon_destroy(d);
  CHECK(venom_last_error_code() == VENOM_STATUS_INVALID_ARGUMENT);
}

static void shared_misuse(void) {
  VenomSharedOptions options;
  venom_shared_options_default(&options);
  VenomSharedHandle *h = NULL;
  CHECK_STATUS(venom_shared_create(names[3], 0, 8, &options, &h), VENOM_STATUS_INVALID_CONFIG);
  CHECK_STATUS(venom_shared_create(names[3], 8, 3, &options, &h), VENOM_STATUS_INVALID_CONFIG);
  char tag[80];
  memset(tag, 't', 79);
  tag[79] = 0;
  options.tag = tag;
  CHECK_STATUS(venom_shared_create(names[3], 8, 8, &options, &h), VENOM_STATUS_INVALID_CONFIG);
  options.tag = NULL;
  CHECK_STATUS(venom_shared_open(names[3], 8, 8, &options, &h), VENOM_STATUS_NOT_FOUND);
  CHECK(h == NULL);
  CHECK_STATUS(venom_shared_open_or_create(names[3], 8, 8, &options, &h), VENOM_STATUS_OK);
  uint8_t buf[16] = {0};
  CHECK_STATUS(venom_shared_write(h, buf, 7, 0), VENOM_STATUS_TYPE_MISMATCH);
  CHECK_STATUS(venom_shared_write(h, buf, 8, 0), VENOM_STATUS_OK);
  CHECK_STATUS(venom_shared_write_at(h, 6, buf, 4), VENOM_STATUS_OUT_OF_BOUNDS);
  CHECK_STATUS(venom_shared_write_at(h, SIZE_MAX, buf, 4), VENOM_STATUS_OUT_OF_BOUNDS);
  CHECK_STATUS(venom_shared_read_at(h, 4, buf, 8), VENOM_STATUS_OUT_OF_BOUNDS);
  CHECK_STATUS(venom_shared_read(h, buf, 4, 0), VENOM_STATUS_BUFFER_TOO_SMALL);
  CHECK_STATUS(venom_shared_read(h, buf, sizeof buf, 0), VENOM_STATUS_OK);
  uint64_t v = 0;
  CHECK_STATUS(venom_shared_wait_for_change(h, venom_shared_version(h), 0, &v),
               VENOM_STATUS_TIMEOUT);
  CHECK_STATUS(venom_shared_clear(h), VENOM_STATUS_OK);
  CHECK(!venom_shared_is_occupied(h));
  venom_shared_destroy(h);
  venom_shared_destroy(h);
  CHECK(venom_last_error_code() == VENOM_STATUS_INVALID_ARGUMENT);
}

int main(int argc, char **argv) {
  CHECK(argc == 2);
  for (int i = 0; i < 4; i++) snprintf(names[i], sizeof names[i], "%s_%d", argv[1], i);
  null_handles();
  bad_names();
  messages();
  channel_misuse();
  shared_misuse();
  printf("bad input: all statuses as documented\n");
  return 0;
}
