package model

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	json "github.com/goccy/go-json"
	"go.yaml.in/yaml/v3"
)

// Difference is one change between two model files: a rule (behavior,
// title or account fit) added, removed or changed, or another section
// changed.
type Difference struct {
	Section string `json:"section"`
	ID      string `json:"id,omitempty"`
	// Kind is added, removed or changed.
	Kind   string        `json:"kind"`
	Fields []FieldChange `json:"fields,omitempty"`
	// Value is the whole rule, for an added or removed one.
	Value string `json:"value,omitempty"`
}

// FieldChange is one field whose value differs; values are compact JSON,
// "" when absent.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// Diff lists what changed from old to new, rules by id in file order, then
// the other sections. The version, name, review date and changelog are not
// differences in scoring and are left out.
func Diff(old, new *File) ([]Difference, error) {
	var out []Difference
	if err := diffList(&out, "rules", old.Rules, new.Rules, func(r RuleSpec) string { return r.ID }); err != nil {
		return nil, err
	}
	if err := diffList(&out, "contact_fit.titles", old.ContactFit.Titles, new.ContactFit.Titles, func(r TitleRule) string { return r.ID }); err != nil {
		return nil, err
	}
	if err := diffList(&out, "account_fit", old.AccountFit, new.AccountFit, func(r FitRule) string { return r.ID }); err != nil {
		return nil, err
	}
	for _, s := range []struct {
		name     string
		old, new any
	}{
		{"contact_fit.target", old.ContactFit.Target, new.ContactFit.Target},
		{"competitors", old.Competitors, new.Competitors},
		{"grades", old.Grades, new.Grades},
		{"thresholds", old.Thresholds, new.Thresholds},
		{"stages", old.Stages, new.Stages},
		{"decay", old.Decay, new.Decay},
		{"dormant_after", old.Dormant, new.Dormant},
		{"account", old.Account, new.Account},
		{"nurture", old.Nurture, new.Nurture},
		{"ledger", old.Ledger, new.Ledger},
	} {
		fields, err := diffFields(s.old, s.new)
		if err != nil {
			return nil, err
		}
		if len(fields) > 0 {
			out = append(out, Difference{Section: s.name, Kind: "changed", Fields: fields})
		}
	}
	return out, nil
}

func diffList[T any](out *[]Difference, section string, old, new []T, id func(T) string) error {
	olds := map[string]T{}
	for _, r := range old {
		olds[id(r)] = r
	}
	news := map[string]bool{}
	for _, r := range new {
		news[id(r)] = true
		o, ok := olds[id(r)]
		if !ok {
			v, err := compact(r)
			if err != nil {
				return err
			}
			*out = append(*out, Difference{Section: section, ID: id(r), Kind: "added", Value: v})
			continue
		}
		fields, err := diffFields(o, r)
		if err != nil {
			return err
		}
		if len(fields) > 0 {
			*out = append(*out, Difference{Section: section, ID: id(r), Kind: "changed", Fields: fields})
		}
	}
	for _, r := range old {
		if !news[id(r)] {
			v, err := compact(r)
			if err != nil {
				return err
			}
			*out = append(*out, Difference{Section: section, ID: id(r), Kind: "removed", Value: v})
		}
	}
	return nil
}

// plain turns a file section into maps, slices and scalars as written in
// YAML (durations as "30d", not nanoseconds).
func plain(v any) (any, error) {
	b, err := yaml.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := yaml.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return prune(out), nil
}

// prune drops zero values (absent, "", 0, false, empty lists and maps), so
// a rule reads as it would be written.
func prune(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if e = prune(e); e == nil {
				delete(x, k)
			} else {
				x[k] = e
			}
		}
		if len(x) == 0 {
			return nil
		}
	case []any:
		if len(x) == 0 {
			return nil
		}
		for i := range x {
			x[i] = prune(x[i])
		}
	case string:
		if x == "" {
			return nil
		}
	case int:
		if x == 0 {
			return nil
		}
	case float64:
		if x == 0 {
			return nil
		}
	case bool:
		if !x {
			return nil
		}
	}
	return v
}

func compact(v any) (string, error) {
	p, err := plain(v)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(p)
	return string(b), err
}

// diffFields compares two values of a section field by field (top-level
// keys of its YAML form); a non-map value is one field named "".
func diffFields(old, new any) ([]FieldChange, error) {
	po, err := plain(old)
	if err != nil {
		return nil, err
	}
	pn, err := plain(new)
	if err != nil {
		return nil, err
	}
	mo, okO := po.(map[string]any)
	mn, okN := pn.(map[string]any)
	if !okO || !okN {
		a, _ := json.Marshal(po)
		b, _ := json.Marshal(pn)
		if string(a) == string(b) {
			return nil, nil
		}
		return []FieldChange{{Old: string(a), New: string(b)}}, nil
	}
	keys := slices.Sorted(maps.Keys(mo))
	for k := range mn {
		if _, ok := mo[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var out []FieldChange
	for _, k := range keys {
		a, b := "", ""
		if v, ok := mo[k]; ok && v != nil {
			x, _ := json.Marshal(v)
			a = string(x)
		}
		if v, ok := mn[k]; ok && v != nil {
			x, _ := json.Marshal(v)
			b = string(x)
		}
		if a != b {
			out = append(out, FieldChange{Field: k, Old: a, New: b})
		}
	}
	return out, nil
}

// WriteDiff prints differences for people, one line per field.
func WriteDiff(w io.Writer, diffs []Difference) error {
	if len(diffs) == 0 {
		_, err := fmt.Fprintln(w, "no scoring differences")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, d := range diffs {
		where := d.Section
		if d.ID != "" {
			where += " " + d.ID
		}
		switch d.Kind {
		case "added":
			fmt.Fprintf(tw, "+ %s\t%s\n", where, d.Value)
		case "removed":
			fmt.Fprintf(tw, "- %s\t%s\n", where, d.Value)
		default:
			for _, f := range d.Fields {
				name := where
				if f.Field != "" {
					name += "." + f.Field
				}
				fmt.Fprintf(tw, "~ %s\t%s → %s\n", name, orAbsent(f.Old), orAbsent(f.New))
			}
		}
	}
	return tw.Flush()
}

func orAbsent(s string) string {
	if strings.TrimSpace(s) == "" {
		return "(absent)"
	}
	return s
}
