//! The `.cact` container reader (src/container/cact.rs) on arbitrary bytes: parsing, the
//! speech check and every accessor must return Ok or a clear Err, never panic. The input
//! is parsed as given and again with its first word forced to the v2 and the v3 tag, so
//! the fuzzer explores the header and directory checks of both generations.
#![no_main]
use libfuzzer_sys::fuzz_target;

// The reader is crate-private: compile it here against a stand-in for its parent's
// `Storage` and the crate's public error types and kernels.
pub use needle::{kernels, Error, ErrorKind, Result};

pub(crate) enum Storage {
    Owned(Vec<u8>),
}

impl Storage {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
        }
    }
}

#[allow(dead_code)]
#[path = "../../src/container/cact/mod.rs"]
mod cact;

fn check(bytes: Vec<u8>) {
    let _ = cact::refuse_speech(&bytes);
    match cact::Cact::parse(Storage::Owned(bytes)) {
        Ok(c) => {
            for (i, r) in c.records().iter().enumerate() {
                let blob = c.blob(i).expect("validated record");
                assert_eq!(blob.len() as u64, r.nbytes);
                match r.dtype {
                    cact::Dtype::F16 | cact::Dtype::F32 => {
                        c.floats(i).expect("float record");
                    }
                    cact::Dtype::Cq => {
                        let (l, packed, norms) = c.cq(i).expect("CQ record");
                        assert_eq!(packed.len(), l.out * l.row_bytes);
                        assert_eq!(norms.len(), 2 * l.out * l.groups);
                    }
                    cact::Dtype::Raw => {}
                }
            }
            let _ = c.tokenizer_blob();
        }
        Err(e) => assert!(!e.message().is_empty()),
    }
}

fuzz_target!(|data: &[u8]| {
    check(data.to_vec());
    if data.len() >= 4 {
        for tag in [cact::TAG_V2, cact::TAG_V3] {
            let mut b = data.to_vec();
            b[..4].copy_from_slice(&tag.to_le_bytes());
            check(b);
        }
    }
});
