//! The daemon/shell channel: latest-value data, commands and request/response over one shared-memory region.
