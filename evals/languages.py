"""The languages programs are run in: how a benchmark program becomes files, a compile command
and a run command, with each language's own limits, and how a failed run is told apart
(assertion, memory, runtime) from what it left behind.

Every language reports success the same way: after its tests returned, a small runner of the
harness's own (Python's in-process runner, a wrapper `main` for Java and JavaScript, a call
injected at the end of the test `main` for C++ and Rust) reads the per-run secret from fd 5
and writes `{"event": "proof", "secret": ...}` to fd 3. A program that exits early, aborts or
prints records of its own never has that line, so it cannot pass.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field

from mixtune.errors import MixtuneError


class ToolchainError(MixtuneError):
    """A language's compiler or interpreter is not installed."""


@dataclass(frozen=True)
class Language:
    """Defaults hold on a loaded 2-core machine (compilers share the CPUs with the programs)."""

    name: str
    tools: tuple[str, ...]  # executables it needs (looked up on PATH)
    package: str  # what provides them (Debian), named in the error when missing
    timeout: float  # run phase, wall-clock seconds
    memory_mb: int  # run phase, address space per process
    compile_timeout: float = 0.0
    compile_memory_mb: int = 0
    nproc: int = 32
    fence_tags: tuple[str, ...] = field(default_factory=tuple)  # ```tag of a chat answer's code

    @property
    def compiled(self) -> bool:
        return self.compile_timeout > 0


LANGUAGES: dict[str, Language] = {
    "python": Language(
        "python", (), "python3", timeout=6.0, memory_mb=1024, fence_tags=("python", "py", "python3", "py3")
    ),
    "js": Language(
        "js",
        ("node",),
        "nodejs",
        timeout=10.0,
        memory_mb=4096,  # V8 reserves address space far beyond its heap
        nproc=64,
        fence_tags=("javascript", "js", "node", "jsx"),
    ),
    "cpp": Language(
        "cpp",
        ("g++",),
        "g++",
        timeout=10.0,
        memory_mb=1024,
        compile_timeout=40.0,
        compile_memory_mb=2048,
        nproc=64,
        fence_tags=("cpp", "c++", "cc", "cxx", "c"),
    ),
    "java": Language(
        "java",
        ("javac", "java"),
        "default-jdk-headless",
        timeout=15.0,
        memory_mb=4096,  # the JVM reserves heap, class space and code cache up front
        compile_timeout=60.0,
        compile_memory_mb=4096,
        nproc=256,
        fence_tags=("java",),
    ),
    "rust": Language(
        "rust",
        ("rustc",),
        "rustc",
        timeout=10.0,
        memory_mb=1024,
        compile_timeout=60.0,
        compile_memory_mb=2048,
        nproc=128,
        fence_tags=("rust", "rs"),
    ),
}

# Names benchmarks use for the same language.
ALIASES = {
    "py": "python",
    "python3": "python",
    "javascript": "js",
    "c++": "cpp",
    "rs": "rust",
}

JAVATUPLES = "/usr/share/java/javatuples.jar"  # MultiPL-E's Java prompts import org.javatuples


def language(name: str) -> Language:
    key = ALIASES.get(name.lower(), name.lower())
    if key not in LANGUAGES:
        raise MixtuneError(f"unknown language {name!r} (known: {', '.join(LANGUAGES)})")
    return LANGUAGES[key]


@dataclass(frozen=True)
class Toolchain:
    """Absolute paths of a language's tools, and the directories the sandbox must show."""

    paths: dict[str, str]
    visible: tuple[str, ...]
    path_env: str
    env: tuple[tuple[str, str], ...] = ()


@functools.cache
def toolchain(name: str) -> Toolchain:
    """Find the language's tools; a missing one is an error naming it and its package."""
    lang = language(name)
    paths: dict[str, str] = {}
    for tool in lang.tools:
        found = shutil.which(tool) or shutil.which(tool, path=f"{os.path.expanduser('~')}/.cargo/bin")
        if not found:
            raise ToolchainError(
                f"{lang.name} programs need `{tool}`, which is not installed "
                f"(Debian package {lang.package}; scripts/install.sh installs it)"
            )
        paths[tool] = found
    visible: list[str] = []
    if lang.name == "rust":
        # rustup's proxy needs its home; the toolchain's own rustc does not.
        try:
            sysroot = subprocess.run(
                [paths["rustc"], "--print", "sysroot"], capture_output=True, text=True, timeout=60, check=True
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError) as exc:
            raise ToolchainError(f"rustc does not run: {exc}") from None
        real = os.path.join(sysroot, "bin", "rustc")
        if os.path.isfile(real):
            paths["rustc"] = real
        visible.append(sysroot)
    for tool, path in list(paths.items()):
        paths[tool] = os.path.realpath(path)
        visible.append(os.path.dirname(os.path.dirname(paths[tool])))
    env: list[tuple[str, str]] = []
    if lang.name == "js":
        # Packages HumanEval-X's tests require (js-md5), installed globally by scripts/install.sh.
        roots = [d for d in ("/usr/local/lib/node_modules", "/usr/lib/node_modules") if os.path.isdir(d)]
        if roots:
            env.append(("NODE_PATH", ":".join(roots)))
    dirs = [os.path.dirname(p) for p in paths.values()]
    path_env = ":".join(dict.fromkeys([*dirs, "/usr/local/bin", "/usr/bin", "/bin"]))
    return Toolchain(
        paths, tuple(dict.fromkeys(v for v in visible if v not in ("/", "/usr"))), path_env, tuple(env)
    )


@dataclass(frozen=True)
class Job:
    """What the sandbox runs: Python source, or files with compile and run commands."""

    language: str
    source: str = ""
    files: dict[str, str] = field(default_factory=dict)
    compile: tuple[str, ...] = ()
    run: tuple[str, ...] = ()


_CPP_HEAD = "#include <unistd.h>\nstatic void mixtune_report_end();\n"
_CPP_TAIL = r"""
static void mixtune_report_end() {
    char secret[256];
    ssize_t n = read(5, secret, sizeof secret);
    static const char head[] = "\n{\"event\": \"proof\", \"secret\": \"";
    static const char tail[] = "\"}\n";
    if (n <= 0 || write(3, head, sizeof head - 1) < 0 || write(3, secret, n) < 0 ||
        write(3, tail, sizeof tail - 1) < 0)
        _exit(1);
}
"""
_RUST_TAIL = r"""
#[allow(dead_code)]
fn mixtune_report_end() {
    use std::io::{Read, Write};
    use std::os::unix::io::FromRawFd;
    let mut secret = String::new();
    let mut input = unsafe { std::fs::File::from_raw_fd(5) };
    if input.read_to_string(&mut secret).is_err() {
        std::process::exit(1);
    }
    let mut out = unsafe { std::fs::File::from_raw_fd(3) };
    let line = format!("\n{{\"event\": \"proof\", \"secret\": \"{}\"}}\n", secret);
    if out.write_all(line.as_bytes()).is_err() {
        std::process::exit(1);
    }
    std::mem::forget(out);
}
"""
_JS_RUNNER = r"""'use strict';
const fs = require('fs');
const assert = require('assert');
const AssertionError = assert.AssertionError;
const writeSync = fs.writeSync, readFileSync = fs.readFileSync, exit = process.exit.bind(process);
const stringify = JSON.stringify;
const report = (record) => { try { writeSync(3, '\n' + stringify(record) + '\n'); } catch (e) { exit(1); } };
// HumanEval-X's tests use console.assert, which only prints: make a failed one fail the run.
console.assert = (value, ...message) => {
  if (!value) throw new AssertionError({ message: message.length ? message.join(' ') : 'console.assert failed' });
};
const kindOf = (e) => {
  if (e instanceof AssertionError || (e && e.code === 'ERR_ASSERTION')) return 'assertion';
  const text = String(e && e.message);
  if (e instanceof RangeError && /allocation|Invalid (array|string|typed array) length|Array buffer/i.test(text)) return 'memory';
  return 'runtime';
};
try {
  require('./program.js');
} catch (e) {
  let message = 'exception';
  try { message = String((e && e.stack) || e); } catch (_) {}
  try { process.stderr.write(message + '\n'); } catch (_) {}
  report({ event: 'result', kind: kindOf(e), error: message.slice(0, 1000) });
  exit(1);
}
let secret = '';
try { secret = readFileSync(5, 'latin1'); } catch (e) { exit(1); }
report({ event: 'proof', secret });
"""
_JAVA_RUNNER = r"""import java.io.*;
import java.nio.charset.StandardCharsets;

public class MixtuneRunner {
    // The sandbox's pipes are inherited descriptors (reopening /proc/self/fd/N would need
    // permissions on the harness's pipes): wrap the numbers directly.
    private static FileDescriptor descriptor(int number) throws Exception {
        FileDescriptor d = new FileDescriptor();
        java.lang.reflect.Field field = FileDescriptor.class.getDeclaredField("fd");
        field.setAccessible(true);
        field.setInt(d, number);
        return d;
    }

    private static void report(String json) {
        try {
            FileOutputStream out = new FileOutputStream(descriptor(3));
            out.write(("\n" + json + "\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
        } catch (Throwable t) {
            Runtime.getRuntime().halt(1);
        }
    }

    private static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') b.append('\\').append(c);
            else if (c < 0x20 || c > 0x7e) b.append(String.format("\\u%04x", (int) c));
            else b.append(c);
        }
        return b.append('"').toString();
    }

    public static void main(String[] args) {
        try {
            MAIN_CLASS.main(args);
        } catch (Throwable t) {
            String kind = (t instanceof AssertionError) ? "assertion" : (t instanceof OutOfMemoryError) ? "memory" : "runtime";
            String message = String.valueOf(t);
            if (message.length() > 1000) message = message.substring(0, 1000);
            t.printStackTrace();
            System.err.flush();
            report("{\"event\": \"result\", \"kind\": \"" + kind + "\", \"error\": " + quote(message) + "}");
            Runtime.getRuntime().halt(1);
        }
        byte[] secret = new byte[0];
        try {
            byte[] buffer = new byte[256];
            int n = new FileInputStream(descriptor(5)).read(buffer);  // a pipe: no readAllBytes
            secret = java.util.Arrays.copyOf(buffer, Math.max(n, 0));
        } catch (Throwable t) {
            Runtime.getRuntime().halt(1);
        }
        System.out.flush();
        report("{\"event\": \"proof\", \"secret\": \"" + new String(secret, StandardCharsets.US_ASCII) + "\"}");
        Runtime.getRuntime().halt(0);
    }
}
"""


def _inject_end_hook(test: str) -> str:
    """Call the proof writer as the last statement of the test `main` (its last brace)."""
    end = test.rfind("}")
    if end == -1:
        return test
    return test[:end] + "\nmixtune_report_end();\n" + test[end:]


_JAVA_CLASS = re.compile(r"\bclass\s+([A-Za-z_]\w*)")
_JAVA_PUBLIC = re.compile(r"\bpublic\s+(?:final\s+|abstract\s+)*class\s+([A-Za-z_]\w*)")
_JAVA_MAIN = re.compile(r"\bstatic\s+void\s+main\s*\(")


def java_main_class(text: str) -> str:
    """The class whose `main` runs the tests: the last class declared before the last main."""
    mains = list(_JAVA_MAIN.finditer(text))
    if not mains:
        return "Main"
    before = [m for m in _JAVA_CLASS.finditer(text) if m.start() < mains[-1].start()]
    return before[-1].group(1) if before else "Main"


def build_job(lang_name: str, program: str, test: str) -> Job:
    """program: everything before the tests (prompt + completion); test: the harness's tests."""
    lang = language(lang_name)
    if lang.name == "python":
        return Job("python", source=program + "\n" + test)
    tools = toolchain(lang.name)
    if lang.name == "js":
        node = tools.paths["node"]
        return Job(
            "js",
            files={"program.js": program + "\n" + test, "runner.js": _JS_RUNNER},
            run=(node, "--max-old-space-size=1024", "--stack-size=4000", "runner.js"),
        )
    if lang.name == "cpp":
        text = _CPP_HEAD + program + "\n" + _inject_end_hook(test) + _CPP_TAIL
        command = [tools.paths["g++"], "-std=c++17", "-w", "program.cpp", "-o", "program"]
        if "openssl/" in text:
            command += ["-lcrypto", "-lssl"]
        return Job("cpp", files={"program.cpp": text}, compile=tuple(command), run=("./program",))
    if lang.name == "rust":
        text = program + "\n" + _inject_end_hook(test) + _RUST_TAIL
        command = (
            tools.paths["rustc"],
            "--edition",
            "2021",
            "-A",
            "warnings",
            "-C",
            "debuginfo=0",
            "program.rs",
            "-o",
            "program",
        )
        return Job("rust", files={"program.rs": text}, compile=command, run=("./program",))
    # java
    text = program + "\n" + test
    public = _JAVA_PUBLIC.search(text)
    filename = f"{public.group(1) if public else 'Program'}.java"
    runner = _JAVA_RUNNER.replace("MAIN_CLASS", java_main_class(text))
    classpath = "." + (f":{JAVATUPLES}" if os.path.isfile(JAVATUPLES) else "")
    jvm = ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto", "-XX:CICompilerCount=1"]
    compile_cmd = (
        tools.paths["javac"],
        *[f"-J{flag}" for flag in jvm],
        "-J-Xmx512m",
        "-encoding",
        "UTF-8",
        "-nowarn",
        "-proc:none",
        "-cp",
        classpath,
        "-d",
        ".",
        filename,
        "MixtuneRunner.java",
    )
    run_cmd = (
        tools.paths["java"],
        "-ea",
        *jvm,
        "-Xmx1024m",
        "-Xss16m",
        "--add-opens=java.base/java.io=ALL-UNNAMED",
        "-cp",
        classpath,
        "MixtuneRunner",
    )
    return Job("java", files={filename: text, "MixtuneRunner.java": runner}, compile=compile_cmd, run=run_cmd)


_MEMORY_HINTS = (
    "std::bad_alloc",
    "memory allocation of",
    "heap out of memory",
    "OutOfMemoryError",
    "Cannot allocate memory",
    "MemoryError",
)


def failure_hint(output: str) -> str | None:
    """A failure kind from what a failed run printed (the program can print anything, so this
    only ever picks between failure kinds): C++ assert, Rust assert panics, out of memory."""
    if any(h in output for h in _MEMORY_HINTS):
        return "memory"
    if re.search(r"Assertion `.*' failed", output) or re.search(r"panicked at .*\n?.*assertion", output):
        return "assertion"
    if "AssertionError" in output or "ERR_ASSERTION" in output:
        return "assertion"
    if "terminate called after throwing" in output or "panicked at" in output:
        return "runtime"
    return None
