// The idiomatic JavaScript facade over the raw wasm-bindgen class (`RawEngine`), shared by
// the Node.js (`node.js`) and browser/worker (`web.js`) entry points of the package.

const DISPOSE = Symbol.dispose ?? Symbol.for("Symbol.dispose");
const PRIVATE = Symbol("libneedle.Engine");

function toolsJson(tools) {
  if (typeof tools === "string") return tools;
  if (tools === undefined || tools === null) return "[]";
  if (typeof tools === "object") return JSON.stringify(tools);
  throw new TypeError("tools must be a JSON string, an array of tools or a tool object");
}

function checkString(value, what) {
  if (typeof value !== "string") throw new TypeError(`${what} must be a string, got ${typeof value}`);
}

function options(opts) {
  if (opts === undefined || opts === null) return [undefined, undefined];
  if (typeof opts !== "object") throw new TypeError("options must be an object");
  const { maxNewTokens, constrained } = opts;
  if (maxNewTokens !== undefined && !(Number.isInteger(maxNewTokens) && maxNewTokens >= 0 && maxNewTokens < 2 ** 32)) {
    throw new TypeError("options.maxNewTokens must be a non-negative integer");
  }
  if (constrained !== undefined && typeof constrained !== "boolean") {
    throw new TypeError("options.constrained must be a boolean");
  }
  return [maxNewTokens, constrained];
}

function toBytes(weights) {
  if (weights instanceof Uint8Array) return weights;
  if (weights instanceof ArrayBuffer) return new Uint8Array(weights);
  if (ArrayBuffer.isView(weights)) return new Uint8Array(weights.buffer, weights.byteOffset, weights.byteLength);
  throw new TypeError("weights must be a Uint8Array (the bytes of needle.safetensors)");
}

function toText(vocab) {
  if (typeof vocab === "string") return vocab;
  if (vocab instanceof ArrayBuffer || ArrayBuffer.isView(vocab)) {
    try {
      return new TextDecoder("utf-8", { fatal: true }).decode(vocab);
    } catch {
      throw new Error("invalid vocabulary: vocab.txt is not valid UTF-8");
    }
  }
  throw new TypeError("vocab must be a string (the text of vocab.txt)");
}

function result(json) {
  const r = JSON.parse(json);
  return {
    calls: r.calls,
    text: r.text,
    tokenIds: r.token_ids,
    encoderTokens: r.encoder_tokens,
    stop: r.stop,
  };
}

/** Builds the `Engine` class over `loadRaw()`, which resolves to the wasm-bindgen module. */
export function defineEngine(loadRaw) {
  class Engine {
    #raw;

    /** @private Use `Engine.load(weights, vocab)`. */
    constructor(raw, key) {
      if (key !== PRIVATE) throw new TypeError("use Engine.load(weights, vocab) to create an Engine");
      this.#raw = raw;
    }

    /** Loads a model from the bytes of `needle.safetensors` and the text of `vocab.txt`. */
    static async load(weights, vocab) {
      const bytes = toBytes(weights);
      const text = toText(vocab);
      const m = await loadRaw();
      return new Engine(new m.RawEngine(bytes, text), PRIVATE);
    }

    #get() {
      if (!this.#raw) throw new Error("this Engine has been freed");
      return this.#raw;
    }

    /** Answers `query` given the tools: `{ calls, text, tokenIds, encoderTokens, stop }`. */
    run(query, tools, opts) {
      checkString(query, "query");
      return result(this.#get().run(query, toolsJson(tools), ...options(opts)));
    }

    /** Like `run`, calling `onToken(id, piece)` per generated token; returning `false` stops. */
    runStream(query, tools, onToken, opts) {
      checkString(query, "query");
      if (typeof onToken !== "function") throw new TypeError("onToken must be a function (id, piece) => boolean|void");
      return result(this.#get().run_stream(query, toolsJson(tools), onToken, ...options(opts)));
    }

    /** Answers several `{query, tools}` items in order; a failed item is an `Error` in its slot. */
    runBatch(items, opts) {
      if (!Array.isArray(items)) throw new TypeError("runBatch expects an array of {query, tools}");
      const queries = [];
      const tools = [];
      for (const [i, item] of items.entries()) {
        if (item === null || typeof item !== "object") throw new TypeError(`runBatch item ${i} must be {query, tools}`);
        checkString(item.query, `runBatch item ${i}: query`);
        queries.push(item.query);
        tools.push(toolsJson(item.tools));
      }
      const out = this.#get().run_batch(queries, tools, ...options(opts));
      return Array.from(out, (r) => (typeof r === "string" ? result(r) : r));
    }

    /** Output width of the contrastive head (0 when the model has none). */
    get contrastiveDim() {
      return this.#get().contrastive_dim();
    }

    /** The model configuration from the weights' metadata. */
    get config() {
      return JSON.parse(this.#get().config_json());
    }

    /** L2-normalised retrieval embedding of `text`, or `undefined` when the model has no contrastive head. */
    encodeContrastive(text) {
      checkString(text, "text");
      return this.#get().encode_contrastive(text);
    }

    /** Ranks `descriptions` by similarity to `query`: up to `topK` `{index, score}`, best first. */
    retrieveTools(query, descriptions, topK = descriptions?.length ?? 0) {
      checkString(query, "query");
      if (!Array.isArray(descriptions) || descriptions.some((d) => typeof d !== "string")) {
        throw new TypeError("descriptions must be an array of strings");
      }
      if (!(Number.isInteger(topK) && topK >= 0)) throw new TypeError("topK must be a non-negative integer");
      const flat = this.#get().retrieve_tools(query, descriptions, topK);
      const ranked = [];
      for (let i = 0; i < flat.length; i += 2) ranked.push({ index: flat[i], score: flat[i + 1] });
      return ranked;
    }

    /** Releases the model's memory now (idempotent). Any later call throws. */
    free() {
      const raw = this.#raw;
      this.#raw = null;
      if (raw) raw.free();
    }

    [DISPOSE]() {
      this.free();
    }
  }
  return Engine;
}
