package ingest

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/leadscore/leads/pkg/event"
)

// Intake is an HTTP API that takes events in another shape than
// POST /v1/events (Segment's tracking API, package segment). The service
// treats its requests as it does /v1/events: the same source tokens, size
// and count limits, memory bound, validation, allowed types, rate limits
// and all-or-nothing publish; only the body's shape, the credentials and
// the answer differ. Its bodies may be gzip-encoded; the decompressed size
// is bounded by --max-body-bytes.
type Intake struct {
	// Paths are the paths it answers POST on ("/v1/track").
	Paths []string
	// Decode turns a whole (decompressed) body into events. item[i] is the
	// index in the request of the item events[i] came from (one item may
	// give several events). Refused items come back as event.ItemErrors
	// indexed by item, a body over lim as *event.TooLargeError.
	Decode func(body []byte, now time.Time, lim event.Limits) (events []event.Event, item []int, err error)
	// Accepted answers a request whose events were all published, and
	// returns the status.
	Accepted func(w http.ResponseWriter) int
}

// WithIntake serves another intake API beside POST /v1/events.
func WithIntake(in Intake) Option {
	return func(s *Service) { s.intakes = append(s.intakes, in) }
}

func (s *Service) postIntake(in *Intake) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		status, n := s.handle(w, r, in)
		s.metrics.intakeRequests.WithLabelValues(r.URL.Path, fmt.Sprint(status)).Inc()
		s.log.Debug("POST "+r.URL.Path, loggedRequest(status, n, r, start)...)
	}
}

// intakeMediaType accepts JSON, and text/plain, which browsers send to
// avoid a CORS preflight and Segment's API takes as JSON.
func intakeMediaType(ct string) bool {
	if ct == "" {
		return true
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || (mt != "application/json" && mt != "text/plain") {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8") || strings.EqualFold(cs, "us-ascii")
}

// errGzipTooLarge is a gzip body that decompresses to more than the limit.
var errGzipTooLarge = errors.New("decompressed body over the limit")

// readGzip decompresses a gzip body of at most limit bytes compressed into
// at most limit bytes, never holding more than that.
func readGzip(r io.Reader, limit int64) ([]byte, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, err
		}
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	body, err := io.ReadAll(io.LimitReader(zr, limit+1))
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return nil, err
		}
		return nil, fmt.Errorf("gzip body: %w", err)
	}
	if int64(len(body)) > limit {
		return nil, errGzipTooLarge
	}
	return body, nil
}
