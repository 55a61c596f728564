import CNeedle
import Foundation

/// Per-call settings (the defaults: the model's max_dec_len tokens, constrained decoding
/// on, all cores for `runBatch`, no system prompt).
public struct RunOptions: Sendable, Equatable {
    /// Most tokens to generate (nil: the model's max_dec_len; larger values are clamped).
    public var maxNewTokens: UInt32?
    /// Constrained decoding of tool names and argument keys.
    public var constrained: Bool
    /// Worker threads of `runBatch` (nil or 0: all cores; 1: the calling thread only).
    public var threads: UInt32?
    /// A system prompt for Needle v2/v3 (a system turn before the user's; v1 ignores it).
    public var system: String?
    /// Strict schema mode: the answer always parses into calls whose names, keys and values
    /// match the tools' JSON Schemas (replaces `constrained` while on; off by default).
    public var strict: Bool

    public init(maxNewTokens: UInt32? = nil, constrained: Bool = true, threads: UInt32? = nil, system: String? = nil, strict: Bool = false) {
        self.maxNewTokens = maxNewTokens
        self.constrained = constrained
        self.strict = strict
        self.threads = threads
        self.system = system
    }
}

/// Why generation ended (the engine's `StopReason::ALL`).
public enum StopReason: String, Decodable, Sendable {
    /// The model ended its answer.
    case eos
    /// The token budget ran out.
    case maxTokens = "max_tokens"
    /// The streaming callback returned false (or threw).
    case callback
    /// A v2/v3 model ended its turn (`<|im_end|>`).
    case imEnd = "im_end"
    /// A v2/v3 model reached its sequence limit.
    case maxSeqLen = "max_seq_len"
}

/// A JSON value (the arguments of a call).
public enum JSONValue: Decodable, Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() {
            self = .null
        } else if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let n = try? c.decode(Double.self) {
            self = .number(n)
        } else if let s = try? c.decode(String.self) {
            self = .string(s)
        } else if let a = try? c.decode([JSONValue].self) {
            self = .array(a)
        } else {
            self = .object(try c.decode([String: JSONValue].self))
        }
    }
}

/// One function call chosen by the model.
public struct Call: Decodable, Equatable, Sendable {
    public let name: String
    public let arguments: [String: JSONValue]
}

/// The structured answer of `Engine.run`, `runStream` and `runBatch` (needle_run_json's
/// object, the engine's `RunResult::JSON_FIELDS`, every key always present).
public struct Result: Decodable, Equatable, Sendable {
    /// The parsed calls; nil when `text` is not a valid call list.
    public let calls: [Call]?
    /// The answer, e.g. `[{"name":"get_weather","arguments":{"city":"Paris"}}]`.
    public let text: String
    /// The generated token ids.
    public let tokenIDs: [UInt32]
    /// Length of the prompt in tokens (v1: the encoder input, query + tools; v2/v3: the
    /// ChatML prompt).
    public let promptTokens: Int
    /// `promptTokens` under its v1 name.
    public let encoderTokens: Int
    /// Why generation ended.
    public let stop: StopReason
    /// The v2/v3 model's `<think>` block, trimmed; nil when there is none.
    public let reasoning: String?
    /// The confidence head's probability for this answer (v2/v3 files with the head).
    public let confidence: Double?
    /// Whether the prompt was longer than the model reads.
    public let promptTruncated: Bool

    enum CodingKeys: String, CodingKey {
        case calls, text, stop, reasoning, confidence
        case tokenIDs = "token_ids"
        case promptTokens = "prompt_tokens"
        case encoderTokens = "encoder_tokens"
        case promptTruncated = "prompt_truncated"
    }
}

/// A tool description ranked by `Engine.retrieveTools`.
public struct ToolMatch: Equatable, Sendable {
    /// Index into the descriptions passed in.
    public let index: Int
    /// Cosine similarity to the query.
    public let score: Float
}

/// A loaded Needle model. Immutable and thread-safe: share one engine between threads.
/// The model is freed when the last reference goes away.
public final class Engine: @unchecked Sendable {
    private let handle: OpaquePointer

    /// The version of the linked libneedle, "MAJOR.MINOR.PATCH".
    public static var version: String { String(cString: needle_version()) }

    /// Loads a model file of any generation, detected from its first bytes: a v1
    /// needle.safetensors (memory-mapped) with its `vocab` (vocab.txt), or a v2/v3 `.cact`
    /// (memory-mapped), which carries its tokenizer: `vocab` must then be nil. `depth`
    /// (Needle v3 only) keeps that many of the file's blocks, in upstream's ladder order;
    /// nil keeps them all. A vocabulary with a `.cact`, none with a v1 file, or a depth out
    /// of range or with a v1/v2 file is `.invalidArgument`.
    public init(path: String, vocab: String? = nil, depth: Int? = nil) throws {
        try checkNoNUL(path, "weights path")
        if let vocab { try checkNoNUL(vocab, "vocab path") }
        let h: OpaquePointer? = try withLoadOptions(depth) { (lo: OpaquePointer?) -> OpaquePointer? in
            withOptionalCString(vocab) { (v: UnsafePointer<CChar>?) -> OpaquePointer? in
                lo == nil ? needle_load(path, v) : needle_load_with(path, v, lo)
            }
        }
        guard let h else { throw NeedleError.last() }
        handle = h
    }

    /// Loads a v1 model: `weights` (needle.safetensors, memory-mapped) and `vocab` (vocab.txt).
    public convenience init(weights: String, vocab: String) throws {
        try self.init(path: weights, vocab: vocab)
    }

    /// Loads from memory: the bytes of a model file (copied) and, for a v1 file, the text of
    /// vocab.txt (nil for a `.cact`); `depth` as in `init(path:vocab:depth:)`.
    public init(data: Data, vocabText: String? = nil, depth: Int? = nil) throws {
        let vocabLength = vocabText?.utf8.count ?? 0
        let h: OpaquePointer? = try withLoadOptions(depth) { (lo: OpaquePointer?) -> OpaquePointer? in
            data.withUnsafeBytes { (w: UnsafeRawBufferPointer) -> OpaquePointer? in
                withOptionalCString(vocabText) { (v: UnsafePointer<CChar>?) -> OpaquePointer? in
                    let base = w.bindMemory(to: UInt8.self).baseAddress
                    return lo == nil ? needle_load_bytes(base, w.count, v, vocabLength)
                        : needle_load_bytes_with(base, w.count, v, vocabLength, lo)
                }
            }
        }
        guard let h else { throw NeedleError.last() }
        handle = h
    }

    /// Loads a v1 model from memory: the bytes of needle.safetensors (copied) and the text
    /// of vocab.txt.
    public convenience init(weightsData: Data, vocabText: String) throws {
        try self.init(data: weightsData, vocabText: vocabText)
    }

    deinit {
        needle_free(handle)
    }

    /// The model generation: 1 (needle.safetensors), 2 or 3 (`.cact`).
    public var generation: Int { Int(needle_generation(handle)) }

    /// The engine's configuration JSON (needle_config_json, as is): "generation" and every
    /// geometry field of the file, with "contrastive_dim" and "confidence_head".
    public func configJSON() throws -> String {
        guard let s = needle_config_json(handle) else { throw NeedleError.last() }
        return takeString(s)
    }

    /// Answers `query` given `tools`, a JSON array of tools (flat or OpenAI style).
    public func run(_ query: String, tools: String, options: RunOptions = RunOptions()) throws -> Result {
        try checkNoNUL(query, "query")
        try checkNoNUL(tools, "tools")
        let json: String = try withOptions(options) { opts in
            guard let s = needle_run_json(handle, query, tools, opts) else { throw NeedleError.last() }
            return takeString(s)
        }
        return try decodeResult(json, "needle_run_json")
    }

    /// Streams the answer: `onToken` runs on the calling thread for every generated token,
    /// in order, with its id and text; it returns false to stop after that token. Returns
    /// the same structured `Result` as `run` (the answer so far, with stop `.callback`, if
    /// stopped). An error thrown by `onToken` stops generation and is rethrown.
    public func runStream(_ query: String, tools: String, options: RunOptions = RunOptions(),
                          onToken: (UInt32, String) throws -> Bool) throws -> Result {
        try checkNoNUL(query, "query")
        try checkNoNUL(tools, "tools")
        return try withoutActuallyEscaping(onToken) { fn in
            let box = StreamBox(fn)
            let context = Unmanaged.passUnretained(box).toOpaque()
            let json: String = try withOptions(options) { opts in
                let s = needle_run_stream_json(handle, query, tools, opts, { id, piece, userData in
                    Unmanaged<StreamBox>.fromOpaque(userData!).takeUnretainedValue().call(id, piece)
                }, context)
                guard let s else {
                    let failure = NeedleError.last()
                    throw box.error ?? failure
                }
                return takeString(s)
            }
            withExtendedLifetime(box) {}
            if let error = box.error { throw error }
            return try decodeResult(json, "needle_run_stream_json")
        }
    }

    /// Answers several (query, tools) pairs in parallel (`options.threads`) and returns
    /// their structured results in order, each the `Result` `run` gives for that item. If
    /// an item fails, the error names its index.
    public func runBatch(_ items: [(query: String, tools: String)], options: RunOptions = RunOptions()) throws -> [Result] {
        if items.isEmpty { return [] }
        for (i, item) in items.enumerated() {
            try checkNoNUL(item.query, "item \(i): query")
            try checkNoNUL(item.tools, "item \(i): tools")
        }
        let queries = items.map { strdup($0.query) }
        let tools = items.map { strdup($0.tools) }
        defer {
            queries.forEach { free($0) }
            tools.forEach { free($0) }
        }
        let cQueries = queries.map { UnsafePointer($0) }
        let cTools = tools.map { UnsafePointer($0) }
        var outs = [UnsafeMutablePointer<CChar>?](repeating: nil, count: items.count)
        try withOptions(options) { opts in
            try check(needle_run_batch_json(handle, cQueries, cTools, items.count, opts, &outs))
        }
        let jsons = outs.map { takeString($0!) }
        return try jsons.enumerated().map { try decodeResult($0.element, "needle_run_batch_json item \($0.offset)") }
    }

    /// The confidence head's probability that `completion` (the model's output text, e.g.
    /// `<tool_call>[…]</tool_call>`) answers `query` with `tools` (v2/v3 files with the
    /// head; `.unsupported` otherwise). The prompt uses `options.system`.
    public func confidence(_ query: String, tools: String, completion: String,
                           options: RunOptions = RunOptions()) throws -> Float {
        try checkNoNUL(query, "query")
        try checkNoNUL(tools, "tools")
        try checkNoNUL(completion, "completion")
        var out: Float = 0
        try withOptions(options) { opts in
            try check(needle_confidence(handle, query, tools, completion, opts, &out))
        }
        return out
    }

    /// Width of the contrastive head; 0 if the model has none (as the published weights).
    public var contrastiveDim: Int { needle_contrastive_dim(handle) }

    /// The L2-normalised embedding of `text`; `.unsupported` without a contrastive head.
    public func encodeContrastive(_ text: String) throws -> [Float] {
        try checkNoNUL(text, "text")
        let dim = contrastiveDim
        var out = [Float](repeating: 0, count: max(dim, 1))
        try check(needle_encode_contrastive(handle, text, &out, dim))
        return Array(out.prefix(dim))
    }

    /// Ranks tool descriptions by similarity to `query`, best first, at most `topK`.
    public func retrieveTools(_ query: String, descriptions: [String], topK: Int) throws -> [ToolMatch] {
        guard topK >= 0 else { throw NeedleError.invalidArgument("invalid argument: topK is negative") }
        try checkNoNUL(query, "query")
        for (i, d) in descriptions.enumerated() { try checkNoNUL(d, "description \(i)") }
        if descriptions.isEmpty { return [] }
        let k = min(topK, descriptions.count)
        let descs = descriptions.map { strdup($0) }
        defer { descs.forEach { free($0) } }
        let cDescs = descs.map { UnsafePointer($0) }
        var indices = [Int](repeating: 0, count: max(k, 1))
        var scores = [Float](repeating: 0, count: max(k, 1))
        var count = 0
        try check(needle_retrieve_tools(handle, query, cDescs, descriptions.count, k, &indices, &scores, &count))
        return (0..<count).map { ToolMatch(index: indices[$0], score: scores[$0]) }
    }

    /// Runs `body` with a needle_options object set from `options`.
    private func withOptions<T>(_ options: RunOptions, _ body: (OpaquePointer?) throws -> T) throws -> T {
        guard let opts = needle_options_new() else {
            throw NeedleError.internal("internal error: needle_options_new returned NULL")
        }
        defer { needle_options_free(opts) }
        if let n = options.maxNewTokens { try check(needle_options_set_max_new_tokens(opts, n)) }
        try check(needle_options_set_constrained(opts, options.constrained))
        try check(needle_options_set_strict(opts, options.strict))
        if let t = options.threads { try check(needle_options_set_threads(opts, t)) }
        if let system = options.system {
            try checkNoNUL(system, "system prompt")
            try check(needle_options_set_system(opts, system))
        }
        return try body(opts)
    }
}

/// Runs `body` with a needle_load_options object for `depth` (nil: no options object).
private func withLoadOptions<T>(_ depth: Int?, _ body: (OpaquePointer?) throws -> T) throws -> T {
    guard let depth else { return try body(nil) }
    guard let d = UInt32(exactly: depth) else {
        throw NeedleError.invalidArgument("invalid argument: depth \(depth) out of range")
    }
    guard let lo = needle_load_options_new() else {
        throw NeedleError.internal("internal error: needle_load_options_new returned NULL")
    }
    defer { needle_load_options_free(lo) }
    try check(needle_load_options_set_depth(lo, d))
    return try body(lo)
}

/// Runs `body` with `s` as a C string, or NULL when `s` is nil.
private func withOptionalCString<T>(_ s: String?, _ body: (UnsafePointer<CChar>?) throws -> T) rethrows -> T {
    guard let s else { return try body(nil) }
    return try s.withCString { try body($0) }
}

/// Decodes one structured result JSON of libneedle.
private func decodeResult(_ json: String, _ what: String) throws -> Result {
    do {
        return try JSONDecoder().decode(Result.self, from: Data(json.utf8))
    } catch {
        throw NeedleError.internal("internal error: cannot parse \(what) output: \(error)")
    }
}

/// Holds a streaming closure for the C callback; records what it throws.
private final class StreamBox {
    let fn: (UInt32, String) throws -> Bool
    var error: Error?

    init(_ fn: @escaping (UInt32, String) throws -> Bool) { self.fn = fn }

    func call(_ id: UInt32, _ piece: UnsafePointer<CChar>?) -> Bool {
        do {
            return try fn(id, piece.map { String(cString: $0) } ?? "")
        } catch {
            self.error = error
            return false
        }
    }
}

/// Throws the thread's last error if `status` is not NEEDLE_OK (call right after the call).
private func check(_ status: needle_status) throws {
    if status != NEEDLE_OK { throw NeedleError.last() }
}

/// Copies and frees a string returned by libneedle.
private func takeString(_ s: UnsafeMutablePointer<CChar>) -> String {
    defer { needle_free_str(s) }
    return String(cString: s)
}

/// C strings end at the first NUL: reject strings that contain one instead of cutting them.
private func checkNoNUL(_ s: String, _ what: String) throws {
    if s.utf8.contains(0) { throw NeedleError.invalidArgument("invalid argument: \(what) contains a NUL byte") }
}
