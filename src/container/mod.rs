//! File containers: where a model's bytes live and how a file is cut into tensors.
//! `safetensors` holds Needle v1 (`needle.safetensors`). A container knows nothing of
//! the network: it hands named (or, for `.cact`, positional) byte ranges to the model.

pub(crate) mod safetensors;

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

/// The file formats libneedle reads, told apart by content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `needle.safetensors` (Needle v1), with its `vocab.txt`. Anything that is not a
    /// recognised container is read as safetensors, whose parser says what is wrong.
    SafeTensors,
}

/// The format of a file from its first bytes.
pub(crate) fn detect(_bytes: &[u8]) -> Format {
    Format::SafeTensors
}
