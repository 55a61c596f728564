//! File containers: where a model's bytes live and how a file is cut into tensors.
//! `safetensors` holds Needle v1 (`needle.safetensors`), `cact` Needle v2 and v3
//! (`.cact`). A container knows nothing of the network: it hands named (or, for `.cact`,
//! positional) byte ranges to the model.

// Not yet dispatched to by `model::load` (see `sniff`); the allow goes when it is.
#[allow(dead_code)]
pub(crate) mod cact;
#[cfg(feature = "v1")]
pub(crate) mod safetensors;

use crate::Result;

/// Where the bytes of a weights file live.
pub(crate) enum Storage {
    /// Bytes owned by the engine (from `Engine::from_bytes`).
    Owned(Vec<u8>),
    /// A read-only memory map of the file (from `Engine::load`).
    #[cfg(not(target_arch = "wasm32"))]
    Mapped(memmap2::Mmap),
}

impl Storage {
    pub(crate) fn bytes(&self) -> &[u8] {
        match self {
            Storage::Owned(v) => v,
            #[cfg(not(target_arch = "wasm32"))]
            Storage::Mapped(m) => m,
        }
    }
}


/// Every file format libneedle tells apart by content (what [`sniff`] returns).
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `needle.safetensors` (Needle v1): anything that is not a `.cact`, as [`detect`] says.
    SafeTensors,
    /// A Needle v2 `.cact` (first little-endian u32 `0x05E12A83`).
    CactV2,
    /// A Needle v3 `.cact` (first little-endian u32 `0x05E12A84`).
    CactV3,
}

/// The format of a file from its first bytes, refusing what libneedle knows it cannot run:
/// the pre-2.0.8 v2 container (tag `0x05E12A82`) and a Whistle speech container (a v3
/// `.cact` whose directory holds the audio manifest) are `Unsupported` errors that say so.
/// Anything else is [`FileKind::SafeTensors`], whose parser says what is wrong.
#[allow(dead_code)]
pub(crate) fn sniff(bytes: &[u8]) -> Result<FileKind> {
    match cact::sniff(bytes)? {
        None => Ok(FileKind::SafeTensors),
        Some(cact::Generation::V2) => Ok(FileKind::CactV2),
        Some(cact::Generation::V3) => {
            cact::refuse_speech(bytes)?;
            Ok(FileKind::CactV3)
        }
    }
}
