/* Shared by the C test programs: CHECK(cond) exits 1 with the last error on failure. */
#ifndef VENOM_TEST_CHECK_H
#define VENOM_TEST_CHECK_H
#include <stdio.h>
#include <stdlib.h>
#include "venom_memory_rs.h"

static void check_failed(const char *file, int line, const char *what) {
  char msg[512];
  venom_last_error_message(msg, sizeof msg);
  fprintf(stderr, "%s:%d: CHECK failed: %s (last error %d: %s)\n", file, line, what,
          venom_last_error_code(), msg);
  exit(1);
}

#define CHECK(cond)                                   \
  do {                                                \
    if (!(cond)) check_failed(__FILE__, __LINE__, #cond); \
  } while (0)

#define CHECK_STATUS(call, want) CHECK((call) == (want))
#endif
