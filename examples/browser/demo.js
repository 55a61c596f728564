// libneedle browser demo: loads a model into a module worker, streams a call, shows the result.
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
// Without ?weights= the page loads the demo model shipped in the npm package (Engine.demo()).
const WEIGHTS_URL = params.get("weights");
const VOCAB_URL = params.get("vocab") ?? "../../tests/fixtures/vocab/vocab.txt";
const DEMO_NAME = "bundled demo model (models/needle-demo: trained by libneedle on synthetic tools, not the published Needle)";
const DEFAULT_TOOLS = "../tools.json";
// ?simd=0 forces the scalar build (what browsers without WebAssembly SIMD get).
const SIMD = params.get("simd") === "0" ? false : undefined;

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });

function setState(state, message) {
  document.body.dataset.state = state;
  if (message !== undefined) {
    $("status").textContent = message;
    $("status").dataset.state = state;
  }
  $("run").disabled = state !== "ready" && state !== "done";
}

function toolsValid() {
  try {
    JSON.parse($("tools").value);
    $("tools-error").textContent = "";
    return true;
  } catch (e) {
    $("tools-error").textContent = `Tools JSON: ${e.message}`;
    return false;
  }
}

let modelName = "";
let generation = 0;
let firstTokenMs = null;
let failedWhile = "loading";
worker.onmessage = ({ data }) => {
  switch (data.type) {
    case "loaded": {
      const c = data.config; // the engine's config JSON (Engine::config_json)
      generation = data.generation;
      $("model").textContent = `${modelName} — Needle v${generation}`;
      // v1: encoder + decoder layers; v2/v3: one stack of layers, and the probe heads.
      const layers = generation === 1 ? `${c.num_encoder_layers}+${c.num_decoder_layers} layers` : `${c.num_layers} layers`;
      const heads = [c.contrastive_dim > 0 ? "contrastive head" : "", c.confidence_head ? "confidence head" : ""].filter(Boolean);
      setState("ready", `Ready: ${modelName} — Needle v${generation}, d_model ${c.d_model}, ${c.num_heads}/${c.num_kv_heads} heads, ` +
        `${layers}, vocab ${c.vocab_size}${heads.length ? `, ${heads.join(", ")}` : ""} — ` +
        `${data.simd ? "SIMD128" : "scalar"} build, loaded in ${data.ms.toFixed(0)} ms`);
      break;
    }
    case "token":
      if (firstTokenMs === null) firstTokenMs = data.ms;
      $("stream").textContent += data.piece;
      break;
    case "done": {
      const r = data.result;
      $("calls").textContent = r.calls ? JSON.stringify(r.calls, null, 2) : "(not a call list)";
      const shown = JSON.stringify({ calls: r.calls, text: r.text, tokenIds: r.tokenIds, stop: r.stop }, null, 2);
      $("result").textContent = shown.replace(/"tokenIds": \[[^\]]*\]/, (ids) => ids.replace(/\s+/g, " "));
      // Reasoning (v2/v3 answers with a <think> block) and confidence (files with the head).
      $("reasoning").textContent = r.reasoning ?? "";
      $("reasoning-box").hidden = r.reasoning === null;
      $("confidence").textContent = r.confidence === null ? "" : r.confidence.toFixed(4);
      $("confidence-box").hidden = r.confidence === null;
      const first = firstTokenMs === null ? "" : `, first token after ${firstTokenMs.toFixed(1)} ms`;
      const prompt = generation === 1 ? "encoder tokens" : "prompt tokens";
      $("time").textContent = `${data.ms.toFixed(1)} ms (${r.tokenIds.length} tokens generated, ${r.promptTokens} ${prompt}${r.promptTruncated ? " (truncated)" : ""}${first}, stop: ${r.stop})`;
      setState("done");
      break;
    }
    case "error":
      if (failedWhile === "running") {
        $("result").textContent = `Error: ${data.message}`;
        setState(document.body.dataset.hasModel ? "ready" : "error");
      } else {
        setState("error", `Error: ${data.message}`);
      }
      break;
  }
};

// `vocab` undefined: a .cact (it carries its tokenizer).
function load(name, weights, vocab) {
  modelName = name;
  failedWhile = "loading";
  setState("loading", `Loading ${name}…`);
  worker.postMessage({ type: "load", weights, vocab, simd: SIMD }, [weights]);
  document.body.dataset.hasModel = "1";
}

function loadDemo() {
  modelName = DEMO_NAME;
  failedWhile = "loading";
  setState("loading", `Loading the ${DEMO_NAME}…`);
  worker.postMessage({ type: "demo", simd: SIMD });
  document.body.dataset.hasModel = "1";
}

const isCact = (name) => /\.cact$/i.test(name);

async function loadUrls(weightsUrl, vocabUrl) {
  try {
    // A .cact carries its tokenizer: no vocabulary is fetched.
    const cact = isCact(new URL(weightsUrl, location.href).pathname);
    const [w, v] = await Promise.all([fetch(weightsUrl), cact ? null : fetch(vocabUrl)]);
    if (!w.ok) throw new Error(`${weightsUrl}: HTTP ${w.status}`);
    if (v && !v.ok) throw new Error(`${vocabUrl}: HTTP ${v.status}`);
    load(weightsUrl.split("/").pop(), await w.arrayBuffer(), v ? await v.text() : undefined);
  } catch (e) {
    setState("error", `Cannot fetch the model: ${e.message}. Choose files below.`);
  }
}

$("load-files").onclick = async () => {
  const w = $("weights-file").files[0];
  const v = $("vocab-file").files[0];
  if (!w) {
    setState(document.body.dataset.state, "Choose a model file: a .cact, or needle.safetensors with its vocab.txt.");
    return;
  }
  if (isCact(w.name)) {
    load(w.name, await w.arrayBuffer(), undefined); // the engine refuses a vocabulary with a .cact
    return;
  }
  if (!v) {
    setState(document.body.dataset.state, "A needle.safetensors (v1) needs its vocab.txt: choose both.");
    return;
  }
  load(w.name, await w.arrayBuffer(), await v.text());
};

$("tools").oninput = toolsValid;

function run() {
  if ($("run").disabled || !toolsValid()) return;
  $("stream").textContent = "";
  $("result").textContent = "";
  $("calls").textContent = "";
  $("reasoning").textContent = "";
  $("confidence").textContent = "";
  $("reasoning-box").hidden = true;
  $("confidence-box").hidden = true;
  $("time").textContent = "running…";
  firstTokenMs = null;
  failedWhile = "running";
  setState("running");
  const system = $("system").value;
  worker.postMessage({ type: "run", query: $("query").value, tools: $("tools").value, system: system === "" ? undefined : system });
}
$("run").onclick = run;
$("query").onkeydown = (e) => {
  if (e.key === "Enter") run();
};

fetch(DEFAULT_TOOLS)
  .then((r) => r.text())
  .then((t) => {
    if (!$("tools").value) $("tools").value = t;
  })
  .catch(() => {
    $("tools").value = '[{"name":"get_weather","description":"Get the current weather for a city","parameters":{"city":{"type":"string"}}}]';
  });
if (WEIGHTS_URL) loadUrls(WEIGHTS_URL, VOCAB_URL);
else loadDemo();
