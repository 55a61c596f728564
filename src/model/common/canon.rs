//! Walks a `.cact` tensor canon (the directory has no names: a tensor is its position in
//! upstream's export order, docs/FORMATS.md#tensor-canon): each read takes the next record for a named role
//! and checks its dtype and shape against what the header implies. Every defect is an
//! `InvalidWeights` error naming the tensor's index and role.

use super::linear::{CqLinear, Mat};
use crate::container::cact::{Cact, Dtype};
use crate::kernels::cq::{CqLayout, CqMatrix};
use crate::{Error, Result};
use std::sync::Arc;

pub(crate) fn bad(msg: String) -> Error {
    Error::weights(msg)
}

/// The canon walker: `next` is the next record to read, `end` the first record that is
/// not the model's (the tokenizer).
pub(crate) struct Canon<'a> {
    pub file: &'a Arc<Cact>,
    pub next: usize,
    pub end: usize,
}

impl Canon<'_> {
    pub(crate) fn take(&mut self, role: &str) -> Result<usize> {
        if self.next >= self.end {
            return Err(bad(format!(
                ".cact has too few tensors: {role} would be tensor #{} but the model's tensors end at #{}",
                self.next, self.end
            )));
        }
        self.next += 1;
        Ok(self.next - 1)
    }

    /// The next tensor as finite floats of `shape` (FP16 or FP32; a 1-D shape also
    /// accepts a 0-D record of one element).
    pub(crate) fn floats(&mut self, role: &str, shape: &[usize]) -> Result<Vec<f32>> {
        let i = self.take(role)?;
        let r = self.file.record(i)?;
        let got: Vec<usize> = r.shape().iter().map(|&d| d as usize).collect();
        let n: usize = shape.iter().product();
        if !matches!(r.dtype, Dtype::F16 | Dtype::F32) {
            return Err(bad(format!(".cact tensor #{i} ({role}): {} where FP16 is expected", r.dtype.name())));
        }
        if got.iter().product::<usize>() != n || !(got == shape || (shape.len() == 1 && got.len() <= 1)) {
            return Err(bad(format!(".cact tensor #{i} ({role}): shape {got:?}, the header says {shape:?}")));
        }
        let v = self.file.floats(i)?;
        if let Some(j) = v.iter().position(|x| !x.is_finite()) {
            return Err(bad(format!(".cact tensor #{i} ({role}): element {j} is {} (weights must be finite)", v[j])));
        }
        Ok(v)
    }

    /// The next tensor as a CQ matrix `[out, inp]`, its blob validated.
    pub(crate) fn cq(&mut self, role: &str, out: usize, inp: usize) -> Result<Mat> {
        let i = self.take(role)?;
        let r = self.file.record(i)?;
        if r.dtype != Dtype::Cq {
            return Err(bad(format!(".cact tensor #{i} ({role}): {} where CQ is expected", r.dtype.name())));
        }
        let got = (r.dims[0] as usize, r.dims[1] as usize);
        if r.ndim != 2 || got != (out, inp) {
            return Err(bad(format!(".cact tensor #{i} ({role}): shape {:?}, the header says [{out}, {inp}]", r.shape())));
        }
        let layout = CqLayout::new(out, inp, r.group as u64, r.bits, self.file.codebook())
            .map_err(|e| bad(format!(".cact tensor #{i} ({role}): {e}")))?;
        let blob = self.file.blob(i)?;
        let m = CqMatrix::new(&layout, blob).map_err(|e| bad(format!(".cact tensor #{i} ({role}): {e}")))?;
        m.validate().map_err(|e| bad(format!(".cact tensor #{i} ({role}): {e}")))?;
        Ok(Box::new(CqLinear { file: self.file.clone(), index: i, layout }))
    }
}
