/* The seed usage guide's header text (its function part, verbatim) after ours: every
 * prototype must be a compatible redeclaration. Its types part declares what ours declares
 * (the two handle typedefs, identical; `VenomConfig`, the same three size_t fields), but C99
 * forbids repeating a typedef in one unit, so it is left out here. */
#include "venom_memory_rs.h"

// Daemon functions
VenomDaemonHandle* venom_daemon_create(const char* name, VenomConfig config);
void venom_daemon_destroy(VenomDaemonHandle* handle);
void venom_daemon_write_data(VenomDaemonHandle* handle, const uint8_t* data, size_t len);

// Client functions
VenomShellHandle* venom_shell_connect(const char* name);
void venom_shell_destroy(VenomShellHandle* handle);
size_t venom_shell_read_data(VenomShellHandle* handle, uint8_t* buf, size_t max_len);
uint32_t venom_shell_id(VenomShellHandle* handle);
bool venom_shell_send_command(VenomShellHandle* handle, const uint8_t* cmd, size_t len);

int venom_seed_header_compiles(void);
int venom_seed_header_compiles(void) { return 0; }
