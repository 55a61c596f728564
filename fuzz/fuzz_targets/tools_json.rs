//! The tools-JSON normaliser: never panics, and its output is a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match needle::tools::normalize_tools(text) {
        Ok(tools) => {
            // Python's json.dumps writes overflowing floats as `Infinity`, which strict
            // JSON (and this parser) rejects, so such texts are not re-parsed.
            // Names that snake_case to "" (e.g. "_") are accepted but cannot be fed back.
            let reparsable = !tools.text.contains("Infinity") && tools.defs.iter().all(|d| !d.snake.is_empty());
            if !tools.text.is_empty() && reparsable {
                let again = needle::tools::normalize_tools(&tools.text).expect("normalised text parses");
                assert_eq!(again.text, tools.text);
            }
            let _ = needle::restore_names(&tools.text, &tools.defs);
        }
        Err(e) => assert_eq!(e.kind(), needle::ErrorKind::InvalidTools),
    }
});
