// The idiomatic JavaScript facade over the raw wasm-bindgen class (`RawEngine`), shared by
// the Node.js (`node.js`) and browser/worker (`web.js`) entry points of the package.
//
// Errors. Every failure other than a wrong argument type (a `TypeError`) is an `Error` with
// the engine's `code` and `kind` (the C status values, `ERROR_KINDS`) and a message
// `"<kind>: <what>"`, like the engine's own errors. Limits (`MAX_QUERY_BYTES`,
// `MAX_TOOLS_BYTES`) and well-formed UTF-16 are checked here, before anything is copied
// into wasm memory.
//
// Traps. A wasm trap (`WebAssembly.RuntimeError`, e.g. out of memory) leaves the instance's
// shadow stack pointer, allocator and borrow flags as they were, so the instance must not
// run again. A call that traps (or throws anything unexpected from inside the wasm code)
// throws an internal `Error` (code 9) instead; the instance's generation is then retired
// and, once no call is running, the glue's `__wbg_reset_state()` (wasm-bindgen
// --experimental-reset-state-function) replaces the instance by a fresh one of the same
// compiled module. Engines of a retired generation throw an internal `Error` on every call
// (they are never run again; their memory goes with the old instance); `Engine.load`
// always uses the current, fresh instance.
//
// Results. The raw layer returns the engine's result JSON (`RunResult::to_json`); every key
// of the engine's list `RESULT_FIELDS` becomes the camelCase property of that name
// (`token_ids` → `tokenIds`, `prompt_tokens` → `promptTokens`, …), so a field the engine
// adds to its list reaches JavaScript without a change here.
import {
  DEFAULT_MAX_NEW_TOKENS,
  ERROR_KINDS,
  MAX_QUERY_BYTES,
  MAX_TOOLS_BYTES,
  RESULT_FIELDS,
  STOP_REASONS,
} from "./gen/constants.js";

export { DEFAULT_MAX_NEW_TOKENS, MAX_QUERY_BYTES, MAX_TOOLS_BYTES, RESULT_FIELDS, STOP_REASONS };

const DISPOSE = Symbol.dispose ?? Symbol.for("Symbol.dispose");
const PRIVATE = Symbol("libneedle.Engine");

// Status codes (stable; the names come from the engine through ERROR_KINDS).
const INVALID_ARGUMENT = 1;
const INVALID_VOCAB = 4;
const INVALID_TOOLS = 5;
const INVALID_UTF8 = 6;
const INTERNAL = 9;

/** An `Error` like the engine's: `"<kind>: <message>"` with `code` and `kind`. */
function needleError(code, message, cause) {
  const kind = ERROR_KINDS[code];
  const err = cause === undefined ? new Error(`${kind}: ${message}`) : new Error(`${kind}: ${message}`, { cause });
  err.code = code;
  err.kind = kind;
  return err;
}

function describe(e) {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

function isNeedleError(e) {
  return e instanceof Error && typeof e.code === "number" && typeof e.kind === "string";
}

// ------------------------------------------------------------------ argument checks

// A lone surrogate: a high one not followed by a low one, or a low one not preceded by a
// high one (no lookbehind, for older engines). Used where String.prototype.isWellFormed
// is missing.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?:^|[^\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const wellFormed =
  typeof String.prototype.isWellFormed === "function" ? (s) => s.isWellFormed() : (s) => !LONE_SURROGATE.test(s);

function loneSurrogateAt(s) {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff) {
      const d = i + 1 < s.length ? s.charCodeAt(i + 1) : 0;
      if (d >= 0xdc00 && d <= 0xdfff) i++;
      else return i;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return i;
    }
  }
  return -1;
}

const encoder = new TextEncoder();
let scratch = null;

/** UTF-8 length of a well-formed string: native encodeInto over 1 MiB chunks (no big copy). */
function utf8Length(s) {
  scratch ??= new Uint8Array(1 << 20);
  const step = Math.floor(scratch.length / 3); // <= 3 bytes per UTF-16 unit: a chunk always fits
  let n = 0;
  for (let i = 0; i < s.length; ) {
    let end = Math.min(i + step, s.length);
    const last = s.charCodeAt(end - 1);
    if (end < s.length && last >= 0xd800 && last <= 0xdbff) end--; // keep a pair together
    n += encoder.encodeInto(s.slice(i, end), scratch).written;
    i = end;
  }
  return n;
}

/**
 * Checks a text argument before it is copied into wasm memory: a string, well-formed
 * UTF-16 (no lone surrogate: it has no UTF-8 form) and at most `limit` UTF-8 bytes.
 * The length check is cheap first: UTF-16 units <= UTF-8 bytes <= 3 x units.
 */
function checkText(s, what, limit, limitName, code, sized = what) {
  if (typeof s !== "string") throw new TypeError(`${what} must be a string, got ${typeof s}`);
  // Worded as the engine's own limit errors.
  const tooLong = (bytes) =>
    needleError(code, `${sized} is ${bytes} bytes; libneedle accepts at most ${limit} bytes (${limit / 2 ** 20} MiB, ${limitName})`);
  if (s.length > limit) throw tooLong(`at least ${s.length}`);
  if (!wellFormed(s)) {
    const i = loneSurrogateAt(s);
    const unit = s.charCodeAt(i).toString(16).toUpperCase();
    throw needleError(INVALID_UTF8, `${what} is not valid UTF-8: lone surrogate U+${unit} at index ${i}`);
  }
  if (s.length * 3 > limit) {
    const n = utf8Length(s);
    if (n > limit) throw tooLong(n);
  }
  return s;
}

const checkQuery = (s, what = "query") => checkText(s, what, MAX_QUERY_BYTES, "MAX_QUERY_BYTES", INVALID_ARGUMENT);

function toolsJson(tools) {
  let json;
  if (typeof tools === "string") json = tools;
  else if (tools === undefined || tools === null) return "[]";
  else if (typeof tools === "object") {
    try {
      json = JSON.stringify(tools);
    } catch (e) {
      // A cycle, a BigInt, a throwing toJSON: not representable as tools JSON.
      throw needleError(INVALID_TOOLS, `tools cannot be serialised as JSON: ${e?.message ?? e}`, e);
    }
    if (json === undefined) throw needleError(INVALID_TOOLS, "tools cannot be serialised as JSON");
  } else throw new TypeError("tools must be a JSON string, an array of tools or a tool object");
  return checkText(json, "tools", MAX_TOOLS_BYTES, "MAX_TOOLS_BYTES", INVALID_TOOLS, "tools JSON");
}

/** `options.system`: a string (a v2/v3 system prompt), or undefined/null for none. */
function systemOption(system) {
  if (system === undefined || system === null) return undefined;
  if (typeof system !== "string") throw new TypeError("options.system must be a string");
  return checkQuery(system, "system");
}

/** Run options as the raw calls take them: [maxNewTokens, constrained, system, strict]. */
function options(opts) {
  if (opts === undefined || opts === null) return [undefined, undefined, undefined, undefined];
  if (typeof opts !== "object") throw new TypeError("options must be an object");
  const { maxNewTokens, constrained, system, strict } = opts;
  if (maxNewTokens !== undefined && !(Number.isInteger(maxNewTokens) && maxNewTokens >= 0 && maxNewTokens < 2 ** 32)) {
    throw new TypeError("options.maxNewTokens must be a non-negative integer");
  }
  if (constrained !== undefined && typeof constrained !== "boolean") {
    throw new TypeError("options.constrained must be a boolean");
  }
  if (strict !== undefined && typeof strict !== "boolean") {
    throw new TypeError("options.strict must be a boolean");
  }
  return [maxNewTokens, constrained, systemOption(system), strict];
}

/** Load options: `{ depth }` (the v3 ladder depth). */
function loadOptions(opts) {
  if (opts === undefined || opts === null) return undefined;
  if (typeof opts !== "object") throw new TypeError("load options must be an object");
  const { depth } = opts;
  if (depth === undefined || depth === null) return undefined;
  if (!(Number.isInteger(depth) && depth >= 0 && depth < 2 ** 32)) {
    throw new TypeError("options.depth must be a non-negative integer");
  }
  return depth;
}

/** Whether `x` is a plain options object (not a string, bytes or a buffer). */
function isOptionsObject(x) {
  return x !== null && typeof x === "object" && !(x instanceof ArrayBuffer) && !ArrayBuffer.isView(x);
}

function toBytes(weights) {
  if (weights instanceof Uint8Array) return weights;
  if (weights instanceof ArrayBuffer) return new Uint8Array(weights);
  if (ArrayBuffer.isView(weights)) return new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  throw new TypeError("model must be a Uint8Array (the bytes of a .cact file or of needle.safetensors)");
}

function toText(vocab) {
  if (vocab === undefined || vocab === null) return undefined; // a .cact: its own tokenizer
  if (typeof vocab === "string") {
    if (!wellFormed(vocab)) {
      const i = loneSurrogateAt(vocab);
      const unit = vocab.charCodeAt(i).toString(16).toUpperCase();
      throw needleError(INVALID_UTF8, `vocab is not valid UTF-8: lone surrogate U+${unit} at index ${i}`);
    }
    return vocab;
  }
  if (vocab instanceof ArrayBuffer || ArrayBuffer.isView(vocab)) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(vocab);
    } catch (e) {
      // As the engine reports a vocab.txt file that is not UTF-8.
      throw needleError(INVALID_VOCAB, "vocab.txt is not valid UTF-8", e);
    }
  }
  throw new TypeError("vocab must be a string (the text of vocab.txt), or undefined for a .cact file");
}

const camel = (key) => key.replace(/_([a-z])/g, (_, c) => c.toUpperCase());
const RESULT_KEYS = RESULT_FIELDS.map((f) => [f, camel(f)]);

/** The engine's result JSON as a result object: every engine field, camelCase. */
function result(json) {
  const r = JSON.parse(json);
  const out = {};
  for (const [field, key] of RESULT_KEYS) out[key] = r[field];
  return out;
}

// ------------------------------------------------------------------ wasm instances

/**
 * The state of one wasm-bindgen glue module `m`: the generation of its current instance,
 * how many raw calls are running (a stream callback can call in again), and whether the
 * instance must be replaced once none is.
 */
class Instance {
  constructor(m) {
    this.m = m;
    this.generation = 0;
    this.depth = 0;
    this.resetPending = false;
    this.lost = new Map(); // generation -> what ended it
  }

  /** Retires the current generation after `cause`; the reset waits for running calls. */
  retire(cause) {
    this.lost.set(this.generation, describe(cause));
    this.generation++;
    this.resetPending = true;
  }

  /** Replaces a retired instance by a fresh one when no call is running in it. */
  settle() {
    if (!this.resetPending || this.depth > 0) return;
    if (typeof this.m.__wbg_reset_state !== "function") return; // stays retired: loads fail below
    try {
      this.m.__wbg_reset_state();
      this.resetPending = false;
    } catch (e) {
      this.resetError = e; // e.g. instantiation failed: the next load tries again
    }
  }

  lostError(generation, during) {
    const why = this.lost.get(generation) ?? "an earlier call trapped";
    return needleError(
      INTERNAL,
      `the WebAssembly instance of this Engine was lost ${during ? "during this call" : "after an earlier call trapped"} ` +
        `(${why}); load the model again with Engine.load, which uses a fresh instance`,
    );
  }

  /**
   * Runs `f` (a raw call) in generation `gen`. A trap or any unexpected exception from the
   * wasm code retires the instance and becomes an internal Error; engine errors (with
   * `code`) and the values `passThrough(e)` accepts (a stream callback's own exception)
   * are rethrown as they are.
   */
  call(gen, f, passThrough) {
    if (gen !== this.generation) throw this.lostError(gen, false);
    this.depth++;
    try {
      const r = f();
      if (gen !== this.generation) throw this.lostError(gen, true); // a nested call trapped
      return r;
    } catch (e) {
      if (gen !== this.generation) {
        throw isNeedleError(e) && e.code === INTERNAL ? e : this.lostError(gen, true);
      }
      if (passThrough?.(e) || isNeedleError(e)) throw e;
      this.retire(e);
      throw needleError(
        INTERNAL,
        `the WebAssembly instance trapped (${describe(e)}); this Engine can no longer ` +
          `be used — load the model again with Engine.load, which uses a fresh instance`,
        e,
      );
    } finally {
      this.depth--;
      this.settle();
    }
  }
}

/**
 * Builds the `Engine` class over `loadRaw()`, which resolves to the wasm-bindgen glue
 * module (built with --experimental-reset-state-function), and `loadDemo()`, which resolves
 * to `{ weights, vocab }` of the demo model shipped in the package (`gen/demo/`).
 */
export function defineEngine(loadRaw, loadDemo) {
  const instances = new WeakMap();
  const instanceOf = (m) => {
    let st = instances.get(m);
    if (!st) instances.set(m, (st = new Instance(m)));
    return st;
  };

  class Engine {
    #raw;
    #st;
    #gen;
    #busy = 0; // raw calls of this engine now running (a callback may call in again)
    #freeLater = null; // the raw engine to free once they have returned

    /** @private Use `Engine.load(weights, vocab)`. */
    constructor(raw, st, gen, key) {
      if (key !== PRIVATE) throw new TypeError("use Engine.load(weights, vocab) to create an Engine");
      this.#raw = raw;
      this.#st = st;
      this.#gen = gen;
    }

    /**
     * Loads a model from its file's bytes: a v2/v3 `.cact` (`vocab` omitted or undefined:
     * the file carries its tokenizer) or a v1 `needle.safetensors` with the text of its
     * `vocab.txt`. `opts.depth` keeps that many v3 blocks (the ladder). The generation is
     * read from the bytes. `Engine.load(bytes, { depth })` is `Engine.load(bytes, undefined, { depth })`.
     */
    static async load(model, vocab, opts) {
      if (opts === undefined && isOptionsObject(vocab)) {
        opts = vocab;
        vocab = undefined;
      }
      const bytes = toBytes(model);
      const text = toText(vocab);
      const depth = loadOptions(opts);
      const m = await loadRaw();
      const st = instanceOf(m);
      st.settle();
      if (st.resetPending) {
        const why = st.resetError ? describe(st.resetError) : "this build cannot reset";
        throw needleError(INTERNAL, `the WebAssembly instance trapped and could not be replaced (${why})`, st.resetError);
      }
      const gen = st.generation;
      return new Engine(st.call(gen, () => new m.RawEngine(bytes, text, depth)), st, gen, PRIVATE);
    }

    /**
     * Loads the demo model shipped in the package (`gen/demo/`, copied from the repository's
     * `models/needle-demo/` by tools/build_wasm.sh): a small Needle v1 model trained by the
     * libneedle project on synthetic tools — a demo of the runtime, not the published Needle.
     */
    static async demo() {
      const { weights, vocab } = await loadDemo();
      return Engine.load(weights, vocab);
    }

    /** Runs `f(raw)` as a raw call of this engine. */
    #call(f, passThrough) {
      const raw = this.#raw;
      if (!raw) throw needleError(INVALID_ARGUMENT, "this Engine has been freed");
      this.#busy++;
      try {
        return this.#st.call(this.#gen, () => f(raw), passThrough);
      } finally {
        if (--this.#busy === 0 && this.#freeLater) {
          const later = this.#freeLater;
          this.#freeLater = null;
          this.#release(later);
        }
      }
    }

    #release(raw) {
      if (this.#gen !== this.#st.generation) {
        // Never run a retired instance again (its glue finalizer skips it too).
        raw.__destroy_into_raw();
        return;
      }
      this.#st.call(this.#gen, () => raw.free());
    }

    /**
     * Answers `query` given the tools: `{ calls, text, tokenIds, promptTokens,
     * encoderTokens, stop, reasoning, confidence, promptTruncated }`.
     */
    run(query, tools, opts) {
      checkQuery(query);
      const json = toolsJson(tools);
      const o = options(opts);
      return result(this.#call((raw) => raw.run(query, json, ...o)));
    }

    /**
     * Like `run`, calling `onToken(id, piece)` per generated token. Generation stops only
     * when the callback returns exactly `false`; an exception it throws stops generation
     * and is rethrown here.
     */
    runStream(query, tools, onToken, opts) {
      checkQuery(query);
      const json = toolsJson(tools);
      if (typeof onToken !== "function") throw new TypeError("onToken must be a function (id, piece) => boolean|void");
      const o = options(opts);
      const st = this.#st;
      const gen = this.#gen;
      let thrown = null; // { value } thrown by onToken
      const stale = {};
      const cb = (id, piece) => {
        let r;
        try {
          r = onToken(id, piece);
        } catch (e) {
          thrown = { value: e };
          throw e;
        }
        // A call made from the callback trapped: stop generating in the retired instance.
        if (gen !== st.generation) throw stale;
        return r === false ? false : true;
      };
      return result(this.#call((raw) => raw.run_stream(query, json, cb, ...o), (e) => thrown !== null && e === thrown.value));
    }

    /** Answers several `{query, tools}` items in order; a failed item is an `Error` in its slot. */
    runBatch(items, opts) {
      if (!Array.isArray(items)) throw new TypeError("runBatch expects an array of {query, tools}");
      const o = options(opts);
      const checked = items.map((item, i) => {
        if (item === null || typeof item !== "object") throw new TypeError(`runBatch item ${i} must be {query, tools}`);
        try {
          return { query: checkQuery(item.query, `runBatch item ${i}: query`), tools: toolsJson(item.tools) };
        } catch (e) {
          if (e instanceof TypeError) throw e;
          return { error: e }; // too long, not UTF-8, not serialisable: in the item's slot
        }
      });
      this.#get();
      // One item per raw call (as the engine's sequential batch does), so that the wasm
      // memory holds one item at a time however large the batch.
      return checked.map((c) => {
        if (c.error) return c.error;
        try {
          return result(this.#call((raw) => raw.run(c.query, c.tools, ...o)));
        } catch (e) {
          if (isNeedleError(e) && e.code !== INTERNAL) return e;
          throw e;
        }
      });
    }

    /** Throws what a raw call would when this engine is freed or its instance lost. */
    #get() {
      if (!this.#raw) throw needleError(INVALID_ARGUMENT, "this Engine has been freed");
      if (this.#gen !== this.#st.generation) throw this.#st.lostError(this.#gen, false);
    }

    /**
     * The confidence head's probability that `completion` answers `query` with the tools
     * (v2/v3 files with the head; throws code 7 otherwise). `opts.system` as in `run`.
     */
    confidence(query, tools, completion, opts) {
      checkQuery(query);
      const json = toolsJson(tools);
      checkQuery(completion, "completion");
      if (opts !== undefined && opts !== null && typeof opts !== "object") throw new TypeError("options must be an object");
      const system = systemOption(opts?.system);
      return this.#call((raw) => raw.confidence(query, json, completion, system));
    }

    /** The model generation: 1 (`needle.safetensors`), 2 or 3 (`.cact`). */
    get generation() {
      return this.#call((raw) => raw.generation());
    }

    /** Output width of the contrastive head (0 when the model has none). */
    get contrastiveDim() {
      return this.#call((raw) => raw.contrastive_dim());
    }

    /**
     * The engine's configuration (`Engine::config_json`): `generation`, every geometry
     * field of the file, `contrastive_dim`, `confidence_head`.
     */
    get config() {
      return JSON.parse(this.#call((raw) => raw.config_json()));
    }

    /** L2-normalised retrieval embedding of `text`, or `undefined` when the model has no contrastive head. */
    encodeContrastive(text) {
      checkQuery(text, "text");
      return this.#call((raw) => raw.encode_contrastive(text));
    }

    /** Ranks `descriptions` by similarity to `query`: up to `topK` `{index, score}`, best first. */
    retrieveTools(query, descriptions, topK = descriptions?.length ?? 0) {
      if (typeof query !== "string") throw new TypeError(`query must be a string, got ${typeof query}`);
      if (!Array.isArray(descriptions) || descriptions.some((d) => typeof d !== "string")) {
        throw new TypeError("descriptions must be an array of strings");
      }
      if (!(Number.isInteger(topK) && topK >= 0)) throw new TypeError("topK must be a non-negative integer");
      checkQuery(query);
      descriptions.forEach((d, i) => checkQuery(d, `descriptions[${i}]`));
      const flat = this.#call((raw) => raw.retrieve_tools(query, descriptions, topK));
      const ranked = [];
      for (let i = 0; i < flat.length; i += 2) ranked.push({ index: flat[i], score: flat[i + 1] });
      return ranked;
    }

    /**
     * Releases the model's memory now (idempotent). Any later call throws. Called from a
     * `runStream` callback of this engine, it takes effect when that call returns.
     */
    free() {
      const raw = this.#raw;
      this.#raw = null;
      if (!raw) return;
      if (this.#busy > 0) this.#freeLater = raw;
      else this.#release(raw);
    }

    [DISPOSE]() {
      this.free();
    }
  }
  return Engine;
}
