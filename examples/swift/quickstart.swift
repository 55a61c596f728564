// The README's Swift example (main.swift of an executable that depends on the Needle library),
// run from the repository root. Checked statically by tools/check_swift.py.
import Needle

let engine = try Engine(weights: "models/needle-demo/needle.safetensors", vocab: "models/needle-demo/vocab.txt") // freed in deinit
let tools = #"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#
let r = try engine.run("What's the weather in Paris?", tools: tools)
print(r.text)                                       // [{"name":"get_weather","arguments":{"city":"Paris"}}]
print(r.calls ?? [], r.tokenIDs, r.stop)            // calls: [Call(name:, arguments: [String: JSONValue])]?

let opts = RunOptions(maxNewTokens: 64, constrained: true)
let text = try engine.runStream("Weather in Oslo?", tools: tools, options: opts) { id, piece in
    print(piece, terminator: ""); return true       // false stops; a thrown error stops and is rethrown
}
let texts = try engine.runBatch([("Weather in Rome?", tools), ("Weather in Lima?", tools)],
                                options: RunOptions(threads: 2))
if engine.contrastiveDim > 0 {
    let ranked = try engine.retrieveTools("book a flight", descriptions: ["flights", "weather"], topK: 1)
}
do { _ = try engine.run("q", tools: #"[{"name": 42}]"#) }
catch NeedleError.invalidTools(let message) { print(message) }  // one case per needle_status
