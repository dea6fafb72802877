package transition

import (
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/leadscore/leads/pkg/model"
	"github.com/leadscore/leads/pkg/scoring"
	"github.com/leadscore/leads/pkg/stream"
)

// Sources of transitions.
const (
	SourceScorer  = "leads/scorer"
	SourceDecayer = "leads/decayer"
)

// CloudEvent is a CloudEvents 1.0 structured-mode event.
type CloudEvent struct {
	SpecVersion     string    `json:"specversion"`
	ID              string    `json:"id"`
	Source          string    `json:"source"`
	Type            string    `json:"type"`
	Subject         string    `json:"subject"`
	Time            time.Time `json:"time"`
	DataContentType string    `json:"datacontenttype"`
	Data            Data      `json:"data"`
}

// Data is the payload of a transition.
type Data struct {
	ContactID    string `json:"contact_id,omitempty"`
	AccountID    string `json:"account_id,omitempty"`
	Score        int32  `json:"score"`
	Behavior     int32  `json:"behavior"`
	Fit          int32  `json:"fit"`
	AccountScore int32  `json:"account_score"`
	Grade        string `json:"grade,omitempty"`
	Stage        string `json:"stage,omitempty"`
	FromStage    string `json:"from_stage,omitempty"`
	ModelVersion string `json:"model_version"`
	Cause        string `json:"cause"`
	// Nurture is the contact's nurture category and Content the content
	// that suits its stage (lead transitions only); FromNurture is the
	// category before a lead.nurture_changed.
	Nurture     string   `json:"nurture,omitempty"`
	FromNurture string   `json:"from_nurture,omitempty"`
	Content     []string `json:"content,omitempty"`
}

// FromCrossing builds the CloudEvent of a crossing. The source says which
// program found it: decay steps come from the decayer, the rest from the scorer.
func FromCrossing(x *scoring.Crossing) CloudEvent {
	source := SourceScorer
	if strings.HasPrefix(x.Cause, "decay:") || strings.HasPrefix(x.Cause, "dormant:") {
		source = SourceDecayer
	}
	d := Data{ContactID: x.ContactID, AccountID: x.AccountID, Score: x.Score, Behavior: x.Behavior, Fit: x.Fit,
		AccountScore: x.AccountScore, Grade: x.Grade, Stage: x.Stage, ModelVersion: x.ModelVersion, Cause: x.Cause,
		Nurture: x.Nurture}
	switch x.Type {
	case scoring.StageChanged:
		d.FromStage = x.From
	case scoring.NurtureChanged:
		d.FromNurture = x.From
	}
	if x.Stage != "" && !strings.HasPrefix(x.Type, "account.") {
		d.Content = model.ContentTiers[model.ParseStage(x.Stage)]
	}
	return CloudEvent{
		SpecVersion: "1.0", ID: x.ID(), Source: source, Type: x.Type, Subject: x.Subject(),
		Time: time.Unix(x.Time, 0).UTC(), DataContentType: "application/json", Data: d,
	}
}

// ContentType, in the record header ContentTypeHeader, marks a record as
// a structured-mode CloudEvent, as the CloudEvents Kafka protocol binding
// says: consumers using a CloudEvents SDK tell structured mode from binary
// mode (attributes in ce_ headers) by this header alone, and refuse a
// record without either.
const (
	ContentTypeHeader = "content-type"
	ContentType       = "application/cloudevents+json"
)

// Record returns the Kafka record of a crossing for topic: key the
// subject, value the CloudEvent, marked as structured mode.
func Record(topic string, x *scoring.Crossing) (stream.Record, error) {
	ce := FromCrossing(x)
	value, err := json.Marshal(ce)
	if err != nil {
		return stream.Record{}, err
	}
	return stream.Record{Topic: topic, Key: []byte(ce.Subject), Value: value,
		Headers: []stream.Header{{Key: ContentTypeHeader, Value: ContentType}}}, nil
}
