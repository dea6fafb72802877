package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// ErrModelConflict: a model version is registered with other content; a
// changed model needs a new version, or reports by version would mix two
// models.
var ErrModelConflict = errors.New("model version already registered with different content")

// ModelsKey is the registry of every model version a deployment has scored
// with: version → the file as written.
func ModelsKey(name string) string { return name + ":models" }

// RegisterModel records a model version's file in the registry of the
// deployment configured with name. Registering the same file again is a
// no-op; another file under a registered version is ErrModelConflict.
func RegisterModel(ctx context.Context, rdb redis.UniversalClient, name, version string, source []byte) error {
	ok, err := rdb.HSetNX(ctx, ModelsKey(name), version, source).Result()
	if err != nil {
		return fmt.Errorf("register model %s: %w", version, err)
	}
	if ok {
		return nil
	}
	have, err := rdb.HGet(ctx, ModelsKey(name), version).Result()
	if err != nil {
		return fmt.Errorf("register model %s: %w", version, err)
	}
	if have != string(source) {
		return fmt.Errorf("%w: version %q (bump version: in the model file)", ErrModelConflict, version)
	}
	return nil
}

// Models returns every registered model file by version.
func Models(ctx context.Context, rdb redis.UniversalClient, name string) (map[string]string, error) {
	m, err := rdb.HGetAll(ctx, ModelsKey(name)).Result()
	if err != nil {
		return nil, fmt.Errorf("read model registry: %w", err)
	}
	return m, nil
}

// Suggestion is a model version `scorer model suggest` proposed for a
// deployment, waiting for a person: nothing scores with it until it is
// backfilled, compared and promoted.
type Suggestion struct {
	Version string `json:"version"`
	// BasedOn is the version it would follow: once another version
	// scores, the suggestion is stale.
	BasedOn string    `json:"based_on"`
	Created time.Time `json:"created"`
	// Summary says what the backtest found, in a line.
	Summary string `json:"summary"`
	// File is the suggested model file.
	File string `json:"-"`
}

// Waits reports whether s is a suggestion waiting to follow the model
// version scoring now (false for nil, or one made for another version).
func (s *Suggestion) Waits(scoring string) bool { return s != nil && s.BasedOn == scoring }

// SuggestionKey holds the last suggestion made for the deployment
// configured with name.
func SuggestionKey(name string) string { return name + ":models:suggestion" }

// SaveSuggestion records s as the deployment's waiting suggestion,
// replacing any earlier one.
func SaveSuggestion(ctx context.Context, rdb redis.UniversalClient, name string, s Suggestion) error {
	if err := rdb.HSet(ctx, SuggestionKey(name), "version", s.Version, "based_on", s.BasedOn,
		"created", s.Created.UTC().Format(time.RFC3339), "summary", s.Summary, "file", s.File).Err(); err != nil {
		return fmt.Errorf("record the suggestion: %w", err)
	}
	return nil
}

// Suggestion returns the deployment's last suggestion, or nil when none
// was made.
func (s *Store) Suggestion(ctx context.Context) (*Suggestion, error) {
	f, err := s.rdb.HGetAll(ctx, SuggestionKey(s.ns)).Result()
	if err != nil {
		return nil, fmt.Errorf("read the suggestion: %w", err)
	}
	if f["version"] == "" {
		return nil, nil
	}
	created, _ := time.Parse(time.RFC3339, f["created"])
	return &Suggestion{Version: f["version"], BasedOn: f["based_on"], Created: created, Summary: f["summary"], File: f["file"]}, nil
}
