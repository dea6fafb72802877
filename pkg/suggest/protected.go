package suggest

import (
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/leadscore/leads/pkg/model"
)

// DefaultProtected names the attributes whose rules a suggestion always
// flags for review when it leaves them points: the grounds on which
// anti-discrimination law commonly forbids treating people differently
// (national origin, age, sex and gender, race and ethnicity, religion,
// disability, marital status and pregnancy, veteran status, genetic
// information), as an account-fit field or an event property may name
// them. Of the account-fit fields only country is one; event properties
// are whatever the sources send ("gender", "age_range", "date_of_birth").
var DefaultProtected = []string{
	"country", "nationality", "citizenship", "national origin",
	"age", "birth", "birthday", "birthdate", "dob",
	"sex", "gender", "sexual orientation",
	"race", "ethnicity", "ethnic",
	"religion", "religious", "faith",
	"disability", "disabled",
	"marital", "pregnancy", "pregnant",
	"veteran", "genetic",
}

// protectedTerms is every term a suggestion flags: DefaultProtected, the
// model file's protected list and Config.Protected.
func protectedTerms(m *model.Model, extra []string) []string {
	terms := slices.Concat(DefaultProtected, m.File.Protected, extra)
	slices.Sort(terms)
	return slices.Compact(terms)
}

// protectedTerm returns the term that name is about, if any: the name's
// words (split at anything but letters and digits, and where a lower-case
// letter meets an upper-case one) hold the term's words in a row. So
// "age_range", "contactAge" and "Age" are about age, "page" and "usage"
// are not; "date_of_birth" and "birthDate" are about birth.
func protectedTerm(name string, terms []string) (string, bool) {
	w := words(name)
	for _, t := range terms {
		tw := words(t)
		if len(tw) == 0 {
			continue
		}
		for i := 0; i+len(tw) <= len(w); i++ {
			if slices.Equal(w[i:i+len(tw)], tw) {
				return t, true
			}
		}
	}
	return "", false
}

// words splits a name into lower-case words.
func words(s string) []string {
	var out []string
	var cur []rune
	var prev rune
	flush := func() {
		if len(cur) > 0 {
			out = append(out, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	for _, r := range s {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			cur = append(cur, r)
		default:
			cur = append(cur, r)
		}
		prev = r
	}
	flush()
	return out
}

// protectedKeys names what a rule of the suggestion keys on that is
// protected: an account-fit rule's field; a behavior rule's matched
// properties and the property its points come from.
func protectedKeys(cols *columns, j int, terms []string) []string {
	var names []string
	switch cols.sections[j] {
	case "account_fit":
		names = []string{cols.m.AccountFit[cols.index[j]].Field}
	case "rules":
		r := cols.m.Rules[cols.index[j]]
		for _, pm := range r.Match {
			names = append(names, pm.Property)
		}
		if r.PointsBy != nil {
			names = append(names, r.PointsBy.Property)
		}
	}
	var out []string
	for _, n := range names {
		if t, ok := protectedTerm(n, terms); ok {
			if !strings.EqualFold(n, t) {
				n = fmt.Sprintf("%s (%s)", n, t)
			}
			out = append(out, n)
		}
	}
	return out
}
