/* The header included twice, compiled as C99, C11 and C++17 (-fsyntax-only). */
#include "venom_memory_rs.h"
#include "venom_memory_rs.h"
int venom_header_compiles(void);
int venom_header_compiles(void) { return VENOM_STATUS_OK + (int)sizeof(VenomCommand); }
