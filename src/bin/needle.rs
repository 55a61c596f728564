//! `needle`: command-line front end of libneedle.
//!
//! ```text
//! needle run "What's the weather in Paris?" --tools examples/tools.json
//! needle info
//! needle tokenize "Hello world"
//! ```
//!
//! Without `--weights`/`--vocab` it uses the demo model bundled in the repository
//! (`models/needle-demo/`). Exit codes: 0 success, 1 runtime or model error, 2 usage error;
//! every error is one line on stderr.

use needle::{Engine, RunOptions};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

const USAGE: &str = "\
needle - run the Needle v1 tool-calling model (libneedle)

Usage:
  needle run [OPTIONS] <QUERY>    answer QUERY with the given tools, print the call JSON
  needle info [OPTIONS]           print the model's metadata
  needle tokenize [OPTIONS] <TEXT>  print the token ids and pieces of TEXT
  needle help                     print this help (also -h, --help)
  needle version                  print the version (also -V, --version)

Options for run:
  --tools FILE         tools JSON from FILE ('-' reads standard input)
  --tools-json JSON    tools JSON given inline
  --stream             write each token's text to stderr as it is generated
  --json               print the structured result: calls, text, token ids, timings
  --max-tokens N       generate at most N tokens (default: v1 the model's max_dec_len, at most 512,
                       v2 128, v3 256; upper bound: what the sequence limit leaves)
  --no-constrain       do not constrain tool names and argument keys to the given tools
  --strict             strict schema mode: the answer always parses and matches the tools' schemas
  --system TEXT        a system prompt (Needle v2/v3)
  --depth N            Needle v3: run the ladder rung of N blocks (2 ... the file's layers)
Options for every command:
  --weights FILE       needle.safetensors to load (default: the bundled demo model, or $NEEDLE_WEIGHTS)
  --vocab FILE         vocab.txt to load (default: the bundled demo vocabulary, or $NEEDLE_VOCAB)
  --json               (info, tokenize) print JSON
  --                   end of options (for a query that starts with '-')

Tools JSON: an array of tools or one tool, flat ({\"name\",\"description\",\"parameters\":{...}})
or OpenAI style ({\"type\":\"function\",\"function\":{...}}).

Example:
  needle run \"What's the weather in Paris?\" --tools examples/tools.json
  -> [{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}]

Exit status: 0 success, 1 runtime or model error, 2 usage error.
";

/// A failure: exit code + one-line message.
struct Fail(u8, String);

fn usage_err(msg: impl Into<String>) -> Fail {
    Fail(2, format!("{} (see 'needle --help')", msg.into()))
}

fn bundled(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join("needle-demo").join(file)
}

#[derive(Default)]
struct Args {
    command: String,
    positional: Vec<String>,
    weights: Option<PathBuf>,
    vocab: Option<PathBuf>,
    tools_file: Option<String>,
    tools_json: Option<String>,
    stream: bool,
    json: bool,
    max_tokens: Option<usize>,
    depth: Option<usize>,
    system: Option<String>,
    no_constrain: bool,
    strict: bool,
}

fn parse(argv: Vec<String>) -> Result<Args, Fail> {
    let mut it = argv.into_iter();
    let mut a = Args::default();
    let cmd = match it.next() {
        None => return Err(usage_err("missing command")),
        Some(c) => c,
    };
    a.command = match cmd.as_str() {
        "run" | "info" | "tokenize" | "help" | "version" => cmd,
        "-h" | "--help" => "help".into(),
        "-V" | "--version" => "version".into(),
        other => return Err(usage_err(format!("unknown command '{other}'"))),
    };
    let mut only_positional = false;
    while let Some(arg) = it.next() {
        if only_positional || !arg.starts_with('-') || arg == "-" {
            a.positional.push(arg);
            continue;
        }
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = |name: &str| -> Result<String, Fail> {
            match inline.clone().or_else(|| it.next()) {
                Some(v) => Ok(v),
                None => Err(usage_err(format!("{name} needs a value"))),
            }
        };
        match flag.as_str() {
            "--" => only_positional = true,
            "-h" | "--help" => a.command = "help".into(),
            "--weights" => a.weights = Some(PathBuf::from(value("--weights")?)),
            "--vocab" => a.vocab = Some(PathBuf::from(value("--vocab")?)),
            "--tools" => a.tools_file = Some(value("--tools")?),
            "--tools-json" => a.tools_json = Some(value("--tools-json")?),
            "--depth" => {
                let v = value("--depth")?;
                a.depth = Some(v.parse().map_err(|_| usage_err(format!("--depth needs a whole number, got '{v}'")))?);
            }
            "--system" => a.system = Some(value("--system")?),
            "--max-tokens" => {
                let v = value("--max-tokens")?;
                a.max_tokens = Some(v.parse().map_err(|_| {
                    usage_err(format!("--max-tokens needs a non-negative integer, got '{v}'"))
                })?);
            }
            "--stream" | "--json" | "--no-constrain" | "--strict" if inline.is_some() => {
                return Err(usage_err(format!("{flag} takes no value")))
            }
            "--stream" => a.stream = true,
            "--json" => a.json = true,
            "--no-constrain" => a.no_constrain = true,
            "--strict" => a.strict = true,
            _ => return Err(usage_err(format!("unknown option '{flag}'"))),
        }
    }
    let run_only = a.tools_file.is_some()
        || a.tools_json.is_some()
        || a.stream
        || a.max_tokens.is_some()
        || a.no_constrain
        || a.strict;
    if run_only && a.command != "run" && a.command != "help" {
        return Err(usage_err(format!("'needle {}' takes no run options", a.command)));
    }
    Ok(a)
}

fn load(a: &Args) -> Result<(Engine, PathBuf, PathBuf, u128), Fail> {
    let w = a
        .weights
        .clone()
        .or_else(|| std::env::var_os("NEEDLE_WEIGHTS").map(PathBuf::from))
        .unwrap_or_else(|| bundled("needle.safetensors"));
    let explicit = a.vocab.clone().or_else(|| std::env::var_os("NEEDLE_VOCAB").map(PathBuf::from));
    let t0 = Instant::now();
    // A .cact (Needle v2/v3) carries its tokenizer: without --vocab it is opened alone.
    if explicit.is_none() && is_cact(&w) {
        let opts = needle::LoadOptions { depth: a.depth };
        let engine = Engine::open_with(&w, &opts).map_err(|e| Fail(1, format!("cannot load the model: {e}")))?;
        return Ok((engine, w, PathBuf::from("(in the .cact file)"), t0.elapsed().as_micros()));
    }
    let v = explicit.unwrap_or_else(|| bundled("vocab.txt"));
    if a.depth.is_some() {
        return Err(Fail(1, "cannot load the model: --depth (the ladder) applies to Needle v3 .cact files only".into()));
    }
    let engine = Engine::load(&w, &v).map_err(|e| Fail(1, format!("cannot load the model: {e}")))?;
    Ok((engine, w, v, t0.elapsed().as_micros()))
}

/// Whether `path` starts with a `.cact` tag (any generation, so that the engine can say
/// what is wrong with an unsupported one).
fn is_cact(path: &std::path::Path) -> bool {
    use std::io::Read;
    let mut tag = [0u8; 4];
    std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut tag)).is_ok()
        && matches!(u32::from_le_bytes(tag), 0x05E1_2A82..=0x05E1_2A84)
}

fn one_positional(a: &Args, what: &str) -> Result<String, Fail> {
    match a.positional.len() {
        0 => Err(usage_err(format!("missing {what}"))),
        1 => Ok(a.positional[0].clone()),
        n => Err(usage_err(format!(
            "expected one {what}, got {n} arguments (quote the {what})"
        ))),
    }
}

fn read_stdin() -> Result<String, Fail> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| Fail(1, format!("cannot read standard input: {e}")))?;
    Ok(s)
}

fn tools_text(a: &Args) -> Result<String, Fail> {
    match (&a.tools_file, &a.tools_json) {
        (Some(_), Some(_)) => Err(usage_err("give either --tools or --tools-json, not both")),
        (None, Some(j)) => Ok(j.clone()),
        (Some(f), None) if f == "-" => read_stdin(),
        (Some(f), None) => std::fs::read_to_string(f)
            .map_err(|e| Fail(1, format!("cannot read tools file '{f}': {e}"))),
        (None, None) => Err(usage_err(
            "no tools given: use --tools FILE, --tools-json JSON or --tools - (standard input)",
        )),
    }
}

/// Writes to stdout; a closed pipe (`needle tokenize … | head`) ends output quietly.
fn emit(text: &str) -> Result<(), Fail> {
    let mut o = std::io::stdout().lock();
    match o.write_all(text.as_bytes()).and_then(|_| o.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Fail(1, format!("cannot write to standard output: {e}"))),
    }
}

fn json_str(s: &str) -> String {
    needle::serde_json::Value::String(s.to_string()).to_string()
}

fn cmd_run(a: &Args) -> Result<(), Fail> {
    let query = one_positional(a, "query")?;
    let tools = tools_text(a)?;
    let (engine, _, _, load_us) = load(a)?;
    let mut opts = RunOptions::default().constrained(!a.no_constrain).strict(a.strict);
    if let Some(sys) = &a.system {
        opts = opts.system(sys.clone());
    }
    if let Some(n) = a.max_tokens {
        opts = opts.max_new_tokens(n);
    }
    let t0 = Instant::now();
    let stream = a.stream;
    let mut err = std::io::stderr();
    let r = engine
        .run_stream(&query, &tools, &opts, |_, piece| {
            if stream {
                let _ = write!(err, "{piece}");
                let _ = err.flush();
            }
            true
        })
        .map_err(|e| Fail(1, e.to_string()))?;
    let run_us = t0.elapsed().as_micros();
    if stream {
        eprintln!();
    }
    let out = if a.json {
        // RunResult::to_json plus timings (milliseconds)
        let base = r.to_json();
        let timings = format!(
            "\"timings\":{{\"load_ms\":{:.3},\"run_ms\":{:.3},\"generated_tokens\":{}}}",
            load_us as f64 / 1000.0,
            run_us as f64 / 1000.0,
            r.token_ids.len()
        );
        format!("{},{}}}", &base[..base.len() - 1], timings)
    } else {
        r.text.clone()
    };
    emit(&format!("{out}\n"))
}

fn cmd_info(a: &Args) -> Result<(), Fail> {
    if !a.positional.is_empty() {
        return Err(usage_err(format!("'needle info' takes no arguments, got '{}'", a.positional[0])));
    }
    let (engine, w, v, _) = load(a)?;
    if engine.generation() != 1 {
        // v2/v3: the file's whole geometry.
        let mut g = engine.geometry();
        g["weights"] = needle::serde_json::Value::String(w.display().to_string());
        g["file_bytes"] = needle::serde_json::Value::from(std::fs::metadata(&w).map(|m| m.len()).unwrap_or(0));
        g["vocab_pieces"] = needle::serde_json::Value::from(engine.tokenizer().len());
        if a.json {
            println!("{g}");
        } else if let Some(m) = g.as_object() {
            for (k, val) in m {
                println!("{k:<22} {val}");
            }
        }
        return Ok(());
    }
    let c = engine.config();
    let size = std::fs::metadata(&w).map(|m| m.len()).unwrap_or(0);
    let hd = c.head_dim();
    let attn = |kv: usize| c.d_model * c.num_heads * hd * 2 + c.d_model * kv * hd * 2;
    let params = c.vocab_size * c.d_model
        + c.num_encoder_layers * attn(c.num_kv_heads)
        + c.num_decoder_layers * 2 * attn(c.num_kv_heads);
    let fields: Vec<(&str, String)> = vec![
        ("weights", json_str(&w.display().to_string())),
        ("vocab", json_str(&v.display().to_string())),
        ("file_bytes", size.to_string()),
        ("d_model", c.d_model.to_string()),
        ("num_heads", c.num_heads.to_string()),
        ("num_kv_heads", c.num_kv_heads.to_string()),
        ("head_dim", hd.to_string()),
        ("num_encoder_layers", c.num_encoder_layers.to_string()),
        ("num_decoder_layers", c.num_decoder_layers.to_string()),
        ("vocab_size", c.vocab_size.to_string()),
        ("vocab_pieces", engine.tokenizer().len().to_string()),
        ("max_enc_len", c.max_enc_len.to_string()),
        ("max_dec_len", c.max_dec_len.to_string()),
        ("no_feedforward", c.no_feedforward.to_string()),
        ("ffn_dim", c.ffn_dim.to_string()),
        ("rope_theta", format!("{:?}", c.rope_theta)),
        ("contrastive_dim", c.contrastive_dim.to_string()),
        ("attention_and_embedding_params", params.to_string()),
    ];
    let mut text = String::new();
    if a.json {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        text = format!("{{{}}}\n", body.join(","));
    } else {
        for (k, v) in fields {
            let v = if v.starts_with('"') {
                needle::serde_json::from_str::<String>(&v).unwrap_or(v)
            } else {
                v
            };
            text.push_str(&format!("{k}: {v}\n"));
        }
    }
    emit(&text)
}

fn cmd_tokenize(a: &Args) -> Result<(), Fail> {
    let text = one_positional(a, "text")?;
    let (engine, _, _, _) = load(a)?;
    let tok = engine.tokenizer();
    let ids = tok.encode(&text);
    let mut text = String::new();
    if a.json {
        let pieces: Vec<String> = ids.iter().map(|&i| json_str(tok.piece(i).unwrap_or(""))).collect();
        let ids_s: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        text = format!("{{\"ids\":[{}],\"pieces\":[{}]}}\n", ids_s.join(","), pieces.join(","));
    } else {
        for &i in &ids {
            text.push_str(&format!("{i}\t{}\n", tok.piece(i).unwrap_or("")));
        }
    }
    emit(&text)
}

fn main() -> ExitCode {
    let argv: Vec<String> = match std::env::args_os().skip(1).map(|a| a.into_string()).collect() {
        Ok(v) => v,
        Err(_) => {
            eprintln!("needle: arguments must be valid UTF-8");
            return ExitCode::from(2);
        }
    };
    let res = parse(argv).and_then(|a| match a.command.as_str() {
        "help" => emit(USAGE),
        "version" => emit(&format!("needle {}\n", env!("CARGO_PKG_VERSION"))),
        "run" => cmd_run(&a),
        "info" => cmd_info(&a),
        _ => cmd_tokenize(&a),
    });
    match res {
        Ok(()) => ExitCode::SUCCESS,
        Err(Fail(code, msg)) => {
            eprintln!("needle: error: {}", msg.replace('\n', " "));
            ExitCode::from(code)
        }
    }
}
