package needle_test

import (
	"errors"
	"fmt"
	"log"

	"github.com/libneedle/libneedle/go/needle"
)

const weatherTools = `[{"name":"get_weather","parameters":{"city":{"type":"string"}}}]`

func Example() {
	engine, err := needle.Load("needle.safetensors", "vocab.txt")
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()

	r, err := engine.Run("What's the weather in Paris?", weatherTools)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Text) // [{"name":"get_weather","arguments":{"city":"Paris"}}]
	for _, c := range r.Calls {
		fmt.Println(c.Name, string(c.Arguments))
	}
}

func ExampleEngine_RunStream() {
	engine, err := needle.Load("needle.safetensors", "vocab.txt")
	if err != nil {
		log.Fatal(err)
	}
	defer engine.Close()
	r, err := engine.RunStream("Weather in Oslo?", weatherTools, func(id uint32, piece string) bool {
		fmt.Print(piece)
		return true // false stops generation after this token (r.Stop is then "callback")
	}, needle.MaxNewTokens(64))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("\n"+r.Text, r.Stop)
}

func ExampleError() {
	_, err := needle.Load("missing.safetensors", "vocab.txt")
	var ne *needle.Error
	if errors.Is(err, needle.ErrIO) && errors.As(err, &ne) {
		fmt.Println(ne.Status, "-", ne.Message)
	}
}
