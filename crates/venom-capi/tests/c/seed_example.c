#include <stdio.h>
#include "venom_memory_rs.h"

int main() {
    // Connect
    VenomShellHandle* shell = venom_shell_connect("my_channel");
    if (!shell) {
        printf("❌ Connection failed\n");
        return 1;
    }
    
    printf("✅ Connected! ID: %u\n", venom_shell_id(shell));
    
    // Send command
    venom_shell_send_command(shell, (uint8_t*)"PING", 4);
    
    // Read
    uint8_t buf[1024];
    size_t len = venom_shell_read_data(shell, buf, sizeof(buf));
    printf("📥 Received %zu bytes\n", len);
    
    venom_shell_destroy(shell);
    return 0;
}
