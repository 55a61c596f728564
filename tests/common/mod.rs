//! Shared helpers for the integration tests: fixture paths and synthetic models that
//! are generated deterministically at test time and checked against committed hashes.
#![allow(dead_code)]

use needle::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join("tests/fixtures").join(rel)
}

pub fn vocab_path() -> PathBuf {
    fixture("vocab/vocab.txt")
}

pub fn vocab_text() -> String {
    std::fs::read_to_string(vocab_path()).expect("stand-in vocab.txt is committed")
}

/// Reads a JSON-lines fixture.
pub fn jsonl(rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(fixture(rel))
        .unwrap_or_else(|e| panic!("fixture {rel} is missing ({e}); run tools/refresh_fixtures.sh"));
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("fixture line is JSON"))
        .collect()
}

fn sha256_file(p: &Path) -> String {
    let bytes = std::fs::read(p).expect("model file readable");
    let d = Sha256::digest(&bytes);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

static GEN_LOCK: Mutex<()> = Mutex::new(());

/// Path of the synthetic model `preset`, generated with `tools/make_model.py` if it is
/// not there yet, and always checked against the hash in `tests/fixtures/models.json`.
pub fn model_path(preset: &str) -> PathBuf {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(fixture("models.json")).expect("models.json is committed"),
    )
    .expect("models.json is JSON");
    let entry = &manifest["presets"][preset];
    assert!(entry.is_object(), "unknown preset {preset}");
    let file = entry["file"].as_str().unwrap();
    let sha = entry["sha256"].as_str().unwrap();
    let dir = root().join("target/test-models");
    let path = dir.join(file);
    let _g = GEN_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        let tmp = dir.join(format!("{file}.tmp{}", std::process::id()));
        let status = std::process::Command::new("python3")
            .arg(root().join("tools/make_model.py"))
            .args(["--preset", preset, "--out"])
            .arg(&tmp)
            .status()
            .expect("python3 must be installed to generate test models (see .ci/run)");
        assert!(status.success(), "tools/make_model.py --preset {preset} failed");
        std::fs::rename(&tmp, &path).unwrap();
    }
    let got = sha256_file(&path);
    assert_eq!(got, sha, "{} does not match the hash in models.json; delete it to regenerate", path.display());
    path
}

/// A loaded engine per preset, shared across the tests of one binary.
pub fn engine(preset: &str) -> Arc<Engine> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<Engine>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    if let Some(e) = cache.lock().unwrap().get(preset) {
        return e.clone();
    }
    let e = Arc::new(Engine::load(model_path(preset), vocab_path()).expect("synthetic model loads"));
    cache.lock().unwrap().insert(preset.to_string(), e.clone());
    e
}

pub fn ids_of(v: &Value) -> Vec<u32> {
    v.as_array().expect("id array").iter().map(|x| x.as_u64().unwrap() as u32).collect()
}

pub fn floats_of(v: &Value) -> Vec<f32> {
    v.as_array().expect("float array").iter().map(|x| x.as_f64().unwrap() as f32).collect()
}

/// A `.cact` written by the project's writer at test time (`tools/make_cact.py ARGS`,
/// too large to commit) as `target/test-models/{name}.cact`, checked against the hash
/// recorded with its reference outputs (regenerated when missing or different).
pub fn writer_file(name: &str, args: &[Value], sha: &str) -> PathBuf {
    let path = root().join("target/test-models").join(format!("{name}.cact"));
    let hash = |p: &Path| std::fs::read(p).map(|b| Sha256::digest(&b).iter().map(|x| format!("{x:02x}")).collect::<String>());
    if hash(&path).ok().as_deref() != Some(sha) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let status = std::process::Command::new("python3")
            .arg(root().join("tools/make_cact.py"))
            .arg(&tmp)
            .args(args.iter().map(|a| a.as_str().unwrap()))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("python3 with numpy writes the file (tools/make_cact.py)");
        assert!(status.success());
        std::fs::rename(&tmp, &path).unwrap();
    }
    assert_eq!(hash(&path).unwrap(), sha, "tools/make_cact.py no longer writes the recorded {name}.cact");
    path
}
