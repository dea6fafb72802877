package testutil

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/leadscore/leads/pkg/event"
)

// WriteNDJSON writes events, one JSON object a line, then the raw lines of
// extra (e.g. a poison line), as events.ndjson in dir, and returns its path.
func WriteNDJSON(t testing.TB, dir string, evs []event.Event, extra ...string) string {
	t.Helper()
	var b bytes.Buffer
	for i := range evs {
		line, err := json.Marshal(&evs[i])
		if err != nil {
			t.Fatalf("encode event %s: %v", evs[i].ID, err)
		}
		b.Write(append(line, '\n'))
	}
	for _, line := range extra {
		b.WriteString(line)
	}
	path := filepath.Join(dir, "events.ndjson")
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatalf("write %s: %v", path, err)
	}
	return path
}
