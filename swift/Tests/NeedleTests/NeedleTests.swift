import CNeedle
import Foundation
import XCTest
@testable import Needle

/// Needs libneedle installed (PKG_CONFIG_PATH, LD_LIBRARY_PATH) and the synthetic models in
/// target/test-models (python3 tools/make_model.py --preset tiny / tiny-head), or
/// NEEDLE_TEST_MODELS pointing at them.
final class NeedleTests: XCTestCase {
    static let repo = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()
    static let models = ProcessInfo.processInfo.environment["NEEDLE_TEST_MODELS"]
        ?? repo.appendingPathComponent("target/test-models").path
    static let vocab = repo.appendingPathComponent("tests/fixtures/vocab/vocab.txt").path
    static let tools = #"[{"name":"getWeather","description":"Weather for a city","parameters":{"city":{"type":"string"}}},"#
        + #"{"name":"send_message","parameters":{"to":{"type":"string"},"body":{"type":"string"}}}]"#
    static let queries = ["What's the weather in Paris?", "Text Bob that I am late",
                          "Set a timer for ten minutes", "Weather in Tokyo, please"]

    func model(_ preset: String) -> String { "\(Self.models)/\(preset).safetensors" }

    func engine(_ preset: String = "tiny") throws -> Engine {
        try Engine(weights: model(preset), vocab: Self.vocab)
    }

    func testBundledDemoModel() throws {
        let demo = Self.repo.appendingPathComponent("models/needle-demo")
        let engine = try Engine(weights: demo.appendingPathComponent("needle.safetensors").path,
                                vocab: demo.appendingPathComponent("vocab.txt").path)
        let tools = try String(contentsOf: Self.repo.appendingPathComponent("examples/tools.json"), encoding: .utf8)
        let r = try engine.run("What's the weather in Paris?", tools: tools)
        XCTAssertEqual(r.text, #"[{"name":"get_weather","arguments":{"city":"Paris"}}]"#)
        XCTAssertEqual(r.calls?.first?.name, "get_weather")
    }

    func testVersion() {
        XCTAssertEqual(Engine.version.split(separator: ".").count, 3)
    }

    func testRunAndLoadFromMemory() throws {
        let e = try engine()
        let data = try Data(contentsOf: URL(fileURLWithPath: model("tiny")))
        let text = try String(contentsOfFile: Self.vocab, encoding: .utf8)
        let m = try Engine(weightsData: data, vocabText: text)
        for q in Self.queries {
            let a = try e.run(q, tools: Self.tools)
            XCTAssertEqual(a, try m.run(q, tools: Self.tools))
            XCTAssertFalse(a.tokenIDs.isEmpty)
            XCTAssertGreaterThan(a.encoderTokens, 0)
        }
        let none = try e.run(Self.queries[0], tools: Self.tools, options: RunOptions(maxNewTokens: 0))
        XCTAssertEqual(none.tokenIDs, [])
        XCTAssertEqual(none.stop, .maxTokens)
        XCTAssertTrue(try e.configJSON().contains("\"d_model\":64"))
    }

    func testErrors() throws {
        XCTAssertThrowsError(try Engine(weights: "/nonexistent/needle.safetensors", vocab: Self.vocab)) { error in
            guard case NeedleError.io(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("/nonexistent/needle.safetensors"))
        }
        XCTAssertThrowsError(try Engine(weights: Self.vocab, vocab: Self.vocab)) { error in
            XCTAssertEqual((error as? NeedleError)?.status, NEEDLE_ERR_INVALID_WEIGHTS)
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: model("tiny")))
        XCTAssertThrowsError(try Engine(weightsData: data, vocabText: "a\nb\n")) { error in
            guard case NeedleError.invalidVocab = error else { return XCTFail("\(error)") }
        }
        let e = try engine()
        XCTAssertThrowsError(try e.run("q", tools: "[{\"name\":")) { error in
            guard case NeedleError.invalidTools(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("JSON"))
        }
        XCTAssertThrowsError(try e.run("a\0b", tools: Self.tools)) { error in
            XCTAssertEqual((error as? NeedleError)?.status, NEEDLE_ERR_INVALID_ARGUMENT)
        }
        XCTAssertThrowsError(try e.encodeContrastive("x")) { error in
            guard case NeedleError.unsupported = error else { return XCTFail("\(error)") }
        }
        _ = try e.run("q", tools: Self.tools) // still usable
    }

    func testStreaming() throws {
        let e = try engine()
        let full = try e.run(Self.queries[1], tools: Self.tools)
        var ids: [UInt32] = []
        let text = try e.runStream(Self.queries[1], tools: Self.tools) { id, _ in
            ids.append(id)
            return true
        }
        XCTAssertEqual(text, full.text)
        XCTAssertEqual(ids, full.tokenIDs)
        var first: [UInt32] = []
        _ = try e.runStream(Self.queries[1], tools: Self.tools) { id, _ in
            first.append(id)
            return first.count < 2
        }
        XCTAssertEqual(first, Array(full.tokenIDs.prefix(2)))
        struct Stop: Error {}
        XCTAssertThrowsError(try e.runStream(Self.queries[1], tools: Self.tools) { _, _ in throw Stop() }) { error in
            XCTAssertTrue(error is Stop)
        }
    }

    func testBatch() throws {
        let e = try engine()
        let items = Self.queries.map { (query: $0, tools: Self.tools) }
        let want = try Self.queries.map { try e.run($0, tools: Self.tools).text }
        for threads in [UInt32(0), 1, 2] {
            XCTAssertEqual(try e.runBatch(items, options: RunOptions(threads: threads)), want)
        }
        var bad = items
        bad[2].tools = "{oops"
        XCTAssertThrowsError(try e.runBatch(bad)) { error in
            guard case NeedleError.invalidTools(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("item 2"))
        }
    }

    func testContrastive() throws {
        let h = try engine("tiny-head")
        XCTAssertEqual(h.contrastiveDim, 32)
        let emb = try h.encodeContrastive("book a flight")
        XCTAssertEqual(emb.count, 32)
        XCTAssertEqual(emb.reduce(0) { $0 + Double($1) * Double($1) }, 1, accuracy: 1e-3)
        let ranked = try h.retrieveTools("weather in Rome", descriptions: ["weather forecast", "send an email", "play a song"], topK: 2)
        XCTAssertEqual(ranked.count, 2)
        XCTAssertNotEqual(ranked[0].index, ranked[1].index)
        XCTAssertGreaterThanOrEqual(ranked[0].score, ranked[1].score)
    }

    func testThreads() throws {
        let e = try engine()
        let want = try Self.queries.map { try e.run($0, tools: Self.tools) }
        let lock = NSLock()
        var failures = 0
        DispatchQueue.concurrentPerform(iterations: 16) { i in
            for k in 0..<4 {
                let j = (i + k) % Self.queries.count
                let ok = (try? e.run(Self.queries[j], tools: Self.tools)) == want[j]
                // each thread's errors stay its own
                let err = (try? e.run("q", tools: "[")) == nil
                lock.lock()
                if !ok || !err { failures += 1 }
                lock.unlock()
            }
        }
        XCTAssertEqual(failures, 0)
    }
}
