package segment

import (
	"net/http"
	"time"

	"github.com/leadscore/leads/pkg/event"
	"github.com/leadscore/leads/pkg/ingest"
)

// Intakes are the paths of Segment's HTTP tracking API: one per call,
// taking one message, and /v1/batch (which analytics-go, analytics-python,
// analytics-node and RudderStack's SDKs call) and /v1/import (which
// analytics-ruby and analytics-java call), taking {"batch": [...]} or one
// message with its type (as the webhook destination posts each call).
func (m *Mapping) Intakes() []ingest.Intake {
	out := []ingest.Intake{{Paths: []string{"/v1/batch", "/v1/import"}, Accepted: success,
		Decode: func(body []byte, now time.Time, lim event.Limits) ([]event.Event, []int, error) {
			return m.decode(body, "", true, now, lim)
		}}}
	for _, call := range append([]string{"track", "alias"}, calls...) {
		out = append(out, ingest.Intake{Paths: []string{"/v1/" + call}, Accepted: success,
			Decode: func(body []byte, now time.Time, lim event.Limits) ([]event.Event, []int, error) {
				return m.decode(body, call, false, now, lim)
			}})
	}
	return out
}

// success is Segment's answer to a call it took. Its SDKs read only the
// status (analytics-python wants exactly 200).
func success(w http.ResponseWriter) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("{\"success\":true}\n"))
	return http.StatusOK
}
