package suggest

import (
	"bytes"
	"fmt"
	"strconv"

	"go.yaml.in/yaml/v3"

	"github.com/leadscore/leads/pkg/model"
)

// edits are the changes a suggestion makes to the current file.
type edits struct {
	version string
	// points maps section → index in the section → new points; for a
	// points_by rule, the new points of each step.
	points   map[string]map[int]int
	steps    map[int][]int
	mqlEnter int
	mqlLeave int // 0: leave absent
	change   model.Change
}

// rewrite applies the edits to the model file as written, keeping its
// comments, order and styles: only the numbers that change, the version,
// the review date (removed: nobody reviewed the suggestion yet) and the
// changelog are touched.
func rewrite(src []byte, e edits) ([]byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, err
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("model file is not a YAML mapping")
	}
	root := doc.Content[0]
	setScalar(root, "version", e.version, "!!str")
	removeKey(root, "reviewed")
	for section, byIndex := range e.points {
		seq := lookup(root, section)
		if section == "titles" {
			seq = lookup(lookup(root, "contact_fit"), "titles")
		}
		if seq == nil || seq.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("model file has no %s list", section)
		}
		for i, pts := range byIndex {
			setScalar(seq.Content[i], "points", strconv.Itoa(pts), "!!int")
		}
	}
	rules := lookup(root, "rules")
	for i, pts := range e.steps {
		steps := lookup(lookup(rules.Content[i], "points_by"), "steps")
		for j, p := range pts {
			setScalar(steps.Content[j], "points", strconv.Itoa(p), "!!int")
		}
	}
	th := lookup(root, "thresholds")
	mql := lookup(th, "mql")
	if mql == nil {
		return nil, fmt.Errorf("model file has no thresholds.mql")
	}
	setScalar(mql, "enter", strconv.Itoa(e.mqlEnter), "!!int")
	if e.mqlLeave != 0 {
		setScalar(mql, "leave", strconv.Itoa(e.mqlLeave), "!!int")
	}
	var entry yaml.Node
	if err := entry.Encode(e.change); err != nil {
		return nil, err
	}
	log := lookup(root, "changelog")
	if log == nil {
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "changelog"},
			&yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"})
		log = root.Content[len(root.Content)-1]
	}
	log.Content = append(log.Content, &entry)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), enc.Close()
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func setScalar(m *yaml.Node, key, value, tag string) {
	if n := lookup(m, key); n != nil {
		n.Value, n.Tag, n.Kind, n.Style = value, tag, yaml.ScalarNode, 0
		if tag == "!!str" {
			n.Style = yaml.DoubleQuotedStyle
		}
		return
	}
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	if tag == "!!str" {
		n.Style = yaml.DoubleQuotedStyle
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
}

func removeKey(m *yaml.Node, key string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return
		}
	}
}
