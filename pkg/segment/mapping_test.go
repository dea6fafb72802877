package segment

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTheBuiltInMappingParses(t *testing.T) {
	t.Parallel()
	m := Default()
	for _, name := range []string{"Email Opened", "email_link_clicked", "UNSUBSCRIBED", "video-playback-paused", "Webinar  Attended"} {
		assert.NotNil(t, m.track[nameKey(name)], name)
	}
	for _, call := range calls {
		assert.NotNil(t, m.call[call], call)
	}
}

// TestMappingProblemsNameTheirLine: every problem of a mapping file is
// reported at once, each with its line, as the model file's are.
func TestMappingProblemsNameTheirLine(t *testing.T) {
	t.Parallel()
	file := strings.Join([]string{
		/* 1 */ "track:",
		/* 2 */ "  Webinar Attended: webinar.attended",
		/* 3 */ "  webinar_attended: webinar.registered",
		/* 4 */ "  Demo Requested: Demo.Requested",
		/* 5 */ "  Video Progress:",
		/* 6 */ "    type: video.watched",
		/* 7 */ "    properties:",
		/* 8 */ "      percent: {percent_of: [position]}",
		/* 9 */ "      url: {value: [1, 2]}",
		/* 10 */ "      title: context",
		/* 11 */ "  Nothing:",
		/* 12 */ "    properties: {a: b}",
		/* 13 */ "page:",
		/* 14 */ "  type: account.page_viewed",
		/* 15 */ "  colour: red",
		/* 16 */ "group: contact.updated",
		/* 17 */ "pages: {}",
	}, "\n")
	_, err := Parse([]byte(file))
	require.Error(t, err)
	require.True(t, errors.Is(err, ErrInvalid))
	var ve *ValidationError
	require.ErrorAs(t, err, &ve)
	var got []string
	for _, p := range ve.Problems {
		got = append(got, p.String())
	}
	assert.Equal(t, []string{
		`line 3: track[webinar_attended]: the same event name as line 2 (names match ignoring case, and spaces, '_' and '-' alike)`,
		`line 4: track[Demo Requested].type: "Demo.Requested" is not an event type: lower-case dotted, like web.page_viewed, at most 64 bytes`,
		`line 8: track[Video Progress].properties.percent.percent_of: want two paths: [part, whole]`,
		`line 9: track[Video Progress].properties.url.value: must be a number, a string or a boolean`,
		`line 10: track[Video Progress].properties.title: "context" alone is not a value: name one of its fields (context.page.url)`,
		`line 11: track[Nothing].type: is required`,
		`line 14: page.type: only a group call names an account: an account.* type is for group`,
		`line 15: page.colour: unknown key (want type, properties)`,
		`line 16: group.type: a group call becomes an account event: its type must start with "account."`,
		`line 17: pages: unknown section (want track, page, screen, identify, group)`,
	}, got)

	_, err = Parse([]byte("track:\n  a: [b\n"))
	require.ErrorAs(t, err, &ve)
	assert.Positive(t, ve.Problems[0].Line, ve.Error())
}

// TestInvalidItemsAreRefusedWithTheirReasons: one bad item refuses the
// whole batch, as /v1/events does, naming each item and its field in
// Segment's terms; nothing is published.
func TestInvalidItemsAreRefusedWithTheirReasons(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC()
	srv, rec := newIngestor(t, func() time.Time { return now })
	future := now.Add(time.Hour).Format(time.RFC3339)
	body := `{"batch":[
		{"type":"track","event":"Email Opened","userId":"u-1","messageId":"ok"},
		{"type":"track","userId":"u-1"},
		{"type":"identify","traits":{"email":"a@b.c"}},
		{"type":"group","userId":"u-1"},
		{"type":"track","event":"Email Opened","userId":"u-1","timestamp":"` + future + `"},
		{"type":"track","event":"Email Opened","userId":{"id":1}},
		{"type":"shout","userId":"u-1"},
		{"type":"page","userId":"u-1","timestamp":"yesterday"},
		"not an object"
	]}`
	resp, text := postTo(t, srv.URL+"/v1/batch", writeKey, "", []byte(body))
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	assert.JSONEq(t, `{"errors":[
		{"index":1,"field":"event","message":"is required for a track call"},
		{"index":2,"field":"userId","message":"userId or anonymousId is required"},
		{"index":3,"field":"groupId","message":"is required for a group call"},
		{"index":4,"field":"timestamp","message":"is more than 5m0s in the future"},
		{"index":5,"field":"userId","message":"must be a string"},
		{"index":6,"field":"type","message":"\"shout\" is not a Segment call: want track, identify, group, page, screen or alias"},
		{"index":7,"field":"timestamp","message":"\"yesterday\" is not an ISO 8601 time with a zone (2026-11-20T10:00:00Z)"},
		{"index":8,"field":"","message":"is not an object"}
	]}`, text)
	assert.Empty(t, rec.events)

	resp, _ = postTo(t, srv.URL+"/v1/track", "wrong-key", "", []byte(`{"event":"Email Opened","userId":"u-1"}`))
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	resp, _ = postTo(t, srv.URL+"/v1/track", writeKey, "", []byte(`{"event":"Email Opened","userId":"u-1"}`))
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// TestAnonymousCallsAreContactsOfTheirOwn: without a userId, the contact
// is anon:<anonymousId>; with one, the userId wins.
func TestAnonymousCallsAreContactsOfTheirOwn(t *testing.T) {
	t.Parallel()
	srv, rec := newIngestor(t, time.Now)
	resp, _ := postTo(t, srv.URL+"/v1/page", writeKey, "", []byte(`{"anonymousId":"a-1","messageId":"p1","context":{"page":{"url":"https://x.example/pricing"}}}`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp, _ = postTo(t, srv.URL+"/v1/page", writeKey, "", []byte(`{"anonymousId":"a-1","userId":"u-1","messageId":"p2"}`))
	require.Equal(t, http.StatusOK, resp.StatusCode)
	got := rec.byID()
	assert.Equal(t, "anon:a-1", got["p1"].ContactID)
	assert.Equal(t, "https://x.example/pricing", got["p1"].Properties["url"], "the url from context.page")
	assert.Equal(t, "u-1", got["p2"].ContactID)
}

// TestTypesASourceMayNotSendAreRefused: the write key's source keeps its
// allowed types, checked on the mapped types.
func TestTypesASourceMayNotSendAreRefused(t *testing.T) {
	t.Parallel()
	srv, rec := newIngestor(t, time.Now, "email.*", "web.*")
	resp, text := postTo(t, srv.URL+"/v1/batch", writeKey, "", []byte(`{"batch":[
		{"type":"page","userId":"u-1"},{"type":"identify","userId":"u-1","traits":{"email":"a@b.c"}}]}`))
	require.Equal(t, http.StatusForbidden, resp.StatusCode)
	assert.JSONEq(t, `{"errors":[{"index":1,"field":"type","message":"this source may not send contact.updated"}]}`, text)
	assert.Empty(t, rec.events)
}
