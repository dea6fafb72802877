package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
	"golang.org/x/time/rate"

	"github.com/leadscore/leads/pkg/httperr"
)

// File is the tokens file (YAML, or JSON, which is YAML too):
//
//	sources:
//	  - name: zoom
//	    token_sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    tokens_sha256: [...]   # more tokens of the same source, for rotation
//	    types: ["webinar.*"]
//	    rate: 200     # events per second; 0 or absent: no limit
//	    burst: 2000   # events at once; also the largest batch the source may post
//	readers:
//	  - name: crm
//	    token_sha256: ...
type File struct {
	Sources []SourceConfig `yaml:"sources" json:"sources"`
	Readers []ReaderConfig `yaml:"readers" json:"readers"`
}

// SourceConfig is one source allowed to post events.
// TokensSHA256 lists more valid tokens: while a token is rotated, the old
// and the new one both work, and share the source's rate limit.
type SourceConfig struct {
	Name         string   `yaml:"name" json:"name"`
	TokenSHA256  string   `yaml:"token_sha256" json:"token_sha256"`
	TokensSHA256 []string `yaml:"tokens_sha256" json:"tokens_sha256"`
	Types        []string `yaml:"types" json:"types"`
	Rate         float64  `yaml:"rate" json:"rate"`
	Burst        int      `yaml:"burst" json:"burst"`
}

// ReaderConfig is one caller allowed to read scores.
type ReaderConfig struct {
	Name         string   `yaml:"name" json:"name"`
	TokenSHA256  string   `yaml:"token_sha256" json:"token_sha256"`
	TokensSHA256 []string `yaml:"tokens_sha256" json:"tokens_sha256"`
}

// Errors from Parse, joined with the entry they are about.
var (
	ErrName      = errors.New("name must be 1-64 characters of a-z, A-Z, 0-9, '.', '_', '-'")
	ErrDuplicate = errors.New("name or token hash used twice")
	ErrHash      = errors.New("token_sha256 must be 64 hex digits (the SHA-256 of the token)")
	ErrNoToken   = errors.New("token_sha256 or tokens_sha256 is required")
	ErrTypes     = errors.New("types must list at least one event type or glob (\"*\" for all)")
	ErrPattern   = errors.New("bad type glob")
	ErrRate      = errors.New("rate must be a finite number of events per second, 0 or more, and burst 0 or more")
)

var validName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Tokens are the configured callers. The zero value and Open() accept
// everyone (development mode).
type Tokens struct {
	configured bool
	sources    []*Source
	// Every valid token's hash and whose it is.
	sourceKeys []key[*Source]
	readerKeys []key[string]
}

type key[T any] struct {
	hash [sha256.Size]byte
	who  T
}

// Source is an authenticated source of events.
type Source struct {
	Name    string
	types   []string
	limiter *rate.Limiter // nil: no limit
}

// Open returns tokens that accept every caller: nothing is configured.
func Open() *Tokens { return &Tokens{} }

// Load reads a tokens file; path "" means none configured (Open).
func Load(path string) (*Tokens, error) {
	if path == "" {
		return Open(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens file: %w", err)
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokens file %s: %w", path, err)
	}
	return t, nil
}

// Parse reads a tokens file's contents and returns every problem in it.
// Unknown keys are refused: a misspelt "types" must not grant every type.
func Parse(data []byte) (*Tokens, error) {
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	// An empty file is an empty configuration: every request refused.
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("parse: %w", err)
	}
	return New(f)
}

// New builds the tokens from a parsed file. A file with no entries still
// counts as configured: every request is then refused.
func New(f File) (*Tokens, error) {
	t := &Tokens{configured: true}
	var errs []error
	bad := func(what string, i int, name string, err error) {
		errs = append(errs, fmt.Errorf("%s[%d] %q: %w", what, i, name, err))
	}
	// hashesOf parses an entry's hashes and checks its name, reporting
	// problems against the entry.
	hashesOf := func(what string, i int, name, one string, more []string, names map[string]bool,
		seen map[[sha256.Size]byte]bool) [][sha256.Size]byte {
		if !validName.MatchString(name) {
			bad(what, i, name, ErrName)
		}
		if names[name] {
			bad(what, i, name, ErrDuplicate)
		}
		names[name] = true
		all := more
		if one != "" {
			all = append([]string{one}, more...)
		}
		if len(all) == 0 {
			bad(what, i, name, ErrNoToken)
		}
		var out [][sha256.Size]byte
		for _, s := range all {
			h, err := parseHash(s)
			switch {
			case err != nil:
				bad(what, i, name, err)
			case seen[h]:
				bad(what, i, name, ErrDuplicate)
			default:
				seen[h] = true
				out = append(out, h)
			}
		}
		return out
	}
	names, hashes := map[string]bool{}, map[[sha256.Size]byte]bool{}
	for i, sc := range f.Sources {
		src := &Source{Name: sc.Name, types: sc.Types}
		for _, h := range hashesOf("sources", i, sc.Name, sc.TokenSHA256, sc.TokensSHA256, names, hashes) {
			t.sourceKeys = append(t.sourceKeys, key[*Source]{hash: h, who: src})
		}
		if len(sc.Types) == 0 {
			bad("sources", i, sc.Name, ErrTypes)
		}
		for _, p := range sc.Types {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				bad("sources", i, sc.Name, fmt.Errorf("%w %q", ErrPattern, p))
			}
		}
		switch {
		case sc.Rate < 0 || math.IsNaN(sc.Rate) || math.IsInf(sc.Rate, 0) || sc.Burst < 0:
			bad("sources", i, sc.Name, ErrRate)
		case sc.Rate > 0:
			burst := sc.Burst
			if burst == 0 {
				burst = max(int(math.Ceil(sc.Rate)), 1)
			}
			src.limiter = rate.NewLimiter(rate.Limit(sc.Rate), burst)
		}
		t.sources = append(t.sources, src)
	}
	names, hashes = map[string]bool{}, map[[sha256.Size]byte]bool{}
	for i, rc := range f.Readers {
		for _, h := range hashesOf("readers", i, rc.Name, rc.TokenSHA256, rc.TokensSHA256, names, hashes) {
			t.readerKeys = append(t.readerKeys, key[string]{hash: h, who: rc.Name})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

func parseHash(s string) ([sha256.Size]byte, error) {
	var h [sha256.Size]byte
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != sha256.Size {
		return h, ErrHash
	}
	copy(h[:], b)
	return h, nil
}

// Hash returns the hex SHA-256 of a token, as the tokens file lists it
// (the same as `printf %s "$TOKEN" | sha256sum`).
func Hash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// Configured reports whether tokens were configured; if not, every caller
// is accepted (development mode).
func (t *Tokens) Configured() bool { return t != nil && t.configured }

// Summary says how many sources and readers are configured, for the
// startup log.
func (t *Tokens) Summary() (sources, readers int) {
	if t == nil {
		return 0, 0
	}
	names := map[string]bool{}
	for _, k := range t.readerKeys {
		names[k.who] = true
	}
	return len(t.sources), len(names)
}

// bearer returns the hash of the request's bearer token, or false when it
// carries none.
func bearer(r *http.Request) ([sha256.Size]byte, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return [sha256.Size]byte{}, false
	}
	return sha256.Sum256([]byte(token)), true
}

// match compares h with every key's hash, always all of them and in
// constant time each, so neither the answer's timing nor its position in
// the list tells a caller how close a guess was.
func match[T any](h [sha256.Size]byte, keys []key[T]) (T, bool) {
	var who T
	found := false
	for i := range keys {
		if subtle.ConstantTimeCompare(h[:], keys[i].hash[:]) == 1 {
			who, found = keys[i].who, true
		}
	}
	return who, found
}

// Source returns the source whose token the request carries. Without
// configured tokens it returns (nil, true): everyone may post.
func (t *Tokens) Source(r *http.Request) (*Source, bool) {
	if !t.Configured() {
		return nil, true
	}
	h, ok := bearer(r)
	if !ok {
		return nil, false
	}
	return match(h, t.sourceKeys)
}

// WriteKeySource is Source for Segment's and RudderStack's SDKs, which
// send their write key as the user name of HTTP Basic authentication with
// an empty password: the write key is a source token, so the source's
// allowed types and rate apply. A bearer token is accepted too (a webhook
// may be configured with either).
func (t *Tokens) WriteKeySource(r *http.Request) (*Source, bool) {
	if !t.Configured() {
		return nil, true
	}
	h, ok := bearer(r)
	if !ok {
		user, _, basic := r.BasicAuth()
		if !basic || user == "" {
			return nil, false
		}
		h = sha256.Sum256([]byte(user))
	}
	return match(h, t.sourceKeys)
}

// UnauthorizedWriteKey answers 401 with a Basic challenge, as Segment's
// API does, and msg in the error shape.
func UnauthorizedWriteKey(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Basic realm="leads"`)
	httperr.Write(w, http.StatusUnauthorized, msg)
}

// Reader returns the name of the reader whose token the request carries.
// Without configured tokens it returns ("", true).
func (t *Tokens) Reader(r *http.Request) (string, bool) {
	if !t.Configured() {
		return "", true
	}
	h, ok := bearer(r)
	if !ok {
		return "", false
	}
	return match(h, t.readerKeys)
}

// RequireReader wraps the read API: 401 unless the request carries a read
// token (when tokens are configured).
func (t *Tokens) RequireReader(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := t.Reader(r); !ok {
			Unauthorized(w, "a read token is required: Authorization: Bearer <token>")
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Unauthorized answers 401 with a WWW-Authenticate challenge and msg in
// the error shape (see httperr).
func Unauthorized(w http.ResponseWriter, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="leads"`)
	httperr.Write(w, http.StatusUnauthorized, msg)
}

// Allows reports whether the source may send events of the type: it
// matches one of its globs, where "*" stands for one part of the dotted
// type ("webinar.*" allows webinar.attended, not webinar.a.b), and "*"
// alone for every type. A nil source (no tokens configured) may send
// anything.
func (s *Source) Allows(typ string) bool {
	if s == nil {
		return true
	}
	for _, p := range s.types {
		if p == "*" || matchType(p, typ) {
			return true
		}
	}
	return false
}

// matchType matches a dotted type against a glob part by part: path.Match
// on the parts as path elements, since its "*" never crosses a '/'.
func matchType(pattern, typ string) bool {
	if strings.Contains(typ, "/") {
		return false // not a type (the ingestor refuses it before)
	}
	ok, _ := path.Match(strings.ReplaceAll(pattern, ".", "/"), strings.ReplaceAll(typ, ".", "/"))
	return ok
}

// Burst is the most events the source may post at once; 0 means no limit.
func (s *Source) Burst() int {
	if s == nil || s.limiter == nil {
		return 0
	}
	return s.limiter.Burst()
}

// Empty reports whether the source's bucket holds less than one event at
// now, and how long until it does: a cheap check before decoding a body.
func (s *Source) Empty(now time.Time) (time.Duration, bool) {
	if s == nil || s.limiter == nil {
		return 0, false
	}
	tokens := s.limiter.TokensAt(now)
	if tokens >= 1 {
		return 0, false
	}
	return time.Duration((1 - tokens) / float64(s.limiter.Limit()) * float64(time.Second)), true
}

// Take takes n events from the source's bucket at now. It returns 0 when
// they were taken, else how long to wait before n can be taken (nothing is
// taken then). ok is false when n is over the burst: no wait helps. undo
// gives taken events back, for a batch that was not published after all.
func (s *Source) Take(now time.Time, n int) (wait time.Duration, ok bool, undo func()) {
	nothing := func() {}
	if s == nil || s.limiter == nil {
		return 0, true, nothing
	}
	r := s.limiter.ReserveN(now, n)
	if !r.OK() {
		return 0, false, nothing
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, true, nothing
	}
	return 0, true, func() { r.CancelAt(now) }
}

// Charge takes n events from the source's bucket at now, at most its burst,
// even past empty: for a request refused after its body was read and
// judged. The source then waits until the bucket has refilled (Empty says
// how long) before another body of its is read, so refused bodies cost as
// much of its rate as accepted ones and it cannot make the ingestor read
// and judge bodies faster than its rate allows.
func (s *Source) Charge(now time.Time, n int) {
	if s == nil || s.limiter == nil {
		return
	}
	s.limiter.ReserveN(now, min(max(n, 1), s.limiter.Burst()))
}

type sourceKey struct{}

// WithSource returns ctx carrying the authenticated source's name, which
// the publisher records with each event.
func WithSource(ctx context.Context, name string) context.Context {
	return context.WithValue(ctx, sourceKey{}, name)
}

// SourceFrom returns the authenticated source's name carried by ctx, or "".
func SourceFrom(ctx context.Context) string {
	name, _ := ctx.Value(sourceKey{}).(string)
	return name
}
