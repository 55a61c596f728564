import CNeedle

/// A failed libneedle call: one case per non-OK `needle_status` in needle.h, each with
/// libneedle's message (which names the argument, file, tool or field at fault).
public enum NeedleError: Error, Equatable, CustomStringConvertible {
    /// NULL/empty where a value is required, a wrong size, a string with a NUL byte.
    case invalidArgument(String)
    /// A file could not be read.
    case io(String)
    /// The weights file is malformed or inconsistent.
    case invalidWeights(String)
    /// The vocabulary is malformed or does not fit the weights.
    case invalidVocab(String)
    /// The tools JSON is invalid.
    case invalidTools(String)
    /// A string argument is not valid UTF-8.
    case invalidUTF8(String)
    /// The model lacks a part the call needs (e.g. the contrastive head).
    case unsupported(String)
    /// Generation was cancelled.
    case cancelled(String)
    /// An internal error in libneedle (a bug); also a status this wrapper does not know.
    case `internal`(String)

    /// Maps a status and message; `NEEDLE_OK` and unknown values become `.internal`.
    init(status: needle_status, message: String) {
        switch status {
        case NEEDLE_ERR_INVALID_ARGUMENT: self = .invalidArgument(message)
        case NEEDLE_ERR_IO: self = .io(message)
        case NEEDLE_ERR_INVALID_WEIGHTS: self = .invalidWeights(message)
        case NEEDLE_ERR_INVALID_VOCAB: self = .invalidVocab(message)
        case NEEDLE_ERR_INVALID_TOOLS: self = .invalidTools(message)
        case NEEDLE_ERR_INVALID_UTF8: self = .invalidUTF8(message)
        case NEEDLE_ERR_UNSUPPORTED: self = .unsupported(message)
        case NEEDLE_ERR_CANCELLED: self = .cancelled(message)
        case NEEDLE_ERR_INTERNAL: self = .internal(message)
        default: self = .internal("status \(status.rawValue): \(message)")
        }
    }

    /// The error of the last failed libneedle call on this thread. Call it right after the
    /// failing call, before any other libneedle call (the slot is per thread and is reset
    /// by the next call).
    static func last() -> NeedleError {
        let message = needle_last_error().map { String(cString: $0) } ?? "no message"
        return NeedleError(status: needle_last_status(), message: message)
    }

    /// The libneedle status of this error.
    public var status: needle_status {
        switch self {
        case .invalidArgument: return NEEDLE_ERR_INVALID_ARGUMENT
        case .io: return NEEDLE_ERR_IO
        case .invalidWeights: return NEEDLE_ERR_INVALID_WEIGHTS
        case .invalidVocab: return NEEDLE_ERR_INVALID_VOCAB
        case .invalidTools: return NEEDLE_ERR_INVALID_TOOLS
        case .invalidUTF8: return NEEDLE_ERR_INVALID_UTF8
        case .unsupported: return NEEDLE_ERR_UNSUPPORTED
        case .cancelled: return NEEDLE_ERR_CANCELLED
        case .internal: return NEEDLE_ERR_INTERNAL
        }
    }

    /// libneedle's message, e.g. "invalid tools JSON: tools[0].name must be ...".
    public var message: String {
        switch self {
        case .invalidArgument(let m), .io(let m), .invalidWeights(let m), .invalidVocab(let m),
             .invalidTools(let m), .invalidUTF8(let m), .unsupported(let m), .cancelled(let m),
             .internal(let m):
            return m
        }
    }

    public var description: String { "needle: \(message)" }
}
