//! Reading `needle.safetensors`: the container, the tensor table and the metadata.
//!
//! The weight bytes are never copied: a file is memory-mapped, an in-memory buffer is
//! taken by value, and tensors are described by byte ranges into that storage. Every
//! header field is validated before anything is allocated from it.

use super::Storage;
use crate::kernels::{bf16_to_f32, f16_to_f32};
use crate::{Error, Result};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;

/// Largest header accepted (the published header is ~30 KB).
const MAX_HEADER_LEN: u64 = 64 << 20;

/// Element types that may appear in the tensor table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dtype {
    F64,
    F32,
    F16,
    BF16,
    I64,
    I32,
    I16,
    I8,
    U8,
    Bool,
    /// libneedle's packed 4-bit type: the shape is the shape of the byte matrix.
    I4,
}

impl Dtype {
    fn parse(s: &str) -> Option<Dtype> {
        Some(match s {
            "F64" => Dtype::F64,
            "F32" => Dtype::F32,
            "F16" => Dtype::F16,
            "BF16" => Dtype::BF16,
            "I64" => Dtype::I64,
            "I32" => Dtype::I32,
            "I16" => Dtype::I16,
            "I8" => Dtype::I8,
            "U8" => Dtype::U8,
            "BOOL" => Dtype::Bool,
            "I4" => Dtype::I4,
            _ => return None,
        })
    }

    /// Bytes per element of the shape (I4 shapes count bytes).
    fn size(self) -> u64 {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F16 | Dtype::BF16 | Dtype::I16 => 2,
            Dtype::I8 | Dtype::U8 | Dtype::Bool | Dtype::I4 => 1,
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Dtype::F64 => "F64",
            Dtype::F32 => "F32",
            Dtype::F16 => "F16",
            Dtype::BF16 => "BF16",
            Dtype::I64 => "I64",
            Dtype::I32 => "I32",
            Dtype::I16 => "I16",
            Dtype::I8 => "I8",
            Dtype::U8 => "U8",
            Dtype::Bool => "BOOL",
            Dtype::I4 => "I4",
        }
    }
}

/// One entry of the tensor table: dtype, shape and absolute byte range in the storage.
#[derive(Debug, Clone)]
pub(crate) struct TensorInfo {
    pub dtype: Dtype,
    pub shape: Vec<usize>,
    /// Absolute offset of the first byte in the storage.
    pub start: usize,
    /// Length in bytes.
    pub len: usize,
}

/// A parsed and validated safetensors container.
pub(crate) struct SafeTensors {
    pub storage: Arc<Storage>,
    pub tensors: HashMap<String, TensorInfo>,
    pub metadata: Vec<(String, String)>,
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

impl SafeTensors {
    /// Parses and validates the container held by `storage`.
    pub(crate) fn parse(storage: Storage) -> Result<SafeTensors> {
        let storage = Arc::new(storage);
        let bytes = storage.bytes();
        let total = bytes.len() as u64;
        if total < 8 {
            return Err(Error::weights(format!(
                "file is {total} bytes long; a safetensors file starts with an 8-byte header length"
            )));
        }
        let mut len8 = [0u8; 8];
        len8.copy_from_slice(&bytes[..8]);
        let header_len = u64::from_le_bytes(len8);
        if header_len > MAX_HEADER_LEN {
            return Err(Error::weights(format!(
                "header length {header_len} exceeds the limit of {MAX_HEADER_LEN} bytes (not a safetensors file?)"
            )));
        }
        if header_len > total - 8 {
            return Err(Error::weights(format!(
                "header length {header_len} runs past the end of the file ({} bytes after the length field)",
                total - 8
            )));
        }
        let header_end = 8 + header_len as usize;
        let header_bytes = &bytes[8..header_end];
        let header_text = std::str::from_utf8(header_bytes)
            .map_err(|e| Error::weights(format!("header is not valid UTF-8: {e}")))?;
        let header: Value = serde_json::from_str(header_text)
            .map_err(|e| Error::weights(format!("header is not valid JSON: {e}")))?;
        let Value::Object(entries) = header else {
            return Err(Error::weights(format!(
                "header must be a JSON object, found {}",
                json_kind(&header)
            )));
        };
        let data_len = total - header_end as u64;
        let mut tensors = HashMap::with_capacity(entries.len());
        let mut metadata = Vec::new();
        for (name, entry) in entries.iter() {
            if name == "__metadata__" {
                let Value::Object(meta) = entry else {
                    return Err(Error::weights(format!(
                        "__metadata__ must be an object, found {}",
                        json_kind(entry)
                    )));
                };
                for (k, v) in meta.iter() {
                    let text = match v {
                        Value::String(s) => s.clone(),
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        other => {
                            return Err(Error::weights(format!(
                                "__metadata__.{k} must be a string, found {}",
                                json_kind(other)
                            )))
                        }
                    };
                    metadata.push((k.clone(), text));
                }
                continue;
            }
            let info = parse_entry(name, entry, data_len, header_end)?;
            tensors.insert(name.clone(), info);
        }
        // No two tensors may share bytes.
        let mut ranges: Vec<(&str, usize, usize)> = tensors
            .iter()
            .filter(|(_, t)| t.len > 0)
            .map(|(n, t)| (n.as_str(), t.start, t.start + t.len))
            .collect();
        ranges.sort_by_key(|r| (r.1, r.2));
        for pair in ranges.windows(2) {
            let (a, b) = (pair[0], pair[1]);
            if b.1 < a.2 {
                return Err(Error::weights(format!(
                    "tensors '{}' and '{}' overlap in the data section",
                    a.0, b.0
                )));
            }
        }
        Ok(SafeTensors { storage, tensors, metadata })
    }

    pub(crate) fn get(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.get(name)
    }

    pub(crate) fn bytes_of(&self, t: &TensorInfo) -> &[u8] {
        &self.storage.bytes()[t.start..t.start + t.len]
    }

    pub(crate) fn meta(&self, key: &str) -> Option<&str> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

fn parse_entry(name: &str, entry: &Value, data_len: u64, data_start: usize) -> Result<TensorInfo> {
    let Value::Object(obj) = entry else {
        return Err(Error::weights(format!(
            "tensor '{name}': entry must be an object, found {}",
            json_kind(entry)
        )));
    };
    let dtype_v = obj
        .get("dtype")
        .ok_or_else(|| Error::weights(format!("tensor '{name}': missing field 'dtype'")))?;
    let Value::String(dtype_s) = dtype_v else {
        return Err(Error::weights(format!(
            "tensor '{name}': 'dtype' must be a string, found {}",
            json_kind(dtype_v)
        )));
    };
    let dtype = Dtype::parse(dtype_s)
        .ok_or_else(|| Error::weights(format!("tensor '{name}': unknown dtype '{dtype_s}'")))?;
    let shape_v = obj
        .get("shape")
        .ok_or_else(|| Error::weights(format!("tensor '{name}': missing field 'shape'")))?;
    let Value::Array(shape_a) = shape_v else {
        return Err(Error::weights(format!(
            "tensor '{name}': 'shape' must be an array, found {}",
            json_kind(shape_v)
        )));
    };
    let mut shape = Vec::with_capacity(shape_a.len());
    let mut count: u64 = 1;
    for d in shape_a {
        let n = as_u64(d).ok_or_else(|| {
            Error::weights(format!(
                "tensor '{name}': shape entries must be non-negative integers, found {d}"
            ))
        })?;
        count = count.checked_mul(n).ok_or_else(|| {
            Error::weights(format!("tensor '{name}': shape {shape_v} overflows"))
        })?;
        shape.push(n as usize);
    }
    let off_v = obj
        .get("data_offsets")
        .ok_or_else(|| Error::weights(format!("tensor '{name}': missing field 'data_offsets'")))?;
    let offsets = match off_v {
        Value::Array(a) if a.len() == 2 => (as_u64(&a[0]), as_u64(&a[1])),
        _ => {
            return Err(Error::weights(format!(
                "tensor '{name}': 'data_offsets' must be [start, end], found {off_v}"
            )))
        }
    };
    let (Some(start), Some(end)) = offsets else {
        return Err(Error::weights(format!(
            "tensor '{name}': 'data_offsets' must hold non-negative integers, found {off_v}"
        )));
    };
    if start > end || end > data_len {
        return Err(Error::weights(format!(
            "tensor '{name}': data_offsets [{start}, {end}] are outside the data section of {data_len} bytes"
        )));
    }
    let expected = count.checked_mul(dtype.size()).ok_or_else(|| {
        Error::weights(format!("tensor '{name}': shape {shape_v} overflows"))
    })?;
    if end - start != expected {
        return Err(Error::weights(format!(
            "tensor '{name}': {} bytes of data, but dtype {} with shape {shape_v} needs {expected}",
            end - start,
            dtype.name()
        )));
    }
    Ok(TensorInfo {
        dtype,
        shape,
        start: data_start + start as usize,
        len: (end - start) as usize,
    })
}

/// Reads a float tensor (F32, BF16 or F16) into a vector, converting exactly.
pub(crate) fn read_floats(st: &SafeTensors, name: &str, t: &TensorInfo) -> Result<Vec<f32>> {
    let b = st.bytes_of(t);
    Ok(match t.dtype {
        Dtype::F32 => b
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        Dtype::BF16 => b
            .chunks_exact(2)
            .map(|c| bf16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        Dtype::F16 => b
            .chunks_exact(2)
            .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        other => {
            return Err(Error::weights(format!(
                "tensor '{name}': dtype {} is not a float type (expected F32, BF16 or F16)",
                other.name()
            )))
        }
    })
}
