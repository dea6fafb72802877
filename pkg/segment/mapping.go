package segment

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/model"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the built-in mapping's file.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the built-in mapping.
func Default() *Mapping {
	m, err := Parse(defaultYAML)
	if err != nil {
		panic("segment: the built-in mapping does not parse: " + err.Error())
	}
	return m
}

// Load reads a mapping file; path "" means the built-in mapping.
func Load(path string) (*Mapping, error) {
	if path == "" {
		return Default(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read Segment mapping: %w", err)
	}
	m, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("Segment mapping %s: %w", path, err)
	}
	return m, nil
}

// The calls of Segment's spec other than track, in the mapping's order.
// An alias call is not mapped: it merges contacts (see events).
var calls = []string{"page", "screen", "identify", "group"}

// Mapping turns Segment calls into events.
type Mapping struct {
	// track holds the rule of each event name, by its key (nameKey).
	track map[string]*rule
	// call holds the rule of each other call, by call type; absent ones
	// become "segment.<call>" with no properties.
	call map[string]*rule
}

// rule is the type a call becomes and the properties it carries.
type rule struct {
	typ   string
	props []prop
}

// prop is one property an event gets: the first present of from, or a
// constant, or a percentage of two.
type prop struct {
	name      string
	from      []path
	value     any
	hasValue  bool
	percentOf [2]path
}

// path is a dotted path: in the context when ctx, else in the call's
// properties or traits.
type path struct {
	ctx   bool
	parts []string
}

// Problem is one thing wrong with a mapping file, with where it is: a
// model file's kind of problem.
type Problem = model.Problem

// ErrInvalid is matched by errors.Is for every invalid mapping.
var ErrInvalid = errors.New("invalid Segment mapping")

// ValidationError lists every problem of a mapping file.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string { return model.ProblemList("mapping", e.Problems) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

var eventType = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)

// Parse reads and validates a mapping file. On failure the error is a
// *ValidationError listing every problem with its line.
func Parse(data []byte) (*Mapping, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ValidationError{Problems: model.YAMLProblems(err)}
	}
	if len(root.Content) == 0 {
		return nil, &ValidationError{Problems: []Problem{{Message: "empty mapping file"}}}
	}
	c := &checker{}
	m := c.mapping(root.Content[0])
	if len(c.problems) > 0 {
		sort.SliceStable(c.problems, func(i, j int) bool { return c.problems[i].Line < c.problems[j].Line })
		return nil, &ValidationError{Problems: c.problems}
	}
	return m, nil
}

type checker struct{ problems []Problem }

func (c *checker) add(n *yaml.Node, path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Line: n.Line, Path: path, Message: fmt.Sprintf(format, args...)})
}

// pairs calls f on each key and value of a mapping node, or reports that
// it is not one.
func (c *checker) pairs(n *yaml.Node, path string, f func(k, v *yaml.Node)) {
	if n.Kind != yaml.MappingNode {
		c.add(n, path, "must be a mapping")
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		f(n.Content[i], n.Content[i+1])
	}
}

func (c *checker) mapping(root *yaml.Node) *Mapping {
	m := &Mapping{track: map[string]*rule{}, call: map[string]*rule{}}
	seen := map[string]int{}
	c.pairs(root, "", func(k, v *yaml.Node) {
		switch key := k.Value; {
		case key == "track":
			c.pairs(v, "track", func(name, spec *yaml.Node) {
				p := fmt.Sprintf("track[%s]", name.Value)
				nk := nameKey(name.Value)
				if nk == "" {
					c.add(name, p, "an event name must not be empty")
					return
				}
				if line, dup := seen[nk]; dup {
					c.add(name, p, "the same event name as line %d (names match ignoring case, and spaces, '_' and '-' alike)", line)
					return
				}
				seen[nk] = name.Line
				if r := c.rule(name, spec, p, "track"); r != nil {
					m.track[nk] = r
				}
			})
		case isCall(key):
			if r := c.rule(k, v, key, key); r != nil {
				m.call[key] = r
			}
		case key == "alias":
			c.add(k, key, "is not mapped: an alias call merges its previousId into its userId (a contact.merged event)")
		default:
			c.add(k, key, "unknown section (want track, %s)", strings.Join(calls, ", "))
		}
	})
	return m
}

func isCall(s string) bool {
	for _, c := range calls {
		if c == s {
			return true
		}
	}
	return false
}

// rule reads "type" or {type, properties}, given as the value of key.
func (c *checker) rule(key, n *yaml.Node, path, call string) *rule {
	r := &rule{}
	var typeNode *yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		typeNode = n
	case yaml.MappingNode:
		c.pairs(n, path, func(k, v *yaml.Node) {
			switch k.Value {
			case "type":
				typeNode = v
			case "properties":
				c.pairs(v, path+".properties", func(pk, pv *yaml.Node) {
					if p, ok := c.prop(pk, pv, path+".properties."+pk.Value); ok {
						r.props = append(r.props, p)
					}
				})
			default:
				c.add(k, path+"."+k.Value, "unknown key (want type, properties)")
			}
		})
	default:
		c.add(n, path, "must be an event type, or a mapping with type and properties")
		return nil
	}
	if typeNode == nil {
		c.add(key, path+".type", "is required")
		return nil
	}
	r.typ = typeNode.Value
	switch account := strings.HasPrefix(r.typ, "account."); {
	case typeNode.Kind != yaml.ScalarNode || !eventType.MatchString(r.typ) || len(r.typ) > event.MaxTypeLen:
		c.add(typeNode, path+".type", "%q is not an event type: lower-case dotted, like web.page_viewed, at most %d bytes", r.typ, event.MaxTypeLen)
	case call == "group" && !account:
		c.add(typeNode, path+".type", "a group call becomes an account event: its type must start with \"account.\"")
	case call != "group" && account:
		c.add(typeNode, path+".type", "only a group call names an account: an account.* type is for group")
	}
	return r
}

// prop reads a property: a path, a list of paths, {value: X} or
// {percent_of: [part, whole]}.
func (c *checker) prop(k, v *yaml.Node, where string) (prop, bool) {
	p := prop{name: k.Value}
	ok := true
	if p.name == "" || len(p.name) > event.MaxPropertyKey {
		c.add(k, where, "a property name is 1 to %d bytes", event.MaxPropertyKey)
		ok = false
	}
	paths := func(n *yaml.Node, where string) []path {
		var nodes []*yaml.Node
		switch n.Kind {
		case yaml.ScalarNode:
			nodes = []*yaml.Node{n}
		case yaml.SequenceNode:
			nodes = n.Content
		}
		if len(nodes) == 0 {
			c.add(n, where, "want a path or a list of paths")
			ok = false
		}
		var out []path
		for _, pn := range nodes {
			pa, err := parsePath(pn)
			if err != "" {
				c.add(pn, where, "%s", err)
				ok = false
				continue
			}
			out = append(out, pa)
		}
		return out
	}
	switch v.Kind {
	case yaml.ScalarNode, yaml.SequenceNode:
		p.from = paths(v, where)
	case yaml.MappingNode:
		if len(v.Content) != 2 {
			c.add(v, where, "want one of from, value, percent_of")
			return p, false
		}
		key, val := v.Content[0], v.Content[1]
		switch key.Value {
		case "from":
			p.from = paths(val, where+".from")
		case "value":
			if val.Kind != yaml.ScalarNode {
				c.add(val, where+".value", "must be a number, a string or a boolean")
				return p, false
			}
			if err := val.Decode(&p.value); err != nil {
				c.add(val, where+".value", "%v", err)
				return p, false
			}
			p.hasValue = true
		case "percent_of":
			ps := paths(val, where+".percent_of")
			if len(ps) != 2 {
				if ok {
					c.add(val, where+".percent_of", "want two paths: [part, whole]")
				}
				return p, false
			}
			p.percentOf = [2]path{ps[0], ps[1]}
		default:
			c.add(key, where+"."+key.Value, "unknown key (want from, value or percent_of)")
			return p, false
		}
	default:
		c.add(v, where, "want a path, a list of paths, {value: X} or {percent_of: [part, whole]}")
		return p, false
	}
	return p, ok
}

func parsePath(n *yaml.Node) (path, string) {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!str" && n.Tag != "" {
		return path{}, "a path is a name, or names joined by '.'"
	}
	parts := strings.Split(n.Value, ".")
	for _, p := range parts {
		if p == "" {
			return path{}, fmt.Sprintf("%q has an empty name in it", n.Value)
		}
	}
	if parts[0] == "context" {
		if len(parts) == 1 {
			return path{}, "\"context\" alone is not a value: name one of its fields (context.page.url)"
		}
		return path{ctx: true, parts: parts[1:]}, ""
	}
	return path{parts: parts}, ""
}

// nameKey is how track names match: ignoring case, and runs of spaces,
// '_' and '-' alike ("Email Opened", "email_opened").
func nameKey(name string) string {
	var b strings.Builder
	sep := false
	for _, r := range strings.ToLower(strings.TrimSpace(name)) {
		if r == ' ' || r == '_' || r == '-' || r == '\t' {
			sep = true
			continue
		}
		if sep && b.Len() > 0 {
			b.WriteByte(' ')
		}
		sep = false
		b.WriteRune(r)
	}
	return b.String()
}
