#!/usr/bin/env python3
"""Checks the foreign-function declarations of the Dart and Python bindings against the C
header and the library, without a Dart SDK: every `lookupFunction<NATIVE, DART>('sym')` and
`lookup<NativeFunction<NATIVE>>('sym')` in the Dart file, and every `_fn("sym", restype,
*argtypes)` in the Python file, must name a function the header declares and the library
exports, with the same arity and the same width and class (pointer, integer, struct) of
every argument and of the return value; the Dart-side signature must be the Dart type of each
native type.

usage: check_ffi_decls.py HEADER LIBRARY DART_FILE PYTHON_FILE
Prints one line per checked declaration and exits 1 on any mismatch."""
import re
import subprocess
import sys

errors = []


def fail(msg):
    errors.append(msg)
    print("MISMATCH " + msg)


# ---- C header ----------------------------------------------------------------------------

C_TYPES = {
    "void": ("void", 0), "bool": ("int", 8), "uint8_t": ("int", 8), "int8_t": ("int", 8),
    "uint32_t": ("int", 32), "int32_t": ("int", 32), "VenomStatus": ("int", 32),
    "uint64_t": ("int", 64), "int64_t": ("int", 64), "size_t": ("int", 64),
    "VenomHandler": ("ptr", 64),
}


def c_class(decl):
    """(class, width) of a C declaration like `const uint8_t *data` or `struct VenomConfig c`."""
    t = decl.strip()
    if "*" in t:
        return ("ptr", 64)
    words = [w for w in t.replace("const ", "").split() if w]
    if not words:
        return ("void", 0)
    base = words[1] if words[0] == "struct" else words[0]
    if base in C_TYPES:
        return C_TYPES[base]
    return ("struct", base)


def header_functions(path):
    text = open(path).read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"#[^\n]*", " ", text)
    funcs = {}
    for m in re.finditer(r"([A-Za-z_][\w \t\*]*?)\b(venom_\w+)\s*\(([^;{]*?)\)\s*;", text):
        ret, name, args = m.group(1), m.group(2), m.group(3)
        if "typedef" in ret:
            continue
        ret_class = ("ptr", 64) if "*" in ret or "*" in text[m.start(2) - 2:m.start(2)] else c_class(ret)
        arglist = [] if args.strip() in ("", "void") else [c_class(a) for a in args.split(",")]
        funcs[name] = (ret_class, arglist)
    return funcs


# ---- the library -------------------------------------------------------------------------

def exported(lib):
    out = subprocess.run(["nm", "-D", "--defined-only", lib], capture_output=True, text=True,
                         check=True).stdout
    return {f[2] for f in (l.split() for l in out.splitlines()) if len(f) == 3 and f[1] == "T"}


# ---- Dart --------------------------------------------------------------------------------

DART_NATIVE = {
    "Void": ("void", 0), "Bool": ("int", 8), "Uint8": ("int", 8), "Int8": ("int", 8),
    "Uint32": ("int", 32), "Int32": ("int", 32), "Uint64": ("int", 64), "Int64": ("int", 64),
    "IntPtr": ("int", 64), "Size": ("int", 64),
}


def split_top(s, sep=","):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch in "<(":
            depth += 1
        elif ch in ">)":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur.strip())
    return parts


def parse_fn_type(s):
    """`Ret Function(A, B)` -> (ret, [A, B])."""
    s = " ".join(s.split())
    i = s.index(" Function(")
    ret, args = s[:i].strip(), s[i + len(" Function("):].rstrip()
    assert args.endswith(")"), s
    return ret, split_top(args[:-1])


def dart_native_class(t):
    if t.startswith("Pointer<"):
        return ("ptr", 64)
    if t in DART_NATIVE:
        return DART_NATIVE[t]
    return ("struct", t)


def dart_side_type(native):
    """The Dart type a native type maps to in the second signature."""
    if native.startswith("Pointer<"):
        return native
    if native == "Void":
        return "void"
    if native == "Bool":
        return "bool"
    if native in DART_NATIVE:
        return "int"
    return native


def balanced(text, start):
    """The text inside the `<...>` whose `<` is at `start`."""
    depth = 0
    for i in range(start, len(text)):
        if text[i] == "<":
            depth += 1
        elif text[i] == ">":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    raise ValueError("unbalanced")


def dart_declarations(path):
    text = open(path).read()
    text = re.sub(r"//[^\n]*", "", text)
    decls = []
    for m in re.finditer(r"\.lookupFunction<", text):
        inner, end = balanced(text, m.end() - 1)
        sym = re.match(r"\s*\(\s*'(\w+)'\s*\)", text[end:]).group(1)
        native, dart = split_top(inner)
        decls.append((sym, native, dart))
    for m in re.finditer(r"\.lookup<NativeFunction<", text):
        inner, end = balanced(text, m.end() - 1)
        sym = re.match(r">?\s*\(\s*'(\w+)'\s*\)", text[end:]).group(1)
        decls.append((sym, inner, None))
    return decls


# ---- Python ctypes -----------------------------------------------------------------------

CTYPES = {
    "None": ("void", 0), "c_bool": ("int", 8), "c_uint8": ("int", 8), "c_int32": ("int", 32),
    "c_uint32": ("int", 32), "c_uint64": ("int", 64), "c_size_t": ("int", 64),
    "c_void_p": ("ptr", 64), "c_char_p": ("ptr", 64), "_H": ("ptr", 64), "_U8P": ("ptr", 64),
    "_Config": ("struct", "VenomConfig"),
}


def ctypes_class(t):
    t = t.strip()
    if t.startswith("POINTER("):
        return ("ptr", 64)
    return CTYPES.get(t, ("unknown", t))


def python_declarations(path):
    text = open(path).read()
    decls = []
    for m in re.finditer(r'_fn\(\s*(f?)"([\w{}]+)"\s*,(.*?)\)\s*\n', text, flags=re.S):
        is_f, sym, rest = m.group(1), m.group(2), m.group(3)
        parts = split_top(" ".join(rest.split()))
        names = [sym]
        if is_f:
            hows = re.search(r"for how in \(([^)]*)\)", text[m.end():m.end() + 200]).group(1)
            names = [sym.replace("{how}", h.strip().strip('"')) for h in hows.split(",")]
        for n in names:
            decls.append((n, parts[0], parts[1:]))
    return decls


def main():
    header, lib, dart, python = sys.argv[1:5]
    funcs = header_functions(header)
    symbols = exported(lib)
    if len(funcs) < 40:
        fail(f"only {len(funcs)} functions parsed from {header}")

    def known(sym, where):
        if sym not in funcs:
            fail(f"{where}: {sym} is not declared in the header")
            return False
        if sym not in symbols:
            fail(f"{where}: {sym} is not exported by {lib}")
            return False
        return True

    for sym, native, dart_sig in dart_declarations(dart):
        if not known(sym, "dart"):
            continue
        ret, args = parse_fn_type(native)
        want_ret, want_args = funcs[sym]
        got = (dart_native_class(ret), [dart_native_class(a) for a in args])
        if got != (want_ret, want_args):
            fail(f"dart {sym}: native {native!r} is {got}, the header says {(want_ret, want_args)}")
        if dart_sig is not None:
            dret, dargs = parse_fn_type(dart_sig)
            expect = (dart_side_type(ret), [dart_side_type(a) for a in args])
            if (dret, dargs) != expect:
                fail(f"dart {sym}: Dart signature {dart_sig!r} should be {expect}")
        print(f"ok dart   {sym}")

    for sym, restype, argtypes in python_declarations(python):
        if not known(sym, "python"):
            continue
        want_ret, want_args = funcs[sym]
        got = (ctypes_class(restype), [ctypes_class(a) for a in argtypes])
        if got != (want_ret, want_args):
            fail(f"python {sym}: {got}, the header says {(want_ret, want_args)}")
        print(f"ok python {sym}")

    print(f"{len(errors)} mismatches")
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
