// libneedle browser demo: loads a model into a module worker, streams a call, shows the result.
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
const DEFAULT_WEIGHTS = params.get("weights") ?? "../../target/test-models/small.safetensors";
const DEFAULT_VOCAB = params.get("vocab") ?? "../../tests/fixtures/vocab/vocab.txt";
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
let failedWhile = "loading";
worker.onmessage = ({ data }) => {
  switch (data.type) {
    case "loaded": {
      const c = data.config;
      setState("ready", `Ready: ${modelName} (d_model ${c.d_model}, ${c.num_encoder_layers}+${c.num_decoder_layers} layers, ` +
        `vocab ${c.vocab_size}) — ${data.simd ? "SIMD128" : "scalar"} build, loaded in ${data.ms.toFixed(0)} ms`);
      break;
    }
    case "token":
      $("stream").textContent += data.piece;
      break;
    case "done": {
      const r = data.result;
      const shown = JSON.stringify({ calls: r.calls, text: r.text, tokenIds: r.tokenIds, stop: r.stop }, null, 2);
      $("result").textContent = shown.replace(/"tokenIds": \[[^\]]*\]/, (ids) => ids.replace(/\s+/g, " "));
      $("time").textContent = `${data.ms.toFixed(1)} ms (${r.tokenIds.length} tokens generated, ${r.encoderTokens} encoder tokens)`;
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

function load(name, weights, vocab) {
  modelName = name;
  failedWhile = "loading";
  setState("loading", `Loading ${name}…`);
  worker.postMessage({ type: "load", weights, vocab, simd: SIMD }, [weights]);
  document.body.dataset.hasModel = "1";
}

async function loadUrls(weightsUrl, vocabUrl) {
  try {
    const [w, v] = await Promise.all([fetch(weightsUrl), fetch(vocabUrl)]);
    if (!w.ok) throw new Error(`${weightsUrl}: HTTP ${w.status}`);
    if (!v.ok) throw new Error(`${vocabUrl}: HTTP ${v.status}`);
    load(weightsUrl.split("/").pop(), await w.arrayBuffer(), await v.text());
  } catch (e) {
    setState("error", `Cannot fetch the model: ${e.message}. Choose files below.`);
  }
}

$("load-files").onclick = async () => {
  const w = $("weights-file").files[0];
  const v = $("vocab-file").files[0];
  if (!w || !v) {
    setState(document.body.dataset.state, "Choose both needle.safetensors and vocab.txt.");
    return;
  }
  load(w.name, await w.arrayBuffer(), await v.text());
};

$("tools").oninput = toolsValid;

function run() {
  if ($("run").disabled || !toolsValid()) return;
  $("stream").textContent = "";
  $("result").textContent = "";
  $("time").textContent = "running…";
  failedWhile = "running";
  setState("running");
  worker.postMessage({ type: "run", query: $("query").value, tools: $("tools").value });
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
loadUrls(DEFAULT_WEIGHTS, DEFAULT_VOCAB);
