// VenomMemory from Dart and Flutter, through dart:ffi over libvenom_memory.so.
//
// `VenomShell` is the usage guide's class with its exact declarations (readData, sendCommand,
// dispose), plus requests and a NativeFinalizer so a forgotten dispose() never leaks the
// handle; `VenomDaemon` serves a channel. Non-blocking calls (readData, sendCommand,
// tryReceive) are fine on the UI isolate; blocking ones (request, waitForData) belong on a
// helper isolate (Isolate.run) with a bounded timeout.
//
// Every lookupFunction declaration below is checked against the C header and the library's
// exported symbols by tools/check_ffi_decls.py (run by the Rust test suite).

import 'dart:ffi';
import 'dart:typed_data';

import 'package:ffi/ffi.dart';

/// `timeout` in nanoseconds that waits without limit.
const int venomWaitForever = -1; // UINT64_MAX as a signed 64-bit Dart int

/// A call failed: the C status (negative) and the library's message.
class VenomException implements Exception {
  final int status;
  final String message;
  VenomException(this.status, this.message);
  @override
  String toString() => 'VenomException($status): $message';
}

DynamicLibrary? _library;
DynamicLibrary _open() => _library ??= DynamicLibrary.open('libvenom_memory.so');

final _lastErrorCode = _open().lookupFunction<
  Int32 Function(),
  int Function()
>('venom_last_error_code');

final _lastErrorMessage = _open().lookupFunction<
  IntPtr Function(Pointer<Uint8>, IntPtr),
  int Function(Pointer<Uint8>, int)
>('venom_last_error_message');

/// Throws a [VenomException] for a negative status, reading the message in the same
/// synchronous block (the last error is per OS thread).
int _check(int status) {
  if (status >= 0) return status;
  final need = _lastErrorMessage(nullptr, 0);
  final buf = calloc<Uint8>(need + 1);
  try {
    _lastErrorMessage(buf, need + 1);
    throw VenomException(status, String.fromCharCodes(buf.asTypedList(need)));
  } finally {
    calloc.free(buf);
  }
}

class VenomShell implements Finalizable {
  static DynamicLibrary? _lib;
  Pointer<Void>? _handle;

  static final _destroyPtr =
      _open().lookup<NativeFunction<Void Function(Pointer<Void>)>>('venom_shell_destroy');
  static final _finalizer = NativeFinalizer(_destroyPtr);

  VenomShell(String channelName) {
    _lib ??= DynamicLibrary.open('libvenom_memory.so');

    final connect = _lib!.lookupFunction<
      Pointer<Void> Function(Pointer<Utf8>),
      Pointer<Void> Function(Pointer<Utf8>)
    >('venom_shell_connect');

    final namePtr = channelName.toNativeUtf8();
    _handle = connect(namePtr);
    calloc.free(namePtr);
    if (_handle != null && _handle != nullptr) {
      _finalizer.attach(this, _handle!, detach: this);
    }
  }

  Uint8List readData(int maxLen) {
    final readFn = _lib!.lookupFunction<
      IntPtr Function(Pointer<Void>, Pointer<Uint8>, IntPtr),
      int Function(Pointer<Void>, Pointer<Uint8>, int)
    >('venom_shell_read_data');

    final bufPtr = calloc<Uint8>(maxLen);
    final len = readFn(_handle!, bufPtr, maxLen);
    final result = Uint8List.fromList(bufPtr.asTypedList(len));
    calloc.free(bufPtr);
    return result;
  }

  bool sendCommand(String cmd) {
    final sendFn = _lib!.lookupFunction<
      Uint8 Function(Pointer<Void>, Pointer<Uint8>, IntPtr),
      int Function(Pointer<Void>, Pointer<Uint8>, int)
    >('venom_shell_send_command');

    final cmdBytes = cmd.codeUnits;
    final cmdPtr = calloc<Uint8>(cmdBytes.length);
    for (int i = 0; i < cmdBytes.length; i++) {
      cmdPtr[i] = cmdBytes[i];
    }
    final result = sendFn(_handle!, cmdPtr, cmdBytes.length);
    calloc.free(cmdPtr);
    return result != 0;
  }

  /// This shell's client id (0 if the connection failed).
  int get id {
    final idFn = _lib!.lookupFunction<
      Uint32 Function(Pointer<Void>),
      int Function(Pointer<Void>)
    >('venom_shell_id');
    return idFn(_handle ?? nullptr);
  }

  /// Sends [request] and waits at most [timeout] for the daemon's reply. Blocking: call it
  /// from a helper isolate. Throws [VenomException] (timeout, daemon gone, too large).
  Uint8List request(Uint8List request, {Duration timeout = const Duration(seconds: 5)}) {
    final requestFn = _lib!.lookupFunction<
      Int32 Function(Pointer<Void>, Pointer<Uint8>, IntPtr, Pointer<Uint8>, IntPtr, Uint64,
          Pointer<IntPtr>),
      int Function(Pointer<Void>, Pointer<Uint8>, int, Pointer<Uint8>, int, int, Pointer<IntPtr>)
    >('venom_shell_request');
    final sizeFn = _lib!.lookupFunction<
      IntPtr Function(Pointer<Void>),
      int Function(Pointer<Void>)
    >('venom_shell_response_size');
    final cap = sizeFn(_handle ?? nullptr);
    final req = calloc<Uint8>(request.length);
    final resp = calloc<Uint8>(cap);
    final len = calloc<IntPtr>();
    try {
      req.asTypedList(request.length).setAll(0, request);
      _check(requestFn(_handle ?? nullptr, req, request.length, resp, cap,
          timeout.inMicroseconds * 1000, len));
      return Uint8List.fromList(resp.asTypedList(len.value));
    } finally {
      calloc.free(req);
      calloc.free(resp);
      calloc.free(len);
    }
  }

  /// Waits at most [timeout] until the data's version differs from [since]; returns the
  /// new version. Blocking: call it from a helper isolate.
  int waitForData(int since, {Duration timeout = const Duration(seconds: 1)}) {
    final waitFn = _lib!.lookupFunction<
      Int32 Function(Pointer<Void>, Uint64, Uint64, Pointer<Uint64>),
      int Function(Pointer<Void>, int, int, Pointer<Uint64>)
    >('venom_shell_wait_for_data');
    final out = calloc<Uint64>();
    try {
      _check(waitFn(_handle ?? nullptr, since, timeout.inMicroseconds * 1000, out));
      return out.value;
    } finally {
      calloc.free(out);
    }
  }

  void dispose() {
    final destroy = _lib!.lookupFunction<
      Void Function(Pointer<Void>),
      void Function(Pointer<Void>)
    >('venom_shell_destroy');
    _finalizer.detach(this);
    destroy(_handle!);
    _handle = nullptr;
  }
}

/// A command the daemon received: the sender, the request id (null for a fire-and-forget
/// command) and the bytes.
class VenomCommand {
  final int clientId;
  final int? requestId;
  final Uint8List data;
  VenomCommand(this.clientId, this.requestId, this.data);
}

final class _Command extends Struct {
  @Uint64()
  external int requestId;
  @IntPtr()
  external int len;
  @Uint32()
  external int clientId;
}

final class VenomConfig extends Struct {
  @IntPtr()
  external int dataSize;
  @IntPtr()
  external int cmdSlots;
  @IntPtr()
  external int maxClients;
}

/// The serving side of a channel.
class VenomDaemon implements Finalizable {
  static final _lib = _open();
  static final _destroyPtr =
      _lib.lookup<NativeFunction<Void Function(Pointer<Void>)>>('venom_daemon_destroy');
  static final _finalizer = NativeFinalizer(_destroyPtr);

  static final _create = _lib.lookupFunction<
    Pointer<Void> Function(Pointer<Utf8>, VenomConfig),
    Pointer<Void> Function(Pointer<Utf8>, VenomConfig)
  >('venom_daemon_create');
  static final _write = _lib.lookupFunction<
    Int32 Function(Pointer<Void>, Pointer<Uint8>, IntPtr),
    int Function(Pointer<Void>, Pointer<Uint8>, int)
  >('venom_daemon_try_write_data');
  static final _recv = _lib.lookupFunction<
    Int32 Function(Pointer<Void>, Pointer<Uint8>, IntPtr, Uint64, Pointer<_Command>),
    int Function(Pointer<Void>, Pointer<Uint8>, int, int, Pointer<_Command>)
  >('venom_daemon_recv_command');
  static final _reply = _lib.lookupFunction<
    Int32 Function(Pointer<Void>, Uint32, Uint64, Pointer<Uint8>, IntPtr),
    int Function(Pointer<Void>, int, int, Pointer<Uint8>, int)
  >('venom_daemon_reply');
  static final _maxCommandLen = _lib.lookupFunction<
    IntPtr Function(Pointer<Void>),
    int Function(Pointer<Void>)
  >('venom_daemon_max_command_len');
  static final _destroy = _lib.lookupFunction<
    Void Function(Pointer<Void>),
    void Function(Pointer<Void>)
  >('venom_daemon_destroy');

  Pointer<Void> _handle = nullptr;

  VenomDaemon(String name, {int dataSize = 4096, int cmdSlots = 64, int maxClients = 16}) {
    final config = calloc<VenomConfig>();
    final namePtr = name.toNativeUtf8();
    try {
      config.ref
        ..dataSize = dataSize
        ..cmdSlots = cmdSlots
        ..maxClients = maxClients;
      _handle = _create(namePtr, config.ref);
    } finally {
      calloc.free(namePtr);
      calloc.free(config);
    }
    if (_handle == nullptr) _check(_lastErrorCode());
    _finalizer.attach(this, _handle, detach: this);
  }

  /// Publishes [data] as the latest value.
  void writeData(Uint8List data) {
    final buf = calloc<Uint8>(data.length);
    try {
      buf.asTypedList(data.length).setAll(0, data);
      _check(_write(_handle, buf, data.length));
    } finally {
      calloc.free(buf);
    }
  }

  /// The next command, waiting at most [timeout] (zero: do not wait); null if none came.
  VenomCommand? receive({Duration timeout = Duration.zero}) {
    final cap = _maxCommandLen(_handle);
    final buf = calloc<Uint8>(cap);
    final cmd = calloc<_Command>();
    try {
      final status = _check(_recv(_handle, buf, cap, timeout.inMicroseconds * 1000, cmd));
      if (status != 0) return null;
      final requestId = cmd.ref.requestId == venomWaitForever ? null : cmd.ref.requestId;
      return VenomCommand(
          cmd.ref.clientId, requestId, Uint8List.fromList(buf.asTypedList(cmd.ref.len)));
    } finally {
      calloc.free(buf);
      calloc.free(cmd);
    }
  }

  /// Answers [command] (a request) with [data].
  void reply(VenomCommand command, Uint8List data) {
    final buf = calloc<Uint8>(data.length);
    try {
      buf.asTypedList(data.length).setAll(0, data);
      _check(_reply(_handle, command.clientId, command.requestId ?? venomWaitForever, buf,
          data.length));
    } finally {
      calloc.free(buf);
    }
  }

  void dispose() {
    _finalizer.detach(this);
    _destroy(_handle);
    _handle = nullptr;
  }
}
