package model

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.yaml.in/yaml/v3"
)

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML returns the text of the built-in default model.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the built-in default model. It panics only if the embedded
// file is broken, which the package tests rule out.
func Default() *Model {
	m, err := Parse(defaultYAML)
	if err != nil {
		panic("model: built-in default does not validate: " + err.Error())
	}
	return m
}

// Stage is a contact's place in the buying journey.
type Stage uint8

// Stages, from the zero value: a new contact is early.
const (
	Early Stage = iota
	Mid
	Late
)

func (s Stage) String() string {
	switch s {
	case Mid:
		return "mid"
	case Late:
		return "late"
	}
	return "early"
}

// Profile fields a contact can have, as bits, for AQL's first gate.
const (
	FieldFirstName uint8 = 1 << iota
	FieldLastName
	FieldEmail
	FieldPhone
	FieldCompany
	FieldTitle
)

// FieldBits names the profile fields of contact.updated and their bits.
var FieldBits = map[string]uint8{
	"first_name": FieldFirstName, "last_name": FieldLastName, "email": FieldEmail,
	"phone": FieldPhone, "company": FieldCompany, "title": FieldTitle,
}

// Model is a compiled, validated scoring model. It is immutable and safe for
// concurrent use.
type Model struct {
	File    File
	Version string
	// Source is the file as written, kept in the model registry.
	Source []byte
	// Rules in file order; ByEvent indexes them by event type.
	Rules   []Rule
	ByEvent map[string][]int
	Titles  []Title
	// Target titles and required fields (each entry: any of its bits).
	TargetTitles   []*regexp.Regexp
	TargetExclude  []*regexp.Regexp
	TargetRequired []uint8
	AccountFit     []AccountRule
	Competitors    map[string]bool
	Grades         []GradeSpec
	MQL, MQA       Hysteresis
	AQL            AQLSpec
	Stages         StageSpec
	Decay          Decay
	DormantAfter   time.Duration
	Engagement     string
	TopN           int
	Nurture        Nurture
	// LedgerKeep and LedgerMaxAge are the ledger's retention (LedgerSpec).
	LedgerKeep   int
	LedgerMaxAge time.Duration
	// titles remembers what the model says of each title seen, since
	// matching one against the patterns costs more than the rest of an
	// event's scoring and a contact's title rarely changes.
	titles *titleCache
}

// Ledger retention: the lines kept per contact when the model does not
// say, and the most it may say (a ledger is rewritten whole when it
// outgrows retention, so it should stay a few kilobytes).
const (
	DefaultLedgerKeep = 200
	MaxLedgerKeep     = 10000
)

// titleFacts is what the model says of one title.
type titleFacts struct {
	target, cLevel bool
	points         int
	rule           string
}

// titleCache holds up to titleCacheMax titles; titles past that are
// matched each time.
type titleCache struct {
	m sync.Map
	n atomic.Int64
}

const titleCacheMax = 100_000

func (m *Model) title(title string) titleFacts {
	if m.titles != nil {
		if f, ok := m.titles.m.Load(title); ok {
			return f.(titleFacts)
		}
	}
	f := titleFacts{target: m.matchTargetTitle(title), cLevel: m.Nurture.isCLevel(title)}
	f.points, f.rule = m.matchTitlePoints(title)
	if m.titles != nil && m.titles.n.Load() < titleCacheMax {
		if _, loaded := m.titles.m.LoadOrStore(title, f); !loaded {
			m.titles.n.Add(1)
		}
	}
	return f
}

// Rule is a compiled behavior rule.
type Rule struct {
	ID         string
	Event      string
	Match      []PropertyMatch
	Points     int
	PointsBy   *PointsBy
	PointsFrom string
	Product    string
	Cap        *Cap
	Reason     string
}

// Cap is a compiled CapSpec. Key names the rule's count in a contact's
// state: the rule id and the window length in seconds, "email-open@86400".
type Cap struct {
	Max  int
	Per  time.Duration
	From int
	Key  string
}

// PropertyMatch is one compiled property matcher.
type PropertyMatch struct {
	Property string
	globs    []string // lower-cased
	re       *regexp.Regexp
	in       []string
}

// Matches reports whether the property value matches.
func (p *PropertyMatch) Matches(v string) bool {
	for _, g := range p.globs {
		if globMatch(g, v) {
			return true
		}
	}
	if p.re != nil {
		return p.re.MatchString(v)
	}
	for _, s := range p.in {
		if strings.EqualFold(s, v) {
			return true
		}
	}
	return false
}

// Title is a compiled title rule.
type Title struct {
	ID     string
	re     *regexp.Regexp
	Points int
}

// Matches reports whether the title matches.
func (t *Title) Matches(title string) bool { return t.re.MatchString(title) }

// AccountRule is a compiled account-fit rule.
type AccountRule struct {
	ID       string
	Field    string
	Min, Max float64
	In       map[string]bool
	Points   int
}

// Decay is the compiled decay spec; Floor is in behavior points.
type Decay struct {
	IdleAfter time.Duration
	Every     time.Duration
	Points    int
	Percent   float64
	Floor     int
}

// Enabled reports whether the model decays at all.
func (d Decay) Enabled() bool { return d.IdleAfter > 0 && (d.Points > 0 || d.Percent > 0) }

// IsTargetTitle reports whether a title passes AQL's title gate.
func (m *Model) IsTargetTitle(title string) bool { return m.title(title).target }

func (m *Model) matchTargetTitle(title string) bool {
	for _, re := range m.TargetExclude {
		if re.MatchString(title) {
			return false
		}
	}
	for _, re := range m.TargetTitles {
		if re.MatchString(title) {
			return true
		}
	}
	return false
}

// TitlePoints returns the first matching title rule's points and id.
func (m *Model) TitlePoints(title string) (int, string) {
	f := m.title(title)
	return f.points, f.rule
}

func (m *Model) matchTitlePoints(title string) (int, string) {
	if title == "" {
		return 0, ""
	}
	for i := range m.Titles {
		if m.Titles[i].Matches(title) {
			return m.Titles[i].Points, m.Titles[i].ID
		}
	}
	return 0, ""
}

// Grade returns the letter for a fit score.
func (m *Model) Grade(fit int, competitor bool) byte {
	if competitor {
		return 'F'
	}
	for _, g := range m.Grades {
		if fit >= g.Min {
			return g.Grade[0]
		}
	}
	return 'F'
}

// IsCompetitorDomain reports whether a domain (or an email's domain) is a
// competitor's.
func (m *Model) IsCompetitorDomain(s string) bool {
	if len(m.Competitors) == 0 || s == "" {
		return false
	}
	if i := strings.LastIndexByte(s, '@'); i >= 0 {
		s = s[i+1:]
	}
	s = strings.ToLower(strings.TrimSpace(s))
	for s != "" {
		if m.Competitors[s] {
			return true
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	return false
}

// StageOf places a behavior score in a stage.
func (m *Model) StageOf(behavior int) Stage {
	switch {
	case behavior >= m.Stages.Late:
		return Late
	case behavior >= m.Stages.Mid:
		return Mid
	}
	return Early
}

// Problem is one thing wrong with a model file, with where it is.
type Problem struct {
	Path    string
	Line    int
	Message string
}

func (p Problem) String() string {
	switch {
	case p.Line > 0 && p.Path != "":
		return fmt.Sprintf("line %d: %s: %s", p.Line, p.Path, p.Message)
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Message)
	case p.Path != "":
		return p.Path + ": " + p.Message
	}
	return p.Message
}

// ValidationError lists every problem found in a model file.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string { return ProblemList("model", e.Problems) }

// ProblemList says how many problems a file of the kind what has, then
// each on a line of its own: the message of a ValidationError.
func ProblemList(what string, problems []Problem) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s has %d problem(s):", what, len(problems))
	for _, p := range problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}

// ErrInvalid is matched by errors.Is for every validation failure.
var ErrInvalid = errors.New("invalid scoring model")

// Is makes errors.Is(err, ErrInvalid) true.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Parse reads, validates and compiles a model file. On failure the error is a
// *ValidationError listing every problem with its line and path.
func Parse(data []byte) (*Model, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &ValidationError{Problems: YAMLProblems(err)}
	}
	if len(root.Content) == 0 {
		return nil, &ValidationError{Problems: []Problem{{Message: "empty model file"}}}
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil {
		return nil, &ValidationError{Problems: YAMLProblems(err)}
	}
	c := compiler{root: root.Content[0]}
	m := c.compile(&f)
	c.compileNurture(f.Nurture, m)
	if len(c.problems) > 0 {
		return nil, &ValidationError{Problems: c.problems}
	}
	m.Source = bytes.Clone(data)
	return m, nil
}

var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// YAMLProblems are the problems a YAML decoder's error reports, each with
// its line when the decoder gave one.
func YAMLProblems(err error) []Problem {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	out := make([]Problem, 0, len(msgs))
	for _, msg := range msgs {
		p := Problem{Message: strings.TrimPrefix(msg, "yaml: ")}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			fmt.Sscanf(m[1], "%d", &p.Line)
			p.Message = m[2]
		}
		out = append(out, p)
	}
	return out
}

type compiler struct {
	root     *yaml.Node
	problems []Problem
	// ids says where each id was first given (see checkID).
	ids map[string]string
}

func (c *compiler) add(path, format string, args ...any) {
	c.problems = append(c.problems, Problem{Path: path, Line: lineOf(c.root, path), Message: fmt.Sprintf(format, args...)})
}

var (
	eventTypePattern = regexp.MustCompile(`^[a-z0-9_]+(\.[a-z0-9_]+)+$`)
	idPattern        = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

const maxPoints = 1000

// compile checks the file and builds the model from it, a step for each
// section. Each step goes on past a problem, so that Parse lists them all.
func (c *compiler) compile(f *File) *Model {
	m := &Model{File: *f, Version: f.Version, ByEvent: map[string][]int{}, Competitors: map[string]bool{}, titles: &titleCache{}}
	c.ids = map[string]string{}
	c.checkDates(f)
	c.checkVersion(f)
	c.compileRules(f.Rules, m)
	c.compileContactFit(f.ContactFit, m)
	m.AccountFit = c.accountFit(f.AccountFit)
	for _, d := range f.Competitors.Domains {
		m.Competitors[strings.ToLower(strings.TrimSpace(d))] = true
	}
	m.Grades = f.Grades
	c.checkGrades(f.Grades)
	m.MQL = c.hysteresis("thresholds.mql", f.Thresholds.MQL)
	m.MQA = c.hysteresis("thresholds.mqa", f.Thresholds.MQA)
	m.AQL, m.Stages = f.Thresholds.AQL, f.Stages
	c.checkStages(f.Stages)
	m.Decay = c.decay(f.Decay, m.MQL.Enter)
	m.DormantAfter = c.dormantAfter(f.Dormant)
	m.Engagement, m.TopN = c.engagement(f.Account)
	m.LedgerKeep, m.LedgerMaxAge = c.ledgerRetention(f.Ledger)
	return m
}

// checkID checks the id of a rule, a title rule or an account-fit rule:
// one id names one of them, whichever section it is in.
func (c *compiler) checkID(path, id string) {
	switch {
	case id == "":
		c.add(path, "is required")
	case !idPattern.MatchString(id):
		c.add(path, "%q: use letters, digits, '-', '_' or '.', at most 64", id)
	case c.ids[id] != "":
		c.add(path, "duplicate id %q (also at %s)", id, c.ids[id])
	default:
		c.ids[id] = path
	}
}

func (c *compiler) checkPoints(path string, v int) {
	if v < -maxPoints || v > maxPoints {
		c.add(path, "%d is outside ±%d", v, maxPoints)
	}
}

// checkVersion checks the model's version and that every changelog entry
// says which version, when and what changed.
func (c *compiler) checkVersion(f *File) {
	if f.Version == "" {
		c.add("version", "is required")
	} else if len(f.Version) > 32 {
		c.add("version", "longer than 32 characters")
	}
	for i, ch := range f.Changelog {
		p := fmt.Sprintf("changelog[%d]", i)
		if ch.Version == "" {
			c.add(p+".version", "is required")
		}
		if ch.Date.IsZero() && !ch.Date.invalid {
			c.add(p+".date", "is required")
		}
		if ch.What == "" {
			c.add(p+".what", "is required")
		}
	}
}

// compileRules compiles the behavior rules and indexes them by event type.
func (c *compiler) compileRules(rules []RuleSpec, m *Model) {
	for i, rs := range rules {
		m.Rules = append(m.Rules, c.rule(fmt.Sprintf("rules[%d]", i), rs))
		m.ByEvent[rs.Event] = append(m.ByEvent[rs.Event], i)
	}
}

// rule compiles the behavior rule at path p.
func (c *compiler) rule(p string, rs RuleSpec) Rule {
	c.checkID(p+".id", rs.ID)
	r := Rule{ID: rs.ID, Event: rs.Event, Product: rs.Product, Reason: rs.Reason, PointsFrom: rs.PointsFrom}
	switch {
	case !eventTypePattern.MatchString(rs.Event):
		c.add(p+".event", "%q is not a lower-case dotted event type", rs.Event)
	case strings.HasPrefix(rs.Event, "account."):
		c.add(p+".event", "%q is an account event: behavior rules score contact events only (firmographics score through account_fit)", rs.Event)
	}
	r.Points, r.PointsBy = c.rulePoints(p, rs)
	r.Match = c.matchers(p+".match", rs.Match)
	if rs.Cap != nil {
		r.Cap = c.ruleCap(p+".cap", rs.ID, *rs.Cap)
	}
	if rs.Product != "" && !idPattern.MatchString(rs.Product) {
		c.add(p+".product", "%q: use letters, digits, '-', '_' or '.'", rs.Product)
	}
	return r
}

// rulePoints checks that the rule at path p scores in exactly one way, and
// returns its fixed points or its steps.
func (c *compiler) rulePoints(p string, rs RuleSpec) (points int, by *PointsBy) {
	n := 0
	if rs.Points != nil {
		n++
		points = *rs.Points
		c.checkPoints(p+".points", points)
	}
	if rs.PointsBy != nil {
		n++
		by = c.pointsBy(p+".points_by", *rs.PointsBy)
	}
	if rs.PointsFrom != "" {
		n++
	}
	if n != 1 {
		c.add(p, "needs exactly one of points, points_by, points_from")
	}
	return points, by
}

func (c *compiler) pointsBy(path string, pb PointsBy) *PointsBy {
	if pb.Property == "" {
		c.add(path+".property", "is required")
	}
	if len(pb.Steps) == 0 {
		c.add(path+".steps", "needs at least one step")
	}
	for j, st := range pb.Steps {
		sp := fmt.Sprintf("%s.steps[%d]", path, j)
		c.checkPoints(sp+".points", st.Points)
		if j > 0 && st.Min <= pb.Steps[j-1].Min {
			c.add(sp+".min", "steps must have increasing min")
		}
		if math.IsNaN(st.Min) || math.IsInf(st.Min, 0) {
			c.add(sp+".min", "must be a finite number")
		}
	}
	return &pb
}

// matchers compiles a rule's property matchers in the order of their
// property names.
func (c *compiler) matchers(path string, match map[string]Matcher) []PropertyMatch {
	var out []PropertyMatch
	for _, prop := range sortedKeys(match) {
		pm, err := compileMatcher(prop, match[prop])
		if err != nil {
			c.add(path+"."+prop, "%v", err)
			continue
		}
		out = append(out, pm)
	}
	return out
}

// ruleCap compiles the cap of the rule ruleID; a from of 0 means the
// first match.
func (c *compiler) ruleCap(path, ruleID string, spec CapSpec) *Cap {
	cp := Cap{Max: spec.Max, Per: time.Duration(spec.Per), From: spec.From}
	if cp.From == 0 {
		cp.From = 1
	}
	if cp.Max < 1 {
		c.add(path+".max", "must be at least 1")
	}
	if cp.From < 1 {
		c.add(path+".from", "must be at least 1")
	}
	if c.duration(path+".per", spec.Per) && cp.Per < time.Minute {
		c.add(path+".per", "must be at least 1m")
	}
	cp.Key = ruleID + "@" + strconv.FormatInt(int64(cp.Per/time.Second), 10)
	return &cp
}

// compileContactFit compiles the title rules and AQL's target: its title
// patterns and required fields.
func (c *compiler) compileContactFit(cf ContactFit, m *Model) {
	m.Titles = c.titleRules(cf.Titles)
	m.TargetTitles = c.titlePatterns("contact_fit.target.titles", cf.Target.Titles)
	m.TargetExclude = c.titlePatterns("contact_fit.target.exclude", cf.Target.Exclude)
	m.TargetRequired = c.requiredFields(cf.Target.Required)
}

func (c *compiler) titleRules(rules []TitleRule) []Title {
	var out []Title
	for i, t := range rules {
		p := fmt.Sprintf("contact_fit.titles[%d]", i)
		c.checkID(p+".id", t.ID)
		c.checkPoints(p+".points", t.Points)
		re, err := regexp.Compile("(?i)" + t.Pattern)
		if err != nil || t.Pattern == "" {
			c.add(p+".pattern", "invalid pattern %q: %v", t.Pattern, errOrEmpty(err))
			continue
		}
		out = append(out, Title{ID: t.ID, re: re, Points: t.Points})
	}
	return out
}

// titlePatterns compiles the list of title patterns at path, matched
// case-insensitively.
func (c *compiler) titlePatterns(path string, patterns []string) []*regexp.Regexp {
	var out []*regexp.Regexp
	for i, t := range patterns {
		re, err := regexp.Compile("(?i)" + t)
		if err != nil || t == "" {
			c.add(fmt.Sprintf("%s[%d]", path, i), "invalid pattern %q: %v", t, errOrEmpty(err))
			continue
		}
		out = append(out, re)
	}
	return out
}

// requiredFields turns each required entry, field names joined by "|",
// into the bits of its fields (any of which will do).
func (c *compiler) requiredFields(required []string) []uint8 {
	var out []uint8
	for i, req := range required {
		var bits uint8
		for _, name := range strings.Split(req, "|") {
			b, ok := FieldBits[strings.TrimSpace(name)]
			if !ok {
				c.add(fmt.Sprintf("contact_fit.target.required[%d]", i), "unknown field %q (known: first_name, last_name, email, phone, company, title)", name)
			}
			bits |= b
		}
		out = append(out, bits)
	}
	return out
}

func (c *compiler) accountFit(rules []FitRule) []AccountRule {
	var out []AccountRule
	for i, fr := range rules {
		out = append(out, c.accountRule(fmt.Sprintf("account_fit[%d]", i), fr))
	}
	return out
}

// accountRule compiles the account-fit rule at path p: a range for a
// numeric field, a set of values for the others.
func (c *compiler) accountRule(p string, fr FitRule) AccountRule {
	c.checkID(p+".id", fr.ID)
	c.checkPoints(p+".points", fr.Points)
	ar := AccountRule{ID: fr.ID, Field: fr.Field, Points: fr.Points, Min: math.Inf(-1), Max: math.Inf(1)}
	switch fr.Field {
	case "employees", "revenue":
		ar.Min, ar.Max = c.accountRange(p, fr)
	case "industry", "country", "technologies", "tier":
		ar.In = c.accountValues(p, fr)
	default:
		c.add(p+".field", "unknown field %q (employees, revenue, industry, country, technologies, tier)", fr.Field)
	}
	return ar
}

// accountRange returns the bounds of a numeric account-fit rule, infinite
// where it gives none.
func (c *compiler) accountRange(p string, fr FitRule) (lo, hi float64) {
	if fr.Min == nil && fr.Max == nil {
		c.add(p, "a numeric field needs min or max")
	}
	if len(fr.In) > 0 {
		c.add(p+".in", "not allowed for numeric field %q", fr.Field)
	}
	lo, hi = math.Inf(-1), math.Inf(1)
	if fr.Min != nil {
		lo = *fr.Min
	}
	if fr.Max != nil {
		hi = *fr.Max
	}
	if lo > hi {
		c.add(p, "min %g is above max %g", lo, hi)
	}
	return lo, hi
}

// accountValues returns the values of a listed account-fit rule, in lower
// case.
func (c *compiler) accountValues(p string, fr FitRule) map[string]bool {
	if len(fr.In) == 0 {
		c.add(p+".in", "field %q needs a list of values", fr.Field)
	}
	if fr.Min != nil || fr.Max != nil {
		c.add(p, "min/max not allowed for field %q", fr.Field)
	}
	in := map[string]bool{}
	for _, v := range fr.In {
		in[strings.ToLower(v)] = true
	}
	if fr.Field == "tier" {
		for j, v := range fr.In {
			if v := strings.ToLower(v); v != "named" && v != "target" && v != "non_icp" {
				c.add(fmt.Sprintf("%s.in[%d]", p, j), "tier %q is not named, target or non_icp", v)
			}
		}
	}
	return in
}

// checkGrades checks that the grades run from best to worst, A to E, each
// with a lower min than the one before.
func (c *compiler) checkGrades(grades []GradeSpec) {
	if len(grades) == 0 {
		c.add("grades", "at least one grade is required")
	}
	for i, g := range grades {
		p := fmt.Sprintf("grades[%d]", i)
		if len(g.Grade) != 1 || g.Grade[0] < 'A' || g.Grade[0] > 'E' {
			c.add(p+".grade", "%q: grades are A to E, listed best first (F is below all and competitors)", g.Grade)
		} else if i > 0 && len(grades[i-1].Grade) == 1 && g.Grade[0] <= grades[i-1].Grade[0] {
			c.add(p+".grade", "grades must be listed best first without repeats")
		}
		if i > 0 && g.Min >= grades[i-1].Min {
			c.add(p+".min", "must be below the previous grade's min %d", grades[i-1].Min)
		}
	}
}

// hysteresis checks the threshold at name and returns it with a leave of
// 0 meaning leave at enter.
func (c *compiler) hysteresis(name string, h Hysteresis) Hysteresis {
	if h.Enter <= 0 {
		c.add(name+".enter", "must be above 0")
	}
	if h.Leave == 0 {
		h.Leave = h.Enter
	}
	if h.Leave > h.Enter {
		c.add(name+".leave", "%d is above enter %d: leave must be at or below enter", h.Leave, h.Enter)
	}
	return h
}

func (c *compiler) checkStages(s StageSpec) {
	if s.Mid <= 0 || s.Late <= s.Mid {
		c.add("stages", "need 0 < mid < late (got mid %d, late %d)", s.Mid, s.Late)
	}
}

// decay compiles the decay spec; mqlEnter is the threshold a
// floor_percent_of_mql is a share of. A model without decay may leave the
// spec out.
func (c *compiler) decay(ds DecaySpec, mqlEnter int) Decay {
	d := Decay{IdleAfter: time.Duration(ds.IdleAfter), Every: time.Duration(ds.Every), Points: ds.Points, Percent: ds.Percent}
	if d.Every == 0 {
		d.Every = d.IdleAfter
	}
	idleOK, everyOK := c.duration("decay.idle_after", ds.IdleAfter), c.duration("decay.every", ds.Every)
	if ds.IdleAfter != 0 || ds.Points != 0 || ds.Percent != 0 {
		if idleOK && ds.IdleAfter < Duration(time.Minute) {
			c.add("decay.idle_after", "must be at least 1m")
		}
		if idleOK && everyOK && d.Every < time.Minute {
			c.add("decay.every", "must be at least 1m")
		}
		if (ds.Points > 0) == (ds.Percent > 0) {
			c.add("decay", "needs exactly one of points or percent, above 0")
		}
		if ds.Points < 0 || ds.Points > maxPoints {
			c.add("decay.points", "must be between 1 and %d", maxPoints)
		}
		if ds.Percent < 0 || ds.Percent >= 100 || math.IsNaN(ds.Percent) {
			c.add("decay.percent", "must be above 0 and below 100")
		}
	}
	d.Floor = c.decayFloor(ds, mqlEnter)
	return d
}

// decayFloor returns the floor in behavior points, given as such or as a
// percentage of mqlEnter.
func (c *compiler) decayFloor(ds DecaySpec, mqlEnter int) int {
	switch {
	case ds.Floor != nil && ds.FloorPercentOfMQL != 0:
		c.add("decay", "give floor or floor_percent_of_mql, not both")
	case ds.Floor != nil:
		if *ds.Floor < 0 || *ds.Floor > maxPoints {
			c.add("decay.floor", "must be between 0 and %d", maxPoints)
		}
		return *ds.Floor
	case ds.FloorPercentOfMQL != 0:
		if ds.FloorPercentOfMQL < 0 || ds.FloorPercentOfMQL > 100 || math.IsNaN(ds.FloorPercentOfMQL) {
			c.add("decay.floor_percent_of_mql", "must be between 0 and 100")
		}
		return int(math.Round(float64(mqlEnter) * ds.FloorPercentOfMQL / 100))
	}
	return 0
}

func (c *compiler) dormantAfter(d Duration) time.Duration {
	if c.duration("dormant_after", d) && d < 0 {
		c.add("dormant_after", "must not be negative")
	}
	return time.Duration(d)
}

// ledgerRetention returns how many lines and how long a contact's ledger
// keeps (DefaultLedgerKeep when not given; no age limit when 0).
func (c *compiler) ledgerRetention(l LedgerSpec) (int, time.Duration) {
	keep := l.Keep
	switch {
	case keep < 0 || keep > MaxLedgerKeep:
		c.add("ledger.keep", "must be between 1 and %d", MaxLedgerKeep)
	case keep == 0:
		keep = DefaultLedgerKeep
	}
	if c.duration("ledger.max_age", l.MaxAge) && l.MaxAge < 0 {
		c.add("ledger.max_age", "must not be negative")
	}
	return keep, time.Duration(l.MaxAge)
}

// engagement returns how an account's engagement aggregates its contacts'
// behavior, sum when not given, and the N of top_n.
func (c *compiler) engagement(a AccountSpec) (string, int) {
	switch a.Engagement {
	case "":
		return "sum", a.TopN
	case "sum", "max":
	case "top_n":
		if a.TopN < 1 {
			c.add("account.top_n", "must be at least 1 when engagement is top_n")
		}
	default:
		c.add("account.engagement", "%q is not sum, max or top_n", a.Engagement)
	}
	return a.Engagement, a.TopN
}

// duration reports a duration that did not parse, with the text written at
// path, and says whether d is usable.
func (c *compiler) duration(path string, d Duration) bool {
	if d != invalidDuration {
		return true
	}
	c.add(path, "invalid duration %q (use 24h, 30d or 2w)", scalarAt(c.root, path))
	return false
}

func (c *compiler) checkDates(f *File) {
	if f.Reviewed.invalid {
		c.add("reviewed", "invalid date %q (use YYYY-MM-DD)", scalarAt(c.root, "reviewed"))
	}
	for i, ch := range f.Changelog {
		if p := fmt.Sprintf("changelog[%d].date", i); ch.Date.invalid {
			c.add(p, "invalid date %q (use YYYY-MM-DD)", scalarAt(c.root, p))
		}
	}
}

func errOrEmpty(err error) error {
	if err == nil {
		return errors.New("empty pattern")
	}
	return err
}

func compileMatcher(prop string, mt Matcher) (PropertyMatch, error) {
	pm := PropertyMatch{Property: prop}
	if len(mt.unknown) > 0 {
		return pm, fmt.Errorf("unknown key %q (a matcher mapping has one of glob, regex, in)", mt.unknown[0])
	}
	n := 0
	if len(mt.Globs) > 0 {
		n++
		for _, g := range mt.Globs {
			if g == "" {
				return pm, errors.New("empty glob")
			}
			pm.globs = append(pm.globs, strings.ToLower(g))
		}
	}
	if mt.Regex != "" {
		n++
		re, err := regexp.Compile("(?i)" + mt.Regex)
		if err != nil {
			return pm, fmt.Errorf("invalid pattern %q: %w", mt.Regex, err)
		}
		pm.re = re
	}
	if len(mt.In) > 0 {
		n++
		pm.in = mt.In
	}
	if n != 1 {
		return pm, errors.New("needs exactly one of glob, regex, in")
	}
	return pm, nil
}

// globMatch matches s against a lower-case glob where * is any run of
// characters (/ too) and ? any one byte, folding ASCII case. It runs in
// linear time with no allocation: regular expressions cost ten times more
// on the hot path.
func globMatch(pattern, s string) bool {
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == lowerASCII(s[i])):
			p++
			i++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

func lowerASCII(b byte) byte {
	if 'A' <= b && b <= 'Z' {
		return b + ('a' - 'A')
	}
	return b
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// scalarAt returns the text of the scalar at path, or "".
func scalarAt(n *yaml.Node, path string) string {
	for _, seg := range splitPath(path) {
		var next *yaml.Node
		switch {
		case seg.index >= 0 && n.Kind == yaml.SequenceNode && seg.index < len(n.Content):
			next = n.Content[seg.index]
		case seg.index < 0 && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg.key {
					next = n.Content[i+1]
					break
				}
			}
		}
		if next == nil {
			return ""
		}
		n = next
	}
	if n.Kind != yaml.ScalarNode {
		return ""
	}
	return n.Value
}

// lineOf finds the line of a path such as rules[3].match.url in the YAML
// tree, or of its deepest existing ancestor.
func lineOf(n *yaml.Node, path string) int {
	line := n.Line
	for _, seg := range splitPath(path) {
		var next *yaml.Node
		switch {
		case seg.index >= 0 && n.Kind == yaml.SequenceNode && seg.index < len(n.Content):
			next = n.Content[seg.index]
		case seg.index < 0 && n.Kind == yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg.key {
					next = n.Content[i+1]
					if next.Kind == yaml.ScalarNode || next.Kind == yaml.AliasNode {
						line = n.Content[i].Line
					}
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		if n.Kind != yaml.ScalarNode {
			line = n.Line
		}
	}
	return line
}

type segment struct {
	key   string
	index int
}

func splitPath(path string) []segment {
	var out []segment
	for _, part := range strings.Split(path, ".") {
		key, rest, _ := strings.Cut(part, "[")
		if key != "" {
			out = append(out, segment{key: key, index: -1})
		}
		for rest != "" {
			num, after, _ := strings.Cut(rest, "]")
			var i int
			fmt.Sscanf(num, "%d", &i)
			out = append(out, segment{index: i})
			rest = strings.TrimPrefix(after, "[")
		}
	}
	return out
}
