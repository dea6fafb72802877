package devstack

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	analytics "gopkg.in/segmentio/analytics-go.v3"

	"github.com/leadscore/leads/pkg/api"
	"github.com/leadscore/leads/pkg/openapi/openapitest"
)

// TestSegmentSDKCallsAreScored: Segment's own Go client, unchanged and
// pointed at the stack's ingestor, identifies a VP at an account, groups
// it, and tracks a webinar and an email click; an anonymous visitor reads
// a blog post. Both are scored as the default model says.
func TestSegmentSDKCallsAreScored(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	now := time.Now().UTC().Add(-time.Minute)
	client, err := analytics.NewWithConfig("any-key", analytics.Config{Endpoint: s.IngestorURL, Interval: 10 * time.Millisecond,
		Transport: openapitest.Client(t), // every answer as the API description says
		// The batch's context: every call of this client is in acme.com.
		DefaultContext: &analytics.Context{Extra: map[string]any{"groupId": "acme.com"}}})
	require.NoError(t, err)
	for _, msg := range []analytics.Message{
		analytics.Group{MessageId: "g-1", UserId: "u-1", GroupId: "acme.com", Timestamp: now,
			Traits: analytics.NewTraits().SetName("Acme").Set("employees", 5000).Set("industry", "software")},
		analytics.Identify{MessageId: "i-1", UserId: "u-1", Timestamp: now,
			Traits: analytics.NewTraits().SetFirstName("Ada").SetLastName("Lovelace").SetEmail("ada@acme.com").SetTitle("VP Engineering")},
		analytics.Track{MessageId: "t-1", UserId: "u-1", Event: "Webinar Attended", Timestamp: now},
		analytics.Track{MessageId: "t-2", UserId: "u-1", Event: "Email Link Clicked", Timestamp: now,
			Properties: analytics.NewProperties().Set("link_url", "https://acme.example/x")},
		analytics.Track{MessageId: "t-2", UserId: "u-1", Event: "Email Link Clicked", Timestamp: now}, // a resend
		analytics.Page{MessageId: "p-1", AnonymousId: "a-77", Timestamp: now,
			Properties: analytics.NewProperties().SetURL("https://acme.example/blog/scoring")},
	} {
		require.NoError(t, client.Enqueue(msg))
	}
	require.NoError(t, client.Close())

	// identify, the group's membership, webinar, one click (the resend is
	// a duplicate id).
	c := waitContact(t, s, "u-1", 4)
	assert.Equal(t, "acme.com", c.AccountID)
	assert.Equal(t, int32(35), c.Behavior, "webinar attended 25 + email click 10")
	assert.Equal(t, "VP Engineering", c.Title)
	anon := waitContact(t, s, "anon:a-77", 1)
	assert.Equal(t, int32(10), anon.Behavior, "a blog post")
}

// TestSegmentIdentifyMergesTheAnonymousVisitor: an anonymous visitor
// looks at the pricing page twice, then identifies (Segment's client sends
// the userId with the anonymousId it had). Its visits count for the
// contact from then on, its history is part of the contact's, its id
// answers with the contact, and a re-sent identify, another identify and a
// late anonymous call change nothing but what the late call scores.
func TestSegmentIdentifyMergesTheAnonymousVisitor(t *testing.T) {
	t.Parallel()
	s := startStack(t)
	now := time.Now().UTC().Add(-time.Minute)
	send := func(msgs ...analytics.Message) {
		t.Helper()
		client, err := analytics.NewWithConfig("any-key", analytics.Config{Endpoint: s.IngestorURL, Interval: 10 * time.Millisecond,
			Transport: openapitest.Client(t)})
		require.NoError(t, err)
		for _, msg := range msgs {
			require.NoError(t, client.Enqueue(msg))
		}
		require.NoError(t, client.Close())
	}
	pricing := analytics.NewProperties().SetURL("https://acme.example/pricing")
	send(analytics.Page{MessageId: "p-1", AnonymousId: "a-99", Timestamp: now, Properties: pricing},
		analytics.Page{MessageId: "p-2", AnonymousId: "a-99", Timestamp: now.Add(time.Second), Properties: pricing})
	anon := waitContact(t, s, "anon:a-99", 2)
	require.Positive(t, anon.Behavior)

	identify := analytics.Identify{MessageId: "i-9", UserId: "u-9", AnonymousId: "a-99", Timestamp: now.Add(2 * time.Second),
		Traits: analytics.NewTraits().SetEmail("grace@acme.example").SetTitle("Director of Marketing")}
	send(identify)
	c := waitContact(t, s, "u-9", 3) // the identify, and the visitor's two visits
	assert.Equal(t, anon.Behavior, c.Behavior, "the visitor's pricing visits count for the contact")
	assert.Equal(t, anon.Products, c.Products)
	assert.Equal(t, []string{"anon:a-99"}, c.Merged)

	// The visitor's id answers with the contact it became.
	var got api.Contact
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/contacts/anon:a-99", &got))
	assert.Equal(t, "u-9", got.ContactID)
	var history struct {
		ContactID string      `json:"contact_id"`
		Entries   []api.Entry `json:"entries"`
	}
	require.Equal(t, http.StatusOK, getJSON(t, s.IngestorURL+"/v1/contacts/u-9/history", &history))
	var merged, fromVisitor int
	for _, e := range history.Entries {
		switch {
		case e.Kind == "merge":
			merged++
			assert.Equal(t, anon.Behavior, e.Points)
			assert.Equal(t, c.Behavior, e.Behavior, "the identify adds fit, not behavior")
		case e.MergedFrom == "anon:a-99":
			fromVisitor++
		}
	}
	assert.Equal(t, 1, merged, "%+v", history.Entries)
	assert.Positive(t, fromVisitor, "the visitor's own lines are part of the history")

	// The identify re-sent, and another one with a new message id, merge
	// nothing again; a late anonymous call counts for the contact.
	identify2 := identify
	identify2.MessageId = "i-10"
	send(identify, identify2, analytics.Track{MessageId: "t-9", AnonymousId: "a-99", Event: "Webinar Attended",
		Timestamp: now.Add(3 * time.Second)})
	c = waitContact(t, s, "u-9", 5) // + the second identify, + the webinar
	assert.Equal(t, anon.Behavior+25, c.Behavior)
	assert.Equal(t, []string{"anon:a-99"}, c.Merged)
}
