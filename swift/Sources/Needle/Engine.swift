import CNeedle
import Foundation

/// Per-call settings (the defaults: the model's max_dec_len tokens, constrained decoding
/// on, all cores for `runBatch`).
public struct RunOptions: Sendable, Equatable {
    /// Most tokens to generate (nil: the model's max_dec_len; larger values are clamped).
    public var maxNewTokens: UInt32?
    /// Constrained decoding of tool names and argument keys.
    public var constrained: Bool
    /// Worker threads of `runBatch` (nil or 0: all cores; 1: the calling thread only).
    public var threads: UInt32?

    public init(maxNewTokens: UInt32? = nil, constrained: Bool = true, threads: UInt32? = nil) {
        self.maxNewTokens = maxNewTokens
        self.constrained = constrained
        self.threads = threads
    }
}

/// Why generation ended.
public enum StopReason: String, Decodable, Sendable {
    case eos
    case maxTokens = "max_tokens"
    case callback
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

/// The structured answer of `Engine.run` (needle_run_json).
public struct Result: Decodable, Equatable, Sendable {
    /// The parsed calls; nil when `text` is not a valid call list.
    public let calls: [Call]?
    /// The answer, e.g. `[{"name":"get_weather","arguments":{"city":"Paris"}}]`.
    public let text: String
    /// The generated token ids.
    public let tokenIDs: [UInt32]
    /// Length of the encoder input (query + tools) in tokens.
    public let encoderTokens: Int
    /// Why generation ended.
    public let stop: StopReason

    enum CodingKeys: String, CodingKey {
        case calls, text, stop
        case tokenIDs = "token_ids"
        case encoderTokens = "encoder_tokens"
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

    /// Loads `weights` (needle.safetensors, memory-mapped) and `vocab` (vocab.txt).
    public init(weights: String, vocab: String) throws {
        try checkNoNUL(weights, "weights path")
        try checkNoNUL(vocab, "vocab path")
        guard let h = needle_load(weights, vocab) else { throw NeedleError.last() }
        handle = h
    }

    /// Loads from memory: the bytes of needle.safetensors (copied) and the text of vocab.txt.
    public init(weightsData: Data, vocabText: String) throws {
        let vocabLength = vocabText.utf8.count
        let h: OpaquePointer? = weightsData.withUnsafeBytes { (w: UnsafeRawBufferPointer) -> OpaquePointer? in
            vocabText.withCString { (v: UnsafePointer<CChar>) -> OpaquePointer? in
                needle_load_bytes(w.bindMemory(to: UInt8.self).baseAddress, w.count, v, vocabLength)
            }
        }
        guard let h else { throw NeedleError.last() }
        handle = h
    }

    deinit {
        needle_free(handle)
    }

    /// The model configuration as JSON (d_model, heads, layers, vocab_size, ...).
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
        do {
            return try JSONDecoder().decode(Result.self, from: Data(json.utf8))
        } catch {
            throw NeedleError.internal("internal error: cannot parse needle_run_json output: \(error)")
        }
    }

    /// Streams the answer: `onToken` runs on the calling thread for every generated token,
    /// in order, with its id and text; it returns false to stop after that token. Returns
    /// the answer text (the text so far if stopped). An error thrown by `onToken` stops
    /// generation and is rethrown.
    public func runStream(_ query: String, tools: String, options: RunOptions = RunOptions(),
                          onToken: (UInt32, String) throws -> Bool) throws -> String {
        try checkNoNUL(query, "query")
        try checkNoNUL(tools, "tools")
        return try withoutActuallyEscaping(onToken) { fn in
            let box = StreamBox(fn)
            let context = Unmanaged.passUnretained(box).toOpaque()
            let text: String = try withOptions(options) { opts in
                let s = needle_run_stream(handle, query, tools, opts, { id, piece, userData in
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
            return text
        }
    }

    /// Answers several (query, tools) pairs in parallel (`options.threads`) and returns
    /// the answer texts in order. If an item fails, the error names its index.
    public func runBatch(_ items: [(query: String, tools: String)], options: RunOptions = RunOptions()) throws -> [String] {
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
            try check(needle_run_batch(handle, cQueries, cTools, items.count, opts, &outs))
        }
        return outs.map { takeString($0!) }
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
        if let t = options.threads { try check(needle_options_set_threads(opts, t)) }
        return try body(opts)
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
