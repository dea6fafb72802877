package segment

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// specExamples reads testdata/spec.json: the shapes of the examples in
// Segment's spec documents (its _source names them), by name.
func specExamples(t *testing.T) map[string]json.RawMessage {
	t.Helper()
	b, err := os.ReadFile("testdata/spec.json")
	require.NoError(t, err)
	var all map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &all))
	delete(all, "_source")
	return all
}

func postTo(t *testing.T, url, key, encoding string, body []byte) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if encoding != "" {
		req.Header.Set("Content-Encoding", encoding)
	}
	req.SetBasicAuth(key, "")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp, b.String()
}

// specWant is what each example becomes with the default mapping.
var specWant = map[string]struct {
	typ, contact, account string
	props                 map[string]any
}{
	"track":    {"segment.track", "AiUGstSDIg", "", map[string]any{"event": "Course Clicked"}},
	"identify": {"contact.updated", "97980cfea0067", "", map[string]any{"email": "peter@example.com"}},
	"group": {"account.updated", "97980cfea0067", "0e8c78ea9d97a7b8185e8632",
		map[string]any{"name": "Initech", "industry": "Technology", "employees": "329", "country": nil}},
	"page":   {"web.page_viewed", "97980cfea0067", "", map[string]any{"url": "http://www.example.com", "title": "Welcome | Initech", "name": "Home"}},
	"screen": {"app.screen_viewed", "97980cfea0067", "", map[string]any{"name": "Home"}},
	"alias":  {"contact.merged", "39239-239239-239239-23923", "", map[string]any{"into": "507f191e81"}},
	"email_link_clicked": {"email.clicked", "97980cfea0067", "",
		map[string]any{"url": "https://segment.com/docs", "email_id": "18vzF7u6ZgMWmHuPKJbA3ztqfBqC2", "campaign_id": "55555"}},
	"email_opened":             {"email.opened", "97980cfea0067", "", map[string]any{"subject": "Welcome!"}},
	"unsubscribed":             {"email.unsubscribed", "97980cfea0067", "", map[string]any{"list_id": "000000"}},
	"video_playback_paused":    {"video.watched", "97980cfea0067", "", map[string]any{"percent": 25.0, "session_id": "12345"}},
	"video_playback_completed": {"video.watched", "97980cfea0067", "", map[string]any{"percent": 100}},
}

// TestSegmentSpecExamplesAreTakenAsTheyAre posts each example of
// Segment's spec documents, unchanged, to its call's path, then all of
// them as one batch to /v1/batch and, gzip-encoded, to /v1/import.
func TestSegmentSpecExamplesAreTakenAsTheyAre(t *testing.T) {
	t.Parallel()
	examples := specExamples(t)
	require.Len(t, examples, len(specWant))
	srv, rec := newIngestor(t, time.Now)
	var batch []json.RawMessage
	for name, raw := range examples {
		var typed struct{ Type string }
		require.NoError(t, json.Unmarshal(raw, &typed))
		resp, body := postTo(t, srv.URL+"/v1/"+typed.Type, writeKey, "", raw)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", name, body)
		assert.JSONEq(t, `{"success":true}`, body)
		batch = append(batch, raw)
	}
	body, err := json.Marshal(map[string]any{"batch": batch, "sentAt": "2015-02-23T22:28:55.111Z"})
	require.NoError(t, err)
	resp, text := postTo(t, srv.URL+"/v1/batch", writeKey, "", body)
	require.Equal(t, http.StatusOK, resp.StatusCode, text)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = zw.Write(body)
	require.NoError(t, zw.Close())
	resp, text = postTo(t, srv.URL+"/v1/import", writeKey, "gzip", gz.Bytes())
	require.Equal(t, http.StatusOK, resp.StatusCode, text)

	// Three times each example, and each time one more for the group
	// call (membership), the identify call (the anonymous visitor merged)
	// and the alias call (the previous id merged as a user's and as an
	// anonymous visitor's).
	require.Len(t, rec.events, 3*(len(examples)+3))
	got := rec.byID()
	for name, raw := range examples {
		var ids struct{ MessageID, PreviousID string }
		require.NoError(t, json.Unmarshal(raw, &ids))
		if name == "alias" {
			ids.MessageID = "merge:" + ids.PreviousID
		}
		ev, ok := got[ids.MessageID]
		require.True(t, ok, name)
		w := specWant[name]
		assert.Equal(t, w.typ, ev.Type, name)
		assert.Equal(t, w.contact, ev.ContactID, name)
		assert.Equal(t, w.account, ev.AccountID, name)
		props := stringify(ev.Properties)
		for k, v := range w.props {
			if v == nil {
				assert.NotContains(t, props, k, "%s: %s", name, k)
				continue
			}
			assert.EqualValues(t, stringify(map[string]any{k: v})[k], props[k], "%s: %s", name, k)
		}
		assert.Equal(t, 2015, ev.Time.Year(), name)
	}
	assert.Equal(t, "contact.updated", got["member:022bb90c-bbac-11e4-8dfc-aa07a5b093dc"].Type)
	identified := got["merge:anon:507f191e810c19729de860ea"]
	assert.Equal(t, "contact.merged", identified.Type, "identify with userId and anonymousId merges the visitor")
	assert.Equal(t, "97980cfea0067", identified.Properties["into"])
	assert.Equal(t, "507f191e81", got["merge:anon:39239-239239-239239-23923"].Properties["into"])
}
