// Command needle-demo is libneedle from Go: load a model, answer a query, stream it,
// run a batch, handle an error.
//
//	go run ./examples/needle-demo <needle.safetensors> <vocab.txt> "<query>" '<tools JSON>'
//	go run ./examples/needle-demo <model.cact> "" "<query>" '<tools JSON>'   (v2/v3: no vocabulary)
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/libneedle/libneedle/go/needle"
)

func main() {
	if len(os.Args) != 5 {
		fmt.Fprintf(os.Stderr, "usage: %s <needle.safetensors|model.cact> <vocab.txt|\"\"> <query> <tools-json>\n", os.Args[0])
		os.Exit(2)
	}
	weights, vocab, query, tools := os.Args[1], os.Args[2], os.Args[3], os.Args[4]
	fmt.Println("libneedle", needle.Version())

	engine, err := needle.Load(weights, vocab)
	if err != nil {
		fmt.Fprintln(os.Stderr, "load failed:", err)
		os.Exit(1)
	}
	defer engine.Close()
	fmt.Println("generation:", engine.Generation())

	r, err := engine.Run(query, tools)
	if err != nil {
		fmt.Fprintln(os.Stderr, "run failed:", err)
		os.Exit(1)
	}
	fmt.Println("answer:", r.Text)
	fmt.Printf("%d tokens, stop: %s, parsed calls: %d, prompt tokens: %d\n", len(r.TokenIDs), r.Stop, len(r.Calls), r.PromptTokens)
	if r.Reasoning != nil {
		fmt.Println("reasoning:", *r.Reasoning)
	}
	if r.Confidence != nil {
		fmt.Printf("confidence: %.3f\n", *r.Confidence)
	}
	for _, c := range r.Calls {
		fmt.Printf("  call %s %s\n", c.Name, c.Arguments)
	}

	fmt.Print("stream: ")
	tokens := 0
	streamed, err := engine.RunStream(query, tools, func(id uint32, piece string) bool {
		tokens++
		fmt.Printf("[%d:%s]", id, piece)
		return true // return false to stop early
	})
	fmt.Println()
	fmt.Printf("streamed %d tokens, same answer: %v\n", tokens, err == nil && streamed.Text == r.Text)

	results, err := engine.RunBatch([]needle.BatchItem{{Query: query, Tools: tools}, {Query: "and tomorrow?", Tools: tools}},
		needle.Threads(2), needle.MaxNewTokens(16))
	fmt.Printf("batch: %d answers, first same: %v\n", len(results), err == nil && len(results) == 2)

	// Errors are typed: compare with errors.Is, read status and message with errors.As.
	_, err = engine.Run(query, `[{"name": 42}]`)
	var ne *needle.Error
	if errors.Is(err, needle.ErrInvalidTools) && errors.As(err, &ne) {
		fmt.Printf("error handled: %s: %s\n", ne.Status, ne.Message)
	}
}
