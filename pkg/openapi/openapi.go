// Package openapi is the OpenAPI 3.1 description of the ingestor's HTTP
// API (intake, the Segment-compatible calls, the read API), written by hand
// in openapi.yaml and served as JSON at /openapi.json, with the JSON Schema
// of an event at /schemas/event.json. It cannot drift from the code
// unnoticed: the end-to-end tests check every answer they get against it
// (package openapitest).
package openapi

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"

	"go.yaml.in/yaml/v3"
)

//go:embed openapi.yaml
var specYAML []byte

// YAML is the description as written.
func YAML() []byte { return specYAML }

var (
	once              sync.Once
	specJSON, eventJS []byte
	errSpec           error
)

func load() {
	var doc map[string]any
	if errSpec = yaml.Unmarshal(specYAML, &doc); errSpec != nil {
		return
	}
	if specJSON, errSpec = json.Marshal(doc); errSpec != nil {
		return
	}
	comps, _ := doc["components"].(map[string]any)
	schemas, _ := comps["schemas"].(map[string]any)
	event, ok := schemas["Event"].(map[string]any)
	if !ok {
		errSpec = fmt.Errorf("openapi.yaml has no components.schemas.Event")
		return
	}
	withDialect := map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema"}
	for k, v := range event {
		withDialect[k] = v
	}
	eventJS, errSpec = json.Marshal(withDialect)
}

// JSON is the description as JSON.
func JSON() ([]byte, error) {
	once.Do(load)
	return specJSON, errSpec
}

// EventSchema is the JSON Schema (2020-12) of an event.
func EventSchema() ([]byte, error) {
	once.Do(load)
	return eventJS, errSpec
}

// Register serves GET /openapi.json and GET /schemas/event.json on mux.
func Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /openapi.json", serve(JSON))
	mux.HandleFunc("GET /schemas/event.json", serve(EventSchema))
}

func serve(doc func() ([]byte, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		b, err := doc()
		if err != nil {
			http.Error(w, "the API description does not load", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(b)
	}
}
