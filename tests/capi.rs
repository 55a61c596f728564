//! The C ABI from C, under plain `cargo test`: builds libneedle as a shared library
//! (the `capi` feature, as cargo-c does), compiles `tests/c/test_capi.c` against
//! `include/needle.h` with the system C compiler, and runs it on v1, v2 and v3 models.
//! (`tools/test_c.sh` runs the same program against the cargo-c install, with valgrind.)

mod common;

use common::{fixture, model_path, root, vocab_path};
use std::path::Path;
use std::process::Command;

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{what} failed ({}):\n{text}", out.status);
    text
}

#[test]
fn the_c_test_program_passes_against_the_shared_library() {
    let root = root();
    // A target directory of its own: the outer `cargo test` holds the lock of `target/`.
    let target = root.join("target/capi-test");
    run(
        Command::new(env!("CARGO"))
            .current_dir(&root)
            .args(["rustc", "--quiet", "--release", "--lib", "--crate-type", "cdylib", "--features", "capi"])
            .arg("--target-dir")
            .arg(&target),
        "cargo rustc --crate-type cdylib",
    );
    let libdir = target.join("release");
    assert!(libdir.join("libneedle.so").exists() || libdir.join("libneedle.dylib").exists());
    let exe = target.join("test_capi");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    run(
        Command::new(cc)
            .current_dir(&root)
            .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-Iinclude", "tests/c/test_capi.c", "-L"])
            .arg(&libdir)
            .args(["-lneedle", "-lpthread", "-o"])
            .arg(&exe),
        "compiling tests/c/test_capi.c",
    );
    let arg = |p: &Path| p.to_str().expect("UTF-8 path").to_string();
    let out = run(
        Command::new(&exe)
            .env("LD_LIBRARY_PATH", &libdir)
            .env("DYLD_LIBRARY_PATH", &libdir)
            .arg(arg(&model_path("tiny")))
            .arg(arg(&model_path("tiny-head")))
            .arg(arg(&vocab_path()))
            .arg(arg(&fixture("v3/tiny.cact")))
            .arg(arg(&fixture("v2/tiny.cact"))),
        "tests/c/test_capi.c",
    );
    let last = out.lines().last().unwrap_or("");
    assert!(last.ends_with(" 0 failed") && !last.starts_with("0 passed"), "{out}");
}
