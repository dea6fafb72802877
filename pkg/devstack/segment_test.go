package devstack

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	analytics "gopkg.in/segmentio/analytics-go.v3"

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
