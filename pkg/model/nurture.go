package model

import (
	"fmt"
	"regexp"
	"strings"
)

// NurtureSpec sorts contacts who are not ready for sales into nurture
// programs: reactivation when dormant, c_level by title, key_vertical by
// the account's industry, other for the rest (in that order).
type NurtureSpec struct {
	// CLevelTitles are regular expressions matched case-insensitively
	// against the whole title.
	CLevelTitles []string `yaml:"c_level_titles"`
	KeyVerticals []string `yaml:"key_verticals"`
}

// Nurture categories.
const (
	NurtureReactivation = "reactivation"
	NurtureCLevel       = "c_level"
	NurtureKeyVertical  = "key_vertical"
	NurtureOther        = "other"
)

// NurtureCategories are the nurture categories a contact can be in.
var NurtureCategories = []string{NurtureReactivation, NurtureCLevel, NurtureKeyVertical, NurtureOther}

// ContentTiers is the content that suits each stage: early-stage contacts
// get light reads, late-stage ones proof and a meeting.
var ContentTiers = map[Stage][]string{
	Early: {"blog", "cheat sheet", "infographic"},
	Mid:   {"ebook", "webinar"},
	Late:  {"analyst report", "meeting request"},
}

// Nurture is the compiled NurtureSpec.
type Nurture struct {
	cLevel    []*regexp.Regexp
	verticals map[string]bool
}

// NurtureOf returns the nurture category of a contact.
func (m *Model) NurtureOf(title, industry string, dormant bool) string {
	switch {
	case dormant:
		return NurtureReactivation
	case title != "" && m.title(title).cLevel:
		return NurtureCLevel
	case m.Nurture.verticals[strings.ToLower(strings.TrimSpace(industry))]:
		return NurtureKeyVertical
	}
	return NurtureOther
}

func (n *Nurture) isCLevel(title string) bool {
	for _, re := range n.cLevel {
		if re.MatchString(strings.TrimSpace(title)) {
			return true
		}
	}
	return false
}

func (c *compiler) compileNurture(spec NurtureSpec, m *Model) {
	m.Nurture.verticals = map[string]bool{}
	for i, p := range spec.CLevelTitles {
		re, err := regexp.Compile(`(?i)^(?:` + p + `)$`)
		if err != nil {
			c.add(fmt.Sprintf("nurture.c_level_titles[%d]", i), "invalid pattern: %v", err)
			continue
		}
		m.Nurture.cLevel = append(m.Nurture.cLevel, re)
	}
	for _, v := range spec.KeyVerticals {
		m.Nurture.verticals[strings.ToLower(strings.TrimSpace(v))] = true
	}
}

// ParseStage is the inverse of Stage.String; anything else is Early.
func ParseStage(s string) Stage {
	switch s {
	case "mid":
		return Mid
	case "late":
		return Late
	}
	return Early
}
