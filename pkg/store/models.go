package store

import (
	"context"
	"errors"
	"fmt"

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
