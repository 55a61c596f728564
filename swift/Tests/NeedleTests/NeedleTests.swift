import CNeedle
import Foundation
import XCTest
@testable import Needle

/// Needs libneedle installed (PKG_CONFIG_PATH, LD_LIBRARY_PATH) and the synthetic models in
/// target/test-models (python3 tools/make_model.py --preset tiny / tiny-head), or
/// NEEDLE_TEST_MODELS pointing at them; the v2/v3 tests use tests/fixtures/{v2,v3}/tiny.cact.
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
    func cact(_ gen: String) -> String { Self.repo.appendingPathComponent("tests/fixtures/\(gen)/tiny.cact").path }

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

    func testStrictMode() throws {
        // Strict schema mode: even a random model answers with a parsed call list.
        let e = try engine()
        for q in Self.queries {
            let r = try e.run(q, tools: Self.tools, options: RunOptions(maxNewTokens: 24, strict: true))
            XCTAssertNotNil(r.calls, r.text)
        }
        XCTAssertEqual(try e.run(Self.queries[0], tools: Self.tools, options: RunOptions(strict: false)),
                       try e.run(Self.queries[0], tools: Self.tools))
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
        let streamed = try e.runStream(Self.queries[1], tools: Self.tools) { id, _ in
            ids.append(id)
            return true
        }
        XCTAssertEqual(streamed, full)
        XCTAssertEqual(ids, full.tokenIDs)
        var first: [UInt32] = []
        let early = try e.runStream(Self.queries[1], tools: Self.tools) { id, _ in
            first.append(id)
            return first.count < 2
        }
        XCTAssertEqual(first, Array(full.tokenIDs.prefix(2)))
        XCTAssertEqual(early.tokenIDs, first)
        XCTAssertEqual(early.stop, .callback)
        struct Stop: Error {}
        XCTAssertThrowsError(try e.runStream(Self.queries[1], tools: Self.tools) { _, _ in throw Stop() }) { error in
            XCTAssertTrue(error is Stop)
        }
    }

    func testBatch() throws {
        let e = try engine()
        let items = Self.queries.map { (query: $0, tools: Self.tools) }
        let want = try Self.queries.map { try e.run($0, tools: Self.tools) }
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

    func testCactLoadGenerationAndErrors() throws {
        for (gen, n) in [("v3", 3), ("v2", 2)] {
            let e = try Engine(path: cact(gen))
            XCTAssertEqual(e.generation, n)
            let cfg = try e.configJSON()
            XCTAssertTrue(cfg.contains("\"generation\":\(n)") && cfg.contains("\"confidence_head\":true"), cfg)
            let data = try Data(contentsOf: URL(fileURLWithPath: cact(gen)))
            let m = try Engine(data: data)
            let opts = RunOptions(maxNewTokens: 6)
            XCTAssertEqual(try e.run(Self.queries[0], tools: Self.tools, options: opts),
                           try m.run(Self.queries[0], tools: Self.tools, options: opts))
        }
        XCTAssertEqual(try engine().generation, 1)
        XCTAssertThrowsError(try Engine(path: cact("v3"), vocab: Self.vocab)) { error in
            guard case NeedleError.invalidArgument(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("carries its own tokenizer"), message)
        }
        XCTAssertThrowsError(try Engine(path: model("tiny"))) { error in
            guard case NeedleError.invalidArgument(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("vocab.txt"), message)
        }
        for depth in [1, 1000, -1] {
            XCTAssertThrowsError(try Engine(path: cact("v3"), depth: depth)) { error in
                XCTAssertEqual((error as? NeedleError)?.status, NEEDLE_ERR_INVALID_ARGUMENT)
            }
        }
        XCTAssertThrowsError(try Engine(path: cact("v2"), depth: 2))
        XCTAssertThrowsError(try Engine(path: model("tiny"), vocab: Self.vocab, depth: 2))
        XCTAssertThrowsError(try engine().confidence("q", tools: Self.tools, completion: "x")) { error in
            guard case NeedleError.unsupported = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try Engine(path: cact("v3")).run("q", tools: Self.tools, options: RunOptions(system: "a\0b"))) { error in
            XCTAssertEqual((error as? NeedleError)?.status, NEEDLE_ERR_INVALID_ARGUMENT)
        }
    }

    func testCactDepth() throws {
        let full = try Engine(path: cact("v3"))
        let d2 = try Engine(path: cact("v3"), depth: 2)
        XCTAssertEqual(d2.generation, 3)
        XCTAssertTrue(try d2.configJSON().contains("\"num_layers\":2"))
        let data = try Data(contentsOf: URL(fileURLWithPath: cact("v3")))
        let d2b = try Engine(data: data, depth: 2)
        let opts = RunOptions(maxNewTokens: 8)
        var differs = false
        for q in Self.queries {
            let a = try d2.run(q, tools: Self.tools, options: opts)
            XCTAssertEqual(a, try d2b.run(q, tools: Self.tools, options: opts))
            let f = try full.run(q, tools: Self.tools, options: opts)
            differs = differs || a.tokenIDs != f.tokenIDs
        }
        XCTAssertTrue(differs)
    }

    func testCactResultStreamBatchConfidence() throws {
        for gen in ["v3", "v2"] {
            let e = try Engine(path: cact(gen))
            let opts = RunOptions(maxNewTokens: 10, system: "Answer with a tool call.")
            let plain = try e.run(Self.queries[0], tools: Self.tools, options: RunOptions(maxNewTokens: 10))
            XCTAssertGreaterThan(plain.promptTokens, 10)
            XCTAssertEqual(plain.promptTokens, plain.encoderTokens)
            XCTAssertFalse(plain.promptTruncated)
            let c = try XCTUnwrap(plain.confidence)
            XCTAssertTrue(c > 0 && c < 1)
            XCTAssertTrue([StopReason.eos, .maxTokens, .imEnd, .maxSeqLen].contains(plain.stop))
            var want: [Result] = []
            for q in Self.queries {
                let r = try e.run(q, tools: Self.tools, options: opts)
                XCTAssertGreaterThan(r.promptTokens, plain.promptTokens - 1)
                var ids: [UInt32] = []
                let streamed = try e.runStream(q, tools: Self.tools, options: opts) { id, _ in
                    ids.append(id)
                    return true
                }
                XCTAssertEqual(streamed, r)
                XCTAssertEqual(ids, r.tokenIDs)
                want.append(r)
            }
            XCTAssertGreaterThan(want[0].promptTokens, plain.promptTokens)
            let items = Self.queries.map { (query: $0, tools: Self.tools) }
            XCTAssertEqual(try e.runBatch(items, options: opts), want)
            let good = #"<tool_call>[{"name":"getWeather","arguments":{"city":"Paris"}}]</tool_call>"#
            let p = try e.confidence(Self.queries[0], tools: Self.tools, completion: good)
            XCTAssertTrue(p > 0 && p < 1)
            XCTAssertNotEqual(p, try e.confidence(Self.queries[0], tools: Self.tools, completion: "<tool_call>[]</tool_call>"))
        }
    }
}
