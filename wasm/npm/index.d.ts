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
  /** Most tokens to generate (default and upper bound: the model's `max_dec_len`). */
  maxNewTokens?: number;
  /** Constrain tool names and argument keys to the given tools (default `true`). */
  constrained?: boolean;
}

/** A tool definition: flat `{name, description, parameters}` or OpenAI `{type: "function", function}`. */
export type Tool = Record<string, unknown>;
/** Tools as a JSON string, an array of tools or a single tool object. */
export type Tools = string | Tool[] | Tool;

/** An engine failure: `message` is the engine's (e.g. `"invalid weights file: …"`). */
export interface NeedleError extends Error {
  /** Stable numeric code (the C status value: 3 = invalid weights, 5 = invalid tools, …). */
  code: number;
  /** Short name of the kind, e.g. `"invalid weights file"`. */
  kind: string;
}

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
  /** Answers `query` given the tools. Throws on invalid tools JSON. */
  run(query: string, tools: Tools, options?: RunOptions): RunResult;
  /** Like `run`, calling `onToken(id, piece)` for each generated token; return `false` to stop. */
  runStream(
    query: string,
    tools: Tools,
    onToken: (id: number, piece: string) => boolean | void,
    options?: RunOptions,
  ): RunResult;
  /** Answers several queries in order; an item that fails holds its `Error` instead of a result. */
  runBatch(items: { query: string; tools: Tools }[], options?: RunOptions): (RunResult | NeedleError)[];
  /** L2-normalised retrieval embedding, or `undefined` when the model has no contrastive head. */
  encodeContrastive(text: string): Float32Array | undefined;
  /** Up to `topK` (default: all) descriptions ranked by similarity to `query`, best first. Throws without a contrastive head. */
  retrieveTools(query: string, descriptions: string[], topK?: number): { index: number; score: number }[];
  /** Output width of the contrastive head (0 when the model has none). */
  readonly contrastiveDim: number;
  /** The model configuration from the weights' metadata. */
  readonly config: ModelConfig;
  /** Releases the model's memory now (idempotent); later calls throw. */
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
