package transition

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/stream"
)

// at is 2026-03-01T12:00:00Z, the event time of the causes below.
const at = 1772366400

// The ids are the first 16 bytes of SHA-256(subject NUL type NUL cause) in
// hex, computed outside Go (printf 'c-42\0lead.became_aql\0evt-7f3a' |
// sha256sum), so that a change of the id scheme, which would make
// consumers see every crossing as new, fails here.
func TestARecordIsAStructuredCloudEventKeyedByItsSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		x       scoring.Crossing
		wantKey string
		want    string
	}{
		{
			name: "a lead crossing is keyed by its contact and carries the content of its stage",
			x: scoring.Crossing{Type: scoring.BecameAQL, ContactID: "c-42", AccountID: "acme.com", Cause: "evt-7f3a",
				Time: at, Score: 95, Behavior: 45, Fit: 50, AccountScore: 70, Grade: "A", Stage: "late",
				ModelVersion: "3", Nurture: "c-level"},
			wantKey: "c-42",
			want: `{"specversion": "1.0", "id": "53c4897388f23ff179b2471b289c7917", "source": "leads/scorer",
				"type": "lead.became_aql", "subject": "c-42", "time": "2026-03-01T12:00:00Z",
				"datacontenttype": "application/json",
				"data": {"contact_id": "c-42", "account_id": "acme.com", "score": 95, "behavior": 45,
					"fit": 50, "account_score": 70, "grade": "A", "stage": "late", "model_version": "3",
					"cause": "evt-7f3a", "nurture": "c-level", "content": ["analyst report", "meeting request"]}}`,
		},
		{
			name: "an account crossing is keyed by its account, with no contact and no content",
			x: scoring.Crossing{Type: scoring.BecameMQA, AccountID: "acme.com", Cause: "evt-9", Time: at,
				Score: 120, Fit: 50, AccountScore: 120, ModelVersion: "3"},
			wantKey: "acme.com",
			want: `{"specversion": "1.0", "id": "a0a5429c96ddc5c964cca70e11f62999", "source": "leads/scorer",
				"type": "account.became_mqa", "subject": "acme.com", "time": "2026-03-01T12:00:00Z",
				"datacontenttype": "application/json",
				"data": {"account_id": "acme.com", "score": 120, "behavior": 0, "fit": 50, "account_score": 120,
					"model_version": "3", "cause": "evt-9"}}`,
		},
		{
			name: "a crossing decay caused comes from the decayer",
			x: scoring.Crossing{Type: scoring.WentDormant, ContactID: "c-7", Cause: "dormant:2026-03-01", Time: at,
				Score: 3, Behavior: 3, ModelVersion: "3"},
			wantKey: "c-7",
			want: `{"specversion": "1.0", "id": "f6f23713d2d6116badefdd561f27234b", "source": "leads/decayer",
				"type": "lead.went_dormant", "subject": "c-7", "time": "2026-03-01T12:00:00Z",
				"datacontenttype": "application/json",
				"data": {"contact_id": "c-7", "score": 3, "behavior": 3, "fit": 0, "account_score": 0,
					"model_version": "3", "cause": "dormant:2026-03-01"}}`,
		},
		{
			name: "a stage change says the stage it left",
			x: scoring.Crossing{Type: scoring.StageChanged, ContactID: "c-42", Cause: "evt-8", Time: at,
				Score: 40, Behavior: 40, Stage: "mid", From: "early", ModelVersion: "3"},
			wantKey: "c-42",
			want: `{"specversion": "1.0", "id": "383f6b4a9733b91b51e6fd409500b039", "source": "leads/scorer",
				"type": "lead.stage_changed", "subject": "c-42", "time": "2026-03-01T12:00:00Z",
				"datacontenttype": "application/json",
				"data": {"contact_id": "c-42", "score": 40, "behavior": 40, "fit": 0, "account_score": 0,
					"stage": "mid", "from_stage": "early", "model_version": "3", "cause": "evt-8",
					"content": ["ebook", "webinar"]}}`,
		},
		{
			name: "a nurture change says the category it left",
			x: scoring.Crossing{Type: scoring.NurtureChanged, ContactID: "c-42", Cause: "evt-10", Time: at,
				Score: 40, Behavior: 40, Stage: "early", From: "general", Nurture: "c-level", ModelVersion: "3"},
			wantKey: "c-42",
			want: `{"specversion": "1.0", "id": "a847ff19f25edb66d3efa08064347f3b", "source": "leads/scorer",
				"type": "lead.nurture_changed", "subject": "c-42", "time": "2026-03-01T12:00:00Z",
				"datacontenttype": "application/json",
				"data": {"contact_id": "c-42", "score": 40, "behavior": 40, "fit": 0, "account_score": 0,
					"stage": "early", "model_version": "3", "cause": "evt-10", "nurture": "c-level",
					"from_nurture": "general", "content": ["blog", "cheat sheet", "infographic"]}}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec, err := Record("leads.transitions", &tt.x)
			require.NoError(t, err)
			assert.Equal(t, "leads.transitions", rec.Topic)
			assert.Equal(t, tt.wantKey, string(rec.Key))
			assert.JSONEq(t, tt.want, string(rec.Value))
			assert.Equal(t, []stream.Header{{Key: "content-type", Value: "application/cloudevents+json"}}, rec.Headers)
		})
	}
}

func TestATransitionIDDependsOnItsSubjectTypeAndCauseOnly(t *testing.T) {
	t.Parallel()
	lead := scoring.Crossing{Type: scoring.BecameMQL, ContactID: "c-1", AccountID: "acme.com", Cause: "evt-1", Time: at,
		Score: 60, ModelVersion: "3"}
	account := scoring.Crossing{Type: scoring.BecameMQA, ContactID: "c-1", AccountID: "acme.com", Cause: "evt-1", Time: at,
		Score: 60, ModelVersion: "3"}
	id := func(x scoring.Crossing) string { return FromCrossing(&x).ID }
	with := func(x scoring.Crossing, change func(*scoring.Crossing)) scoring.Crossing { change(&x); return x }

	same := []struct {
		name string
		a, b scoring.Crossing
	}{
		{"a lead crossing's id ignores its scores, time and model", lead, with(lead, func(x *scoring.Crossing) {
			x.Score, x.Time, x.ModelVersion, x.Grade = 10, at+3600, "4", "B"
		})},
		{"a lead crossing's id ignores its account", lead, with(lead, func(x *scoring.Crossing) { x.AccountID = "other.io" })},
		{"an account crossing's id ignores the contact", account, with(account, func(x *scoring.Crossing) { x.ContactID = "c-2" })},
	}
	for _, tt := range same {
		assert.Equal(t, id(tt.a), id(tt.b), tt.name)
	}
	differ := []struct {
		name string
		a, b scoring.Crossing
	}{
		{"another contact", lead, with(lead, func(x *scoring.Crossing) { x.ContactID = "c-2" })},
		{"another type", lead, with(lead, func(x *scoring.Crossing) { x.Type = scoring.LeftMQL })},
		{"another cause", lead, with(lead, func(x *scoring.Crossing) { x.Cause = "evt-2" })},
		{"another account, for an account crossing", account, with(account, func(x *scoring.Crossing) { x.AccountID = "other.io" })},
		// Without separators both would hash "c-1lead.became_mqlevt-1".
		{"the same bytes split otherwise", lead, with(lead, func(x *scoring.Crossing) {
			x.ContactID, x.Cause = "c-1lead.became_mql", ""
			x.Type = "evt-1"
		})},
	}
	for _, tt := range differ {
		assert.NotEqual(t, id(tt.a), id(tt.b), tt.name)
	}
}
