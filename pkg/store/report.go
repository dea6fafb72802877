package store

import (
	"context"
	_ "embed"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

var (
	//go:embed apply_report.lua
	applyReportLua    string
	applyReportScript = redis.NewScript(applyReportLua)
)

// ReportKey is the hash of one model version's report counters; the hash
// tag puts it and its applied-versions hash in one slot.
func (s *Store) ReportKey(version string) string { return s.ns + ":rep:{" + keyPart(version) + "}" }

func (s *Store) reportAppliedKey(version string) string { return s.ReportKey(version) + ":applied" }

// ApplyReports adds homes' pending report deltas to the counters of each
// model version, one script call per version. Deltas already applied (same
// home and version) are skipped, so this is safe to repeat.
func (s *Store) ApplyReports(ctx context.Context, pending map[string][]ReportDelta) error {
	byVersion := map[string][]any{}
	homes := make([]string, 0, len(pending))
	for h := range pending {
		homes = append(homes, h)
	}
	slices.Sort(homes)
	for _, h := range homes {
		entries := slices.Clone(pending[h])
		slices.SortFunc(entries, func(a, b ReportDelta) int { return int(a.Version - b.Version) })
		for _, e := range entries {
			for model, counts := range e.Counts {
				args := append(byVersion[model], h, e.Version, len(counts))
				for k, n := range counts {
					args = append(args, k, n)
				}
				byVersion[model] = args
			}
		}
	}
	if len(byVersion) == 0 {
		return nil
	}
	return s.runScript(ctx, applyReportScript, "apply report counters", func(pipe redis.Pipeliner) {
		for model, args := range byVersion {
			applyReportScript.EvalSha(ctx, pipe, []string{s.ReportKey(model), s.reportAppliedKey(model)}, args...)
		}
	})
}

// Report returns a model version's counters.
func (s *Store) Report(ctx context.Context, version string) (map[string]string, error) {
	m, err := s.rdb.HGetAll(ctx, s.ReportKey(version)).Result()
	if err != nil {
		return nil, fmt.Errorf("read report %s: %w", version, err)
	}
	return m, nil
}

// ReportVersions lists the model versions that have report counters.
func (s *Store) ReportVersions(ctx context.Context) ([]string, error) {
	prefix := s.ns + ":rep:{"
	var out []string
	var mu sync.Mutex // masters are scanned concurrently
	scan := func(ctx context.Context, c redis.UniversalClient) error {
		iter := c.Scan(ctx, 0, globEscape(prefix)+"*}", 1000).Iterator()
		for iter.Next(ctx) {
			v, err := idOfKeyPart(strings.TrimSuffix(strings.TrimPrefix(iter.Val(), prefix), "}"))
			if err != nil {
				continue // not a key this store wrote
			}
			mu.Lock()
			out = append(out, v)
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		err = cc.ForEachMaster(ctx, func(ctx context.Context, c *redis.Client) error { return scan(ctx, c) })
	} else {
		err = scan(ctx, s.rdb)
	}
	slices.Sort(out)
	return slices.Compact(out), err
}
