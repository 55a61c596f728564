/** One parsed tool call. */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/** The result of one query. */
export interface RunResult {
  /** Parsed calls, or `null` when `text` is not a JSON array of `{name, arguments}`. */
  calls: ToolCall[] | null;
  /** The call JSON as generated, e.g. `[{"name":"get_weather","arguments":{"city":"Paris"}}]`. */
  text: string;
  /** Generated token ids (the leading `<tool_call>` included, EOS excluded). */
  tokenIds: number[];
  /** Number of encoder input tokens (query + tools, after truncation). */
  encoderTokens: number;
  /** Why generation ended: `"eos"`, `"max_tokens"`, `"callback"`, … */
  stop: string;
}

/** Per-call options. */
export interface RunOptions {
  /**
   * Most tokens to generate. Default: the model's `max_dec_len`, but at most
   * `DEFAULT_MAX_NEW_TOKENS` (512); upper bound: `max_dec_len` (larger values are clamped).
   */
  maxNewTokens?: number;
  /** Constrain tool names and argument keys to the given tools (default `true`). */
  constrained?: boolean;
}

/** A tool definition: flat `{name, description, parameters}` or OpenAI `{type: "function", function}`. */
export type Tool = Record<string, unknown>;
/** Tools as a JSON string, an array of tools or a single tool object. */
export type Tools = string | Tool[] | Tool;

/**
 * Every failure except a wrong argument type (a `TypeError`) is an `Error` with `code` and
 * `kind`; its `message` is `"<kind>: <what>"`, the engine's wording (e.g.
 * `"invalid weights file: …"`). The facade's own checks (limits, lone surrogates, a freed
 * engine) use the same codes and kinds as the engine.
 */
export interface NeedleError extends Error {
  /**
   * Stable numeric code (the C status value): 1 invalid argument (e.g. a query over
   * `MAX_QUERY_BYTES`, a freed engine), 2 I/O, 3 invalid weights, 4 invalid vocabulary,
   * 5 invalid tools JSON (also over `MAX_TOOLS_BYTES`), 6 invalid UTF-8 (a string with a
   * lone surrogate), 7 unsupported by this model, 8 cancelled, 9 internal (e.g. the wasm
   * instance trapped: that engine is then unusable; `Engine.load` uses a fresh instance).
   */
  code: number;
  /** Short name of the kind, e.g. `"invalid weights file"`. */
  kind: string;
}

/**
 * The longest query (and `encodeContrastive` / `retrieveTools` text) a call accepts, in
 * UTF-8 bytes (64 MiB; the engine's `needle::MAX_QUERY_BYTES`). Longer: error code 1. The
 * model reads only the start of a long query, so a long query costs little.
 */
export declare const MAX_QUERY_BYTES: number;
/** The longest tools JSON a call accepts, in UTF-8 bytes (16 MiB, `needle::MAX_TOOLS_BYTES`). Longer: error code 5. */
export declare const MAX_TOOLS_BYTES: number;
/** Tokens generated when `maxNewTokens` is not given, at most (512, `needle::DEFAULT_MAX_NEW_TOKENS`). */
export declare const DEFAULT_MAX_NEW_TOKENS: number;

export interface ModelConfig {
  d_model: number;
  num_heads: number;
  num_kv_heads: number;
  num_encoder_layers: number;
  num_decoder_layers: number;
  vocab_size: number;
  max_enc_len: number;
  max_dec_len: number;
  no_feedforward: boolean;
  ffn_dim: number;
  activation: string;
  rope_theta: number;
  contrastive_dim: number;
}

/** A loaded Needle model. Calls are synchronous (run them in a Worker to keep a page responsive). */
export declare class Engine {
  private constructor();
  /**
   * Loads a model from the bytes of `needle.safetensors` and the text of `vocab.txt`.
   * Rejects with an `Error` carrying the engine's message when the files are invalid.
   */
  static load(weights: Uint8Array | ArrayBuffer, vocab: string | Uint8Array): Promise<Engine>;
  /**
   * Loads the demo model shipped in this package (`gen/demo/`; Node.js reads it, browsers
   * fetch it from next to the module): a small Needle v1 model (575k parameters) trained by
   * the libneedle project on synthetic tools — a demo of the runtime, not the published Needle.
   */
  static demo(): Promise<Engine>;
  /**
   * Answers `query` given the tools. Throws a `NeedleError` on invalid tools JSON, a query
   * or tools over `MAX_QUERY_BYTES` / `MAX_TOOLS_BYTES`, or a string with a lone surrogate
   * (checked before anything is copied into wasm memory).
   */
  run(query: string, tools: Tools, options?: RunOptions): RunResult;
  /**
   * Like `run`, calling `onToken(id, piece)` for each generated token. Generation stops
   * only when the callback returns exactly `false` (the result then has `stop: "callback"`);
   * any other value (`undefined`, `0`, `""`, `null`, …) continues. An exception thrown by
   * the callback stops generation and is rethrown by `runStream` as it was thrown.
   */
  runStream(
    query: string,
    tools: Tools,
    onToken: (id: number, piece: string) => boolean | void,
    options?: RunOptions,
  ): RunResult;
  /**
   * Answers several queries in order (one at a time); an item that fails (invalid tools,
   * over a limit, a lone surrogate) holds its `NeedleError` instead of a result.
   */
  runBatch(items: { query: string; tools: Tools }[], options?: RunOptions): (RunResult | NeedleError)[];
  /** L2-normalised retrieval embedding, or `undefined` when the model has no contrastive head. */
  encodeContrastive(text: string): Float32Array | undefined;
  /** Up to `topK` (default: all) descriptions ranked by similarity to `query`, best first. Throws without a contrastive head. */
  retrieveTools(query: string, descriptions: string[], topK?: number): { index: number; score: number }[];
  /** Output width of the contrastive head (0 when the model has none). */
  readonly contrastiveDim: number;
  /** The model configuration from the weights' metadata. */
  readonly config: ModelConfig;
  /**
   * Releases the model's memory now (idempotent); later calls throw (code 1). From inside
   * a `runStream` callback of this engine, the memory is released when that call returns.
   */
  free(): void;
  [Symbol.dispose](): void;
}

/** Initialises the wasm module (optional; `Engine.load` does it). Browser options: `simd`, `module`. */
export declare function init(options?: {
  simd?: boolean;
  module?: WebAssembly.Module | BufferSource | Response | URL | string;
}): Promise<{ simd: boolean }>;
/** Whether the runtime supports WebAssembly SIMD (the faster build). */
export declare function simdSupported(): boolean;
/** The version of the engine inside the wasm module. */
export declare function version(): Promise<string>;
