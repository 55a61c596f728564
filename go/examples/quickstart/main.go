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
	fmt.Println(r.TokenIDs, r.Stop) // generated ids; stop: "eos", "max_tokens" or "callback"

	// Options: token budget, constrained decoding on/off (and Threads for batches).
	r, err = engine.Run("Weather in Oslo?", tools, needle.MaxNewTokens(64), needle.Constrained(true))
	if err != nil {
		log.Fatal(err)
	}

	// Streaming: the callback runs on this goroutine for every token; return false to stop.
	_, err = engine.RunStream("Weather in Oslo?", tools, func(id uint32, piece string) bool {
		fmt.Print(piece)
		return true
	})
	fmt.Println()
	if err != nil {
		log.Fatal(err)
	}

	// Batch (parallel on all cores; needle.Threads(n) to choose); returns the texts in order.
	texts, err := engine.RunBatch([]needle.BatchItem{
		{Query: "Weather in Rome?", Tools: tools}, {Query: "Weather in Lima?", Tools: tools}})
	fmt.Println(texts, err)

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
}
