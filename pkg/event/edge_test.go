package event

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimesBefore1970AreRefused(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	for at, ok := range map[time.Time]bool{
		time.Unix(1, 0):  true,
		time.Unix(0, 0):  false,
		time.Unix(-1, 0): false,
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC): false,
	} {
		e := Event{ID: "e", Type: "email.opened", ContactID: "c", Time: at}
		errs := e.Validate(now)
		assert.Equal(t, ok, len(errs) == 0, "%s: %v", at, errs)
		if !ok {
			assert.Equal(t, "time", errs[0].Field)
		}
		assert.Equal(t, errs, e.Validate(time.Time{}), "replay judges the same")
	}
}

func TestByteOrderMarkIsIgnored(t *testing.T) {
	t.Parallel()
	for _, ct := range []string{"application/json", "application/x-ndjson", ""} {
		evs, err := Decode(strings.NewReader("\xef\xbb\xbf"+one+"\n"), ct, DefaultLimits)
		require.NoError(t, err, ct)
		require.Len(t, evs, 1)
		assert.Equal(t, "e1", evs[0].ID)
	}
	_, err := Decode(strings.NewReader(one+"\n\xef\xbb\xbf"+one), "application/x-ndjson", DefaultLimits)
	var ie ItemErrors
	require.True(t, errors.As(err, &ie), "only a leading mark is ignored: %v", err)
	assert.Equal(t, 1, ie[0].Index)
}

func TestBodyExactlyAtTheLimit(t *testing.T) {
	t.Parallel()
	body := one + strings.Repeat(" ", 1000-len(one))
	evs, err := Decode(strings.NewReader(body), "", Limits{MaxBytes: 1000, MaxEvents: 1, MaxDepth: 16})
	require.NoError(t, err)
	assert.Len(t, evs, 1)
	_, err = Decode(strings.NewReader(body+" "), "", Limits{MaxBytes: 1000, MaxEvents: 1, MaxDepth: 16})
	var tl *TooLargeError
	assert.True(t, errors.As(err, &tl))
}

func TestUnmarshalNeverQuotesTheInput(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`{"id":"e","time":"jane@example.com"}`,
		`{"id":"e","time":"+1 202 555 0147"}`,
		`{"id":"e","contact_id":{"email":"jane@example.com"}}`,
		`{"id":"e","properties":{"email":"jane@example.com" "x":1}}`,
	} {
		var e Event
		err := Unmarshal([]byte(body), &e)
		require.Error(t, err, body)
		assert.NotContains(t, err.Error(), "jane")
		assert.NotContains(t, err.Error(), "555")
	}
	var e Event
	require.NoError(t, Unmarshal([]byte(one), &e))
	assert.Equal(t, "e1", e.ID)
}
