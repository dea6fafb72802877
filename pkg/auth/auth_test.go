package auth

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	zoomToken = "zoom-secret-token"
	crmToken  = "crm-read-token"
)

var testFile = `
sources:
  - name: zoom
    token_sha256: ` + Hash(zoomToken) + `
    types: ["webinar.*", "contact.updated"]
    rate: 10
    burst: 20
  - name: website
    token_sha256: ` + Hash("website-token") + `
    types: ["*"]
readers:
  - name: crm
    token_sha256: ` + Hash(crmToken) + `
`

func request(token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/v1/events", nil)
	if token != "" {
		r.Header.Set("Authorization", token)
	}
	return r
}

func TestHashIsSha256Hex(t *testing.T) {
	t.Parallel()
	// printf %s test | sha256sum
	assert.Equal(t, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Hash("test"))
}

func TestSourceAndReaderTokens(t *testing.T) {
	t.Parallel()
	tok, err := Parse([]byte(testFile))
	require.NoError(t, err)
	require.True(t, tok.Configured())
	for _, tt := range []struct {
		name, header string
		source       string // "" when refused
		reader       bool
	}{
		{"no header", "", "", false},
		{"source token", "Bearer " + zoomToken, "zoom", false},
		{"scheme is case-insensitive", "bearer " + zoomToken, "zoom", false},
		{"other source", "Bearer website-token", "website", false},
		{"read token is not a source token", "Bearer " + crmToken, "", true},
		{"wrong token", "Bearer zoom-secret-tokem", "", false},
		{"token prefix", "Bearer " + zoomToken[:5], "", false},
		{"basic auth", "Basic " + zoomToken, "", false},
		{"empty bearer", "Bearer ", "", false},
		{"the hash itself is not the token", "Bearer " + Hash(zoomToken), "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			src, ok := tok.Source(request(tt.header))
			assert.Equal(t, tt.source != "", ok)
			if tt.source != "" {
				require.NotNil(t, src)
				assert.Equal(t, tt.source, src.Name)
			}
			_, ok = tok.Reader(request(tt.header))
			assert.Equal(t, tt.reader, ok)
		})
	}
}

func TestOpenAcceptsEveryone(t *testing.T) {
	t.Parallel()
	for _, tok := range []*Tokens{Open(), nil, {}} {
		src, ok := tok.Source(request(""))
		assert.True(t, ok)
		assert.Nil(t, src)
		assert.True(t, src.Allows("anything.at_all"))
		_, ok = tok.Reader(request(""))
		assert.True(t, ok)
		assert.False(t, tok.Configured())
	}
	tok, err := Load("")
	require.NoError(t, err)
	assert.False(t, tok.Configured())
}

func TestEmptyFileRefusesEveryone(t *testing.T) {
	t.Parallel()
	tok, err := Parse(nil)
	require.NoError(t, err)
	assert.True(t, tok.Configured())
	_, ok := tok.Source(request("Bearer x"))
	assert.False(t, ok)
	_, ok = tok.Reader(request("Bearer x"))
	assert.False(t, ok)
}

func TestAllowedTypes(t *testing.T) {
	t.Parallel()
	tok, err := Parse([]byte(testFile))
	require.NoError(t, err)
	zoom, ok := tok.Source(request("Bearer " + zoomToken))
	require.True(t, ok)
	for typ, want := range map[string]bool{
		"webinar.attended": true, "webinar.registered": true, "contact.updated": true,
		"email.opened": false, "webinar": false, "contact.updated.x": false, "account.updated": false,
		// "*" stands for one part of a dotted type, not for several.
		"webinar.a.b": false, "webinar.attended.x": false,
	} {
		assert.Equal(t, want, zoom.Allows(typ), typ)
	}
	web, _ := tok.Source(request("Bearer website-token"))
	assert.True(t, web.Allows("deal.won"))
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	tok, err := Parse([]byte(testFile))
	require.NoError(t, err)
	zoom, _ := tok.Source(request("Bearer " + zoomToken))
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	assert.Equal(t, 20, zoom.Burst())

	wait, ok, _ := zoom.Take(at, 15)
	assert.True(t, ok)
	assert.Zero(t, wait, "within the burst")
	wait, ok, _ = zoom.Take(at, 10)
	assert.True(t, ok)
	assert.Equal(t, 500*time.Millisecond, wait, "5 left, 5 more at 10/s")
	wait, ok, _ = zoom.Take(at, 5)
	assert.Zero(t, wait, "a refused take took nothing")
	assert.True(t, ok)
	wait, empty := zoom.Empty(at)
	assert.True(t, empty)
	assert.Equal(t, 100*time.Millisecond, wait)
	_, empty = zoom.Empty(at.Add(100 * time.Millisecond))
	assert.False(t, empty, "refilled at 10/s")
	_, ok, _ = zoom.Take(at.Add(time.Hour), 21)
	assert.False(t, ok, "over the burst: no wait helps")

	web, _ := tok.Source(request("Bearer website-token"))
	wait, ok, _ = web.Take(at, 1_000_000)
	assert.True(t, ok)
	assert.Zero(t, wait, "no rate configured: no limit")
	assert.Zero(t, web.Burst())
}

func TestDefaultBurstIsOneSecond(t *testing.T) {
	t.Parallel()
	tok, err := New(File{Sources: []SourceConfig{{Name: "a", TokenSHA256: Hash("a"), Types: []string{"*"}, Rate: 2.5}}})
	require.NoError(t, err)
	assert.Equal(t, 3, tok.sources[0].Burst())
}

func TestParseListsEveryProblem(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, file string
		errs       []error
		msg        string
	}{
		{"bad name and hash", `sources: [{name: "a b", token_sha256: "xyz", types: ["*"]}]`, []error{ErrName, ErrHash}, `sources[0] "a b"`},
		{"short hash", `readers: [{name: r, token_sha256: "abcd"}]`, []error{ErrHash}, `readers[0] "r"`},
		{"no types", `sources: [{name: a, token_sha256: ` + Hash("a") + `}]`, []error{ErrTypes}, ""},
		{"bad glob", `sources: [{name: a, token_sha256: ` + Hash("a") + `, types: ["web.[x"]}]`, []error{ErrPattern}, "web.[x"},
		{"negative rate", `sources: [{name: a, token_sha256: ` + Hash("a") + `, types: ["*"], rate: -1}]`, []error{ErrRate}, ""},
		{"negative burst", `sources: [{name: a, token_sha256: ` + Hash("a") + `, types: ["*"], rate: 1, burst: -1}]`, []error{ErrRate}, ""},
		{"same token twice", `sources: [{name: a, token_sha256: ` + Hash("a") + `, types: ["*"]}, {name: b, token_sha256: ` + Hash("a") + `, types: ["*"]}]`,
			[]error{ErrDuplicate}, `sources[1] "b"`},
		{"same reader name twice", `readers: [{name: a, token_sha256: ` + Hash("a") + `}, {name: a, token_sha256: ` + Hash("b") + `}]`,
			[]error{ErrDuplicate}, ""},
		{"misspelt key", `sources: [{name: a, token_sha256: ` + Hash("a") + `, type: ["*"]}]`, nil, "field type not found"},
		{"not YAML", `sources: [`, nil, "parse"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse([]byte(tt.file))
			require.Error(t, err)
			for _, e := range tt.errs {
				assert.ErrorIs(t, err, e)
			}
			assert.Contains(t, err.Error(), tt.msg)
		})
	}
}

func TestLoadReadsJSONToo(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "tokens.json")
	require.NoError(t, os.WriteFile(p, []byte(`{"sources":[{"name":"a","token_sha256":"`+Hash("a")+`","types":["*"]}],"readers":[]}`), 0o600))
	tok, err := Load(p)
	require.NoError(t, err)
	src, ok := tok.Source(request("Bearer a"))
	require.True(t, ok)
	assert.Equal(t, "a", src.Name)
	_, err = Load(filepath.Join(t.TempDir(), "missing.yaml"))
	assert.ErrorContains(t, err, "read tokens file")
}

func TestRequireReader(t *testing.T) {
	t.Parallel()
	tok, err := Parse([]byte(testFile))
	require.NoError(t, err)
	h := tok.RequireReader(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) }))
	for header, want := range map[string]int{"": 401, "Bearer wrong": 401, "Bearer " + zoomToken: 401, "Bearer " + crmToken: 418} {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, "/v1/contacts/c-1", nil)
		r.Header.Set("Authorization", header)
		h.ServeHTTP(rec, r)
		assert.Equal(t, want, rec.Code, header)
		if want == 401 {
			assert.Equal(t, `Bearer realm="leads"`, rec.Header().Get("WWW-Authenticate"))
			assert.JSONEq(t, `{"errors":[{"message":"a read token is required: Authorization: Bearer <token>"}]}`, rec.Body.String())
		}
	}
	rec := httptest.NewRecorder()
	Open().RequireReader(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })).
		ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/leaderboard", nil))
	assert.Equal(t, http.StatusTeapot, rec.Code, "open without tokens")
}

func TestSourceTravelsInTheContext(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "", SourceFrom(context.Background()))
	assert.Equal(t, "zoom", SourceFrom(WithSource(context.Background(), "zoom")))
}

// TestRotation: a source with two tokens accepts both, as one source with
// one rate limit; readers likewise.
func TestRotation(t *testing.T) {
	t.Parallel()
	tok, err := Parse([]byte(`
sources:
  - name: zoom
    token_sha256: ` + Hash("old") + `
    tokens_sha256: [` + Hash("new") + `]
    types: ["*"]
    rate: 1
    burst: 2
readers:
  - {name: crm, tokens_sha256: [` + Hash("r-old") + `, ` + Hash("r-new") + `]}
`))
	require.NoError(t, err)
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	old, ok := tok.Source(request("Bearer old"))
	require.True(t, ok)
	fresh, ok := tok.Source(request("Bearer new"))
	require.True(t, ok)
	assert.Same(t, old, fresh, "one source")
	_, ok, _ = old.Take(at, 2)
	require.True(t, ok)
	wait, _, _ := fresh.Take(at, 1)
	assert.Equal(t, time.Second, wait, "the bucket is shared")
	for _, r := range []string{"r-old", "r-new"} {
		name, ok := tok.Reader(request("Bearer " + r))
		assert.True(t, ok)
		assert.Equal(t, "crm", name)
	}
	sources, readers := tok.Summary()
	assert.Equal(t, 1, sources)
	assert.Equal(t, 1, readers)
}

func TestEveryEntryNeedsAToken(t *testing.T) {
	t.Parallel()
	for _, file := range []string{
		`sources: [{name: a, types: ["*"]}]`,
		`readers: [{name: a}]`,
		`sources: [{name: a, tokens_sha256: [], types: ["*"]}]`,
	} {
		_, err := Parse([]byte(file))
		assert.ErrorIs(t, err, ErrNoToken, file)
	}
	_, err := Parse([]byte(`readers: [{name: a, tokens_sha256: [` + Hash("x") + `, ` + Hash("x") + `]}]`))
	assert.ErrorIs(t, err, ErrDuplicate, "the same token twice in one list")
	_, err = Parse([]byte(`readers: [{name: a, token_sha256: ` + Hash("x") + `}, {name: b, tokens_sha256: [` + Hash("y") + `, ` + Hash("x") + `]}]`))
	assert.ErrorIs(t, err, ErrDuplicate, "one token for two readers")
}

func TestUndoGivesEventsBack(t *testing.T) {
	t.Parallel()
	tok, err := New(File{Sources: []SourceConfig{{Name: "a", TokenSHA256: Hash("a"), Types: []string{"*"}, Rate: 1, Burst: 3}}})
	require.NoError(t, err)
	src := tok.sources[0]
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	wait, ok, undo := src.Take(at, 3)
	require.True(t, ok)
	require.Zero(t, wait)
	wait, _, _ = src.Take(at, 1)
	require.Equal(t, time.Second, wait, "empty")
	undo()
	wait, _, _ = src.Take(at, 3)
	assert.Zero(t, wait, "the three events are back")
}

func TestChargeTakesEvenPastEmpty(t *testing.T) {
	t.Parallel()
	tok, err := New(File{Sources: []SourceConfig{{Name: "a", TokenSHA256: Hash("a"), Types: []string{"*"}, Rate: 2, Burst: 4}}})
	require.NoError(t, err)
	src := tok.sources[0]
	at := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	src.Charge(at, 3)
	_, empty := src.Empty(at)
	assert.False(t, empty, "one event left")
	src.Charge(at, 100) // the burst at most
	wait, empty := src.Empty(at)
	assert.True(t, empty)
	assert.Equal(t, 2*time.Second, wait, "three events below empty: four to one, at 2/s")
	_, empty = src.Empty(at.Add(2 * time.Second))
	assert.False(t, empty)

	none, _ := Open().Source(request(""))
	none.Charge(at, 10) // no source, no limit: nothing to charge
}

// TestWriteKeysAreSourceTokensAsBasicUser: Segment's and RudderStack's
// SDKs send the write key as the Basic user name with no password; a
// bearer token works too, and a read token or a key as password does not.
func TestWriteKeysAreSourceTokensAsBasicUser(t *testing.T) {
	t.Parallel()
	tok, err := Parse([]byte(testFile))
	require.NoError(t, err)
	basic := func(user, pass string) string {
		r := httptest.NewRequest(http.MethodPost, "/v1/batch", nil)
		r.SetBasicAuth(user, pass)
		return r.Header.Get("Authorization")
	}
	for _, tt := range []struct {
		name, header, source string
	}{
		{"write key as user", basic(zoomToken, ""), "zoom"},
		{"a password is ignored", basic(zoomToken, "x"), "zoom"},
		{"bearer", "Bearer " + zoomToken, "zoom"},
		{"key as password", basic("", zoomToken), ""},
		{"read token", basic(crmToken, ""), ""},
		{"wrong key", basic(zoomToken+"x", ""), ""},
		{"no header", "", ""},
	} {
		src, ok := tok.WriteKeySource(request(tt.header))
		assert.Equal(t, tt.source != "", ok, tt.name)
		if tt.source != "" && assert.NotNil(t, src, tt.name) {
			assert.Equal(t, tt.source, src.Name, tt.name)
		}
	}
	src, ok := Open().WriteKeySource(request(""))
	assert.True(t, ok)
	assert.Nil(t, src)
}
