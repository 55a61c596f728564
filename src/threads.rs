//! Threads: how many a call may use (process-wide setting, per-thread cap) and the
//! persistent worker pool that splits each decoder step. Kernels and model code ask
//! this module for threads; it depends on nothing else in the crate.

// A leaf serves whichever generations are built (cargo features `v1`, `v2`, `v3`): a build
// without some of them leaves parts of the pool unused, and the linker drops them.
#![cfg_attr(not(all(feature = "v1", feature = "v2", feature = "v3")), allow(dead_code))]

thread_local! {
    /// Per-thread cap on a call's worker threads (0 = the configured count); batch
    /// workers set 1 so that batch and encoder threads do not oversubscribe.
    static THREAD_LIMIT: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

static THREADS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Sets the worker threads one call may use (0 = `NEEDLE_THREADS` or all cores).
pub(crate) fn set_threads(n: usize) {
    THREADS.store(n, std::sync::atomic::Ordering::Relaxed);
}

/// The current thread's cap on a call's worker threads (0 = none).
pub(crate) fn thread_limit() -> usize {
    THREAD_LIMIT.with(|c| c.get())
}

/// Limits the calls made on the current thread to `n` worker threads (0 = no limit).
pub(crate) fn set_thread_limit(n: usize) {
    THREAD_LIMIT.with(|c| c.set(n));
}

/// Sets the current thread's cap for as long as the guard lives, then restores the
/// previous cap (the calling thread of a batch is one of its workers).
pub(crate) struct ThreadLimit(usize);

impl ThreadLimit {
    pub(crate) fn set(n: usize) -> ThreadLimit {
        let prev = thread_limit();
        set_thread_limit(n);
        ThreadLimit(prev)
    }
}

impl Drop for ThreadLimit {
    fn drop(&mut self) {
        set_thread_limit(self.0);
    }
}

/// The worker threads one call may use.
pub(crate) fn configured_threads() -> usize {
    let n = THREADS.load(std::sync::atomic::Ordering::Relaxed);
    if n > 0 {
        return n;
    }
    use std::sync::OnceLock;
    static DEFAULT: OnceLock<usize> = OnceLock::new();
    *DEFAULT.get_or_init(|| {
        if let Some(n) = std::env::var("NEEDLE_THREADS").ok().and_then(|s| s.trim().parse::<usize>().ok()) {
            if n > 0 {
                return n;
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            1
        }
        #[cfg(not(target_arch = "wasm32"))]
        {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    })
}

/// Threads one model step may split its work over: the current thread's cap (batch
/// workers: 1) or the configured count; 1 when the persistent pool has no helper.
pub(crate) fn step_threads() -> usize {
    let t = thread_limit();
    let t = if t > 0 { t } else { configured_threads() };
    if t > 1 && pool::available() {
        t
    } else {
        1
    }
}

thread_local! {
    /// Test hook: when set, every thread this OS thread tries to start fails.
    static FAIL_SPAWNS: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Makes every thread spawn attempted by the calling OS thread fail (`true`) or work
/// again (`false`), as under a pids limit or with no address space left. For tests of
/// the fallback: a call whose helpers cannot start runs on the calling thread with the
/// same results. Affects only the calling thread.
#[doc(hidden)]
pub fn __simulate_spawn_failure(on: bool) {
    FAIL_SPAWNS.with(|c| c.set(on));
}

/// Runs `work` once for every item, on the calling thread and up to `items.len() − 1`
/// scoped helper threads, which take items from a shared queue. A helper that cannot
/// be started (thread limit, no memory for its stack) is simply not there: the calling
/// thread takes its items, so the call never fails for want of threads. Each item is
/// run by exactly one thread with the same code, so results do not depend on how many
/// helpers started. A panic in `work` propagates to the caller.
pub(crate) fn run_parts<T: Send>(items: Vec<T>, work: impl Fn(T) + Sync) {
    if items.len() <= 1 {
        items.into_iter().for_each(work);
        return;
    }
    let helpers = items.len() - 1;
    let queue = std::sync::Mutex::new(items);
    let take = || queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
    let drain = || {
        while let Some(it) = take() {
            work(it);
        }
    };
    std::thread::scope(|sc| {
        for _ in 0..helpers {
            if FAIL_SPAWNS.with(|c| c.get()) || std::thread::Builder::new().spawn_scoped(sc, drain).is_err() {
                break;
            }
        }
        drain();
    });
}

/// A small persistent worker pool for the decoder step (spawning threads per token
/// would cost more than the work). A job is a number of chunks; the calling thread and
/// the helpers take chunks from a shared counter until none is left, so each chunk is
/// run by exactly one thread with the same code: a job whose chunks own disjoint
/// outputs computes the same bits whatever the thread count or schedule. A helper that
/// is not running (parked, or preempted on a busy machine) simply takes no chunks: the
/// caller never waits for a helper to start, only for chunks already taken.
/// Helpers spin briefly between jobs (the decoder posts ~40 per token), then park.
/// One caller at a time: a call that finds the pool busy runs the chunks itself.
pub(crate) mod pool {
    use std::cell::UnsafeCell;
    use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex, OnceLock};
    use std::time::{Duration, Instant};

    type Job<'a> = dyn Fn(usize) + Sync + 'a;

    struct Pool {
        /// Held by the thread that owns the pool for a job.
        owner: Mutex<()>,
        /// `epoch << 1 | open`, bumped for every job.
        word: AtomicU64,
        job: UnsafeCell<Option<*const Job<'static>>>,
        chunks: AtomicUsize,
        next: AtomicUsize,
        done: AtomicUsize,
        /// Helpers registered on the open job (they may touch it).
        active: AtomicUsize,
        panicked: AtomicBool,
        sleepers: AtomicUsize,
        park: Mutex<()>,
        wake: Condvar,
    }

    // SAFETY: `job` and `chunks` are written only by the owner (holding `owner`) while
    // no helper is registered, before the SeqCst store that opens the job; helpers read
    // them only after registering in `active` and re-checking that the job is open; the
    // owner closes the job and waits for `active == 0` before the pointee goes away.
    unsafe impl Sync for Pool {}
    unsafe impl Send for Pool {}

    /// How long an idle helper spins before it parks.
    const SPIN: Duration = Duration::from_micros(100);

    fn pool() -> Option<&'static Pool> {
        static POOL: OnceLock<Option<&'static Pool>> = OnceLock::new();
        *POOL.get_or_init(|| {
            let helpers = super::configured_threads().clamp(1, 64) - 1;
            if helpers == 0 || cfg!(target_arch = "wasm32") {
                return None;
            }
            let p: &'static Pool = Box::leak(Box::new(Pool {
                owner: Mutex::new(()),
                word: AtomicU64::new(0),
                job: UnsafeCell::new(None),
                chunks: AtomicUsize::new(0),
                next: AtomicUsize::new(0),
                done: AtomicUsize::new(0),
                active: AtomicUsize::new(0),
                panicked: AtomicBool::new(false),
                sleepers: AtomicUsize::new(0),
                park: Mutex::new(()),
                wake: Condvar::new(),
            }));
            let mut started = 0;
            for i in 0..helpers {
                let ok = std::thread::Builder::new().name(format!("needle-pool-{i}")).spawn(move || helper(p)).is_ok();
                started += usize::from(ok);
            }
            // Chunks are taken dynamically, so fewer helpers than asked is fine.
            (started > 0).then_some(p)
        })
    }

    /// Takes and runs chunks of the open job until none is left.
    fn drain(p: &Pool, f: &Job<'_>, n: usize) {
        loop {
            let i = p.next.fetch_add(1, Ordering::Relaxed);
            if i >= n {
                return;
            }
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(i))).is_err() {
                p.panicked.store(true, Ordering::Relaxed);
            }
            p.done.fetch_add(1, Ordering::Release);
        }
    }

    fn helper(p: &'static Pool) {
        let mut seen = 0u64;
        loop {
            let t0 = Instant::now();
            let mut n = 0u32;
            let w = loop {
                let w = p.word.load(Ordering::Acquire);
                if w >> 1 != seen && w & 1 == 1 {
                    break w;
                }
                n = n.wrapping_add(1);
                if n % 64 == 0 && t0.elapsed() > SPIN {
                    let g = p.park.lock().unwrap_or_else(|e| e.into_inner());
                    p.sleepers.fetch_add(1, Ordering::SeqCst);
                    let w = p.word.load(Ordering::SeqCst);
                    let g = if w >> 1 == seen || w & 1 == 0 {
                        p.wake.wait(g).unwrap_or_else(|e| e.into_inner())
                    } else {
                        g
                    };
                    p.sleepers.fetch_sub(1, Ordering::SeqCst);
                    drop(g);
                    n = 0;
                }
                std::hint::spin_loop();
            };
            seen = w >> 1;
            p.active.fetch_add(1, Ordering::SeqCst);
            if p.word.load(Ordering::SeqCst) == w {
                // SAFETY: registered on the open job (see `unsafe impl Sync for Pool`).
                let f = unsafe { &*(*p.job.get()).unwrap_or_else(|| unreachable!()) };
                drain(p, f, p.chunks.load(Ordering::Relaxed));
            }
            p.active.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Whether a pool with at least one helper exists (creating it on first use).
    pub(crate) fn available() -> bool {
        pool().is_some()
    }

    /// Runs `f(0) .. f(chunks − 1)`, each exactly once, on the caller and whichever
    /// helpers are running; returns when all have finished.
    pub(crate) fn run(chunks: usize, f: &Job<'_>) {
        let p = match pool() {
            Some(p) if chunks > 1 => p,
            _ => {
                (0..chunks).for_each(f);
                return;
            }
        };
        let Ok(guard) = p.owner.try_lock() else {
            (0..chunks).for_each(f);
            return;
        };
        // SAFETY: the lifetime is erased only for the duration of this call: the job is
        // closed and no helper is registered on it when we return.
        let fp: *const Job<'static> = unsafe { std::mem::transmute::<&Job<'_>, &'static Job<'static>>(f) };
        // SAFETY: only the owner writes `job`, and no helper is registered (the previous
        // job was closed and drained of helpers).
        unsafe { *p.job.get() = Some(fp) };
        p.chunks.store(chunks, Ordering::Relaxed);
        p.next.store(0, Ordering::Relaxed);
        p.done.store(0, Ordering::Relaxed);
        let epoch = (p.word.load(Ordering::Relaxed) >> 1) + 1;
        let open = epoch << 1 | 1;
        p.word.store(open, Ordering::SeqCst);
        if p.sleepers.load(Ordering::SeqCst) > 0 {
            let _g = p.park.lock().unwrap_or_else(|e| e.into_inner());
            p.wake.notify_all();
        }
        drain(p, f, chunks);
        // Only chunks already taken by a helper remain: spin, yielding only if that
        // helper seems preempted (a yield can cost a time slice on a busy machine).
        let t0 = Instant::now();
        let mut n = 0u32;
        while p.done.load(Ordering::Acquire) < chunks {
            n = n.wrapping_add(1);
            if n % 64 == 0 && t0.elapsed() > Duration::from_micros(200) {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        p.word.store(epoch << 1, Ordering::SeqCst);
        while p.active.load(Ordering::SeqCst) > 0 {
            std::hint::spin_loop();
            std::thread::yield_now();
        }
        // SAFETY: closed, no helper registered: clear the soon-dangling pointer.
        unsafe { *p.job.get() = None };
        drop(guard);
        if p.panicked.swap(false, Ordering::Relaxed) {
            panic!("a needle pool worker panicked");
        }
    }
}

/// A raw pointer to a buffer whose disjoint ranges are written by different pool parts.
#[derive(Clone, Copy)]
pub(crate) struct SyncPtr(pub(crate) *mut f32);
// SAFETY: users hand each part a disjoint range, and `pool::run` joins before the
// buffer is touched again.
unsafe impl Sync for SyncPtr {}
unsafe impl Send for SyncPtr {}

impl SyncPtr {
    /// # Safety
    /// `off .. off + len` is inside the buffer and written by this part only.
    #[inline]
    pub(crate) unsafe fn slice<'a>(self, off: usize, len: usize) -> &'a mut [f32] {
        // SAFETY: guaranteed by the caller (see above).
        unsafe { std::slice::from_raw_parts_mut(self.0.add(off), len) }
    }
}
