// Command quickstart is the README's Go example. From go/: go run ./examples/quickstart
package main

import (
	"errors"
	"fmt"
	"log"

	"github.com/libneedle/libneedle/go/needle"
)

func main() {
	// The demo model bundled in models/needle-demo/ (memory-mapped).
	engine, err := needle.Load("../models/needle-demo/needle.safetensors", "../models/needle-demo/vocab.txt")
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close() // idempotent; engines never closed are freed by a GC cleanup
	tools := `[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]`

	r, err := engine.Run("What's the weather in Paris?", tools)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Text)         // [{"name":"get_weather","arguments":{"city":"Paris"}}]
	for _, c := range r.Calls { // parsed calls (nil if the text is not a call list)
		fmt.Println(c.Name, string(c.Arguments)) // Arguments is a json.RawMessage
	}
	fmt.Println(r.TokenIDs, r.Stop)                  // generated ids; stop: "eos", "max_tokens" or "callback"
	fmt.Println(engine.Generation(), r.PromptTokens) // 1 (v1), prompt length in tokens

	// Options: token budget, constrained decoding on/off (and Threads for batches).
	r, err = engine.Run("Weather in Oslo?", tools, needle.MaxNewTokens(64), needle.Constrained(true))
	if err != nil {
		log.Fatal(err)
	}

	// Streaming: the callback runs on this goroutine for every token; return false to stop
	// (then r.Stop is "callback"). It returns the same *Result as Run.
	r, err = engine.RunStream("Weather in Oslo?", tools, func(id uint32, piece string) bool {
		fmt.Print(piece)
		return true
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(" ->", r.Stop)

	// Batch (parallel on all cores; needle.Threads(n) to choose); a []Result in order.
	results, err := engine.RunBatch([]needle.BatchItem{
		{Query: "Weather in Rome?", Tools: tools}, {Query: "Weather in Lima?", Tools: tools}})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(results[0].Text, results[1].Text)

	// Retrieval (models with a contrastive head only; the published weights have none).
	if engine.ContrastiveDim() > 0 {
		ranked, err := engine.RetrieveTools("book a flight", []string{"flights", "weather", "music"}, 2)
		fmt.Println(ranked, err) // []needle.Match{Index, Score}, best first
	}

	// Errors are *needle.Error {Status, Message}; errors.Is matches one sentinel per status.
	if _, err := engine.Run("q", `[{"name": 42}]`); errors.Is(err, needle.ErrInvalidTools) {
		var ne *needle.Error
		errors.As(err, &ne)
		fmt.Println(ne.Status, "-", ne.Message)
	}

	// Needle v2/v3: a .cact carries its tokenizer, so the vocabulary is "". This small v3 file
	// of the test fixtures has random weights (its answers are gibberish); the real model is
	// needle3.cact (see "Needle v3").
	v3, err := needle.LoadWith("../tests/fixtures/v3/tiny.cact", "", needle.LoadOptions{Depth: 0}) // Depth: v3 ladder, 0 = all
	if err != nil {
		log.Fatal(err)
	}
	defer v3.Close()
	r, err = v3.Run("What's the weather in Paris?", tools, needle.MaxNewTokens(8), needle.System("Be brief."))
	if err != nil {
		log.Fatal(err)
	}
	// Stop may also be "im_end" or "max_seq_len"; Confidence is the confidence head's
	// probability (nil without the head), Reasoning the <think> block (nil without one).
	fmt.Println("generation", v3.Generation(), "stop", r.Stop, "confidence", *r.Confidence)
	if r.Reasoning != nil {
		fmt.Println("reasoning:", *r.Reasoning)
	}
	p, err := v3.Confidence("What's the weather in Paris?", tools, `<tool_call>[{"name":"get_weather","arguments":{"city":"Paris"}}]</tool_call>`)
	fmt.Printf("confidence of a given completion: %.3f %v\n", p, err)
	if _, err := needle.Load("../tests/fixtures/v3/tiny.cact", "vocab.txt"); errors.Is(err, needle.ErrInvalidArgument) {
		fmt.Println("a .cact takes no vocabulary")
	}
}
