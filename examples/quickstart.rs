// The README's Rust example. From the repository root: cargo run --release --example quickstart
use needle::{Engine, LoadOptions, RunOptions};

fn main() -> Result<(), needle::Error> {
    // The demo model bundled in models/needle-demo/ (memory-mapped, ~15 ms).
    let engine = Engine::load("models/needle-demo/needle.safetensors", "models/needle-demo/vocab.txt")?;
    let tools = r#"[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]"#;

    let r = engine.run("What's the weather in Paris?", tools)?;
    println!("{}", r.text); // [{"name":"get_weather","arguments":{"city":"Paris"}}]
    // Parsed calls (None if the text is not a call list).
    for call in r.calls.iter().flatten() {
        println!("{} {:?}", call.name, call.arguments);
    }
    println!("{:?}", r.token_ids); // generated ids (what parity compares)

    // Options: token budget, constrained decoding on/off.
    let opts = RunOptions::default().max_new_tokens(64).constrained(true);
    engine.run_with("What's the weather in Oslo?", tools, &opts)?;

    // Streaming: the callback sees every token id and its text; return false to stop.
    engine.run_stream("Weather in Oslo?", tools, &opts, |_id, piece| {
        print!("{piece}");
        true
    })?;
    println!();

    // Batch (parallel on all cores; `run_batch_with(.., threads)` to choose), shared across threads.
    let results = engine.run_batch(&[("Weather in Rome?", tools), ("Weather in Lima?", tools)]);
    println!("{} answers", results.len());

    // Retrieval (models with a contrastive head only; the published weights have none).
    if engine.contrastive_dim() > 0 {
        let ranked = engine.retrieve_tools("book a flight", &["flights", "weather", "music"], 2)?;
        println!("{ranked:?}");
    }

    // Needle v2/v3: a .cact carries its tokenizer, and `Engine::open` reads the generation
    // from the file. Here the repository's small random-weight v3 test file (gibberish text,
    // real fields); the published needle3.cact answers for real.
    let v3 = Engine::open("tests/fixtures/v3/tiny.cact")?;
    let opts = RunOptions::default().max_new_tokens(16).system("You call tools.");
    let r = v3.run_with("What's the weather in Paris?", tools, &opts)?;
    println!("v{} {:?} {:?} {:?}", v3.generation(), r.stop, r.reasoning, r.confidence);
    let call = r#"[{"name":"get_weather","arguments":{"city":"Paris"}}]"#;
    println!("{:?}", v3.confidence("What's the weather in Paris?", tools, call, &opts)?);
    // The v3 ladder: keep 2 of the file's blocks (smaller, faster).
    let small = Engine::open_with("tests/fixtures/v3/tiny.cact", &LoadOptions::default().depth(2))?;
    println!("{} layers", small.geometry()["num_layers"]);
    Ok(())
}
