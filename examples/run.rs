//! Answer one query with libneedle from Rust.
//!
//!     cargo run --release --example run -- <needle.safetensors> <vocab.txt> "<query>" <tools.json>
//!
//! Prints the call JSON, then the structured result (calls, token ids, timing).
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: {} <needle.safetensors> <vocab.txt> <query> <tools.json | inline JSON>", args[0]);
        std::process::exit(2);
    }
    let tools = if args[4].trim_start().starts_with(['[', '{']) {
        args[4].clone()
    } else {
        std::fs::read_to_string(&args[4]).unwrap_or_else(|e| {
            eprintln!("error: cannot read tools file {}: {e}", args[4]);
            std::process::exit(1)
        })
    };
    let t0 = Instant::now();
    let engine = needle::Engine::load(&args[1], &args[2]).unwrap_or_else(|e| {
        eprintln!("error: {e}");
        std::process::exit(1)
    });
    let t1 = Instant::now();
    match engine.run(&args[3], &tools) {
        Ok(r) => {
            let t2 = Instant::now();
            println!("{}", r.text);
            eprintln!("{}", r.to_json());
            eprintln!(
                "load {:.1} ms, run {:.1} ms ({} encoder tokens, {} generated, kernels: {})",
                (t1 - t0).as_secs_f64() * 1e3,
                (t2 - t1).as_secs_f64() * 1e3,
                r.encoder_tokens,
                r.token_ids.len(),
                needle::kernels::isa_name()
            );
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
