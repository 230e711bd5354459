#!/usr/bin/env bash
# Installs the C library: libvenom_memory.so and .a, venom_memory_rs.h and venom_memory.pc.
#
#   crates/venom-capi/install.sh [--prefix DIR] [--libdir DIR] [--destdir DIR] [--from DIR]
#
#   --prefix   install prefix (default /usr/local): DIR/lib, DIR/include, DIR/lib/pkgconfig
#   --libdir   library directory (default PREFIX/lib)
#   --destdir  staging root prepended to every path (for packagers); the .pc keeps PREFIX
#   --from     a directory with libvenom_memory.so and .a already built (default: build them
#              with `cargo build --release -p venom-capi` and take target/release)
#
# Then: gcc app.c $(pkg-config --cflags --libs venom_memory)                      (shared)
#       gcc app.c -Wl,--as-needed -l:libvenom_memory.a \
#           $(pkg-config --static --cflags --libs venom_memory)                   (static)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local libdir= destdir= from=
while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) prefix=$2; shift 2 ;;
    --libdir) libdir=$2; shift 2 ;;
    --destdir) destdir=$2; shift 2 ;;
    --from) from=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
libdir=${libdir:-$prefix/lib}
if [ -z "$from" ]; then
  (cd "$here/../.." && cargo build --release -p venom-capi --lib)
  from=$(cd "$here/../.." && pwd)/target/release
fi
for f in libvenom_memory.so libvenom_memory.a; do
  [ -f "$from/$f" ] || { echo "install.sh: $from/$f is missing" >&2; exit 1; }
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$here/../../Cargo.toml" | head -n1)
install -d "$destdir$libdir/pkgconfig" "$destdir$prefix/include"
install -m 0755 "$from/libvenom_memory.so" "$destdir$libdir/libvenom_memory.so"
install -m 0644 "$from/libvenom_memory.a" "$destdir$libdir/libvenom_memory.a"
install -m 0644 "$here/include/venom_memory_rs.h" "$destdir$prefix/include/venom_memory_rs.h"
cat > "$destdir$libdir/pkgconfig/venom_memory.pc" <<PC
prefix=$prefix
libdir=$libdir
includedir=\${prefix}/include

Name: venom_memory
Description: VenomMemory same-host shared-memory IPC (C API)
Version: $version
Libs: -L\${libdir} -lvenom_memory
Libs.private: -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc
Cflags: -I\${includedir}
PC
echo "installed venom_memory $version into $destdir$prefix (libdir $libdir)"
if [ -z "$destdir" ] && command -v ldconfig >/dev/null && ! ldconfig -p 2>/dev/null | grep -q "$libdir/libvenom_memory.so"; then
  echo "hint: run ldconfig (or set LD_LIBRARY_PATH=$libdir) so programs find the library"
fi
