// The README's Swift example (main.swift of an executable that depends on the Needle library),
// run from the repository root. Checked statically by tools/check_wrappers.py.
import Needle

let engine = try Engine(weights: "models/needle-demo/needle.safetensors", vocab: "models/needle-demo/vocab.txt") // freed in deinit
let tools = #"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#
var r = try engine.run("What's the weather in Paris?", tools: tools)
print(r.text)                                       // [{"name":"get_weather","arguments":{"city":"Paris"}}]
print(r.calls ?? [], r.tokenIDs, r.stop)            // calls: [Call(name:, arguments: [String: JSONValue])]?
print(engine.generation, r.promptTokens)            // 1 (v1), prompt length in tokens

let opts = RunOptions(maxNewTokens: 64, constrained: true)
r = try engine.runStream("Weather in Oslo?", tools: tools, options: opts) { id, piece in
    print(piece, terminator: ""); return true       // false stops (r.stop == .callback); a thrown error stops and is rethrown
}
let results = try engine.runBatch([("Weather in Rome?", tools), ("Weather in Lima?", tools)],
                                  options: RunOptions(threads: 2))  // [Result], in order
if engine.contrastiveDim > 0 {
    let ranked = try engine.retrieveTools("book a flight", descriptions: ["flights", "weather"], topK: 1)
}
do { _ = try engine.run("q", tools: #"[{"name": 42}]"#) }
catch NeedleError.invalidTools(let message) { print(message) }  // one case per needle_status

// Needle v2/v3: a .cact carries its tokenizer (vocab nil). This small v3 file of the test
// fixtures has random weights (gibberish answers); the real model is needle3.cact.
let v3 = try Engine(path: "tests/fixtures/v3/tiny.cact", vocab: nil, depth: nil)  // depth: v3 ladder
r = try v3.run("What's the weather in Paris?", tools: tools,
               options: RunOptions(maxNewTokens: 8, system: "Be brief."))
print(v3.generation, r.stop, r.confidence ?? 0, r.reasoning ?? "")  // stop also .imEnd, .maxSeqLen
let p = try v3.confidence("What's the weather in Paris?", tools: tools,
                          completion: #"<tool_call>[{"name":"get_weather","arguments":{"city":"Paris"}}]</tool_call>"#)
