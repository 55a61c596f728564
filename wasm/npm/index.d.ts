/** One parsed tool call. */
export interface ToolCall {
  name: string;
  arguments: Record<string, unknown>;
}

/**
 * Why generation ended (the engine's `StopReason`; its list is `STOP_REASONS`): `"eos"`,
 * `"max_tokens"` (the budget), `"callback"` (`runStream`'s callback returned `false`),
 * `"im_end"` (a v2/v3 model ended its turn), `"max_seq_len"` (a v2/v3 sequence limit).
 */
export type StopReason = "eos" | "max_tokens" | "callback" | "im_end" | "max_seq_len";

/**
 * The result of one query: every field of the engine's result JSON (`RESULT_FIELDS`),
 * camelCase. `run`, `runStream` and `runBatch` all return it.
 */
export interface RunResult {
  /** Parsed calls, or `null` when `text` is not a JSON array of `{name, arguments}`. */
  calls: ToolCall[] | null;
  /** The call JSON as generated, e.g. `[{"name":"get_weather","arguments":{"city":"Paris"}}]`. */
  text: string;
  /** Generated token ids (the leading `<tool_call>` included, EOS excluded). */
  tokenIds: number[];
  /** Number of prompt tokens: v1 the encoder input (query + tools, after truncation), v2/v3 the ChatML prompt with BOS. */
  promptTokens: number;
  /** The same count as `promptTokens`, under its v1 name. */
  encoderTokens: number;
  /** Why generation ended. */
  stop: StopReason;
  /** The trimmed `<think>` block of a v2/v3 answer; `null` when there is none (v1: always). */
  reasoning: string | null;
  /** The confidence head's probability for this answer (v2/v3 files with the head), else `null`. */
  confidence: number | null;
  /** Whether the prompt was longer than the model reads (v1: cut; v3: nothing generated, `stop: "max_seq_len"`). */
  promptTruncated: boolean;
}

/** Per-call options. */
export interface RunOptions {
  /**
   * Most tokens to generate. Default: v1 the model's `max_dec_len`, but at most
   * `DEFAULT_MAX_NEW_TOKENS` (512), v2/v3 the engine's default budget; larger values are
   * clamped to what the model can generate.
   */
  maxNewTokens?: number;
  /** Constrain tool names and argument keys to the given tools (default `true`; v2/v3: inside `<tool_call>`). */
  constrained?: boolean;
  /** A system prompt: a system turn before the user's (v2/v3; v1 has none and ignores it). */
  system?: string;
  /**
   * Strict schema mode (default `false`): the answer always parses into calls whose names,
   * keys and values match the tools' JSON Schemas (replaces `constrained` while on).
   */
  strict?: boolean;
}

/** Load options. */
export interface LoadOptions {
  /**
   * Needle v3 only: keep this many of the file's blocks (2 … its layers), in upstream's
   * ladder order, for a smaller, faster model. With a v1/v2 file: error code 1.
   */
  depth?: number;
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
/** The engine's stop reasons (`needle::StopReason::ALL`). */
export declare const STOP_REASONS: readonly StopReason[];
/** The keys of the engine's result JSON, snake_case, in order (`needle::RunResult::JSON_FIELDS`). */
export declare const RESULT_FIELDS: readonly string[];

/**
 * The engine's configuration (`needle::Engine::config_json`): `generation`, every
 * geometry field of the file (v1: the keys below; v2/v3: their headers' fields, e.g.
 * `num_layers`, `max_seq_len`, `global_layers`), `contrastive_dim` and `confidence_head`.
 */
export interface ModelConfig {
  generation: 1 | 2 | 3;
  contrastive_dim: number;
  confidence_head: boolean;
  d_model: number;
  num_heads: number;
  num_kv_heads: number;
  vocab_size: number;
  rope_theta: number;
  /** v1 */
  num_encoder_layers?: number;
  /** v1 */
  num_decoder_layers?: number;
  /** v1 */
  max_enc_len?: number;
  /** v1 */
  max_dec_len?: number;
  /** v1 */
  no_feedforward?: boolean;
  /** v1 */
  ffn_dim?: number;
  /** v1 */
  activation?: string;
  /** v1 */
  head_dim?: number;
  /** v2/v3 */
  num_layers?: number;
  /** v2/v3 */
  max_seq_len?: number;
  [field: string]: unknown;
}

/** A loaded Needle model. Calls are synchronous (run them in a Worker to keep a page responsive). */
export declare class Engine {
  private constructor();
  /**
   * Loads a model from its file's bytes; the generation is read from the bytes. A v2/v3
   * `.cact` carries its tokenizer: omit `vocab` (or pass `undefined`; a vocabulary with a
   * `.cact` is error code 1). A v1 `needle.safetensors` needs the text of its `vocab.txt`.
   * Rejects with an `Error` carrying the engine's message when the file is invalid.
   */
  static load(model: Uint8Array | ArrayBuffer, vocab?: string | Uint8Array | null, options?: LoadOptions): Promise<Engine>;
  /** `Engine.load(model, undefined, options)`: a `.cact` with load options. */
  static load(model: Uint8Array | ArrayBuffer, options: LoadOptions): Promise<Engine>;
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
  /**
   * The confidence head's probability that `completion` answers `query` with `tools`
   * (v2/v3 files with the head; error code 7 otherwise). For a run's `text` it is that
   * run's `confidence`.
   */
  confidence(query: string, tools: Tools, completion: string, options?: { system?: string }): number;
  /** The model generation: 1 (`needle.safetensors`), 2 or 3 (`.cact`). */
  readonly generation: 1 | 2 | 3;
  /** L2-normalised retrieval embedding, or `undefined` when the model has no contrastive head. */
  encodeContrastive(text: string): Float32Array | undefined;
  /** Up to `topK` (default: all) descriptions ranked by similarity to `query`, best first. Throws without a contrastive head. */
  retrieveTools(query: string, descriptions: string[], topK?: number): { index: number; score: number }[];
  /** Output width of the contrastive head (0 when the model has none). */
  readonly contrastiveDim: number;
  /** The engine's configuration (`needle::Engine::config_json`). */
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
