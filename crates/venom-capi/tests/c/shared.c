/* A C struct shared with a Rust SharedMemory<Pose> (same size, alignment and tag):
 * argv[2] == "create": creates it and writes {1, 2, 0.5}, then waits for the Rust side to
 * change the heading and prints it; "open": opens it, expects {4, 5, 6}, writes x = 7. */
#include <string.h>
#include "check.h"

typedef struct Pose {
  double x, y, heading;
} Pose;

int main(int argc, char **argv) {
  CHECK(argc == 3);
  VenomSharedOptions options;
  venom_shared_options_default(&options);
  options.tag = "pose v1";
  VenomSharedHandle *h = NULL;
  if (strcmp(argv[2], "create") == 0) {
    options.unlink_on_drop = false; /* the Rust side removes it */
    CHECK_STATUS(VENOM_SHARED_CREATE(argv[1], Pose, &options, &h), VENOM_STATUS_OK);
    CHECK(venom_shared_is_creator(h) && venom_shared_size(h) == sizeof(Pose));
    Pose p = {1.0, 2.0, 0.5};
    uint64_t v = venom_shared_version(h);
    CHECK_STATUS(venom_shared_write(h, (const uint8_t *)&p, sizeof p, VENOM_WAIT_FOREVER),
                 VENOM_STATUS_OK);
    CHECK_STATUS(venom_shared_wait_for_change(h, v + 1, 30ull * 1000 * 1000 * 1000, &v),
                 VENOM_STATUS_OK);
    double heading = 0;
    CHECK_STATUS(venom_shared_read_at(h, offsetof(Pose, heading), (uint8_t *)&heading,
                                      sizeof heading),
                 VENOM_STATUS_OK);
    printf("heading %.2f\n", heading);
  } else {
    CHECK_STATUS(VENOM_SHARED_OPEN(argv[1], Pose, &options, &h), VENOM_STATUS_OK);
    Pose p;
    CHECK_STATUS(venom_shared_read(h, (uint8_t *)&p, sizeof p, VENOM_WAIT_FOREVER),
                 VENOM_STATUS_OK);
    CHECK(p.x == 4.0 && p.y == 5.0 && p.heading == 6.0);
    double x = 7.0;
    CHECK_STATUS(venom_shared_write_at(h, offsetof(Pose, x), (const uint8_t *)&x, sizeof x),
                 VENOM_STATUS_OK);
    /* Another fingerprint is refused. */
    VenomSharedHandle *wrong = NULL;
    CHECK_STATUS(venom_shared_open(argv[1], sizeof(Pose) + 8, 8, &options, &wrong),
                 VENOM_STATUS_TYPE_MISMATCH);
    CHECK(wrong == NULL);
    printf("ok\n");
  }
  venom_shared_destroy(h);
  return 0;
}
