//! `libneedle._native`: a thin pyo3 layer over the Rust engine (crate `libneedle`).
//!
//! Conversions only: Python arguments become Rust strings/options, the engine runs with
//! the GIL released, results become Python objects, and every `needle::Error` becomes an
//! instance of the exception class for its `ErrorKind` (defined in `libneedle/_errors.py`,
//! all subclasses of `libneedle.NeedleError`).

use needle::serde_json::{Map, Value};
use needle::{Activation, ErrorKind, RunOptions};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString};
use std::path::PathBuf;

// ---------------------------------------------------------------- errors

fn class_name(kind: ErrorKind) -> &'static str {
    #[allow(unreachable_patterns)]
    match kind {
        ErrorKind::InvalidArgument => "InvalidArgumentError",
        ErrorKind::Io => "IoError",
        ErrorKind::InvalidWeights => "InvalidWeightsError",
        ErrorKind::InvalidVocab => "InvalidVocabError",
        ErrorKind::InvalidTools => "InvalidToolsError",
        ErrorKind::InvalidUtf8 => "InvalidUtf8Error",
        ErrorKind::Unsupported => "UnsupportedError",
        ErrorKind::Cancelled => "CancelledError",
        ErrorKind::Internal => "InternalError",
        _ => "NeedleError",
    }
}

/// The Python exception for an engine error (the message is the engine's, without prefix).
fn py_err(py: Python<'_>, kind: ErrorKind, message: &str) -> PyErr {
    let made = py
        .import("libneedle._errors")
        .and_then(|m| m.getattr(class_name(kind)))
        .and_then(|cls| cls.call1((message,)));
    match made {
        Ok(exc) => PyErr::from_value(exc),
        Err(e) => e,
    }
}

fn engine_err(py: Python<'_>, e: &needle::Error) -> PyErr {
    py_err(py, e.kind(), e.message())
}

fn arg_err(py: Python<'_>, message: String) -> PyErr {
    py_err(py, ErrorKind::InvalidArgument, &message)
}

// ---------------------------------------------------------------- argument conversion

/// A Python `str` as UTF-8 (lone surrogates raise `InvalidUtf8Error`).
fn text_arg(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<String> {
    let s = obj
        .downcast::<PyString>()
        .map_err(|_| PyTypeError::new_err(format!("{what} must be str, not {}", type_name(obj))))?;
    match s.to_cow() {
        Ok(c) => Ok(c.into_owned()),
        Err(e) => Err(py_err(
            obj.py(),
            ErrorKind::InvalidUtf8,
            &format!("{what} is not valid UTF-8: {e}"),
        )),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

/// Tools as a JSON string: a `str` is passed through as it is; any other object (a list
/// of tool dicts, one tool dict) is serialised with `json.dumps(obj, separators=(",", ":"))`.
fn tools_arg(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    let py = obj.py();
    if obj.is_instance_of::<PyString>() {
        return text_arg(obj, "tools");
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("separators", (",", ":"))?;
    let dumped = py
        .import("json")
        .and_then(|json| json.call_method("dumps", (obj,), Some(&kwargs)));
    match dumped {
        Ok(s) => text_arg(&s, "tools"),
        Err(e) => {
            let err = py_err(
                py,
                ErrorKind::InvalidTools,
                &format!(
                    "tools must be a JSON string or JSON-serialisable list/dict: {}",
                    e.value(py)
                ),
            );
            err.set_cause(py, Some(e));
            Err(err)
        }
    }
}

fn options(py: Python<'_>, max_new_tokens: Option<i64>, constrained: bool) -> PyResult<RunOptions> {
    let mut o = RunOptions::default().constrained(constrained);
    if let Some(n) = max_new_tokens {
        if n < 0 {
            return Err(arg_err(py, format!("max_new_tokens must be >= 0, got {n}")));
        }
        o = o.max_new_tokens(n as usize);
    }
    Ok(o)
}

// ---------------------------------------------------------------- result conversion

fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match v {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                let s = n.to_string();
                if s.contains(['.', 'e', 'E']) {
                    s.parse::<f64>()
                        .unwrap_or(f64::NAN)
                        .into_pyobject(py)?
                        .into_any()
                } else {
                    // An integer beyond 64 bits: exact, through Python's int().
                    py.import("builtins")?.getattr("int")?.call1((s,))?
                }
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(a) => {
            let list = PyList::empty(py);
            for x in a {
                list.append(json_to_py(py, x)?)?;
            }
            list.into_any()
        }
        Value::Object(m) => map_to_py(py, m)?.into_any(),
    })
}

fn map_to_py<'py>(py: Python<'py>, m: &Map<String, Value>) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    for (k, x) in m {
        d.set_item(k, json_to_py(py, x)?)?;
    }
    Ok(d)
}

/// The answer to one query (see `libneedle._native.pyi`).
#[pyclass(frozen, module = "libneedle._native", name = "RunResult")]
struct PyRunResult {
    text: String,
    calls: Option<Py<PyList>>,
    token_ids: Vec<u32>,
    encoder_tokens: usize,
    stop: &'static str,
    json: String,
}

impl PyRunResult {
    fn new(py: Python<'_>, r: needle::RunResult) -> PyResult<Self> {
        let calls = match &r.calls {
            None => None,
            Some(cs) => {
                let list = PyList::empty(py);
                for c in cs {
                    let d = PyDict::new(py);
                    d.set_item("name", &c.name)?;
                    d.set_item("arguments", map_to_py(py, &c.arguments)?)?;
                    list.append(d)?;
                }
                Some(list.unbind())
            }
        };
        Ok(PyRunResult {
            json: r.to_json(),
            text: r.text,
            calls,
            token_ids: r.token_ids,
            encoder_tokens: r.encoder_tokens,
            stop: r.stop.as_str(),
        })
    }
}

#[pymethods]
impl PyRunResult {
    #[getter]
    fn text(&self) -> &str {
        &self.text
    }

    #[getter]
    fn calls(&self, py: Python<'_>) -> Option<Py<PyList>> {
        self.calls.as_ref().map(|c| c.clone_ref(py))
    }

    #[getter]
    fn token_ids(&self) -> Vec<u32> {
        self.token_ids.clone()
    }

    #[getter]
    fn encoder_tokens(&self) -> usize {
        self.encoder_tokens
    }

    #[getter]
    fn stop(&self) -> &'static str {
        self.stop
    }

    /// The structured result as compact JSON, exactly as the Rust engine writes it.
    fn to_json(&self) -> &str {
        &self.json
    }

    fn __repr__(&self) -> String {
        format!(
            "RunResult(text={:?}, stop='{}', token_ids=<{} ids>, encoder_tokens={})",
            self.text,
            self.stop,
            self.token_ids.len(),
            self.encoder_tokens
        )
    }
}

// ---------------------------------------------------------------- the engine

/// A loaded Needle model (see `libneedle._native.pyi`).
#[pyclass(frozen, module = "libneedle._native", name = "Engine")]
struct PyEngine {
    inner: needle::Engine,
}

fn weights_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    if let Ok(b) = obj.downcast::<PyBytes>() {
        return Ok(b.as_bytes().to_vec());
    }
    if let Ok(b) = obj.downcast::<PyByteArray>() {
        return Ok(b.to_vec());
    }
    if obj.is_instance_of::<PyString>() {
        return Err(PyTypeError::new_err("weights must be bytes-like, not str"));
    }
    // memoryview and other buffer objects, through bytes(obj).
    let b = obj
        .py()
        .import("builtins")?
        .getattr("bytes")?
        .call1((obj,))?;
    Ok(b.downcast::<PyBytes>()?.as_bytes().to_vec())
}

#[pymethods]
impl PyEngine {
    #[staticmethod]
    #[pyo3(signature = (weights_path, vocab_path))]
    fn load(py: Python<'_>, weights_path: PathBuf, vocab_path: PathBuf) -> PyResult<Self> {
        py.allow_threads(|| needle::Engine::load(&weights_path, &vocab_path))
            .map(|inner| PyEngine { inner })
            .map_err(|e| engine_err(py, &e))
    }

    #[staticmethod]
    #[pyo3(signature = (weights, vocab_text))]
    fn from_bytes(
        py: Python<'_>,
        weights: &Bound<'_, PyAny>,
        vocab_text: &Bound<'_, PyAny>,
    ) -> PyResult<Self> {
        let w = weights_bytes(weights)?;
        let v = text_arg(vocab_text, "vocab_text")?;
        py.allow_threads(|| needle::Engine::from_bytes(w, &v))
            .map(|inner| PyEngine { inner })
            .map_err(|e| engine_err(py, &e))
    }

    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let c = self.inner.config();
        let d = PyDict::new(py);
        d.set_item("d_model", c.d_model)?;
        d.set_item("num_heads", c.num_heads)?;
        d.set_item("num_kv_heads", c.num_kv_heads)?;
        d.set_item("head_dim", c.head_dim())?;
        d.set_item("num_encoder_layers", c.num_encoder_layers)?;
        d.set_item("num_decoder_layers", c.num_decoder_layers)?;
        d.set_item("vocab_size", c.vocab_size)?;
        d.set_item("max_enc_len", c.max_enc_len)?;
        d.set_item("max_dec_len", c.max_dec_len)?;
        d.set_item("no_feedforward", c.no_feedforward)?;
        d.set_item("ffn_dim", c.ffn_dim)?;
        #[allow(unreachable_patterns)]
        let act = match c.activation {
            Activation::DRelu => "drelu",
            Activation::SwiGlu => "swiglu",
            Activation::GeGlu => "geglu",
            _ => "unknown",
        };
        d.set_item("activation", act)?;
        d.set_item("rope_theta", c.rope_theta as f64)?;
        d.set_item("contrastive_dim", c.contrastive_dim)?;
        Ok(d)
    }

    #[getter]
    fn contrastive_dim(&self) -> usize {
        self.inner.contrastive_dim()
    }

    #[pyo3(signature = (query, tools, *, max_new_tokens = None, constrained = true))]
    fn run(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyAny>,
        max_new_tokens: Option<i64>,
        constrained: bool,
    ) -> PyResult<PyRunResult> {
        let q = text_arg(query, "query")?;
        let t = tools_arg(tools)?;
        let opts = options(py, max_new_tokens, constrained)?;
        let eng = &self.inner;
        let r = py
            .allow_threads(|| eng.run_with(&q, &t, &opts))
            .map_err(|e| engine_err(py, &e))?;
        PyRunResult::new(py, r)
    }

    #[pyo3(signature = (query, tools, callback, *, max_new_tokens = None, constrained = true))]
    fn run_stream(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyAny>,
        callback: Py<PyAny>,
        max_new_tokens: Option<i64>,
        constrained: bool,
    ) -> PyResult<PyRunResult> {
        if !callback.bind(py).is_callable() {
            return Err(PyTypeError::new_err("callback must be callable"));
        }
        let q = text_arg(query, "query")?;
        let t = tools_arg(tools)?;
        let opts = options(py, max_new_tokens, constrained)?;
        let eng = &self.inner;
        let mut raised: Option<PyErr> = None;
        let r = py.allow_threads(|| {
            eng.run_stream(&q, &t, &opts, |id, piece| {
                // Back into Python for the callback; an exception stops generation and is
                // re-raised to the caller below.
                Python::with_gil(|py| match callback.call1(py, (id, piece)) {
                    Ok(v) => {
                        let v = v.bind(py);
                        if v.is_none() {
                            return true;
                        }
                        match v.is_truthy() {
                            Ok(go_on) => go_on,
                            Err(e) => {
                                raised = Some(e);
                                false
                            }
                        }
                    }
                    Err(e) => {
                        raised = Some(e);
                        false
                    }
                })
            })
        });
        if let Some(e) = raised {
            return Err(e);
        }
        let r = r.map_err(|e| engine_err(py, &e))?;
        PyRunResult::new(py, r)
    }

    #[pyo3(signature = (items, *, max_new_tokens = None, constrained = true, threads = 0, return_exceptions = false))]
    fn run_batch(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        max_new_tokens: Option<i64>,
        constrained: bool,
        threads: i64,
        return_exceptions: bool,
    ) -> PyResult<Py<PyList>> {
        let opts = options(py, max_new_tokens, constrained)?;
        if threads < 0 {
            return Err(arg_err(py, format!("threads must be >= 0, got {threads}")));
        }
        let mut owned: Vec<(String, String)> = Vec::new();
        for (i, item) in items.try_iter()?.enumerate() {
            let item = item?;
            let bad = || {
                PyTypeError::new_err(format!(
                    "run_batch item {i} must be a (query, tools) pair, not {}",
                    type_name(&item)
                ))
            };
            let (q, t) = if let Ok(pair) = item.extract::<(Bound<'_, PyAny>, Bound<'_, PyAny>)>() {
                pair
            } else if let Ok(l) = item.downcast::<PyList>() {
                if l.len() != 2 {
                    return Err(bad());
                }
                (l.get_item(0)?, l.get_item(1)?)
            } else {
                return Err(bad());
            };
            owned.push((text_arg(&q, "query")?, tools_arg(&t)?));
        }
        let eng = &self.inner;
        let results = py.allow_threads(|| {
            let refs: Vec<(&str, &str)> = owned
                .iter()
                .map(|(q, t)| (q.as_str(), t.as_str()))
                .collect();
            eng.run_batch_with(&refs, &opts, threads as usize)
        });
        let out = PyList::empty(py);
        for r in results {
            match r {
                Ok(r) => out.append(Py::new(py, PyRunResult::new(py, r)?)?)?,
                Err(e) if return_exceptions => out.append(engine_err(py, &e).into_value(py))?,
                Err(e) => return Err(engine_err(py, &e)),
            }
        }
        Ok(out.unbind())
    }

    #[pyo3(signature = (query, tools))]
    fn encoder_input(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<u32>> {
        let q = text_arg(query, "query")?;
        let t = tools_arg(tools)?;
        let eng = &self.inner;
        py.allow_threads(|| eng.encoder_input(&q, &t))
            .map_err(|e| engine_err(py, &e))
    }

    #[pyo3(signature = (text))]
    fn encode_contrastive(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
        let s = text_arg(text, "text")?;
        let eng = &self.inner;
        py.allow_threads(|| eng.encode_contrastive(&s))
            .map_err(|e| engine_err(py, &e))
    }

    #[pyo3(signature = (query, descriptions, top_k))]
    fn retrieve_tools(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        descriptions: &Bound<'_, PyAny>,
        top_k: i64,
    ) -> PyResult<Vec<(usize, f32)>> {
        if top_k < 0 {
            return Err(arg_err(py, format!("top_k must be >= 0, got {top_k}")));
        }
        if descriptions.is_instance_of::<PyString>() {
            return Err(PyTypeError::new_err(
                "descriptions must be a sequence of str, not str",
            ));
        }
        let q = text_arg(query, "query")?;
        let mut ds = Vec::new();
        for d in descriptions.try_iter()? {
            ds.push(text_arg(&d?, "description")?);
        }
        let eng = &self.inner;
        py.allow_threads(|| {
            let refs: Vec<&str> = ds.iter().map(String::as_str).collect();
            eng.retrieve_tools(&q, &refs, top_k as usize)
        })
        .map_err(|e| engine_err(py, &e))
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "Engine(d_model={}, encoder_layers={}, decoder_layers={}, vocab_size={}, contrastive_dim={})",
            c.d_model, c.num_encoder_layers, c.num_decoder_layers, c.vocab_size, c.contrastive_dim
        )
    }
}

/// Raises the exception that an engine error of status `code` maps to (for tests).
#[pyfunction]
#[pyo3(signature = (code, message))]
fn _raise_error(py: Python<'_>, code: i32, message: &str) -> PyResult<()> {
    let kinds = [
        ErrorKind::InvalidArgument,
        ErrorKind::Io,
        ErrorKind::InvalidWeights,
        ErrorKind::InvalidVocab,
        ErrorKind::InvalidTools,
        ErrorKind::InvalidUtf8,
        ErrorKind::Unsupported,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ];
    match kinds.iter().find(|k| k.code() == code) {
        Some(&k) => Err(engine_err(py, &needle::Error::new(k, message))),
        None => Err(arg_err(py, format!("no error kind has code {code}"))),
    }
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyEngine>()?;
    m.add_class::<PyRunResult>()?;
    m.add_function(wrap_pyfunction!(_raise_error, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("ENGINE_VERSION", needle::VERSION)?;
    Ok(())
}
