//! `libneedle._native`: a thin pyo3 layer over the Rust engine (crate `libneedle`).
//!
//! Conversions only: Python arguments become Rust strings/options, the engine runs with
//! the GIL released, results become Python objects, and every `needle::Error` becomes an
//! instance of the exception class for its `ErrorKind` (defined in `libneedle/_errors.py`,
//! all subclasses of `libneedle.NeedleError`).
//!
//! Two rules hold for every function and method of this module:
//!
//! * A Rust panic never leaves it as anything but `libneedle.InternalError` (see
//!   [`guarded`]).
//! * It never lets CPython end the calling thread with `pthread_exit` while Rust frames
//!   are on that thread's stack. CPython before 3.14 does that to a thread that takes the
//!   GIL (or runs bytecode that switches threads) once the interpreter is finalising, e.g.
//!   a daemon thread still inside `run` when the main thread exits; the forced unwind then
//!   reaches pyo3's `catch_unwind` and glibc aborts the process ("FATAL: exception not
//!   rethrown"). Instead such a thread parks forever: the process is exiting and daemon
//!   threads are never joined. See [`reattach`] and [`call_guarded`].

use needle::serde_json::{Map, Value};
use needle::{ErrorKind, LoadOptions, RunOptions, RunResult, StopReason};
use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::GILOnceCell;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyList, PyString, PyTuple};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::PathBuf;

// ---------------------------------------------------------------- the GIL and interpreter exit

/// CPython functions that can end the calling thread with `pthread_exit` (a forced
/// unwind) during finalisation, declared `C-unwind` so that the unwind may enter the Rust
/// frame that calls them, where a [`ParkOnUnwind`] guard stops it.
mod raw {
    use pyo3::ffi::{PyObject, PyThreadState};

    #[allow(clashing_extern_declarations)]
    extern "C-unwind" {
        pub fn PyEval_RestoreThread(tstate: *mut PyThreadState);
        pub fn PyObject_Call(
            callable: *mut PyObject,
            args: *mut PyObject,
            kwargs: *mut PyObject,
        ) -> *mut PyObject;
        pub fn Py_DecRef(obj: *mut PyObject);
    }
}

/// Blocks the calling thread forever.
fn park_forever() -> ! {
    loop {
        std::thread::park();
    }
}

/// Parks the thread if dropped: it is held across a call into CPython and forgotten when
/// the call returns, so it is dropped only by the forced unwind of `pthread_exit`, which
/// then ends here instead of unwinding further (into frames that would abort the process).
struct ParkOnUnwind;

impl Drop for ParkOnUnwind {
    fn drop(&mut self) {
        park_forever()
    }
}

/// `Py_IsFinalizing` (3.13+) or `_Py_IsFinalizing` (3.7 - 3.12), found at module init:
/// neither is in the limited API, but both are exported by every CPython and may be
/// called without the GIL. 0 when not found.
static IS_FINALIZING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

#[cfg(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
fn find_is_finalizing() -> usize {
    use std::ffi::{c_char, c_void};
    extern "C" {
        fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
    }
    #[cfg(target_os = "linux")]
    let default = std::ptr::null_mut::<c_void>(); // RTLD_DEFAULT
    #[cfg(not(target_os = "linux"))]
    let default = -2isize as *mut c_void; // RTLD_DEFAULT
    for name in [c"Py_IsFinalizing", c"_Py_IsFinalizing"] {
        // SAFETY: dlsym with RTLD_DEFAULT and a NUL-terminated name only looks a symbol up.
        let p = unsafe { dlsym(default, name.as_ptr()) };
        if !p.is_null() {
            return p as usize;
        }
    }
    0
}

#[cfg(not(any(target_os = "linux", target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly")))]
fn find_is_finalizing() -> usize {
    0
}

/// Whether the interpreter has begun finalising (after which taking the GIL ends a
/// thread other than the finalising one). A hint only: it can become true just after
/// it was read, which [`reattach`]'s guard covers.
fn interpreter_finalizing() -> bool {
    let p = IS_FINALIZING.load(std::sync::atomic::Ordering::Relaxed);
    if p == 0 {
        return false;
    }
    // SAFETY: `p` is the address of `int Py_IsFinalizing(void)` (or the private alias),
    // which reads one atomic and needs no thread state.
    let f = unsafe { std::mem::transmute::<usize, unsafe extern "C" fn() -> std::ffi::c_int>(p) };
    unsafe { f() != 0 }
}

/// Takes the GIL back for the thread state `ts` saved by `PyEval_SaveThread` on this
/// thread, or parks the thread forever if the interpreter is finalising: checked first
/// (then the thread does not even try), and, for the window between that check and the
/// GIL, by catching the `pthread_exit` of `PyEval_RestoreThread` in a [`ParkOnUnwind`].
fn reattach(ts: *mut ffi::PyThreadState) {
    if interpreter_finalizing() {
        park_forever();
    }
    let hang = ParkOnUnwind;
    // SAFETY: `ts` was saved on this thread and the GIL is not held.
    unsafe { raw::PyEval_RestoreThread(ts) };
    std::mem::forget(hang);
}

/// The GIL released by [`detach`] on the thread that called it.
struct Detached {
    ts: *mut ffi::PyThreadState,
    thread: std::thread::ThreadId,
}

impl Detached {
    /// Runs `f` with the GIL (taken back as [`reattach`] does), then releases it again.
    fn attach<R>(&self, f: impl FnOnce(Python<'_>) -> R) -> R {
        if std::thread::current().id() != self.thread {
            // Not the detached thread: pyo3's own attach (which parks during finalisation).
            return Python::with_gil(f);
        }
        reattach(self.ts);
        // SAFETY: the GIL is held again, by this thread.
        let py = unsafe { Python::assume_gil_acquired() };
        let r = catch_unwind(AssertUnwindSafe(|| f(py)));
        // SAFETY: the GIL is held by this thread; it is released, with the same state.
        let ts = unsafe { ffi::PyEval_SaveThread() };
        debug_assert!(ts == self.ts);
        r.unwrap_or_else(|p| resume_unwind(p))
    }
}

/// Runs `f` with the GIL released (like `py.allow_threads`), taking it back afterwards
/// with [`reattach`]: during finalisation the thread parks instead of being ended inside
/// Rust frames. A panic in `f` is re-raised once the GIL is held again. `f` must not
/// touch Python objects except through [`Detached::attach`].
fn detach<T>(py: Python<'_>, f: impl FnOnce(&Detached) -> T) -> T {
    let _ = py; // the GIL is held, as PyEval_SaveThread requires
    let d = Detached {
        // SAFETY: the GIL is held by this thread.
        ts: unsafe { ffi::PyEval_SaveThread() },
        thread: std::thread::current().id(),
    };
    let r = catch_unwind(AssertUnwindSafe(|| f(&d)));
    reattach(d.ts);
    r.unwrap_or_else(|p| resume_unwind(p))
}

/// `callable(*args, **kwargs)` for calls that may run Python bytecode (user callbacks,
/// `json.dumps`, exception constructors): bytecode may switch threads, and a thread that
/// takes the GIL back during finalisation is ended with `pthread_exit`; that forced unwind
/// stops in this frame's [`ParkOnUnwind`] and the thread parks forever.
fn call_guarded<'py>(
    callable: &Bound<'py, PyAny>,
    args: &Bound<'py, PyTuple>,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = callable.py();
    let kw = kwargs.map_or(std::ptr::null_mut(), |k| k.as_ptr());
    let hang = ParkOnUnwind; // declared last: dropped first on an unwind
    // SAFETY: valid objects, GIL held.
    let ret = unsafe { raw::PyObject_Call(callable.as_ptr(), args.as_ptr(), kw) };
    std::mem::forget(hang);
    // SAFETY: a new reference, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(py, ret) }
}

/// Drops a reference to an object that may run Python code when freed (a `__del__`),
/// guarded as [`call_guarded`] is.
fn drop_guarded(obj: Bound<'_, PyAny>) {
    let ptr = obj.into_ptr();
    let hang = ParkOnUnwind;
    // SAFETY: an owned reference, GIL held.
    unsafe { raw::Py_DecRef(ptr) };
    std::mem::forget(hang);
}

/// `str(obj)`, guarded as [`call_guarded`] is (a user class's `__str__` is bytecode).
fn str_guarded(obj: &Bound<'_, PyAny>) -> String {
    static STR: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    let py = obj.py();
    cached(py, &STR, "builtins", "str")
        .and_then(|str_| call_guarded(&str_, &PyTuple::new(py, [obj])?, None))
        .and_then(|s| s.extract::<String>())
        .unwrap_or_else(|_| "?".to_string())
}

/// An attribute of a module, looked up once.
fn cached<'py>(
    py: Python<'py>,
    cell: &'static GILOnceCell<Py<PyAny>>,
    module: &str,
    attr: &str,
) -> PyResult<Bound<'py, PyAny>> {
    cell.get_or_try_init(py, || Ok::<_, PyErr>(py.import(module)?.getattr(attr)?.unbind()))
        .map(|o| o.bind(py).clone())
}

// ---------------------------------------------------------------- errors

/// The class in `libneedle/_errors.py` of each kind. The match is exhaustive (a new kind
/// fails to compile here); `error_kinds()` gives Python the engine's own list
/// (`ErrorKind::ALL`: code, class, name), which the tests check the classes against.
fn class_name(kind: ErrorKind) -> &'static str {
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
    }
}

/// The Python exception for an engine error (the message is the engine's, without prefix).
fn py_err(py: Python<'_>, kind: ErrorKind, message: &str) -> PyErr {
    static ERRORS: GILOnceCell<Py<PyModule>> = GILOnceCell::new();
    let made = ERRORS
        .get_or_try_init(py, || py.import("libneedle._errors").map(Bound::unbind))
        .and_then(|m| m.bind(py).getattr(class_name(kind)))
        .and_then(|cls| call_guarded(&cls, &PyTuple::new(py, [message])?, None));
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

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Runs a function or method body: a Rust panic inside it (or inside the engine it calls,
/// with or without the GIL) becomes `libneedle.InternalError` with the panic message,
/// never pyo3's `PanicException` (which is not even an `Exception`).
fn guarded<T>(py: Python<'_>, f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = format!("libneedle panicked: {}", panic_message(&*payload));
            // Dropping the payload could itself panic: leak it instead.
            std::mem::forget(payload);
            Err(py_err(py, ErrorKind::Internal, &msg))
        }
    }
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
/// of tool dicts, one tool dict) is serialised with
/// `json.dumps(obj, ensure_ascii=False, separators=(",", ":"))` (so that a lone surrogate
/// in it is an `InvalidUtf8Error`, as in a `str`).
fn tools_arg(obj: &Bound<'_, PyAny>) -> PyResult<String> {
    static DUMPS: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    let py = obj.py();
    if obj.is_instance_of::<PyString>() {
        return text_arg(obj, "tools");
    }
    let kwargs = PyDict::new(py);
    kwargs.set_item("ensure_ascii", false)?;
    kwargs.set_item("separators", (",", ":"))?;
    let dumps = cached(py, &DUMPS, "json", "dumps")?;
    match call_guarded(&dumps, &PyTuple::new(py, [obj])?, Some(&kwargs)) {
        Ok(s) => text_arg(&s, "tools"),
        Err(e) => {
            let err = py_err(
                py,
                ErrorKind::InvalidTools,
                &format!(
                    "tools must be a JSON string or JSON-serialisable list/dict: {}",
                    str_guarded(e.value(py).as_any())
                ),
            );
            err.set_cause(py, Some(e));
            Err(err)
        }
    }
}

/// `list(obj)` for any iterable (a list or tuple as it is); `what` names it in errors.
fn list_arg<'py>(obj: &Bound<'py, PyAny>, what: &str) -> PyResult<Vec<Bound<'py, PyAny>>> {
    static LIST: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    let py = obj.py();
    if obj.is_instance_of::<PyString>() || obj.is_instance_of::<PyBytes>() {
        return Err(PyTypeError::new_err(format!(
            "{what} must be a sequence, not {}",
            type_name(obj)
        )));
    }
    if let Ok(l) = obj.downcast::<PyList>() {
        return Ok(l.iter().collect());
    }
    if let Ok(t) = obj.downcast::<PyTuple>() {
        return Ok(t.iter().collect());
    }
    let list = cached(py, &LIST, "builtins", "list")?;
    let made = call_guarded(&list, &PyTuple::new(py, [obj])?, None)?;
    Ok(made.downcast::<PyList>()?.iter().collect())
}

/// A path argument: `str` or `os.PathLike` (through `os.fspath`).
fn path_arg(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    static FSPATH: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
    if obj.is_instance_of::<PyString>() {
        return obj.extract();
    }
    let fspath = cached(obj.py(), &FSPATH, "os", "fspath")?;
    call_guarded(&fspath, &PyTuple::new(obj.py(), [obj])?, None)?.extract()
}

fn options(
    py: Python<'_>,
    max_new_tokens: Option<i64>,
    constrained: bool,
    strict: bool,
    system: Option<&Bound<'_, PyAny>>,
) -> PyResult<RunOptions> {
    let mut o = RunOptions::default().constrained(constrained).strict(strict);
    if let Some(s) = system {
        if !s.is_none() {
            o = o.system(text_arg(s, "system")?);
        }
    }
    if let Some(n) = max_new_tokens {
        if n < 0 {
            return Err(arg_err(py, format!("max_new_tokens must be >= 0, got {n}")));
        }
        o = o.max_new_tokens(n as usize);
    }
    Ok(o)
}

/// One `run_batch` item: a `(query, tools)` tuple or a 2-element list.
fn batch_item(i: usize, item: &Bound<'_, PyAny>) -> PyResult<(String, String)> {
    let bad = || {
        PyTypeError::new_err(format!(
            "run_batch item {i} must be a (query, tools) pair, not {}",
            type_name(item)
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
    Ok((text_arg(&q, "query")?, tools_arg(&t)?))
}

// ---------------------------------------------------------------- result conversion

fn json_to_py<'py>(py: Python<'py>, v: &Value) -> PyResult<Bound<'py, PyAny>> {
    static INT: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
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
                    let int = cached(py, &INT, "builtins", "int")?;
                    call_guarded(&int, &PyTuple::new(py, [s])?, None)?
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
    prompt_tokens: usize,
    encoder_tokens: usize,
    stop: &'static str,
    reasoning: Option<String>,
    confidence: Option<f32>,
    prompt_truncated: bool,
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
            prompt_tokens: r.prompt_tokens,
            encoder_tokens: r.encoder_tokens,
            stop: r.stop.as_str(),
            reasoning: r.reasoning,
            confidence: r.confidence,
            prompt_truncated: r.prompt_truncated,
        })
    }
}

#[pymethods]
impl PyRunResult {
    #[getter]
    fn text(&self, py: Python<'_>) -> PyResult<&str> {
        guarded(py, || Ok(self.text.as_str()))
    }

    #[getter]
    fn calls(&self, py: Python<'_>) -> PyResult<Option<Py<PyList>>> {
        guarded(py, || Ok(self.calls.as_ref().map(|c| c.clone_ref(py))))
    }

    #[getter]
    fn token_ids(&self, py: Python<'_>) -> PyResult<Vec<u32>> {
        guarded(py, || Ok(self.token_ids.clone()))
    }

    #[getter]
    fn prompt_tokens(&self, py: Python<'_>) -> PyResult<usize> {
        guarded(py, || Ok(self.prompt_tokens))
    }

    #[getter]
    fn encoder_tokens(&self, py: Python<'_>) -> PyResult<usize> {
        guarded(py, || Ok(self.encoder_tokens))
    }

    #[getter]
    fn reasoning(&self, py: Python<'_>) -> PyResult<Option<&str>> {
        guarded(py, || Ok(self.reasoning.as_deref()))
    }

    #[getter]
    fn confidence(&self, py: Python<'_>) -> PyResult<Option<f32>> {
        guarded(py, || Ok(self.confidence))
    }

    #[getter]
    fn prompt_truncated(&self, py: Python<'_>) -> PyResult<bool> {
        guarded(py, || Ok(self.prompt_truncated))
    }

    #[getter]
    fn stop(&self, py: Python<'_>) -> PyResult<&'static str> {
        guarded(py, || Ok(self.stop))
    }

    /// The structured result as compact JSON, exactly as the Rust engine writes it.
    fn to_json(&self, py: Python<'_>) -> PyResult<&str> {
        guarded(py, || Ok(self.json.as_str()))
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guarded(py, || {
            Ok(format!(
                "RunResult(text={:?}, stop='{}', token_ids=<{} ids>, prompt_tokens={}, reasoning={}, confidence={})",
                self.text,
                self.stop,
                self.token_ids.len(),
                self.prompt_tokens,
                self.reasoning.as_ref().map_or("None".to_string(), |r| format!("{r:?}")),
                self.confidence.map_or("None".to_string(), |c| c.to_string()),
            ))
        })
    }
}

// ---------------------------------------------------------------- the engine

/// A loaded Needle model (see `libneedle._native.pyi`).
#[pyclass(frozen, module = "libneedle._native", name = "Engine")]
struct PyEngine {
    inner: needle::Engine,
}

fn weights_bytes(obj: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    static BYTES: GILOnceCell<Py<PyAny>> = GILOnceCell::new();
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
    let bytes = cached(obj.py(), &BYTES, "builtins", "bytes")?;
    let b = call_guarded(&bytes, &PyTuple::new(obj.py(), [obj])?, None)?;
    Ok(b.downcast::<PyBytes>()?.as_bytes().to_vec())
}

/// The bundled demo model, compiled into the extension so that `Engine.demo()` needs no files.
static DEMO_WEIGHTS: &[u8] = include_bytes!("../../models/needle-demo/needle.safetensors");
static DEMO_VOCAB: &str = include_str!("../../models/needle-demo/vocab.txt");

fn load_options(py: Python<'_>, depth: Option<i64>) -> PyResult<LoadOptions> {
    match depth {
        None => Ok(LoadOptions::default()),
        Some(d) if d < 0 => Err(arg_err(py, format!("depth must be >= 0, got {d}"))),
        Some(d) => Ok(LoadOptions::default().depth(d as usize)),
    }
}

/// `InvalidArgument` errors of the engine that say a v1 file needs its vocabulary name the
/// Python argument (as the C ABI names its NULL argument).
fn vocab_missing(py: Python<'_>, e: &needle::Error) -> PyErr {
    if e.kind() == ErrorKind::InvalidArgument && e.message().contains("needs its vocab.txt") {
        py_err(py, e.kind(), &format!("vocab is None: {}", e.message()))
    } else {
        engine_err(py, e)
    }
}

#[pymethods]
impl PyEngine {
    #[staticmethod]
    #[pyo3(signature = (path, vocab = None, *, depth = None))]
    fn load(
        py: Python<'_>,
        path: &Bound<'_, PyAny>,
        vocab: Option<&Bound<'_, PyAny>>,
        depth: Option<i64>,
    ) -> PyResult<Self> {
        guarded(py, || {
            let w = path_arg(path)?;
            let v = match vocab {
                Some(v) if !v.is_none() => Some(path_arg(v)?),
                _ => None,
            };
            let opts = load_options(py, depth)?;
            match v {
                None => detach(py, |_| needle::Engine::open_with(&w, &opts)).map_err(|e| vocab_missing(py, &e)),
                Some(v) => detach(py, |_| needle::Engine::load_with(&w, &v, &opts)).map_err(|e| engine_err(py, &e)),
            }
            .map(|inner| PyEngine { inner })
        })
    }

    /// The demo model bundled in the wheel (`models/needle-demo/`: a small Needle v1 model
    /// trained by the libneedle project on synthetic tools; a demo of the runtime, not the
    /// published Needle).
    #[staticmethod]
    fn demo(py: Python<'_>) -> PyResult<Self> {
        guarded(py, || {
            detach(py, |_| needle::Engine::from_bytes(DEMO_WEIGHTS.to_vec(), DEMO_VOCAB))
                .map(|inner| PyEngine { inner })
                .map_err(|e| engine_err(py, &e))
        })
    }

    #[staticmethod]
    #[pyo3(signature = (model, vocab = None, *, depth = None))]
    fn from_bytes(
        py: Python<'_>,
        model: &Bound<'_, PyAny>,
        vocab: Option<&Bound<'_, PyAny>>,
        depth: Option<i64>,
    ) -> PyResult<Self> {
        guarded(py, || {
            let w = weights_bytes(model)?;
            let v = match vocab {
                Some(v) if !v.is_none() => Some(text_arg(v, "vocab")?),
                _ => None,
            };
            let opts = load_options(py, depth)?;
            match v {
                None => detach(py, |_| needle::Engine::open_bytes_with(w, &opts)).map_err(|e| vocab_missing(py, &e)),
                Some(v) => {
                    detach(py, |_| needle::Engine::from_bytes_with(w, &v, &opts)).map_err(|e| engine_err(py, &e))
                }
            }
            .map(|inner| PyEngine { inner })
        })
    }

    /// The engine's configuration: `needle::Engine::config_json` as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        guarded(py, || {
            let v: Value = needle::serde_json::from_str(&self.inner.config_json())
                .map_err(|e| py_err(py, ErrorKind::Internal, &format!("config_json is not JSON: {e}")))?;
            match &v {
                Value::Object(m) => map_to_py(py, m),
                _ => Err(py_err(py, ErrorKind::Internal, "config_json is not a JSON object")),
            }
        })
    }

    /// The model generation: 1, 2 or 3.
    #[getter]
    fn generation(&self, py: Python<'_>) -> PyResult<u32> {
        guarded(py, || Ok(self.inner.generation()))
    }

    #[getter]
    fn contrastive_dim(&self, py: Python<'_>) -> PyResult<usize> {
        guarded(py, || Ok(self.inner.contrastive_dim()))
    }

    #[pyo3(signature = (query, tools, *, max_new_tokens = None, constrained = true, strict = false, system = None))]
    fn run(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyAny>,
        max_new_tokens: Option<i64>,
        constrained: bool,
        strict: bool,
        system: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyRunResult> {
        guarded(py, || {
            let q = text_arg(query, "query")?;
            let t = tools_arg(tools)?;
            let opts = options(py, max_new_tokens, constrained, strict, system)?;
            let eng = &self.inner;
            let r = detach(py, |_| eng.run_with(&q, &t, &opts)).map_err(|e| engine_err(py, &e))?;
            PyRunResult::new(py, r)
        })
    }

    #[pyo3(signature = (query, tools, callback, *, max_new_tokens = None, constrained = true, strict = false, system = None))]
    #[allow(clippy::too_many_arguments)]
    fn run_stream(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyAny>,
        callback: Py<PyAny>,
        max_new_tokens: Option<i64>,
        constrained: bool,
        strict: bool,
        system: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<PyRunResult> {
        guarded(py, || {
            if !callback.bind(py).is_callable() {
                return Err(PyTypeError::new_err("callback must be callable"));
            }
            let q = text_arg(query, "query")?;
            let t = tools_arg(tools)?;
            let opts = options(py, max_new_tokens, constrained, strict, system)?;
            let eng = &self.inner;
            let mut raised: Option<PyErr> = None;
            let r = detach(py, |gil| {
                eng.run_stream(&q, &t, &opts, |id, piece| {
                    // Back into Python for the callback. Generation stops only when it
                    // returns `False` itself (any other value continues); an exception
                    // stops it too and is re-raised to the caller below.
                    gil.attach(|py| {
                        let called = (id, piece)
                            .into_pyobject(py)
                            .and_then(|args| call_guarded(callback.bind(py), &args, None));
                        match called {
                            Ok(v) => {
                                // SAFETY: Py_False is the `False` singleton.
                                let go_on = v.as_ptr() != unsafe { ffi::Py_False() };
                                drop_guarded(v);
                                go_on
                            }
                            Err(e) => {
                                raised = Some(e);
                                false
                            }
                        }
                    })
                })
            });
            if let Some(e) = raised {
                return Err(e);
            }
            let r = r.map_err(|e| engine_err(py, &e))?;
            PyRunResult::new(py, r)
        })
    }

    #[pyo3(signature = (items, *, max_new_tokens = None, constrained = true, strict = false, threads = 0, return_exceptions = false, system = None))]
    #[allow(clippy::too_many_arguments)]
    fn run_batch(
        &self,
        py: Python<'_>,
        items: &Bound<'_, PyAny>,
        max_new_tokens: Option<i64>,
        constrained: bool,
        strict: bool,
        threads: i64,
        return_exceptions: bool,
        system: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyList>> {
        guarded(py, || {
            let opts = options(py, max_new_tokens, constrained, strict, system)?;
            if threads < 0 {
                return Err(arg_err(py, format!("threads must be >= 0, got {threads}")));
            }
            // Each slot: the index of its converted item, or (return_exceptions only) the
            // exception its conversion raised.
            let mut slots: Vec<Result<usize, PyErr>> = Vec::new();
            let mut owned: Vec<(String, String)> = Vec::new();
            for (i, item) in list_arg(items, "items")?.iter().enumerate() {
                match batch_item(i, item) {
                    Ok(pair) => {
                        slots.push(Ok(owned.len()));
                        owned.push(pair);
                    }
                    Err(e) if return_exceptions => slots.push(Err(e)),
                    Err(e) => return Err(e),
                }
            }
            let eng = &self.inner;
            let mut results: Vec<Option<needle::Result<needle::RunResult>>> = detach(py, |_| {
                let refs: Vec<(&str, &str)> = owned
                    .iter()
                    .map(|(q, t)| (q.as_str(), t.as_str()))
                    .collect();
                eng.run_batch_with(&refs, &opts, threads as usize)
            })
            .into_iter()
            .map(Some)
            .collect();
            let out = PyList::empty(py);
            for slot in slots {
                let r = match slot {
                    Ok(j) => results.get_mut(j).and_then(Option::take).unwrap_or_else(|| {
                        Err(needle::Error::new(ErrorKind::Internal, "run_batch lost a result"))
                    }),
                    Err(e) => {
                        out.append(e.into_value(py))?;
                        continue;
                    }
                };
                match r {
                    Ok(r) => out.append(Py::new(py, PyRunResult::new(py, r)?)?)?,
                    Err(e) if return_exceptions => out.append(engine_err(py, &e).into_value(py))?,
                    Err(e) => return Err(engine_err(py, &e)),
                }
            }
            Ok(out.unbind())
        })
    }

    #[pyo3(signature = (query, tools, completion, *, system = None))]
    fn confidence(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyAny>,
        completion: &Bound<'_, PyAny>,
        system: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<f32> {
        guarded(py, || {
            let q = text_arg(query, "query")?;
            let t = tools_arg(tools)?;
            let c = text_arg(completion, "completion")?;
            let opts = options(py, None, true, false, system)?;
            let eng = &self.inner;
            detach(py, |_| eng.confidence(&q, &t, &c, &opts)).map_err(|e| engine_err(py, &e))
        })
    }

    #[pyo3(signature = (query, tools))]
    fn encoder_input(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        tools: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<u32>> {
        guarded(py, || {
            let q = text_arg(query, "query")?;
            let t = tools_arg(tools)?;
            let eng = &self.inner;
            detach(py, |_| eng.encoder_input(&q, &t)).map_err(|e| engine_err(py, &e))
        })
    }

    #[pyo3(signature = (text))]
    fn encode_contrastive(&self, py: Python<'_>, text: &Bound<'_, PyAny>) -> PyResult<Vec<f32>> {
        guarded(py, || {
            let s = text_arg(text, "text")?;
            let eng = &self.inner;
            detach(py, |_| eng.encode_contrastive(&s)).map_err(|e| engine_err(py, &e))
        })
    }

    #[pyo3(signature = (query, descriptions, top_k))]
    fn retrieve_tools(
        &self,
        py: Python<'_>,
        query: &Bound<'_, PyAny>,
        descriptions: &Bound<'_, PyAny>,
        top_k: i64,
    ) -> PyResult<Vec<(usize, f32)>> {
        guarded(py, || {
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
            for d in list_arg(descriptions, "descriptions")? {
                ds.push(text_arg(&d, "description")?);
            }
            let eng = &self.inner;
            detach(py, |_| {
                let refs: Vec<&str> = ds.iter().map(String::as_str).collect();
                eng.retrieve_tools(&q, &refs, top_k as usize)
            })
            .map_err(|e| engine_err(py, &e))
        })
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        guarded(py, || {
            let c = self.inner.config();
            Ok(format!(
                "Engine(generation={}, d_model={}, encoder_layers={}, decoder_layers={}, vocab_size={}, contrastive_dim={})",
                self.inner.generation(),
                c.d_model,
                c.num_encoder_layers,
                c.num_decoder_layers,
                c.vocab_size,
                self.inner.contrastive_dim()
            ))
        })
    }
}

// ---------------------------------------------------------------- test hooks

/// Raises the exception that an engine error of status `code` maps to (for tests).
#[pyfunction]
#[pyo3(signature = (code, message))]
fn _raise_error(py: Python<'_>, code: i32, message: &str) -> PyResult<()> {
    guarded(py, || {
        match ErrorKind::from_code(code) {
            Some(k) => Err(engine_err(py, &needle::Error::new(k, message))),
            None => Err(arg_err(py, format!("no error kind has code {code}"))),
        }
    })
}

/// Panics inside the same wrapper as every method, with the GIL held or (`released`)
/// released as during inference (for tests: the panic must raise `InternalError`).
#[pyfunction]
#[pyo3(signature = (released = false))]
fn _panic_for_test(py: Python<'_>, released: bool) -> PyResult<()> {
    guarded(py, || {
        if released {
            detach(py, |_| panic!("deliberate test panic (GIL released)"))
        } else {
            panic!("deliberate test panic (GIL held)")
        }
    })
}

/// Makes every thread spawn attempted by the calling OS thread fail (`on`) or work again,
/// as under a pids limit (for tests of the engine's fallback to the calling thread).
#[pyfunction]
#[pyo3(signature = (on))]
fn _simulate_spawn_failure(py: Python<'_>, on: bool) -> PyResult<()> {
    guarded(py, || {
        needle::__simulate_spawn_failure(on);
        Ok(())
    })
}

/// The engine's error kinds (`ErrorKind::ALL`): `(code, class name, kind name)` each.
#[pyfunction]
fn error_kinds(py: Python<'_>) -> PyResult<Vec<(i32, &'static str, &'static str)>> {
    guarded(py, || Ok(ErrorKind::ALL.iter().map(|&k| (k.code(), class_name(k), k.name())).collect()))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    guarded(m.py(), || {
        IS_FINALIZING.store(find_is_finalizing(), std::sync::atomic::Ordering::Relaxed);
        m.add_class::<PyEngine>()?;
        m.add_class::<PyRunResult>()?;
        m.add_function(wrap_pyfunction!(_raise_error, m)?)?;
        m.add_function(wrap_pyfunction!(error_kinds, m)?)?;
        m.add("STOP_REASONS", PyTuple::new(m.py(), StopReason::ALL.map(StopReason::as_str))?)?;
        m.add("RESULT_FIELDS", PyTuple::new(m.py(), RunResult::JSON_FIELDS)?)?;
        m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
        m.add_function(wrap_pyfunction!(_simulate_spawn_failure, m)?)?;
        m.add("__version__", env!("CARGO_PKG_VERSION"))?;
        m.add("ENGINE_VERSION", needle::VERSION)?;
        m.add("MAX_QUERY_BYTES", needle::MAX_QUERY_BYTES)?;
        m.add("MAX_TOOLS_BYTES", needle::MAX_TOOLS_BYTES)?;
        m.add("DEFAULT_MAX_NEW_TOKENS", needle::DEFAULT_MAX_NEW_TOKENS)?;
        Ok(())
    })
}
