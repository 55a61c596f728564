//! The tools-JSON normaliser: never panics, and its output is a fixed point.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match needle::tools::normalize_tools(text) {
        Ok(tools) => {
            if !tools.text.is_empty() {
                let again = needle::tools::normalize_tools(&tools.text).expect("normalised text parses");
                assert_eq!(again.text, tools.text);
            }
            let _ = needle::tools::restore_names(&tools.text, &tools.defs);
        }
        Err(e) => assert_eq!(e.kind(), needle::ErrorKind::InvalidTools),
    }
});
