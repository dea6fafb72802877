package devstack

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leads/pkg/demo"
	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/testutil"
)

// segmentNames are the Segment event names the built-in mapping turns
// into the demo's types (pkg/segment/default.yaml).
var segmentNames = map[string]string{
	"email.opened": "Email Opened", "email.clicked": "Email Link Clicked", "email.unsubscribed": "Unsubscribed",
	"video.watched": "Video Playback Completed", "form.submitted": "Form Submitted", "content.downloaded": "Content Downloaded",
	"webinar.registered": "Webinar Registered", "webinar.attended": "Webinar Attended", "meeting.booked": "Meeting Booked",
	"tradeshow.visited": "Trade Show Visited",
}

// asSegment is ev as the Segment call a source would send for it.
func asSegment(ev *event.Event) map[string]any {
	msg := map[string]any{"messageId": ev.ID, "userId": ev.ContactID, "timestamp": ev.Time.Format(time.RFC3339Nano)}
	if ev.AccountID != "" {
		msg["context"] = map[string]any{"groupId": ev.AccountID}
	}
	switch ev.Type {
	case "contact.updated":
		msg["type"], msg["traits"] = "identify", ev.Properties
	case "web.page_viewed":
		msg["type"], msg["properties"] = "page", ev.Properties
	default:
		name, ok := segmentNames[ev.Type]
		if !ok {
			name = strings.ReplaceAll(ev.Type, ".", " ")
		}
		msg["type"], msg["event"], msg["properties"] = "track", name, ev.Properties
	}
	return msg
}

// BenchmarkSegmentVsEvents posts the same events to the ingestor as
// NDJSON on /v1/events and as Segment batch calls on /v1/batch, 1,000 a
// request from 4 clients, alternating, the ingestor alone (no scorer),
// and reports the Segment path's rate as a ratio of the other's.
// (account.updated events are left out: a group call makes two events.)
func BenchmarkSegmentVsEvents(b *testing.B) {
	const clients, batches, rounds, perBatch = 4, 50, 4, 1000
	topic := testutil.Prefix(b) + ".events"
	url := startIngestor(b, testutil.Kafka(b, 8, topic), topic)

	gen := demo.New(11, 50000, time.Now().UTC().Add(-time.Hour), "seg-")
	ndjson, segment := make([][]byte, batches), make([][]byte, batches)
	for i := range batches {
		var nd bytes.Buffer
		enc := json.NewEncoder(&nd)
		var msgs []map[string]any
		for len(msgs) < perBatch {
			for _, e := range gen.Next(perBatch, time.Millisecond) {
				if e.Type == "account.updated" || len(msgs) == perBatch {
					continue
				}
				if err := enc.Encode(&e); err != nil {
					b.Fatal(err)
				}
				msgs = append(msgs, asSegment(&e))
			}
		}
		body, err := json.Marshal(map[string]any{"batch": msgs})
		if err != nil {
			b.Fatal(err)
		}
		ndjson[i], segment[i] = nd.Bytes(), body
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	defer hc.CloseIdleConnections()
	post := func(path, ctype string, body []byte, want int) error {
		resp, err := hc.Post(url+path, ctype, bytes.NewReader(body))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != want {
			var buf bytes.Buffer
			_, _ = buf.ReadFrom(resp.Body)
			b.Logf("%s: %s", path, buf.String())
			return &statusError{resp.StatusCode}
		}
		return nil
	}
	send := map[string]func(i int) error{
		"events":  func(i int) error { return post("/v1/events", "application/x-ndjson", ndjson[i], http.StatusAccepted) },
		"segment": func(i int) error { return post("/v1/batch", "application/json", segment[i], http.StatusOK) },
	}
	run := func(name string) time.Duration { return sendAll(b, name, clients, rounds, batches, send[name]) }
	run("events") // warm-up
	run("segment")
	took := map[string]time.Duration{}
	for b.Loop() {
		for _, name := range []string{"events", "segment", "segment", "events"} {
			took[name] += run(name)
		}
	}
	rate := func(name string) float64 { return float64(2*b.N*rounds*batches*perBatch) / took[name].Seconds() }
	b.ReportMetric(rate("events"), "events-path-events/s")
	b.ReportMetric(rate("segment"), "segment-path-events/s")
	b.ReportMetric(rate("segment")/rate("events"), "segment/events")
}
